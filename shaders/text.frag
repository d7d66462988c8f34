#version 330 core
// Signed-distance-field glyphs. The atlas holds 0.5 on the outline, more inside; u_spread
// atlas texels of distance span 0.5. The distance is converted to screen pixels with the
// screen-space derivatives of the texture coordinates, and the edge is smoothed over one
// pixel, so glyphs stay sharp at any magnification. Output is premultiplied alpha.

uniform sampler2D u_atlas;
uniform vec2 u_atlas_size;     // texels
uniform float u_spread;        // atlas texels
uniform float u_outline_px;    // halo width in screen pixels, 0 = none
uniform vec4 u_outline_color;  // display RGBA
uniform bool u_srgb;

in vec2 v_uv;
in vec4 v_color;

out vec4 f_color;

vec3 srgb_decode(vec3 c) {
    return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c));
}

void main() {
    float value = texture(u_atlas, v_uv).r;
    vec2 texels = fwidth(v_uv) * u_atlas_size;  // atlas texels per screen pixel
    float per_px = max(0.5 * (texels.x + texels.y), 1e-4);
    float dist = (value - 0.5) * 2.0 * u_spread / per_px;  // screen pixels, > 0 inside
    float fill = smoothstep(-0.5, 0.5, dist);
    vec4 color = vec4(v_color.rgb * v_color.a, v_color.a) * fill;
    if (u_outline_px > 0.0) {
        // the field only reaches u_spread texels out: keep the halo inside it
        float width = min(u_outline_px, max(u_spread / per_px - 1.0, 0.0));
        float halo = smoothstep(-0.5, 0.5, dist + width);
        vec3 rgb = u_srgb ? u_outline_color.rgb : srgb_decode(u_outline_color.rgb);
        color += vec4(rgb * u_outline_color.a, u_outline_color.a) * halo * (1.0 - color.a);
    }
    if (color.a <= 0.0) {
        discard;
    }
    f_color = color;
}
