#!/usr/bin/env bash
# Install the third-party glTF tools the tests and benchmarks run (gltf-transform, gltfpack,
# gltf-pipeline, obj2gltf),
# pinned by tools/gltf/package-lock.json, into tools/gltf/node_modules. Works on Debian 12 and 13.
#
#   1. needs Node.js 20 or newer with npm; when `node` or `npm` is missing it installs Debian's
#      nodejs and npm with apt (needs root; Debian 12's own nodejs is too old, so there a newer
#      Node.js must already be on the PATH),
#   2. runs `npm ci` from the lockfile with the machine's own npm configuration (registry
#      included); a second run with an unchanged lockfile returns at once.
#
# Prints the folder holding the tools' commands. Fails loudly on any error.
#
# usage: scripts/install_gltf_tools.sh
set -euo pipefail

cd "$(dirname "$0")/.."
dir="$PWD/tools/gltf"
bin="$dir/node_modules/.bin"
stamp="$dir/node_modules/.xrclient-lock"

say() { printf '[install_gltf_tools] %s\n' "$*" >&2; }
die() { printf '[install_gltf_tools] ERROR: %s\n' "$*" >&2; exit 1; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    line="apt-get install -y --no-install-recommends nodejs npm"
    [ "$(id -u)" -eq 0 ] || die "Node.js and npm are missing. Run as root:  apt-get update && $line"
    say "installing Node.js and npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || die "failed: $line"
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || die "Node.js $(node --version) is too old: the glTF tools need Node.js 20 or newer"

want="$(sha256sum "$dir/package-lock.json" | cut -c1-16) node=$major"
tools=(gltf-transform gltfpack gltf-pipeline obj2gltf)
present() { local t; for t in "${tools[@]}"; do [ -x "$bin/$t" ] || return 1; done; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && present; then
    printf '%s\n' "$bin"
    exit 0
fi
say "installing ${tools[*]} from tools/gltf/package-lock.json"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in tools/gltf"
present || die "npm ci did not install all of: ${tools[*]}"
"$bin/gltf-transform" --version >/dev/null 2>&1 || die "gltf-transform does not run after install"
printf '%s\n' "$want" > "$stamp"
printf '%s\n' "$bin"
