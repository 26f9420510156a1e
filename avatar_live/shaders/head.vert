#version 330 core
// The posed rig: positions and normals change every frame, albedo and material do not.

uniform mat4 u_model;      // the on-screen follow (the head turns through the neck joint, on the CPU)
uniform mat4 u_view_proj;

in vec3 in_position;
in vec3 in_normal;
in vec3 in_color;          // linear albedo (converted from the rig's sRGB once, on upload)
in uint in_material;

out vec3 v_position;
out vec3 v_normal;
out vec3 v_albedo;
flat out uint v_material;

void main() {
    vec4 world = u_model * vec4(in_position, 1.0);
    v_position = world.xyz;
    // u_model is rigid (no scale), so its upper 3 x 3 also transforms normals.
    v_normal = mat3(u_model) * in_normal;
    v_albedo = in_color;
    v_material = in_material;
    gl_Position = u_view_proj * world;
}
