# Contrastive measures through GObject-Introspection: Headrank.Contrastive and
# Headrank.pairs_read_bytes.
#
# Table-driven over tests/data/contrastive/manifest.json (see make_contrastive.py there):
# Contrastive.new_from_bytes on the numpy fixtures must give torch's and
# pytorch-metric-learning's values (float64) within the manifest's tolerance; when torch
# and pytorch-metric-learning are importable, fresh random cases are compared live with
# them as well (skipped otherwise: neither is in a fresh CI venv). Bad parameters and
# buffers must raise GLib.Error in HR_ANALYSIS_ERROR with the documented code; pair files
# must read back as uint64 triples.
#
# Run: meson test -C build --suite python, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_contrastive.py
import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402



def contrastive_dir():
    srcdir = os.environ.get('G_TEST_SRCDIR')
    if srcdir and (Path(srcdir) / 'data' / 'contrastive').is_dir():
        return Path(srcdir) / 'data' / 'contrastive'
    return Path(__file__).resolve().parent.parent / 'data' / 'contrastive'


DIR = contrastive_dir()
MANIFEST = json.loads((DIR / 'manifest.json').read_text())
TOL = MANIFEST['tolerance']
MEASURES = ['alignment', 'uniformity', 'ntxent', 'triplet', 'positive_cosine',
            'negative_cosine']
DOMAIN = 'hr-analysis-error-quark'
HAVE_REFERENCE = (importlib.util.find_spec('torch') is not None
                  and importlib.util.find_spec('pytorch_metric_learning') is not None)


def as_bytes(x):
    return GLib.Bytes.new(np.ascontiguousarray(x, dtype=np.float32).tobytes())


def compute(a, p, n, batch_size, temperature, margin):
    return Headrank.Contrastive.new_from_bytes(
        as_bytes(a), as_bytes(p), None if n is None else as_bytes(n), a.shape[1], batch_size,
        temperature, margin)


def values(result):
    return {m: getattr(result, 'get_' + m)() for m in MEASURES}


def assert_measures(what, got, expected):
    for m in MEASURES:
        allowed = max(TOL['abs'], TOL['rel'] * abs(expected[m]))
        assert abs(got[m] - expected[m]) <= allowed, \
            f'{what}: {m} is {got[m]!r}, torch gives {expected[m]!r}'


def load(case, role):
    name = case['files'].get(role)
    if name is None:
        return None
    return np.fromfile(DIR / name, dtype='<f4').reshape(case['n_pairs'], case['dimension'])


@pytest.mark.parametrize('case', MANIFEST['cases'], ids=lambda c: c['id'])
def test_fixture(case):
    a, p, n = load(case, 'anchors'), load(case, 'positives'), load(case, 'negatives')
    result = compute(a, p, n, case['batch_size'], case['temperature'], case['margin'])
    assert result.get_n_pairs() == case['n_pairs']
    assert result.get_batch_size() == case['batch_size']
    assert result.get_temperature() == case['temperature']
    assert result.get_margin() == case['margin']
    assert result.has_negatives() == (n is not None)
    assert_measures(case['id'], values(result), case['expected'])


@pytest.mark.skipif(not HAVE_REFERENCE, reason='torch or pytorch-metric-learning not installed')
@pytest.mark.parametrize('n_pairs,dimension,batch_size,temperature,margin,negatives', [
    (7, 5, 3, 0.1, 0.3, False),
    (40, 16, 8, 0.07, 1.0, True),
    (65, 24, 32, 0.5, 0.2, False),
])
def test_live_torch(n_pairs, dimension, batch_size, temperature, margin, negatives):
    sys.path.insert(0, str(DIR))
    try:
        import make_contrastive
    finally:
        sys.path.pop(0)
    import torch

    rng = np.random.default_rng(n_pairs)
    s = 0.4 / math.sqrt(dimension)
    a = (s * rng.standard_normal((n_pairs, dimension))).astype(np.float32)
    p = (a + 0.8 * s * rng.standard_normal(a.shape)).astype(np.float32)
    n = (s * rng.standard_normal(a.shape)).astype(np.float32) if negatives else None
    expected = make_contrastive.measures(a, p, n, batch_size, temperature, margin,
                                         torch.float64)
    assert_measures('live', values(compute(a, p, n, batch_size, temperature, margin)),
                    expected)


