#!/usr/bin/env bash
# The main job: sets up what headrank needs (first run only), builds it, and runs the
# headrank command. With no argument it analyses the bundled sample: cell embeddings
# through the projection head VisCy had before its issue 139, report in headrank-report/.
#
#   tools/run.sh                       headrank analyze (data/sample-embeddings.tif,
#                                      data/head-viscy-v0.safetensors, data/sample-pairs.csv)
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
  set -- analyze
fi
exec build/lib/headrank "$@"
