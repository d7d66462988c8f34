#!/usr/bin/env bash
# Build the Monado OpenXR runtime (in-process, no service) from Debian's source package, for
# the XR tests and for trying `xrclient xr` without a headset. Works on Debian 12 and 13.
#
#   1. installs the build dependencies with apt (only the missing ones; needs root),
#   2. fetches Monado's upstream tarball from the deb-src archive of the machine's own Debian
#      mirror (taken from its apt sources) through a private apt configuration, so the
#      system's apt sources are never modified,
#   3. builds `libopenxr_monado.so` with XRT_FEATURE_SERVICE=OFF into .cache/monado/build.
#
# Prints the path of the runtime manifest (use it as XR_RUNTIME_JSON). Idempotent: once the
# build exists a second run only prints the path. Fails loudly on any error.
#
# usage: scripts/install_monado.sh [--print-mirror]
#   --print-mirror   only print the Debian mirror found in the apt sources, then stop
# environment: MONADO_CACHE (default .cache/monado), MONADO_SUITE (default trixie),
#              MONADO_APT_ETC (default /etc/apt), MONADO_HOST_CODENAME (default from os-release)
set -euo pipefail

cd "$(dirname "$0")/.."
cache="${MONADO_CACHE:-$PWD/.cache/monado}"
suite="${MONADO_SUITE:-trixie}"   # the Debian release whose monado source package is built
build="$cache/build"
manifest="$build/openxr_monado-dev.json"

say() { printf '[install_monado] %s\n' "$*" >&2; }
die() { printf '[install_monado] ERROR: %s\n' "$*" >&2; exit 1; }

apt_etc="${MONADO_APT_ETC:-/etc/apt}"   # where the machine's apt sources are (tests point it elsewhere)
codename="${MONADO_HOST_CODENAME:-$( (. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}") 2>/dev/null)}"
[ -n "$codename" ] || die "cannot tell the Debian release (VERSION_CODENAME in /etc/os-release)"

# the runtime library the manifest names (an absolute path into the build folder)
manifest_library() {
    sed -n 's/.*"library_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" 2>/dev/null
}
if [ "${1:-}" != "--print-mirror" ] && [ -f "$manifest" ] && lib="$(manifest_library)" &&
   [ -n "$lib" ] && [ -f "$lib" ]; then
    printf '%s\n' "$manifest"
    exit 0
fi

[ -r /etc/debian_version ] || die "this script supports Debian 12 and 13 only"
[ "${1:-}" = "--print-mirror" ] ||
    say "Debian $(cat /etc/debian_version); building Monado from the '$suite' source package"

# --- 1. build dependencies ----------------------------------------------------------------
deps=(build-essential cmake ninja-build pkg-config xz-utils ca-certificates
      glslang-tools libeigen3-dev libvulkan-dev libcjson-dev libx11-dev libx11-xcb-dev
      libxcb-randr0-dev libxrandr-dev libusb-1.0-0-dev libhidapi-dev libbsd-dev libudev-dev
      libwayland-dev wayland-protocols libdrm-dev libsystemd-dev libegl-dev libgl-dev libopengl-dev
      libdbus-1-dev)
missing=()
for pkg in "${deps[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ] && [ "${1:-}" != "--print-mirror" ]; then
    line="apt-get install -y --no-install-recommends ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || die "missing build dependencies. Run as root:  apt-get update && $line"
    say "installing build dependencies: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # shellcheck disable=SC2086
    $line >/dev/null || die "apt-get install failed: $line"
fi

