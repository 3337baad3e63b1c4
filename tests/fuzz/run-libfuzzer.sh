#!/bin/sh
# Run headrank's libFuzzer targets for a while.
#
# Usage: tests/fuzz/run-libfuzzer.sh SOURCE_ROOT BUILD_DIR SECONDS [TARGET] [LIBFUZZER-OPTION…]
#
# TARGET is stack-reader (the TIFF reader, the default), tiff-structured (TIFF files built
# from a compact description: IFDs, tag types and counts, metadata, shared strips, many
# pages), safetensors (HrTensorFile and HrHead), pairs (pair files and HrContrastive), zarr
# (zarr stores packed as files, through lib/sources/hr-zarr.c), report (report.json files
# through HrComparison), part (part files of doc/partial.md through HrMoments), either with its fuzz- prefix, or
# all (every target, SECONDS seconds each; as many at a time as the machine has cores, or
# HEADRANK_FUZZ_JOBS: each libFuzzer process runs on one core).
# A fourth argument that starts with "-" is a libFuzzer option, not a target.
#
# Configures BUILD_DIR (if it has not been configured yet) as a clang build with the fuzz
# targets and ASan+UBSan:
#   CC=clang meson setup BUILD_DIR SOURCE_ROOT -Dfuzzing=true -Db_sanitize=address,undefined
#     -Db_lundef=false -Dintrospection=disabled -Dtests=true
# builds the target, copies its seed corpus (tests/fuzz/corpus/NAME) into
# BUILD_DIR/fuzz/corpus-NAME (which keeps what earlier runs found) and fuzzes for SECONDS
# seconds, with the target's dictionary (tests/fuzz/tiff.dict, tests/fuzz/safetensors.dict,
# tests/fuzz/pairs.dict, tests/fuzz/zarr.dict, tests/fuzz/report.dict, tests/fuzz/part.dict; tiff-structured has none: its input is a
# description, not text).
# Nothing is written into the source tree.
#
# Exit status: 0 when the run ended without a finding; libFuzzer's status (non-zero) on a
# crash, sanitizer report, leak, timeout or out-of-memory, whose reproducer is kept in
# BUILD_DIR/fuzz/artifacts-NAME/ (one folder per target, so that targets run at the same time
# in one BUILD_DIR do not take each other's findings for their own); with all, the status of
# the first target with a finding (the later targets still run); 2 on bad usage or a failed
# build.
#
# Environment: FUZZ_TARGET (the target when no TARGET is given; default stack-reader),
# CC (default clang), HEADRANK_FUZZ_JOBS (targets fuzzed at the same time; default: the
# number of cores). Each target's report is printed when its run ends, in the order above.
set -u

usage="usage: $0 SOURCE_ROOT BUILD_DIR SECONDS [stack-reader|tiff-structured|safetensors|pairs|zarr|report|part|all] [LIBFUZZER-OPTION…]"
if [ $# -lt 3 ]; then
  echo "$usage" >&2
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

requested=${FUZZ_TARGET:-stack-reader}
if [ $# -gt 0 ]; then
  case $1 in
    -*) ;;
    *)
      requested=$1
      shift
      ;;
  esac
fi
case $requested in
  all) targets="fuzz-stack-reader fuzz-tiff-structured fuzz-safetensors fuzz-pairs fuzz-zarr fuzz-report fuzz-part" ;;
  stack-reader | fuzz-stack-reader) targets=fuzz-stack-reader ;;
  tiff-structured | fuzz-tiff-structured) targets=fuzz-tiff-structured ;;
  safetensors | fuzz-safetensors) targets=fuzz-safetensors ;;
  pairs | fuzz-pairs) targets=fuzz-pairs ;;
  zarr | fuzz-zarr) targets=fuzz-zarr ;;
  report | fuzz-report) targets=fuzz-report ;;
  part | fuzz-part) targets=fuzz-part ;;
  *)
    echo "$0: unknown target '$requested' (stack-reader, tiff-structured, safetensors, pairs, zarr, report, part or all)" >&2
    echo "$usage" >&2
    exit 2
    ;;
esac

jobs=${HEADRANK_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in
  '' | *[!0-9]* | 0)
    echo "$0: HEADRANK_FUZZ_JOBS must be a positive number, not '$jobs'" >&2
    exit 2
    ;;
esac

if [ -x "$source_root/.venv/bin/meson" ]; then
  meson=$source_root/.venv/bin/meson
else
  meson=meson
fi

# -- configure ------------------------------------------------------------------------------

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

