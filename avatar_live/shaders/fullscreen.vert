#version 330 core
// One triangle that covers the whole viewport, generated from gl_VertexID so no vertex
// buffer is needed: used for the background gradient and for showing frames in a window.

out vec2 v_uv;  // 0..1 across the viewport, y up (OpenGL convention)

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));  // (0,0) (2,0) (0,2)
    v_uv = corner;
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
