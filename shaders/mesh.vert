#version 330 core
// Instanced triangle meshes. Per vertex: position, normal, linear RGBA colour and, compiled
// with TEXTURED 1 (for batches with base colour textures), the texture coordinate.
// Per instance: model matrix and machine index (-1 = fixture), whose visual state
// (tint, emissive, highlight) is fetched from the visuals texture (see core/visuals.py).
//
// Whatever is linear over a triangle is done here rather than per pixel: the vector to
// the eye (interpolating it is exact, as interpolating the world position was) and the
// Lambert albedo / pi. Compiled with GLOW 0 (by the renderer, for batches none of whose
// machines glows this frame) the emissive + highlight output is left out: one varying
// less for the rasterizer to set up per triangle.

#ifndef GLOW
#define GLOW 1
#endif
#ifndef TEXTURED
#define TEXTURED 0
#endif

uniform mat4 u_view_proj;
uniform vec3 u_eye;
uniform sampler2D u_visuals;

in vec3 in_position;
in vec3 in_normal;
in vec4 in_color;
#if TEXTURED
in vec2 in_uv;
#endif
in mat4 in_model;
in int in_machine;

out vec3 v_to_eye;
out vec3 v_normal;
out vec4 v_diffuse;     // rgb: albedo / pi, a: alpha
#if TEXTURED
out vec2 v_uv;
flat out vec3 v_tint;   // the tint's share of v_diffuse.rgb (a texture scales the rest)
#endif
#if GLOW
flat out vec4 v_glow;   // rgb: emissive, a: highlight
#endif

const int ROW = 1024;  // machines per texture row, two texels each
const float PI = 3.14159265;

void main() {
    vec4 tint = vec4(0.0);
#if GLOW
    v_glow = vec4(0.0);
#endif
    if (in_machine >= 0) {
        ivec2 texel = ivec2((in_machine % ROW) * 2, in_machine / ROW);
        tint = texelFetch(u_visuals, texel, 0);
#if GLOW
        v_glow = texelFetch(u_visuals, texel + ivec2(1, 0), 0);
#endif
    }
    float weight = clamp(tint.a, 0.0, 1.0);
    vec3 albedo = mix(in_color.rgb, tint.rgb, weight);
    v_diffuse = vec4(albedo / PI, in_color.a);
#if TEXTURED
    v_tint = tint.rgb * (weight / PI);
    v_uv = in_uv;
#endif

    // Cofactor of the upper 3x3: the inverse-transpose up to a scale, which the
    // normalisation removes; handles non-uniform scale. Its sign does not matter because
    // the fragment stage turns the normal toward the viewer (two-sided lighting).
    mat3 m = mat3(in_model);
    mat3 cofactor = mat3(cross(m[1], m[2]), cross(m[2], m[0]), cross(m[0], m[1]));
    v_normal = cofactor * in_normal;

    vec4 world = in_model * vec4(in_position, 1.0);
    v_to_eye = u_eye - world.xyz;
    gl_Position = u_view_proj * world;
}
