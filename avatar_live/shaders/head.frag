#version 330 core
// Three-point studio lighting (key, fill, rim) with per-material response, in linear
// space. Kept cheap on purpose: software OpenGL shades every pixel on the CPU.

const int MAX_MATERIALS = 16;

uniform vec3 u_eye;                        // camera position, world space
// Per material: x share of direct lighting (low = unlit-ish, e.g. the mouth interior),
// y specular strength, z shininess, w rim strength.
uniform vec4 u_material[MAX_MATERIALS];

in vec3 v_position;
in vec3 v_normal;
in vec3 v_albedo;
flat in uint v_material;

out vec4 f_color;

// Unit directions towards the lights; the key comes from the viewer's upper left.
const vec3 KEY_DIR = vec3(-0.42, 0.48, 0.77);
const vec3 KEY_COLOR = vec3(1.05, 1.0, 0.93);
const vec3 FILL_DIR = vec3(0.75, 0.05, 0.66);
const vec3 FILL_COLOR = vec3(0.26, 0.30, 0.38);
const vec3 RIM_DIR = vec3(0.25, 0.45, -0.86);
const vec3 RIM_COLOR = vec3(0.75, 0.82, 1.0);
const vec3 SKY = vec3(0.13, 0.14, 0.17);     // ambient from above ...
const vec3 GROUND = vec3(0.05, 0.045, 0.045); // ... and from below: shapes the chin and brows

void main() {
    vec4 m = u_material[v_material];
    vec3 n = normalize(v_normal);
    n = gl_FrontFacing ? n : -n;  // open meshes show their inside; light it like the outside
    vec3 v = normalize(u_eye - v_position);

    // Wrapped diffuse softens the terminator, which reads as skin rather than plastic.
    float key = max((dot(n, KEY_DIR) + 0.15) / 1.15, 0.0);
    float fill = max(dot(n, FILL_DIR), 0.0);
    vec3 ambient = mix(GROUND, SKY, n.y * 0.5 + 0.5);
    vec3 lit = v_albedo * (ambient + KEY_COLOR * key + FILL_COLOR * fill);

    lit += KEY_COLOR * (m.y * pow(max(dot(n, normalize(KEY_DIR + v)), 0.0), m.z));

    float edge = 1.0 - max(dot(n, v), 0.0);
    lit += RIM_COLOR * (m.w * edge * edge * edge * max(dot(n, RIM_DIR) + 0.6, 0.0));

    vec3 color = mix(v_albedo * 0.3, lit, m.x);
    f_color = vec4(sqrt(color), 1.0);  // gamma 2 approximates sRGB at a fraction of pow's cost
}
