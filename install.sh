#!/usr/bin/env bash
# Installs avatar-live into ./.venv: the system libraries it needs (where missing, on
# Debian/Ubuntu), a virtual environment, and the package with its pinned dependencies.
# Usage: ./install.sh            the app and the test tools
#        EXTRAS=dev,emoca ./install.sh   also torch/onnx for the EMOCA encoder
#        INSTALL_ALSO="xvfb" ./install.sh  also these Debian packages
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'install: %s\n' "$*"; }

# apt-get install the named Debian packages, as root (through sudo when not root).
apt_install() {
  local as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "$@" >/dev/null
}

# Headless OpenGL (Mesa EGL) and the libraries OpenCV's wheel links against; callers may
# add more (CI adds Xvfb for its real-window tests) with INSTALL_ALSO="pkg ...".
SYSTEM_PACKAGES=(libegl1 libgl1 libgl1-mesa-dri libegl-mesa0 libglib2.0-0 ${INSTALL_ALSO:-})
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    apt_install "${missing[@]}"
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
      apt_install "python${version}-venv"
    fi
    "$PYTHON" -m venv .venv
  fi
fi
say "installing avatar-live and its dependencies into .venv (a minute or two)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS:-dev}]"
# The tests read this: a test needing an extra skips when it was not asked for, fails when it was.
printf '%s\n' "${EXTRAS:-dev}" > .venv/avatar-live-extras
say "done: run .venv/bin/avatar-live --help"
