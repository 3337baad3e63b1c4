#!/bin/sh
# Run headrank's libFuzzer target for a while.
#
# Usage: tests/fuzz/run-libfuzzer.sh SOURCE_ROOT BUILD_DIR SECONDS [LIBFUZZER-OPTION…]
#
# Configures BUILD_DIR (if it has not been configured yet) as a clang build with the fuzz
# targets and ASan+UBSan:
#   CC=clang meson setup BUILD_DIR SOURCE_ROOT -Dfuzzing=true -Db_sanitize=address,undefined
#     -Db_lundef=false -Dintrospection=disabled -Dtests=true
# builds the target, copies the seed corpus (tests/fuzz/corpus/stack-reader) into
# BUILD_DIR/fuzz/corpus-stack-reader (which keeps what earlier runs found) and fuzzes for
# SECONDS seconds. Nothing is written into the source tree.
#
# Exit status: 0 when the run ended without a finding; libFuzzer's status (non-zero) on a
# crash, sanitizer report, leak, timeout or out-of-memory, whose reproducer is kept in
# BUILD_DIR/fuzz/artifacts/; 2 on bad usage or a failed build.
#
# Environment: FUZZ_TARGET (default fuzz-stack-reader), CC (default clang).
set -u

if [ $# -lt 3 ]; then
  echo "usage: $0 SOURCE_ROOT BUILD_DIR SECONDS [LIBFUZZER-OPTION…]" >&2
  exit 2
fi
source_root=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" || exit 2
build_dir=$(cd "$2" && pwd) || exit 2
seconds=$3
shift 3
case $seconds in
  '' | *[!0-9]*)
    echo "$0: SECONDS must be a number, not '$seconds'" >&2
    exit 2
    ;;
esac
case $build_dir in
  "$source_root"/tests/* | "$source_root"/lib/*)
    echo "$0: put BUILD_DIR outside the source directories" >&2
    exit 2
    ;;
esac

target=${FUZZ_TARGET:-fuzz-stack-reader}
corpus_name=${target#fuzz-}
seed_dir=$source_root/tests/fuzz/corpus/$corpus_name
dict=$source_root/tests/fuzz/tiff.dict

if [ -x "$source_root/.venv/bin/meson" ]; then
  meson=$source_root/.venv/bin/meson
else
  meson=meson
fi

# -- configure and build --------------------------------------------------------------------

if [ ! -f "$build_dir/build.ninja" ]; then
  echo "== configuring $build_dir (clang, libFuzzer, ASan+UBSan)"
  CC=${CC:-clang} "$meson" setup "$build_dir" "$source_root" \
    -Dfuzzing=true \
    -Db_sanitize=address,undefined \
    -Db_lundef=false \
    -Dintrospection=disabled \
    -Dtests=true >"$build_dir/setup.log" 2>&1 || {
    cat "$build_dir/setup.log" >&2
    echo "$0: meson setup failed" >&2
    exit 2
  }
elif ! grep -A 1 '"name": "fuzzing"' "$build_dir/meson-info/intro-buildoptions.json" 2>/dev/null |
  grep -q '"value": true'; then
  echo "$0: $build_dir is configured without -Dfuzzing=true; use another BUILD_DIR" >&2
  exit 2
fi

echo "== building $target"
if ! ninja -C "$build_dir" "tests/fuzz/$target" >"$build_dir/fuzz-build.log" 2>&1; then
  tail -n 40 "$build_dir/fuzz-build.log" >&2
  echo "$0: build failed" >&2
  exit 2
fi
binary=$build_dir/tests/fuzz/$target

# -- corpus ---------------------------------------------------------------------------------

work=$build_dir/fuzz
corpus=$work/corpus-$corpus_name
artifacts=$work/artifacts
mkdir -p "$corpus" "$artifacts" || exit 2
cp "$seed_dir"/* "$corpus"/ || exit 2
log=$work/$target.log
marker=$work/.run-start
: >"$marker"

# -- run ------------------------------------------------------------------------------------

# GSlice would hide allocations from ASan; UBSan reports must stop the fuzzer.
G_SLICE=always-malloc
G_DEBUG=gc-friendly
HEADRANK_NO_PROGRESS=1
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export G_SLICE G_DEBUG HEADRANK_NO_PROGRESS ASAN_OPTIONS UBSAN_OPTIONS

echo "== fuzzing $target for $seconds s (corpus $corpus, log $log)"
"$binary" \
  -max_total_time="$seconds" \
  -dict="$dict" \
  -rss_limit_mb=2048 \
  -max_len=65536 \
  -timeout=10 \
  -print_final_stats=1 \
  -artifact_prefix="$artifacts/" \
  "$@" \
  "$corpus" >"$log" 2>&1
status=$?

# -- report ---------------------------------------------------------------------------------

grep -E '^#[0-9]+[[:space:]]+INITED' "$log" | tail -n 1
grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
grep -E '^(stat::|Done [0-9]+ runs)' "$log"
echo "corpus: $(ls "$corpus" | wc -l) files in $corpus"

findings=$(find "$artifacts" -type f -newer "$marker" 2>/dev/null)
if [ $status -ne 0 ] || [ -n "$findings" ]; then
  echo "== FINDING (libFuzzer exit status $status)"
  grep -E -A 30 '^==[0-9]+==ERROR|runtime error:|^fuzz-stack-reader:|ALARM: working on the last Unit|out-of-memory|deadly signal|LeakSanitizer' "$log" | head -n 60
  for f in $findings; do
    echo "reproducer: $f"
    echo "  replay:   $binary $f"
    echo "  minimise: $binary -minimize_crash=1 -runs=100000 -artifact_prefix=$artifacts/min- $f"
  done
  [ $status -ne 0 ] || status=1
  exit $status
fi
exit 0