# --- 2. source: the mirror comes from the machine's own apt sources --------------------------
find_mirror() {
    # deb822 files: the URIs of an enabled stanza that lists the system's own release
    local file
    for file in "$apt_etc"/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk -v cn="$codename" '
            BEGIN { RS = ""; FS = "\n"; IGNORECASE = 1 }
            {
                uris = ""; suites = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
                    if ($i ~ /^Suites:/) { suites = $i; sub(/^Suites:[ \t]*/, "", suites) }
                    if ($i ~ /^Enabled:/) { enabled = $i; sub(/^Enabled:[ \t]*/, "", enabled) }
                }
                if (enabled == "no") next
                n = split(suites, s, /[ \t]+/)
                for (j = 1; j <= n; j++) if (s[j] == cn) { split(uris, u, /[ \t]+/); print u[1]; next }
            }' "$file"
    done
    # one-line format: deb [options] URI SUITE COMPONENTS...
    cat "$apt_etc"/sources.list "$apt_etc"/sources.list.d/*.list 2>/dev/null |
        awk -v cn="$codename" '$1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == cn) print $i }'
}
mirror="$(find_mirror | grep -v -- '-security' | grep -v '^cdrom:' | head -n 1 || true)"
[ -n "$mirror" ] || die "could not find the Debian mirror for '$codename' in $apt_etc/sources.list{,.d}"
mirror="${mirror%/}"
if [ "${1:-}" = "--print-mirror" ]; then
    printf '%s\n' "$mirror"
    exit 0
fi
say "mirror from apt sources: $mirror"

apt_dir="$cache/apt"
src_dir="$cache/src"
rm -rf "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts" "$src_dir"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "$keyring missing (apt-get install debian-archive-keyring)"
printf 'deb-src [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" > "$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "Debug::NoLocking=1")
mkdir -p "$apt_dir/cache/archives/partial"

tarball="$(ls "$src_dir"/monado_*.orig.tar.* 2>/dev/null | head -n 1 || true)"
if [ -z "$tarball" ]; then
    say "fetching the monado source package index ($suite)"
    apt-get "${apt_opts[@]}" update -qq || die "apt-get update with $apt_dir/sources.list failed"
    # the .dsc may fail to verify on older apt; the upstream tarball is all the build needs
    (cd "$src_dir" && apt-get "${apt_opts[@]}" source --download-only monado) ||
        say "apt-get source reported an error; checking for the upstream tarball"
    tarball="$(ls "$src_dir"/monado_*.orig.tar.* 2>/dev/null | head -n 1 || true)"
    [ -n "$tarball" ] || die "apt-get source monado did not download monado_*.orig.tar.*"
fi
say "source: $tarball"

tree="$src_dir/tree"
if [ ! -f "$tree/CMakeLists.txt" ]; then
    rm -rf "$tree"
    mkdir -p "$tree"
    tar -xf "$tarball" -C "$tree" --strip-components=1 || die "cannot extract $tarball"
fi

# --- 3. build ------------------------------------------------------------------------------
off_drivers=(ARDUINO DAYDREAM HDK HYDRA PSMV PSSENSE PSVR RIFT_S ROKID TWRAP VIVE WMR
             XREAL_AIR STEAMVR_LIGHTHOUSE)
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DXRT_FEATURE_SERVICE=OFF
            -DXRT_FEATURE_STEAMVR_PLUGIN=OFF -DBUILD_TESTING=OFF -DBUILD_DOC=OFF
            -DXRT_MODULE_MONADO_CLI=OFF)
for d in "${off_drivers[@]}"; do cmake_args+=("-DXRT_BUILD_DRIVER_$d=OFF"); done
say "configuring"
cmake -S "$tree" -B "$build" "${cmake_args[@]}" >"$cache/configure.log" 2>&1 ||
    { tail -n 40 "$cache/configure.log" >&2; die "cmake configure failed (log: $cache/configure.log)"; }
say "building openxr_monado (about a minute on 2 cores)"
ninja -C "$build" openxr_monado >"$cache/build.log" 2>&1 ||
    { tail -n 40 "$cache/build.log" >&2; die "build failed (log: $cache/build.log)"; }

# the manifest is produced by the configure step; the library by the build
[ -f "$manifest" ] || die "build finished but $manifest is missing"
lib="$(manifest_library)"
[ -n "$lib" ] && [ -f "$lib" ] || die "build finished but the runtime library '$lib' is missing"
rm -rf "$apt_dir"
say "done"
printf '%s\n' "$manifest"
