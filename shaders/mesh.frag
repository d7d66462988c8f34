#version 330 core
// Lit in linear space: hemisphere + ambient irradiance and DIR_LIGHTS directional plus
// POINT_LIGHTS point lights (counts #defined by the renderer when it compiles the program),
// Lambert diffuse (albedo / pi) plus a normalised Blinn-Phong lobe of fixed shininess and
// dielectric reflectance. Two-sided: the normal faces the viewer.
//
// On a software rasterizer every operation here is paid per pixel, so the shader does the
// fewest: one inverse square root per normalised vector, constants folded, the hemisphere
// as one multiply-add (u_hemi_base + u_hemi_slope * n.y, set by the renderer), the sRGB
// encode without pow.
//
// Base colour textures (compiled with TEXTURED 1; u_textured set per draw range, so a
// textured batch's untextured ranges draw with the same program): sampled from an sRGB texture, so
// the texel is linear; it scales the vertex colour (material factor x COLOR_0) under the
// machine tint. u_mirror: MIRRORED_REPEAT per axis (the texture itself repeats or clamps).
// u_alpha: < 0 the texture's alpha is ignored (OPAQUE), > 1 it scales the alpha (BLEND),
// else it is the MASK cutoff below which the fragment is discarded (and above: opaque).

#ifndef DIR_LIGHTS
#define DIR_LIGHTS 0
#endif
#ifndef POINT_LIGHTS
#define POINT_LIGHTS 0
#endif
#ifndef GLOW
#define GLOW 1  // 0: no emissive or highlight (see mesh.vert)
#endif
#ifndef TEXTURED
#define TEXTURED 0  // 1: base colour textures (see mesh.vert)
#endif

const float PI = 3.14159265;
const float SHININESS = 48.0;
const float F0 = 0.04;
const float SPEC_NORM = F0 * (SHININESS + 8.0) / (8.0 * PI);

#if POINT_LIGHTS > 0
uniform vec3 u_eye;
#endif
uniform vec3 u_hemi_base;   // ambient + (sky + ground) / 2
uniform vec3 u_hemi_slope;  // (sky - ground) / 2
#if DIR_LIGHTS > 0
uniform vec3 u_dir_light_vec[DIR_LIGHTS];     // unit direction toward the light
uniform vec3 u_dir_light_color[DIR_LIGHTS];   // linear rgb * intensity
#endif
#if POINT_LIGHTS > 0
uniform vec3 u_point_light_vec[POINT_LIGHTS];    // position
uniform vec3 u_point_light_color[POINT_LIGHTS];  // linear rgb * intensity
#endif
#if GLOW
uniform vec3 u_highlight_color;
#endif
uniform bool u_srgb;
#if TEXTURED
uniform bool u_textured;
uniform sampler2D u_texture;
uniform vec2 u_mirror;
uniform float u_alpha;
#endif

in vec3 v_to_eye;
in vec3 v_normal;
in vec4 v_diffuse;
#if TEXTURED
in vec2 v_uv;
flat in vec3 v_tint;
#endif
#if GLOW
flat in vec4 v_glow;
#endif

out vec4 f_color;

// 1.055 c^(1/2.4) - 0.055 as a quartic in c^(1/4), fitted over [0.0031308, 1]: within
// 0.009 of one 8-bit step of the exact curve, with two square roots for pow's log and exp.
vec3 srgb_encode(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    vec3 t = sqrt(sqrt(c));
    vec3 curve = (((0.08132937 * t - 0.33549913) * t + 1.12267874) * t + 0.19613716) * t
        - 0.06461173;
    return mix(c * 12.92, curve, step(0.0031308, c));
}

// Schlick's rational stand-in for pow(x, SHININESS): same lobe shape, no exp/log.
float specular_lobe(float x) {
    return x / (SHININESS + (1.0 - SHININESS) * x);
}

vec3 direct(vec3 n, vec3 v, vec3 l, vec3 radiance, vec3 diffuse) {
    float ndl = max(dot(n, l), 0.0);
    vec3 h = l + v;
    h *= inversesqrt(max(dot(h, h), 1e-30));
    float spec = SPEC_NORM * specular_lobe(max(dot(n, h), 0.0));
    return (diffuse + spec) * (radiance * ndl);
}

void main() {
    vec3 v = v_to_eye * inversesqrt(dot(v_to_eye, v_to_eye));
    float len2 = dot(v_normal, v_normal);
    vec3 n = len2 > 1e-24 ? v_normal * inversesqrt(len2) : v;
    float ndv = dot(n, v);
    if (ndv < 0.0) {
        n = -n;
        ndv = -ndv;
    }

    vec3 diffuse = v_diffuse.rgb;
    float alpha = v_diffuse.a;
#if TEXTURED
    if (u_textured) {
        vec4 texel;
        if (u_mirror != vec2(0.0)) {
            vec2 mirrored = 1.0 - abs(mod(v_uv, 2.0) - 1.0);
            texel = textureGrad(u_texture, mix(v_uv, mirrored, u_mirror), dFdx(v_uv), dFdy(v_uv));
        } else {
            texel = texture(u_texture, v_uv);
        }
        diffuse = (diffuse - v_tint) * texel.rgb + v_tint;
        if (u_alpha > 1.0) {
            alpha *= texel.a;
        } else if (u_alpha >= 0.0) {
            if (alpha * texel.a < u_alpha) {
                discard;
            }
            alpha = 1.0;
        }
    }
#endif
    vec3 color = (u_hemi_base + u_hemi_slope * n.y) * diffuse;

#if DIR_LIGHTS > 0
    for (int i = 0; i < DIR_LIGHTS; ++i) {
        color += direct(n, v, u_dir_light_vec[i], u_dir_light_color[i], diffuse);
    }
#endif
#if POINT_LIGHTS > 0
    vec3 world = u_eye - v_to_eye;
    for (int i = 0; i < POINT_LIGHTS; ++i) {
        vec3 d = u_point_light_vec[i] - world;
        float d2 = max(dot(d, d), 1e-4);
        vec3 l = d * inversesqrt(d2);
        color += direct(n, v, l, u_point_light_color[i] / d2, diffuse);
    }
#endif

#if GLOW
    float rim = 1.0 - ndv;
    color += v_glow.rgb + v_glow.a * u_highlight_color * (0.35 + 0.65 * rim * rim);
#endif
    f_color = vec4(u_srgb ? srgb_encode(color) : color, alpha);
}
