#version 330 core
// Billboarded 2D shapes: one instance per shape, a unit quad per instance, placed exactly
// like text (see text.vert). The anchor is a world point; the shape is laid out around its
// image in view space, in a plane parallel to the image plane at the anchor's depth.
// Everything about the shape is in units relative to the anchor (x right, y up):
//   kind 0, rounded rect: geom = x, y, w, h; shape = corner radius, -, border, fraction
//   kind 1, circle:       geom = cx, cy, r, -; shape = -, -, border, -
//   kind 2, ring arc:     geom = cx, cy, r (centre line), thickness;
//                         shape = start (rad), sweep (rad, signed), border, fraction
//   kind 3, segment:      geom = x0, y0, x1, y1; shape = thickness, -, -, -
// style = size, min px, max px, flags (1: size is metres per unit, else pixels per unit;
// 2: drawn through the scene; 4: pulses; 8: hidden; 16: broken segment; kind * 256).

uniform mat4 u_view;
uniform mat4 u_proj;
uniform float u_viewport_h;  // pixels
uniform bool u_srgb;         // false: the target encodes sRGB itself, write linear
uniform float u_phase;       // pulse phase, radians

in vec2 in_corner;
in vec3 in_anchor;
in vec4 in_geom;
in vec4 in_shape;
in vec4 in_color;
in vec4 in_track;
in vec4 in_edge;
in vec4 in_style;

out vec2 v_local;  // units, relative to the anchor
flat out int v_kind;
flat out vec4 v_geom;
flat out vec4 v_shape;
flat out vec4 v_color;  // premultiplied, linear or display as the target wants
flat out vec4 v_track;
flat out vec4 v_edge;

const float PAD_PX = 1.5;  // the quad reaches this far past the shape, for the smooth edge

vec3 srgb_decode(vec3 c) {
    return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c));
}

vec4 premultiplied(vec4 c, float alpha) {
    vec3 rgb = u_srgb ? c.rgb : srgb_decode(c.rgb);
    float a = c.a * alpha;
    return vec4(rgb * a, a);
}

void collapse() {
    gl_Position = vec4(2.0, 2.0, 2.0, 1.0);  // outside the clip volume: nothing drawn
    v_local = vec2(0.0);
    v_kind = 0;
    v_geom = v_shape = v_color = v_track = v_edge = vec4(0.0);
}

void main() {
    int flags = int(in_style.w + 0.5);
    vec4 anchor = u_view * vec4(in_anchor, 1.0);
    vec4 clip = u_proj * anchor;
    if ((flags & 24) != 0 || clip.w <= 1e-6) {
        collapse();  // hidden, broken, or behind the eye
        return;
    }
    // pixels per metre across the image plane at the anchor's depth
    float px_per_m = 0.5 * u_viewport_h * u_proj[1][1] / clip.w;
    float unit_px = (flags & 1) != 0 ? in_style.x * px_per_m : in_style.x;
    unit_px = clamp(unit_px, in_style.y, in_style.z);
    if (unit_px <= 0.0) {
        collapse();
        return;
    }
    int kind = flags >> 8;
    float pad = PAD_PX / unit_px;
    vec2 local;
    vec2 centre;
    if (kind == 3) {
        // an oriented quad around the capsule
        vec2 a = in_geom.xy;
        vec2 b = in_geom.zw;
        vec2 d = b - a;
        float len = length(d);
        vec2 u = len > 1e-9 ? d / len : vec2(1.0, 0.0);
        vec2 n = vec2(-u.y, u.x);
        float r = 0.5 * in_shape.x + pad;
        local = mix(a - u * r, b + u * r, in_corner.x) + n * mix(-r, r, in_corner.y);
        centre = 0.5 * (a + b);
    } else {
        vec4 box = in_geom;
        if (kind == 1) {
            box = vec4(in_geom.xy - in_geom.z, vec2(2.0 * in_geom.z));
        } else if (kind == 2) {
            float outer = in_geom.z + 0.5 * in_geom.w;
            box = vec4(in_geom.xy - outer, vec2(2.0 * outer));
        }
        local = box.xy - pad + in_corner * (box.zw + 2.0 * pad);
        centre = box.xy + 0.5 * box.zw;
    }
    float alpha = 1.0;
    float grow = 1.0;
    if ((flags & 4) != 0) {
        float p = 0.5 + 0.5 * cos(u_phase);
        alpha = mix(0.35, 1.0, p);
        grow = mix(0.8, 1.0, p);  // never beyond the declared geometry
    }
    vec2 px = (centre + (local - centre) * grow) * unit_px;
    gl_Position = u_proj * (anchor + vec4(px / px_per_m, 0.0, 0.0));
    if ((flags & 2) != 0) {
        gl_Position.z = -0.99999 * gl_Position.w;  // on the near plane: passes the depth test
    }
    v_local = local;
    v_kind = kind;
    v_geom = in_geom;
    v_shape = in_shape;
    v_color = premultiplied(in_color, alpha);
    v_track = premultiplied(in_track, alpha);
    v_edge = premultiplied(in_edge, alpha);
}
