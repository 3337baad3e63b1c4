#!/usr/bin/env bash
# pip install napari-headrank, as README.md tells napari users, in a temporary folder inside
# the build tree (removed at the end):
#   1. `python -m build` makes the sdist (meson dist: the files git tracks at HEAD) and
#      the wheel from that sdist, as pip does for `pip install napari-headrank`, in an
#      isolated environment with meson-python, meson and ninja from PyPI;
#      check_dist.py checks what each holds, the wheel's tag and its dependencies;
#   2. a fresh venv (the interpreter .venv was made from, nothing of .venv) gets the wheel
#      with its [testing] extra: napari, PyGObject, PyQt6, pytest-qt... from PyPI (pip's
#      cache makes the second time quick);
#   3. with no PYTHONPATH, GI_TYPELIB_PATH, LD_LIBRARY_PATH or HEADRANK_* variable and from
#      outside the tree: check_installed.py (everything loads from the venv),
#      check_command.py (the venv's headrank command runs with the library, data and
#      catalogues of the wheel), then the
#      plugin's tests (tests/plugin) against the installed package
#      (HEADRANK_PLUGIN_INSTALLED=1).
# Needs the network to PyPI (or pip's cache) and git (meson dist).
#
#   wheel-test.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
python=python3
[ -x "$src/.venv/bin/python" ] && python="$src/.venv/bin/python"

fail() { echo "wheel test: $*" >&2; exit 1; }

if ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  echo "wheel test skipped: $src is not a git checkout (meson dist makes the sdist from git)"
  exit 77
fi
"$python" -c 'import build' 2>/dev/null || fail "$python has no 'build' (pip install build)"
base=$("$python" -c 'import sys; print(sys._base_executable)')

tmp=$(mktemp -d "$build/tests/wheel-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
  echo "note: the tree has uncommitted changes; the sdist (and so the wheel) holds HEAD"
fi

echo "== 1. sdist and wheel: python -m build"
SECONDS=0
"$python" -m build --outdir "$tmp/dist" "$src" >"$tmp/build.log" 2>&1 ||
  { tail -60 "$tmp/build.log"; fail "python -m build failed"; }
echo "built in ${SECONDS} s"
"$python" "$src/tests/wheel/check_dist.py" "$src" "$tmp/dist" || fail "sdist or wheel wrong"

echo "== 2. a fresh venv: pip install the wheel[testing]"
SECONDS=0
"$base" -m venv "$tmp/venv"
wheel=$(ls "$tmp"/dist/*.whl)
"$tmp/venv/bin/python" -m pip install -q "$wheel[testing]" >"$tmp/pip.log" 2>&1 ||
  { grep -v "^WARNING: Location" "$tmp/pip.log" | tail -40; fail "pip install failed"; }
echo "installed in ${SECONDS} s"
"$tmp/venv/bin/python" -m pip list 2>/dev/null | grep -E -i '^(napari|napari-headrank|PyGObject|pycairo|numpy|PyQt6) '

echo "== 3. the installed plugin, no variable pointing anywhere"
cd "$tmp"
# HEADRANK_TOOL stays: the build tree's command, which test_compare.py runs as the
# reference the widget's numbers must equal (the plugin itself never reads it)
clean=(env -u PYTHONPATH -u GI_TYPELIB_PATH -u LD_LIBRARY_PATH -u HEADRANK_BUILD_DIR
       -u HEADRANK_PREFIX -u HEADRANK_DATADIR -u HEADRANK_LOCALEDIR
       MPLCONFIGDIR="$tmp/mpl")
"${clean[@]}" "$tmp/venv/bin/python" "$src/tests/wheel/check_installed.py" ||
  fail "the installed plugin loads something from elsewhere"
version=$(sed -n "s/^ *version: '\([^']*\)'.*/\1/p" "$src/meson.build" | head -1)
"${clean[@]}" "$tmp/venv/bin/python" "$src/tests/wheel/check_command.py" "$version" ||
  fail "the installed headrank command does not work"
SECONDS=0
set +e
"${clean[@]}" HEADRANK_PLUGIN_INSTALLED=1 HEADRANK_SOURCE_ROOT="$src" \
  "$tmp/venv/bin/python" "$src/tests/plugin/run.py" -q -p no:cacheprovider \
  -W ignore::DeprecationWarning "$src/tests/plugin"
rc=$?
set -e
echo "plugin tests in ${SECONDS} s"
[ $rc -eq 0 ] || fail "the plugin's tests failed against the installed package (exit $rc)"
echo "wheel test: ok"
