#!/usr/bin/env bash
# The installed headrank, used as the README says: a separate build of the source tree
# configured with --prefix in a temporary folder (inside the build tree, no root needed),
# `meson install`ed there; then
#   1. every installed piece is there (library, headers, pkg-config file, typelib, GIR,
#      translations, the command and its manual page, the Python helper, the examples);
#   2. the installed command runs;
#   3. the installed Python example analyses the installed sample against the installed
#      typelib and library (GI_TYPELIB_PATH and LD_LIBRARY_PATH as README.md documents,
#      PYTHONPATH at the installed helper), and nothing of the build tree is loaded;
#   4. a tiny C program builds with `pkg-config --cflags --libs headrank-1.0` from the
#      installed .pc file, and runs.
# A separate configured build rather than DESTDIR: the installed .pc file names its prefix,
# which pkg-config cannot relocate for one package only. The folder is removed at the end.
#
#   install-test.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
src=$1
build=$2
meson=meson
[ -x "$src/.venv/bin/meson" ] && meson="$src/.venv/bin/meson"
python=python3
[ -x "$src/.venv/bin/python" ] && python="$src/.venv/bin/python"

tmp=$(mktemp -d "$build/tests/install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() { echo "install test: $*" >&2; exit 1; }

echo "== configure and build into $prefix"
"$meson" setup "$tmp/build" "$src" --prefix="$prefix" -Dtests=false -Dintrospection=enabled \
  -Ddocumentation=disabled -Dbuildtype=debugoptimized >"$tmp/setup.log" 2>&1 ||
  { cat "$tmp/setup.log"; fail "meson setup failed"; }
"$meson" compile -C "$tmp/build" >"$tmp/compile.log" 2>&1 ||
  { tail -50 "$tmp/compile.log"; fail "build failed"; }
"$meson" install -C "$tmp/build" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "meson install failed"; }

echo "== 1. the installed files"
pc=$(find "$prefix" -name headrank-1.0.pc -path '*/pkgconfig/*' | head -1)
[ -n "$pc" ] || fail "no headrank-1.0.pc under $prefix"
pcdir=$(dirname "$pc")
libdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir headrank-1.0)
case $libdir in "$prefix"/*) ;; *) fail "libdir $libdir is not under the prefix" ;; esac
typelibdir=$libdir/girepository-1.0
site=$(dirname "$(find "$prefix" -name headrank_numpy.py | head -1)")
for f in "$libdir/libheadrank-1.0.so.0" "$libdir/libheadrank-1.0.so" \
         "$prefix/include/headrank-1.0/headrank.h" "$prefix/include/headrank-1.0/hr-enum-types.h" \
         "$prefix/include/headrank-1.0/hr-version.h" "$typelibdir/Headrank-1.0.typelib" \
         "$prefix/share/gir-1.0/Headrank-1.0.gir" "$prefix/bin/headrank" \
         "$prefix/share/man/man1/headrank.1" "$prefix/share/locale/de/LC_MESSAGES/headrank.mo" \
         "$prefix/share/headrank/sample-embeddings.tif" "$site/headrank_numpy.py" \
         "$site/headrank_lightning.py" "$site/headrank_dask.py" \
         "$prefix/share/doc/headrank/examples/analyse_stack.py"; do
  [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
echo "ok: library, headers, pkg-config file, typelib, GIR, translations, command, manual page," \
     "Python helper (${site#"$prefix"/}), examples"

# only the installed prefix from here on
unset GI_TYPELIB_PATH HEADRANK_DATADIR HEADRANK_LOCALEDIR HEADRANK_TOOL
export LD_LIBRARY_PATH=$libdir

echo "== 2. the installed command"
"$prefix/bin/headrank" --version
# the installed translations, found through the configured prefix
LANGUAGE=de LC_ALL=C.UTF-8 "$prefix/bin/headrank" --help >"$tmp/de.txt"
grep -q 'Version ausgeben und beenden' "$tmp/de.txt" || fail "the German translation is not used"
if command -v man >/dev/null; then
  MANWIDTH=80 man -l "$prefix/share/man/man1/headrank.1" 2>/dev/null | grep -q 'headrank analyze' ||
    fail "man -l cannot render the installed manual page"
fi

echo "== 3. the installed Python example against the installed typelib"
export GI_TYPELIB_PATH=$typelibdir
export PYTHONPATH=$site
export MPLBACKEND=Agg
export MPLCONFIGDIR=$tmp/mpl
data=$prefix/share/headrank
# without arguments: the installed sample (found beside the installed example)
(cd "$tmp" && "$python" "$prefix/share/doc/headrank/examples/analyse_stack.py" \
    --output "$tmp/plots" >"$tmp/example.txt" 2>"$tmp/example.err") ||
  { cat "$tmp/example.err"; fail "the installed example failed"; }
cat "$tmp/example.txt"
grep -q '^projections: samples 4096, dimension 64, rank 64' "$tmp/example.txt" || fail "unexpected output"
[ -s "$tmp/plots/explained_variance.png" ] || fail "no plot"
"$python" - "$prefix" <<'PY' || fail "the example's modules do not come from the prefix"
import sys
import gi
gi.require_version('Headrank', '1.0')
from gi.repository import Headrank
import headrank_numpy
prefix = sys.argv[1]
Headrank.Head.list_presets()  # a call, so that the library is loaded
typelib = gi.Repository.get_default().get_typelib_path('Headrank')
libs = {line.split()[-1] for line in open('/proc/self/maps') if 'libheadrank' in line}
print('typelib', typelib, '\nlibrary', *libs, '\nhelper', headrank_numpy.__file__)
assert typelib.startswith(prefix), typelib
assert libs and all(lib.startswith(prefix) for lib in libs), libs
assert headrank_numpy.__file__.startswith(prefix)
PY

echo "== 4. a C program against the installed pkg-config file"
cat >"$tmp/tiny.c" <<'C'
#include <headrank.h>
#include <stdio.h>

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;

  stack = hr_feature_stack_new_from_file (argv[1], HR_STACK_LAYOUT_AUTO, NULL, &error);
  if (stack == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  printf ("headrank %s: %zu samples, %zu features\n", HR_VERSION_S,
          hr_feature_stack_get_n_samples (stack), hr_feature_stack_get_n_features (stack));
  return 0;
}
C
export PKG_CONFIG_PATH=$pcdir
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$tmp/tiny" "$tmp/tiny.c" $(pkg-config --cflags --libs headrank-1.0)
"$tmp/tiny" "$data/sample-embeddings.tif" | tee "$tmp/tiny.txt"
grep -q ': 4096 samples, 64 features$' "$tmp/tiny.txt" || fail "the C program printed something else"
echo "install test: ok"
