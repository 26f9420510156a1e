#version 330 core
// A toon look close to VRM's MToon: the base colour where the key light reaches, the
// shade colour where it does not, a soft step between them, a faint rim; alpha cut-out
// and blending; a flat colour for the outline pass. Linear light, gamma 2 output.

uniform vec4 u_base_color;     // linear RGBA factor
uniform vec3 u_shade_color;    // linear
uniform bool u_textured;
uniform sampler2D u_texture;   // sRGB base colour
uniform int u_alpha_mode;      // 0 opaque, 1 mask, 2 blend
uniform float u_alpha_cutoff;
uniform bool u_unlit;
uniform float u_outline;       // > 0 in the outline pass
uniform vec3 u_outline_color;  // linear
uniform vec3 u_eye;

in vec3 v_position;
in vec3 v_normal;
in vec2 v_uv;
in vec4 v_color;

out vec4 f_color;

const vec3 KEY_DIR = vec3(-0.42, 0.48, 0.77);  // as the built-in head's key light
const float SHADE_SHIFT = 0.1;
const float SHADE_TOONY = 0.85;

void main() {
    vec4 albedo = u_base_color * v_color;
    if (u_textured) {
        vec4 texel = texture(u_texture, v_uv);
        albedo *= vec4(texel.rgb * texel.rgb, texel.a);  // sRGB to linear, gamma 2 as on output
    }
    if (u_alpha_mode == 1 && albedo.a < u_alpha_cutoff) discard;
    float alpha = u_alpha_mode == 2 ? albedo.a : 1.0;
    if (u_outline > 0.0) {
        f_color = vec4(sqrt(u_outline_color * albedo.rgb), alpha);
        return;
    }
    vec3 color = albedo.rgb;
    if (!u_unlit) {
        vec3 n = normalize(v_normal);
        n = gl_FrontFacing ? n : -n;
        float lambert = dot(n, KEY_DIR);
        float lit = smoothstep(SHADE_SHIFT - (1.0 - SHADE_TOONY), SHADE_SHIFT + (1.0 - SHADE_TOONY), lambert);
        color = mix(u_shade_color * albedo.rgb / max(u_base_color.rgb, vec3(1e-3)), albedo.rgb, lit);
        float rim = 1.0 - max(dot(n, normalize(u_eye - v_position)), 0.0);
        color += albedo.rgb * 0.15 * rim * rim * rim;
    }
    f_color = vec4(sqrt(max(color, 0.0)), alpha);
}
