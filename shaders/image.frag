#version 330 core
// The picture's display (sRGB-encoded) colours, premultiplied; decoded to linear when the
// target encodes sRGB itself.

uniform sampler2D u_image;
uniform bool u_srgb;  // false: the target encodes sRGB itself, write linear

in vec2 v_uv;
out vec4 f_color;

void main() {
    vec4 c = texture(u_image, v_uv);
    vec3 lin = mix(c.rgb / 12.92, pow((c.rgb + 0.055) / 1.055, vec3(2.4)), step(0.04045, c.rgb));
    vec3 rgb = u_srgb ? c.rgb : lin;
    f_color = vec4(rgb * c.a, c.a);
}
