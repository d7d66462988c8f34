#version 330 core
// Billboarded SDF glyphs: one instance per glyph, a unit quad per instance.
// The string's anchor is a world point; the glyph quad is laid out around it in view
// space, parallel to the image plane, so it faces the camera and keeps the anchor's depth.
// Per instance: rect = quad x, y, w, h in ems around the anchor (y up); uv = u0, v_top,
// u1, v_bottom; style = size, min px, max px, flags (1: size is metres per unit, else
// pixels per unit; 2: drawn through the scene); offset = the string's offset from the
// anchor in units. Rects are in units too (a glyph layout scaled by the string's em).

uniform mat4 u_view;
uniform mat4 u_proj;
uniform float u_viewport_h;  // pixels
uniform bool u_srgb;         // false: the target encodes sRGB itself, write linear

in vec2 in_corner;
in vec3 in_anchor;
in vec4 in_rect;
in vec4 in_uv;
in vec4 in_color;
in vec4 in_style;
in vec2 in_offset;

out vec2 v_uv;
out vec4 v_color;

vec3 srgb_decode(vec3 c) {
    return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c));
}

void main() {
    vec4 anchor = u_view * vec4(in_anchor, 1.0);
    vec4 clip = u_proj * anchor;
    if (clip.w <= 1e-6 || in_color.a <= 0.0) {  // behind the eye, or hidden: no fragments
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);  // behind the eye: outside the clip volume
        v_uv = vec2(0.0);
        v_color = vec4(0.0);
        return;
    }
    // pixels per metre across the image plane at the anchor's depth
    float px_per_m = 0.5 * u_viewport_h * u_proj[1][1] / clip.w;
    int flags = int(in_style.w + 0.5);
    float em_px = (flags & 1) != 0 ? in_style.x * px_per_m : in_style.x;
    em_px = clamp(em_px, in_style.y, in_style.z);
    vec2 px = (in_rect.xy + in_corner * in_rect.zw + in_offset) * em_px;
    gl_Position = u_proj * (anchor + vec4(px / px_per_m, 0.0, 0.0));
    if ((flags & 2) != 0) {
        gl_Position.z = -0.99999 * gl_Position.w;  // on the near plane: passes the depth test
    }
    v_uv = vec2(mix(in_uv.x, in_uv.z, in_corner.x), mix(in_uv.w, in_uv.y, in_corner.y));
    v_color = vec4(u_srgb ? in_color.rgb : srgb_decode(in_color.rgb), in_color.a);
}
