#!/usr/bin/env bash
# Installs avatar-live into ./.venv: the system libraries it needs (where missing, on
# Debian/Ubuntu), a virtual environment, and the package with its pinned dependencies.
# Usage: ./install.sh            the app and the test tools
#        EXTRAS=dev,emoca ./install.sh   also torch/onnx for the EMOCA encoder
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'install: %s\n' "$*"; }

# Headless OpenGL (Mesa EGL) and the libraries OpenCV's wheel links against.
SYSTEM_PACKAGES=(libegl1 libgl1 libgl1-mesa-dri libegl-mesa0 libglib2.0-0)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  say "not a Debian/Ubuntu system: make sure Mesa EGL/OpenGL libraries are installed"
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))'; then
  say "error: avatar-live needs Python 3.10-3.12 (mediapipe 0.10.21 wheels); set PYTHON=python3.11"
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian/Ubuntu split venv (ensurepip) into its own package.
    rm -rf .venv
    if command -v apt-get >/dev/null 2>&1; then
      version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      say "installing python${version}-venv"
      sudo_cmd=()
      [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
      "${sudo_cmd[@]}" apt-get update -qq
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "python${version}-venv" >/dev/null
    fi
    "$PYTHON" -m venv .venv
  fi
fi
say "installing avatar-live and its dependencies into .venv (a minute or two)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS:-dev}]"
say "done: run .venv/bin/avatar-live --help"
