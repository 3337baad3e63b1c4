#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing (tools/setup.sh),
# then
#   1. build/       the developer build (warnings fatal, introspection on): every suite
#                   (unit, python, cli, fuzz corpus replay);
#      and there, the `wheel` test (in `slow`: 3.5 to 8.5 min here): pip install
#                   napari-headrank from the sdist and wheel meson-python builds, into a
#                   fresh venv with napari, and the plugin's tests against it (needs PyPI
#                   or pip's cache);
#   2. build-asan/  the library and the C suites under AddressSanitizer and
#                   UndefinedBehaviorSanitizer (introspection off, as json-glib and libvips
#                   keep ASan and GI in separate lanes);
#   3. build-fuzz/  a short libFuzzer run of each fuzz target (the TIFF reader on bytes and
#                   on files built from descriptions, the safetensors reader with heads
#                   built on it, pair files, zarr stores), seconds each set by
#                   HEADRANK_FUZZ_SECONDS (default 60), as many targets at a time as
#                   the machine has cores (HEADRANK_FUZZ_JOBS).
# Ends with one line "headrank: N passed, M failed, K skipped" (meson tests of both lanes
# and the fuzz run).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

tools/setup.sh || exit 1
meson=.venv/bin/meson
status=0

run_lane() {
  local name=$1 dir=$2
  shift 2
  echo "== $name"
  "$meson" test -C "$dir" --print-errorlogs "$@" || status=1
}

# 1. developer build
if [ ! -f build/build.ninja ]; then
  "$meson" setup build -Dwerror=true -Ddocumentation=enabled || exit 1
fi
"$meson" compile -C build || exit 1
run_lane "developer build: all suites" build --no-suite slow
# its own log (meson-logs/wheellog.json), so that it does not replace the one above
run_lane "pip install napari-headrank: sdist, wheel, fresh venv, plugin tests" build \
  --suite wheel --logbase wheellog

# 2. sanitizers
if [ ! -f build-asan/build.ninja ]; then
  "$meson" setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dintrospection=disabled -Dbuildtype=debug || exit 1
fi
"$meson" compile -C build-asan || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
LSAN_OPTIONS=suppressions="$top/tests/lsan.supp":print_suppressions=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_lane "AddressSanitizer + UndefinedBehaviorSanitizer: C suites" build-asan --suite unit --suite fuzz

# 3. a short libFuzzer run
echo "== libFuzzer: every target (TIFF bytes and structured, safetensors, pairs, zarr, report, part), ${HEADRANK_FUZZ_SECONDS:-60} s each"
if tests/fuzz/run-libfuzzer.sh "$top" build-fuzz "${HEADRANK_FUZZ_SECONDS:-60}" all; then
  fuzz_ok=1
else
  fuzz_ok=0
  status=1
fi

# The closing count: meson tests of both lanes, plus the fuzz run.
.venv/bin/python - "$fuzz_ok" <<'PY'
import json, sys
passed = failed = skipped = 0
for lane, log in (("build", "testlog"), ("build", "wheellog"), ("build-asan", "testlog")):
    try:
        with open(f"{lane}/meson-logs/{log}.json") as f:
            for line in f:
                r = json.loads(line)
                if r["result"] in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif r["result"] == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        failed += 1
if sys.argv[1] == "1":
    passed += 1
else:
    failed += 1
print(f"headrank: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
