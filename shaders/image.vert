#version 330 core
// A picture on a billboard, placed exactly like shapes and text (see shapes.vert): the
// anchor is a world point, the picture a rectangle in units around its image, in a plane
// parallel to the image plane at the anchor's depth, drawn through the scene.

uniform mat4 u_view;
uniform mat4 u_proj;
uniform float u_viewport_h;  // pixels
uniform vec3 u_anchor;
uniform vec4 u_rect;   // x, y (bottom-left), width, height in units
uniform vec3 u_style;  // metres per unit, min px, max px per unit

in vec2 in_corner;
out vec2 v_uv;

void main() {
    vec4 anchor = u_view * vec4(u_anchor, 1.0);
    vec4 clip = u_proj * anchor;
    v_uv = vec2(in_corner.x, 1.0 - in_corner.y);  // the texture's first row is the top
    if (clip.w <= 1e-6) {
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);  // behind the eye: nothing drawn
        return;
    }
    float px_per_m = 0.5 * u_viewport_h * u_proj[1][1] / clip.w;
    float unit_px = clamp(u_style.x * px_per_m, u_style.y, u_style.z);
    vec2 px = (u_rect.xy + in_corner * u_rect.zw) * unit_px;
    gl_Position = u_proj * (anchor + vec4(px / px_per_m, 0.0, 0.0));
    gl_Position.z = -0.99999 * gl_Position.w;  // on the near plane: over the scene
}
