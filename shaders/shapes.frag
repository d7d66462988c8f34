#version 330 core
// Signed distances (units, negative inside) of rounded rects, circles, ring arcs and
// capsule segments, turned into coverage over one screen pixel with the screen-space
// derivatives of the unit coordinates. Bars and arcs are filled up to a fraction (the rest
// in the track colour); a border of that many units is drawn in the edge colour inside the
// outline. Output is premultiplied alpha.

in vec2 v_local;
flat in int v_kind;
flat in vec4 v_geom;
flat in vec4 v_shape;
flat in vec4 v_color;
flat in vec4 v_track;
flat in vec4 v_edge;

out vec4 f_color;

const float TAU = 6.28318530718;

float rounded_rect(vec2 p, vec4 rect, float radius) {
    vec2 half_size = 0.5 * rect.zw;
    float r = clamp(radius, 0.0, min(half_size.x, half_size.y));
    vec2 q = abs(p - rect.xy - half_size) - half_size + r;
    return length(max(q, 0.0)) + min(max(q.x, q.y), 0.0) - r;
}

// distance from d to the edge of the ring sector that leaves the centre along u
float ray_edge(vec2 d, vec2 u, float inner, float outer) {
    float along = clamp(dot(d, u), inner, outer);
    return length(d - along * u);
}

void main() {
    vec2 p = v_local;
    float per_px = max(0.5 * (fwidth(p.x) + fwidth(p.y)), 1e-6);  // units per pixel
    float fraction = v_shape.w;
    float sd;
    float filled = 1.0;
    if (v_kind == 0) {
        sd = rounded_rect(p, v_geom, v_shape.x);
        if (fraction < 1.0) {
            float edge = v_geom.x + fraction * v_geom.z;
            filled = fraction <= 0.0 ? 0.0 : clamp(0.5 + (edge - p.x) / per_px, 0.0, 1.0);
        }
    } else if (v_kind == 1) {
        sd = length(p - v_geom.xy) - v_geom.z;
        if (v_track.a > 0.0) {  // an exclamation mark in the track colour
            float r = v_geom.z;
            vec2 c = v_geom.xy;
            float stem = rounded_rect(p, vec4(c.x - 0.11 * r, c.y - 0.12 * r, 0.22 * r, 0.62 * r),
                                      0.1 * r);
            float dot_ = length(p - vec2(c.x, c.y - 0.36 * r)) - 0.13 * r;
            float mark = clamp(0.5 - min(stem, dot_) / per_px, 0.0, 1.0);
            filled = 1.0 - mark;  // the mark shows the track colour
        }
    } else if (v_kind == 2) {
        vec2 d = p - v_geom.xy;
        float rad = length(d);
        float half_t = 0.5 * v_geom.w;
        float ring = abs(rad - v_geom.z) - half_t;
        float start = v_shape.x;
        float sweep = v_shape.y;
        float span = abs(sweep);
        float dir = sweep < 0.0 ? -1.0 : 1.0;
        // angle travelled from the start in the sweep's direction, the gap split in two
        float t = mod(dir * (atan(d.y, d.x) - start), TAU);
        if (t > 0.5 * (span + TAU)) {
            t -= TAU;
        }
        if (span >= TAU - 1e-4) {
            sd = ring;
        } else {
            vec2 u0 = vec2(cos(start), sin(start));
            vec2 u1 = vec2(cos(start + sweep), sin(start + sweep));
            if (t >= 0.0 && t <= span) {
                float e0 = dot(d, u0) > 0.0 ? abs(d.x * u0.y - d.y * u0.x) : rad;
                float e1 = dot(d, u1) > 0.0 ? abs(d.x * u1.y - d.y * u1.x) : rad;
                sd = max(ring, -min(e0, e1));
            } else {
                float inner = max(v_geom.z - half_t, 0.0);
                float outer = v_geom.z + half_t;
                sd = min(ray_edge(d, u0, inner, outer), ray_edge(d, u1, inner, outer));
            }
        }
        if (fraction < 1.0) {
            float along = (fraction * span - t) * rad;  // arc length to the fill's end
            filled = fraction <= 0.0 ? 0.0 : clamp(0.5 + along / per_px, 0.0, 1.0);
        }
    } else {
        vec2 a = v_geom.xy;
        vec2 ba = v_geom.zw - a;
        vec2 pa = p - a;
        float k = clamp(dot(pa, ba) / max(dot(ba, ba), 1e-12), 0.0, 1.0);
        sd = length(pa - ba * k) - 0.5 * v_shape.x;
    }
    vec4 color = mix(v_track, v_color, filled);
    float border = v_shape.z;
    if (border > 0.0) {
        color = mix(color, v_edge, clamp(0.5 + (sd + border) / per_px, 0.0, 1.0));
    }
    color *= clamp(0.5 - sd / per_px, 0.0, 1.0);
    if (color.a <= 0.0) {
        discard;
    }
    f_color = color;
}
