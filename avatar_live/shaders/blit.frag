#version 330 core
// Shows an uploaded RGB frame. Frames are stored top row first, OpenGL samples bottom up.

uniform sampler2D u_image;

in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = vec4(texture(u_image, vec2(v_uv.x, 1.0 - v_uv.y)).rgb, 1.0);
}
