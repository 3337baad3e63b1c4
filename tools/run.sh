#!/usr/bin/env bash
# The main job: sets up what headrank needs (first run only), builds it, and runs the
# headrank command. With no argument it describes the bundled sample feature stack.
#
#   tools/run.sh                       headrank info on data/sample-features.tif
#   tools/run.sh info FILE --json      any headrank command line
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

tools/setup.sh >&2
if [ ! -f build/build.ninja ]; then
  .venv/bin/meson setup build >/dev/null
fi
.venv/bin/meson compile -C build >/dev/null

if [ $# -eq 0 ]; then
  set -- info
fi
exec build/lib/headrank "$@"
