#!/usr/bin/env bash
# Installs everything headrank needs to build and test on Debian 12 (bookworm), then
# configures the build tree.  Idempotent: a second run installs nothing new.
#
#   tools/setup.sh            Debian packages, the project venv (.venv) and build/
#
# Debian packages come from apt-get (needs root); Python packages go into .venv only.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

DEBIAN_PACKAGES=(
  build-essential pkg-config ninja-build
  libglib2.0-dev libgirepository1.0-dev gobject-introspection
  libtiff-dev libtiff-tools libopenblas-dev libjson-glib-dev libcairo2-dev
  gettext clang libclang-rt-14-dev gi-docgen gjs
  # zarr stores: the codecs' own libraries (c-blosc, zstd, zlib); libdeflate for deflate TIFF strips
  libblosc-dev libzstd-dev zlib1g-dev libdeflate-dev
  # the napari plugin (Qt 6 from the PyQt6 wheels): its tests run Qt's offscreen platform,
  # napari's OpenGL canvas through GLX on Xvfb with Mesa's software renderer; its screenshot
  # script opens a real X window (Qt's xcb platform) on Xvfb
  xvfb libgl1 libgl1-mesa-dri libegl1 libfontconfig1 libdbus-1-3 libxkbcommon0
  libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "headrank setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "headrank setup: need root for apt-get (or install the packages above)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The project venv.  Python 3.11 is what the machine's python3 is; PyGObject 3.51 and
# later need GLib >= 2.80, Debian 12 has 2.74, hence the pin in requirements.txt.
if [ ! -x .venv/bin/python ]; then
  echo "headrank setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.requirements-stamp
if [ ! -f "$stamp" ] || ! cmp -s tools/requirements.txt "$stamp"; then
  echo "headrank setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r tools/requirements.txt
  cp tools/requirements.txt "$stamp"
fi
# the napari plugin, editable, so that napari finds it (entry point napari.manifest)
if ! .venv/bin/python -c 'import importlib.metadata as m; m.distribution("napari-headrank")' 2>/dev/null; then
  echo "headrank setup: installing the napari plugin (pip install -e plugin/)"
  .venv/bin/python -m pip install -q --no-deps -e plugin/
fi