def test_many_batches_are_all_counted_once():
    """3,000 pairs in batches of 2 (1,500 batches), and the same pairs twice (3,000 batches:
    more than the 1,024 whose sums are held at once, split over threads, the copies meeting
    inside a round): every measure is an average over batches or pairs, so the two agree,
    and a batch dropped or counted twice would show."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3000, 6)).astype(np.float32)
    p = (a + 0.5 * rng.standard_normal(a.shape)).astype(np.float32)
    once = compute(a, p, None, 2, 0.2, 0.5)
    twice = compute(np.concatenate([a, a]), np.concatenate([p, p]), None, 2, 0.2, 0.5)
    assert twice.get_n_pairs() == 2 * once.get_n_pairs() == 6000
    for m in MEASURES:
        assert getattr(twice, 'get_' + m)() == pytest.approx(getattr(once, 'get_' + m)(),
                                                             rel=1e-12), m


@pytest.mark.parametrize('kwargs,code', [
    (dict(dimension=0), 'INVALID'),
    (dict(batch_size=1), 'INVALID'),
    (dict(temperature=0.0), 'INVALID'),
    (dict(temperature=float('nan')), 'INVALID'),
    (dict(margin=-1.0), 'INVALID'),
    (dict(n_pairs=1), 'TOO_FEW_SAMPLES'),
    (dict(positives_rows=3), 'SHAPE'),
    (dict(negatives_rows=5), 'SHAPE'),
    (dict(dimension=5), 'SHAPE'),
    (dict(nan=True), 'NUMERIC'),
])
def test_errors(kwargs, code):
    rng = np.random.default_rng(1)
    n_pairs = kwargs.get('n_pairs', 4)
    a = rng.standard_normal((n_pairs, 3)).astype(np.float32)
    p = rng.standard_normal((kwargs.get('positives_rows', n_pairs), 3)).astype(np.float32)
    n = (rng.standard_normal((kwargs['negatives_rows'], 3)).astype(np.float32)
         if 'negatives_rows' in kwargs else None)
    if kwargs.get('nan'):
        p[1, 2] = np.nan
    with pytest.raises(GLib.Error) as info:
        Headrank.Contrastive.new_from_bytes(
            as_bytes(a), as_bytes(p), None if n is None else as_bytes(n),
            kwargs.get('dimension', 3), kwargs.get('batch_size', 2),
            kwargs.get('temperature', 0.1), kwargs.get('margin', 1.0))
    assert info.value.domain == DOMAIN
    assert info.value.code == int(getattr(Headrank.AnalysisError, code))


def test_pairs_read_bytes(tmp_path):
    path = tmp_path / 'pairs.csv'
    path.write_text('anchor,positive,negative\n0,1,2\n# skipped\n3, 4, 0\n')
    data, n_pairs, has_negatives = Headrank.pairs_read_bytes(str(path), 5)
    triples = np.frombuffer(data.get_data(), dtype=np.uint64).reshape(-1, 3)
    assert n_pairs == 2 and has_negatives
    assert triples.tolist() == [[0, 1, 2], [3, 4, 0]]

    two = tmp_path / 'two.txt'
    two.write_text('0 1\n1 0\n')
    data, n_pairs, has_negatives = Headrank.pairs_read_bytes(str(two), 2)
    triples = np.frombuffer(data.get_data(), dtype=np.uint64).reshape(-1, 3)
    assert n_pairs == 2 and not has_negatives
    assert (triples[:, 2] == np.iinfo(np.uint64).max).all()

    with pytest.raises(GLib.Error) as info:
        Headrank.pairs_read_bytes(str(path), 4)
    assert info.value.domain == DOMAIN
    assert info.value.code == int(Headrank.AnalysisError.PAIRS)
    assert 'line 4' in info.value.message
