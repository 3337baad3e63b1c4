#!/bin/sh
# Regenerates tests/data/viscy (see make_viscy_heads.py for what it makes) in a venv of its
# own, with VisCy's packages from PyPI. Only regenerating needs torch; the tests do not.
#
#   tests/data/viscy/make.sh            # makes the venv in $VENV (default
#                                       # ${XDG_CACHE_HOME:-~/.cache}/headrank-viscy-venv)
#   VENV=/path/to/venv tests/data/viscy/make.sh
#
# The venv: Python >= 3.12 (viscy-models needs it; $PYTHON, default python3.12), torch
# (PyPI's wheel), viscy-models 0.1.0, viscy-utils 0.1.0, lightning, and viscy 0.4.1
# installed without its dependencies beside them (for ContrastiveModule, whose module
# imports need nothing more than the packages above), and viscy 0.2.1 likewise in a folder
# of its own (its V0 head, built in a process of its own by make_viscy021_head.py).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/headrank-viscy-venv}
PYTHON=${PYTHON:-python3.12}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch, viscy_models, viscy_utils, lightning" 2>/dev/null; then
  "$VENV/bin/pip" install torch viscy-models==0.1.0 viscy-utils==0.1.0 lightning
fi
if [ ! -d "$VENV/viscy-0.4.1" ]; then
  "$VENV/bin/pip" install --no-deps --target "$VENV/viscy-0.4.1" viscy==0.4.1
fi
if [ ! -d "$VENV/viscy-0.2.1" ]; then
  "$VENV/bin/pip" install --no-deps --target "$VENV/viscy-0.2.1" viscy==0.2.1
fi
HEADRANK_VISCY021="$VENV/viscy-0.2.1" PYTHONPATH="$VENV/viscy-0.4.1" exec "$VENV/bin/python" "$here/make_viscy_heads.py" "$@"
