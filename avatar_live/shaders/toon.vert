#version 330 core
// A glTF/VRM primitive: morphed positions from the CPU, skinned here on the GPU.

uniform mat4 u_view_proj;
uniform mat4 u_model;         // the avatar's placement: root rotation and on-screen follow
uniform mat4 u_node;          // the mesh node's world matrix (unskinned primitives)
uniform bool u_skinned;
uniform sampler2D u_joints;   // K joint matrices, 4 RGBA32F texels each (columns), one row
uniform float u_outline;      // > 0: the outline pass, vertices pushed out this far (metres)

in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_color;
in uvec4 in_joint;
in vec4 in_weight;

out vec3 v_position;
out vec3 v_normal;
out vec2 v_uv;
out vec4 v_color;

mat4 joint(uint index) {
    int x = int(index) * 4;
    return mat4(texelFetch(u_joints, ivec2(x, 0), 0), texelFetch(u_joints, ivec2(x + 1, 0), 0),
                texelFetch(u_joints, ivec2(x + 2, 0), 0), texelFetch(u_joints, ivec2(x + 3, 0), 0));
}

void main() {
    mat4 skin = u_node;
    if (u_skinned) {
        skin = in_weight.x * joint(in_joint.x) + in_weight.y * joint(in_joint.y)
             + in_weight.z * joint(in_joint.z) + in_weight.w * joint(in_joint.w);
    }
    mat4 world_matrix = u_model * skin;
    // Skin matrices of humanoid rigs carry no shear, so their upper 3 x 3 turns normals
    // well enough once renormalised.
    vec3 normal = normalize(mat3(world_matrix) * in_normal);
    vec4 world = world_matrix * vec4(in_position, 1.0);
    world.xyz += normal * u_outline;
    v_position = world.xyz;
    v_normal = normal;
    v_uv = in_uv;
    v_color = in_color;
    gl_Position = u_view_proj * world;
}
