# Temporal pairs from tracks through the typelib: Headrank.Pairs from the AnnData stores of
# tests/data/tracks (written by anndata and VisCy's EmbeddingWriter; make_tracks.py there)
# against the pairs pandas computed with VisCy's TripletDataset expressions, the same from
# pandas columns through headrank_numpy.pairs_from_tracks, and an analysis with such pairs.
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

from conftest import data_dir  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'python'))
import headrank_numpy as hn  # noqa: E402

TRACKS = data_dir() / 'tracks'
EXPECTED = json.loads((TRACKS / 'expected.json').read_text())
GOOD = sorted(name for name, e in EXPECTED.items() if 'pairs' in e)
REFUSED = sorted(name for name, e in EXPECTED.items() if 'error' in e)
ANALYSIS_ERROR = Headrank.analysis_error_quark()


def store(name):
    return str(TRACKS / 'stores' / f'{name}.zarr')


def want(name, dt):
    return np.array(EXPECTED[name]['pairs'][str(dt)], np.uint64).reshape(-1, 2)


@pytest.mark.parametrize('name', GOOD)
@pytest.mark.parametrize('dt', [1, 2, 3])
def test_pairs_from_store_are_viscys(name, dt):
    pairs = Headrank.Pairs.new_from_store(store(name), dt)
    assert pairs.get_origin() == Headrank.PairsOrigin.TRACKS
    assert pairs.get_dt() == dt
    assert list(pairs.get_columns()) == ['fov_name', 'track_id', 't']
    assert pairs.get_n_rows() == EXPECTED[name]['rows']
    np.testing.assert_array_equal(hn.pairs_to_numpy(pairs), want(name, dt))


@pytest.mark.parametrize('name', REFUSED)
def test_refused_stores_name_the_problem(name):
    with pytest.raises(GLib.Error) as e:
        Headrank.Pairs.new_from_store(store(name), 1)
    assert e.value.domain in (GLib.quark_to_string(Headrank.stack_error_quark()),
                              GLib.quark_to_string(ANALYSIS_ERROR))
    assert EXPECTED[name]['error'] in e.value.message
    assert store(name) in e.value.message


def columns_as(name, kind):
    """The store's columns as pandas would hold them: categorical, object strings or
    nullable strings for the FOV; int64 or nullable Int64 for the track and t."""
    c = EXPECTED[name]['columns']
    fov = {'categorical': pd.Categorical(c['fov_name']),
           'object': pd.Series(c['fov_name'], dtype=object),
           'string': pd.Series(c['fov_name'], dtype='string')}[kind]
    track = pd.Series(c['track_id'], dtype='Int64')
    t = pd.Series(c['t'], dtype='Float64' if any(isinstance(v, float) for v in c['t']) else 'Int64')
    return pd.Series(fov), track, t


@pytest.mark.parametrize('name', ['v2-categorical', 'v3-nullable', 'v2-strings', 'viscy-writer'])
@pytest.mark.parametrize('kind', ['categorical', 'object', 'string'])
def test_pairs_from_pandas_columns(name, kind):
    fov, track, t = columns_as(name, kind)
    for dt in (1, 2):
        pairs = hn.pairs_from_tracks(fov, track, t, dt=dt)
        np.testing.assert_array_equal(hn.pairs_to_numpy(pairs), want(name, dt))


def test_pairs_from_numpy_columns():
    # numbers as FOVs, float times without a fraction, NaN as missing
    fov = np.array([3, 3, 3, 7, 7, 3])
    track = np.array([1, 1, 1, 1, 1, 2])
    t = np.array([0.0, 1.0, 2.0, 1.0, np.nan, 1.0])
    got = hn.pairs_to_numpy(hn.pairs_from_tracks(fov, track, t))
    np.testing.assert_array_equal(got, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match='not an integer'):
        hn.pairs_from_tracks(fov, track, t + 0.5)
    with pytest.raises(ValueError, match='differ in length'):
        hn.pairs_from_tracks(fov, track[:3], t)


def test_duplicates_and_no_pairs_are_errors():
    with pytest.raises(GLib.Error) as e:
        hn.pairs_from_tracks(['a', 'a'], [1, 1], [5, 5])
    assert e.value.matches(ANALYSIS_ERROR, Headrank.AnalysisError.PAIRS)
    assert 'rows 0 and 1' in e.value.message
    with pytest.raises(GLib.Error) as e:
        hn.pairs_from_tracks(['a', 'b'], [1, 1], [5, 6])
    assert e.value.matches(ANALYSIS_ERROR, Headrank.AnalysisError.PAIRS)
    with pytest.raises(GLib.Error) as e:
        hn.pairs_from_tracks(['a', 'a'], [1, 1], [5, 6], dt=0)
    assert e.value.matches(ANALYSIS_ERROR, Headrank.AnalysisError.INVALID)


def test_analysis_with_track_pairs_and_numpy_pairs(tmp_path):
    rng = np.random.default_rng(5)
    name = 'viscy-writer'
    x = rng.standard_normal((EXPECTED[name]['rows'], 12)).astype(np.float32)
    pairs = Headrank.Pairs.new_from_store(store(name), 1)
    a = hn.analyze(x, pairs=pairs)
    assert a.get_contrastive().get_n_pairs() == len(want(name, 1))
    assert a.get_pairs().get_origin() == Headrank.PairsOrigin.TRACKS
    report = json.loads(a.to_json(False))['contrastive']['pairs_source']
    assert report == {'origin': 'tracks', 'path': store(name), 'dt': 1,
                      'columns': ['fov_name', 'track_id', 't'], 'rows': EXPECTED[name]['rows'],
                      'rows_missing': 0}
    # the same pairs as a numpy array give the same measures
    b = hn.analyze(x, pairs=want(name, 1))
    assert b.get_pairs().get_origin() == Headrank.PairsOrigin.MEMORY
    assert b.get_contrastive().get_ntxent() == a.get_contrastive().get_ntxent()
    assert json.loads(b.to_json(False))['contrastive']['pairs_source'] == {
        'origin': 'memory', 'path': None}
    # the same pairs from a file
    csv = tmp_path / 'pairs.csv'
    np.savetxt(csv, want(name, 1), fmt='%d', delimiter=',')
    c = hn.analyze(x, pairs=csv)
    assert c.get_pairs().get_origin() == Headrank.PairsOrigin.FILE
    assert c.get_contrastive().get_ntxent() == a.get_contrastive().get_ntxent()
    # indices beyond the samples
    with pytest.raises(GLib.Error) as e:
        hn.analyze(x[:10], pairs=pairs)
    assert e.value.matches(ANALYSIS_ERROR, Headrank.AnalysisError.PAIRS)
    assert store(name) in e.value.message
    with pytest.raises(ValueError):
        hn.pairs_from_numpy(np.array([[0, -1]]))
