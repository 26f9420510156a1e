#version 330 core
// Dark studio backdrop: a soft glow behind the head that falls off towards the edges.

uniform vec3 u_color;    // colour at the centre of the glow
uniform float u_aspect;  // width / height, keeps the glow round

in vec2 v_uv;
out vec4 f_color;

void main() {
    vec2 p = (v_uv - vec2(0.5, 0.58)) * vec2(u_aspect, 1.0);
    float glow = 1.0 - smoothstep(0.0, 1.0, length(p));
    vec3 color = u_color * (0.45 + 0.55 * glow) + vec3(0.0, 0.005, 0.02) * v_uv.y;
    f_color = vec4(color, 1.0);
}
