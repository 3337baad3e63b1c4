# Shared helpers for the Python (PyGObject) tests of headrank.
#
# Run from meson (`meson test -C build --suite python`), or by hand from the
# source root:
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python
import json
import os
from pathlib import Path

import pytest

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import Headrank  # noqa: E402


def data_dir():
    """tests/data, from G_TEST_SRCDIR (set by meson to tests/) or from here."""
    srcdir = os.environ.get('G_TEST_SRCDIR')
    if srcdir and (Path(srcdir) / 'data').is_dir():
        return Path(srcdir) / 'data'
    return Path(__file__).resolve().parent.parent / 'data'


def load_manifest(sub):
    path = data_dir() / sub / 'manifest.json'
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f)


def _features(e):
    """What a fixture exercises, for choosing a small covering subset."""
    v = e['variant']
    f = {('vd', v, e['dtype']), ('ct', e['compression'], e['tiled'],
                                  e['byteorder'])}
    for k in ('compression', 'tiled', 'byteorder', 'writer', 'predictor',
              'bigtiff', 'metadata'):
        f.add(('v' + k, v, e[k]))
    for k in ('compression', 'tiled', 'byteorder', 'predictor', 'bigtiff'):
        f.add(('d' + k, e['dtype'], e[k]))
    return f


def representative(entries):
    """A deterministic subset (~60 files) of the good fixtures in which every
    layout variant meets every dtype, and every variant and every dtype meets
    every compression, tiling, byte order, predictor and BigTIFF (and every
    variant every writer and metadata kind) that the manifest has.
    HEADRANK_TEST_ALL_FIXTURES=1 takes all of them."""
    if os.environ.get('HEADRANK_TEST_ALL_FIXTURES'):
        return list(entries)
    uncovered = set().union(*(_features(e) for e in entries))
    candidates = sorted(entries, key=lambda e: e['file'])
    chosen = []
    while uncovered:
        best = max(candidates, key=lambda e: len(_features(e) & uncovered))
        chosen.append(best)
        uncovered -= _features(best)
    return chosen


def layout_enum(nick):
    return getattr(Headrank.StackLayout, nick.upper())


def error_enum(nick):
    return getattr(Headrank.StackError, nick.upper().replace('-', '_'))


@pytest.fixture(scope='session')
def tiff_dir():
    return data_dir() / 'tiff'
