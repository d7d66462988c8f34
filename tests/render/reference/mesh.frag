#version 330 core
// Reference for the image tests and benchmarks/bench_render.py: the mesh fragment shader
// as it was before the per-pixel work was cut (commit e30e75a): world position, normalize,
// pow-based sRGB encode. Only its hemisphere inputs are mapped onto the renderer's
// uniforms of today (ambient + mix(ground, sky, t) == base + slope * n.y for these):
uniform vec3 u_hemi_base;
uniform vec3 u_hemi_slope;
#define u_ambient vec3(0.0)
#define u_sky (u_hemi_base + u_hemi_slope)
#define u_ground (u_hemi_base - u_hemi_slope)
// Lit in linear space: hemisphere + ambient irradiance and DIR_LIGHTS directional plus
// POINT_LIGHTS point lights (counts #defined by the renderer when it compiles the program),
// Lambert diffuse (albedo / pi) plus a normalised Blinn-Phong lobe of fixed shininess and
// dielectric reflectance. Two-sided: the normal faces the viewer.

#ifndef DIR_LIGHTS
#define DIR_LIGHTS 0
#endif
#ifndef POINT_LIGHTS
#define POINT_LIGHTS 0
#endif

const float PI = 3.14159265;
const float SHININESS = 48.0;
const float F0 = 0.04;

uniform vec3 u_eye;
#if DIR_LIGHTS > 0
uniform vec3 u_dir_light_vec[DIR_LIGHTS];     // unit direction toward the light
uniform vec3 u_dir_light_color[DIR_LIGHTS];   // linear rgb * intensity
#endif
#if POINT_LIGHTS > 0
uniform vec3 u_point_light_vec[POINT_LIGHTS];    // position
uniform vec3 u_point_light_color[POINT_LIGHTS];  // linear rgb * intensity
#endif
uniform vec3 u_highlight_color;
uniform bool u_srgb;

in vec3 v_world;
in vec3 v_normal;
in vec4 v_albedo;
flat in vec4 v_glow;

out vec4 f_color;

vec3 srgb_encode(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
}

// Schlick's rational stand-in for pow(x, SHININESS): same lobe shape, no exp/log.
float specular_lobe(float x) {
    return x / (SHININESS - SHININESS * x + x);
}

vec3 direct(vec3 n, vec3 v, vec3 l, vec3 radiance, vec3 diffuse, float spec_norm) {
    float ndl = max(dot(n, l), 0.0);
    vec3 h = normalize(l + v);
    float spec = spec_norm * specular_lobe(max(dot(n, h), 0.0));
    return (diffuse + spec) * radiance * ndl;
}

void main() {
    vec3 to_eye = u_eye - v_world;
    vec3 v = normalize(to_eye);
    float len = length(v_normal);
    vec3 n = len > 1e-12 ? v_normal / len : v;
    if (dot(n, v) < 0.0) {
        n = -n;
    }

    vec3 diffuse = v_albedo.rgb / PI;
    vec3 irradiance = u_ambient + mix(u_ground, u_sky, 0.5 + 0.5 * n.y);
    vec3 color = irradiance * diffuse;
    float spec_norm = F0 * (SHININESS + 8.0) / (8.0 * PI);

#if DIR_LIGHTS > 0
    for (int i = 0; i < DIR_LIGHTS; ++i) {
        color += direct(n, v, u_dir_light_vec[i], u_dir_light_color[i], diffuse, spec_norm);
    }
#endif
#if POINT_LIGHTS > 0
    for (int i = 0; i < POINT_LIGHTS; ++i) {
        vec3 d = u_point_light_vec[i] - v_world;
        float d2 = max(dot(d, d), 1e-4);
        vec3 l = d * inversesqrt(d2);
        color += direct(n, v, l, u_point_light_color[i] / d2, diffuse, spec_norm);
    }
#endif

    float rim = 1.0 - max(dot(n, v), 0.0);
    color += v_glow.rgb + v_glow.a * u_highlight_color * (0.35 + 0.65 * rim * rim);
    f_color = vec4(u_srgb ? srgb_encode(color) : color, v_albedo.a);
}
