#version 330 core

uniform vec3 u_highlight_color;
uniform bool u_srgb;

in vec4 v_color;
flat in vec4 v_glow;

out vec4 f_color;

vec3 srgb_encode(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
}

void main() {
    vec3 color = v_color.rgb + v_glow.rgb + 0.5 * v_glow.a * u_highlight_color;
    f_color = vec4(u_srgb ? srgb_encode(color) : color, v_color.a);
}
