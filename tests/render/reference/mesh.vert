#version 330 core
// Reference for the image tests and benchmarks/bench_render.py: the mesh vertex shader
// as it was before the per-pixel work was cut (commit e30e75a), unchanged.
// Instanced triangle meshes. Per vertex: position, normal, linear RGBA colour.
// Per instance: model matrix and machine index (-1 = fixture), whose visual state
// (tint, emissive, highlight) is fetched from the visuals texture (see core/visuals.py).

uniform mat4 u_view_proj;
uniform sampler2D u_visuals;

in vec3 in_position;
in vec3 in_normal;
in vec4 in_color;
in mat4 in_model;
in int in_machine;

out vec3 v_world;
out vec3 v_normal;
out vec4 v_albedo;
flat out vec4 v_glow;  // rgb: emissive, a: highlight

const int ROW = 1024;  // machines per texture row, two texels each

void main() {
    vec4 tint = vec4(0.0);
    v_glow = vec4(0.0);
    if (in_machine >= 0) {
        ivec2 texel = ivec2((in_machine % ROW) * 2, in_machine / ROW);
        tint = texelFetch(u_visuals, texel, 0);
        v_glow = texelFetch(u_visuals, texel + ivec2(1, 0), 0);
    }
    v_albedo = vec4(mix(in_color.rgb, tint.rgb, clamp(tint.a, 0.0, 1.0)), in_color.a);

    // Cofactor of the upper 3x3: the inverse-transpose up to a scale, which the
    // normalisation removes; handles non-uniform scale. Its sign does not matter because
    // the fragment stage turns the normal toward the viewer (two-sided lighting).
    mat3 m = mat3(in_model);
    mat3 cofactor = mat3(cross(m[1], m[2]), cross(m[2], m[0]), cross(m[0], m[1]));
    v_normal = cofactor * in_normal;

    vec4 world = in_model * vec4(in_position, 1.0);
    v_world = world.xyz;
    gl_Position = u_view_proj * world;
}
