#!/usr/bin/env bash
# Install what xrclient needs on a Debian 12/13 machine, idempotently:
#   1. system packages through apt (only the missing ones; needs root, otherwise prints
#      the exact apt-get line and stops),
#   2. a virtual environment in .venv with xrclient installed in editable mode plus extras.
# A second run checks and returns in about a second.
#
# usage: scripts/bootstrap.sh [EXTRAS]     e.g.  scripts/bootstrap.sh dev,scan,xr,plant,usd
set -euo pipefail

cd "$(dirname "$0")/.."
extras="${1:-dev,scan,xr,plant,usd}"
venv="${XRCLIENT_VENV:-.venv}"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. system packages -----------------------------------------------------------------
# EGL + Mesa (llvmpipe) for headless OpenGL; libusb and libgomp for open3d (point clouds).
apt_packages=(libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libgles2 libusb-1.0-0 libgomp1
              mesa-vulkan-drivers libvulkan1)
case ",$extras," in *,bench,*) apt_packages+=(hyperfine) ;; esac
# the test suite opens real windows on a virtual X server and drives them with X events
case ",$extras," in *,dev,*) apt_packages+=(xvfb xauth xdotool) ;; esac
# the gateway's tests start a real MQTT broker (Debian's mosquitto, run on a private port)
case ",$extras," in *,dev,*) apt_packages+=(mosquitto mosquitto-clients) ;; esac
# the interop tests convert models with assimp (the npm tools: scripts/install_gltf_tools.sh)
case ",$extras," in *,dev,*) apt_packages+=(assimp-utils) ;; esac

missing=()
for pkg in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}
python_bin="$(pick_python || true)"
if [ -z "$python_bin" ]; then
    missing+=(python3 python3-venv)
elif ! "$python_bin" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)   # Debian's own python3 ships venv/ensurepip separately
fi

if [ "${#missing[@]}" -gt 0 ]; then
    line="apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        die "missing system packages. Run as root:  apt-get update && $line"
    fi
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "failed: $line"
    python_bin="$(pick_python)" || die "no Python 3.11 or newer found after installing python3"
fi

# --- 2. virtual environment ---------------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv with $python_bin ($("$python_bin" --version 2>&1))"
    "$python_bin" -m venv "$venv" || die "could not create the virtual environment $venv"
fi

stamp="$venv/.xrclient-install"
want="$(cat pyproject.toml | sha256sum | cut -c1-16) extras=$extras"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing xrclient[$extras] into $venv (first run takes about a minute)"
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$venv/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
    if ! "$venv/bin/python" -m pip install -q -e ".[$extras]" > "$venv/pip-install.log" 2>&1; then
        grep -v "is ignored" "$venv/pip-install.log" | tail -n 30 >&2
        die "pip install failed (full log: $venv/pip-install.log)"
    fi
    printf '%s' "$want" > "$stamp"
else
    say "environment up to date ($venv)"
fi
