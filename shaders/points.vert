#version 330 core
// Instanced point clouds: unlit, per-point linear RGBA, fixed size in pixels.
// Machine visual state comes from the visuals texture as in mesh.vert.

uniform mat4 u_view_proj;
uniform sampler2D u_visuals;
uniform float u_point_size;

in vec3 in_position;
in vec4 in_color;
in mat4 in_model;
in int in_machine;

out vec4 v_color;
flat out vec4 v_glow;  // rgb: emissive, a: highlight

const int ROW = 1024;

void main() {
    vec4 tint = vec4(0.0);
    v_glow = vec4(0.0);
    if (in_machine >= 0) {
        ivec2 texel = ivec2((in_machine % ROW) * 2, in_machine / ROW);
        tint = texelFetch(u_visuals, texel, 0);
        v_glow = texelFetch(u_visuals, texel + ivec2(1, 0), 0);
    }
    v_color = vec4(mix(in_color.rgb, tint.rgb, clamp(tint.a, 0.0, 1.0)), in_color.a);
    gl_PointSize = u_point_size;
    gl_Position = u_view_proj * (in_model * vec4(in_position, 1.0));
}
