#version 330 core
// Lit in linear space: hemisphere + ambient irradiance and up to MAX_LIGHTS directional or
// point lights, Lambert diffuse (albedo / pi) plus a normalised Blinn-Phong lobe of fixed
// shininess and dielectric reflectance. Two-sided: the normal faces the viewer.

const int MAX_LIGHTS = 8;
const float PI = 3.14159265;
const float SHININESS = 48.0;
const float F0 = 0.04;

uniform vec3 u_eye;
uniform vec3 u_ambient;
uniform vec3 u_sky;
uniform vec3 u_ground;
uniform int u_light_count;
uniform vec4 u_light_vec[MAX_LIGHTS];    // w = 0: direction toward the light; w = 1: position
uniform vec3 u_light_color[MAX_LIGHTS];  // linear rgb * intensity
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

    for (int i = 0; i < u_light_count; ++i) {
        vec3 radiance = u_light_color[i];
        vec3 l;
        if (u_light_vec[i].w == 0.0) {
            l = u_light_vec[i].xyz;
        } else {
            vec3 d = u_light_vec[i].xyz - v_world;
            float d2 = max(dot(d, d), 1e-4);
            l = d * inversesqrt(d2);
            radiance /= d2;
        }
        float ndl = max(dot(n, l), 0.0);
        vec3 h = normalize(l + v);
        float spec = spec_norm * pow(max(dot(n, h), 0.0), SHININESS);
        color += (diffuse + spec) * radiance * ndl;
    }

    float rim = 1.0 - max(dot(n, v), 0.0);
    color += v_glow.rgb + v_glow.a * u_highlight_color * (0.35 + 0.65 * rim * rim);
    f_color = vec4(u_srgb ? srgb_encode(color) : color, v_albedo.a);
}