# GSlice would hide allocations from ASan; UBSan reports must stop the fuzzer.
G_SLICE=always-malloc
G_DEBUG=gc-friendly
HEADRANK_NO_PROGRESS=1
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export G_SLICE G_DEBUG HEADRANK_NO_PROGRESS ASAN_OPTIONS UBSAN_OPTIONS

# run_target TARGET [LIBFUZZER-OPTION…]: fuzzes one built target; returns 0, 2 (no corpus)
# or libFuzzer's status.
run_target() {
  target=$1
  shift
  corpus_name=${target#fuzz-}
  seed_dir=$source_root/tests/fuzz/corpus/$corpus_name
  case $corpus_name in
    stack-reader) dict_option=-dict=$source_root/tests/fuzz/tiff.dict ;;
    tiff-structured) dict_option= ;;
    *) dict_option=-dict=$source_root/tests/fuzz/$corpus_name.dict ;;
  esac

  binary=$build_dir/tests/fuzz/$target

  # -- corpus -------------------------------------------------------------------------------

  work=$build_dir/fuzz
  corpus=$work/corpus-$corpus_name
  artifacts=$work/artifacts-$corpus_name
  mkdir -p "$corpus" "$artifacts" || return 2
  cp "$seed_dir"/* "$corpus"/ || return 2
  log=$work/$target.log
  marker=$work/.run-start-$corpus_name
  : >"$marker"

  # -- run ----------------------------------------------------------------------------------

  echo "== fuzzing $target for $seconds s (corpus $corpus, log $log)"
  "$binary" \
    -max_total_time="$seconds" \
    ${dict_option:+"$dict_option"} \
    -rss_limit_mb=2048 \
    -max_len=65536 \
    -timeout=10 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    "$@" \
    "$corpus" >"$log" 2>&1
  status=$?

  # -- report -------------------------------------------------------------------------------

  grep -E '^#[0-9]+[[:space:]]+INITED' "$log" | tail -n 1
  grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
  grep -E '^(stat::|Done [0-9]+ runs)' "$log"
  echo "corpus: $(ls "$corpus" | wc -l) files in $corpus"

  findings=$(find "$artifacts" -type f -newer "$marker" 2>/dev/null)
  if [ $status -ne 0 ] || [ -n "$findings" ]; then
    echo "== FINDING in $target (libFuzzer exit status $status)"
    grep -E -A 30 "^==[0-9]+==ERROR|runtime error:|^$target:|ALARM: working on the last Unit|out-of-memory|deadly signal|LeakSanitizer" "$log" | head -n 60
    for f in $findings; do
      echo "reproducer: $f"
      echo "  replay:   $binary $f"
      echo "  minimise: $binary -minimize_crash=1 -runs=100000 -artifact_prefix=$artifacts/min- $f"
    done
    [ $status -ne 0 ] || status=1
    return $status
  fi
  return 0
}

# -- build (all the requested targets in one ninja run) ----------------------------------------

echo "== building $targets"
build_targets=
for t in $targets; do
  build_targets="$build_targets tests/fuzz/$t"
done
# shellcheck disable=SC2086 # one word per target
if ! ninja -C "$build_dir" $build_targets >"$build_dir/fuzz-build.log" 2>&1; then
  tail -n 40 "$build_dir/fuzz-build.log" >&2
  echo "$0: build failed" >&2
  exit 2
fi

# -- fuzz, HEADRANK_FUZZ_JOBS targets at a time --------------------------------------------

mkdir -p "$build_dir/fuzz" || exit 2

# finish_batch: waits for the batch's runs, prints their reports in order, keeps the first
# non-zero status in result.
finish_batch() {
  for t in $batch; do
    eval "pid=\$pid_$(echo "$t" | tr - _)"
    wait "$pid"
    s=$?
    cat "$build_dir/fuzz/$t.report"
    [ $result -ne 0 ] || result=$s
  done
  batch=
  running=0
}

result=0
batch=
running=0
# the runs in the background (each a subshell and its libFuzzer) stop with the script
# (Ctrl-C, SIGTERM), not SECONDS later
pids=
stop_runs() {
  for p in $pids; do
    pkill -TERM -P "$p" 2>/dev/null
    kill "$p" 2>/dev/null
  done
}
trap 'stop_runs; exit 130' INT
trap 'stop_runs; exit 143' TERM
for t in $targets; do
  run_target "$t" "$@" >"$build_dir/fuzz/$t.report" 2>&1 &
  pids="$pids $!"
  eval "pid_$(echo "$t" | tr - _)=\$!"
  batch="$batch $t"
  running=$((running + 1))
  [ $running -lt "$jobs" ] || finish_batch
done
[ -z "$batch" ] || finish_batch
exit $result
