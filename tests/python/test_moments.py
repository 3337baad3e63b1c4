"""HrMoments through GObject-Introspection: rows in as GLib.Bytes from numpy, the
per-sample statistics out, results against numpy (tests/data/moments, make_moments.py)."""
import json

import numpy as np
import pytest

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

from conftest import data_dir


def moments_dir():
    return data_dir() / 'moments'


def load_case(name):
    with open(moments_dir() / 'manifest.json') as f:
        manifest = json.load(f)
    ref = next(c for c in manifest['cases'] if c['name'] == name)
    n, d = ref['n_rows'], ref['dimension']
    x = np.fromfile(moments_dir() / f'{name}.f32', dtype='<f4').reshape(n, d)
    scatter = np.fromfile(moments_dir() / f'{name}.scatter.f64', dtype='<f8').reshape(d, d)
    per = np.fromfile(moments_dir() / f'{name}.per-sample.f64', dtype='<f8').reshape(n, 3)
    return ref, x, scatter, per


def doubles(b, shape):
    return np.frombuffer(b.get_data(), dtype=np.float64).reshape(shape)


@pytest.mark.parametrize('precision', [Headrank.Precision.FLOAT64,
                                       Headrank.Precision.FLOAT32_PRODUCTS])
@pytest.mark.parametrize('name', ['offset-n500-d64', 'nonfinite-n500-d64'])
def test_add_bytes_against_numpy(name, precision):
    ref, x, scatter_ref, per_ref = load_case(name)
    n, d = x.shape
    m = Headrank.Moments.new(d, n, precision)
    assert m.get_precision() == precision
    per = []
    for first in range(0, n, 200):
        ok, stats = m.add_bytes(GLib.Bytes.new(x[first:first + 200].tobytes()))
        assert ok
        per.append(np.frombuffer(stats.get_data(), dtype=np.float32).reshape(-1, 3))
    per = np.concatenate(per)

    assert m.get_n_samples() == ref['n_samples']
    assert m.get_n_dropped() == ref['n_dropped']
    assert m.get_n_nonfinite() == ref['n_nonfinite']
    assert m.get_n_dead() == ref['n_dead']

    scatter = doubles(m.get_scatter(), (d, d))
    np.testing.assert_array_equal(scatter, scatter.T)
    error = np.linalg.norm(scatter - scatter_ref, 2)
    if precision == Headrank.Precision.FLOAT64:
        assert error <= 1e-12 * ref['trace']
    assert error <= m.get_error_bound() + 1e-13 * ref['trace']

    mean = doubles(m.get_mean(), (d,))
    spread = np.sqrt(ref['trace'] / ref['n_samples'])
    np.testing.assert_allclose(mean, ref['mean'], rtol=1e-12, atol=1e-6 * spread)
    np.testing.assert_allclose(doubles(m.get_std(), (d,)), ref['std'], rtol=1e-5)
    np.testing.assert_array_equal(doubles(m.get_zero_fraction(), (d,)), ref['zero_fraction'])
    assert m.get_simsiam_std() == pytest.approx(ref['simsiam_std'], rel=1e-10)

    gram = doubles(m.get_gram(), (d, d))
    xf = x[np.isfinite(x).all(axis=1)].astype(np.float64)
    # off by the scatter's error and by N·(m eᵀ + e mᵀ) for the mean's error e
    mean_error = 1e-6 * spread if precision != Headrank.Precision.FLOAT64 else 0.0
    atol = (m.get_error_bound() + 2 * len(xf) * np.abs(mean).max() * mean_error)
    np.testing.assert_allclose(gram, xf.T @ xf, rtol=1e-9, atol=atol)

    nan_rows = np.isnan(per_ref[:, 0])
    assert np.isnan(per[nan_rows]).all()
    np.testing.assert_allclose(per[~nan_rows], per_ref[~nan_rows], rtol=2e-7)


@pytest.mark.parametrize('drift', [0.0, 1.0, 1e3])
def test_drifting_chunks_against_numpy(drift):
    """Each chunk is centred on its own mean and merged into the running scatter matrix
    with Chan's w·δδᵀ (doc/analysis.md, "One pass"): a stack sorted by condition, whose
    chunks drift from the running mean by up to 10³ spreads, against numpy's two-pass
    scatter in float64, within the accumulator's own bound; the rows added 700 at a time,
    then 4,096 (chunks of 2,048)."""
    rng = np.random.default_rng(5)
    n, d = 6000, 24
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 50.0
    x[n // 3:] += drift                       # a second condition, far from the first
    x[2 * n // 3:, :4] -= 2 * drift            # and a third
    x = x.astype(np.float32)
    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(0)).T @ (x64 - x64.mean(0))
    for step in (700, 4096):
        m = Headrank.Moments.new(d, n, Headrank.Precision.FLOAT64)
        for first in range(0, n, step):
            assert m.add_bytes(GLib.Bytes.new(x[first:first + step].tobytes()))[0]
        scatter = doubles(m.get_scatter(), (d, d))
        error = np.linalg.norm(scatter - ref, 2)
        assert error <= m.get_error_bound(), (drift, step)
        assert error <= 1e-12 * np.trace(ref), (drift, step)
        np.testing.assert_allclose(doubles(m.get_mean(), (d,)), x64.mean(0), rtol=1e-13)


def test_per_sample_not_asked():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    m = Headrank.Moments.new(3, 0, Headrank.Precision.AUTO)
    assert m.get_precision() == Headrank.Precision.FLOAT64
    ok, stats = m.add_bytes(GLib.Bytes.new(x.tobytes()))
    assert ok
    assert stats.get_size() == 4 * 3 * 4
    np.testing.assert_allclose(doubles(m.get_mean(), (3,)), x.mean(axis=0))
    xc = x.astype(np.float64) - x.mean(axis=0)
    np.testing.assert_allclose(doubles(m.get_scatter(), (3, 3)), xc.T @ xc, rtol=1e-14)


def test_wrong_size_is_a_shape_error():
    m = Headrank.Moments.new(3, 0, Headrank.Precision.FLOAT64)
    with pytest.raises(GLib.Error) as info:
        m.add_bytes(GLib.Bytes.new(np.zeros(7, dtype=np.float32).tobytes()))
    assert info.value.domain == 'hr-analysis-error-quark'
    assert info.value.code == Headrank.AnalysisError.SHAPE
    assert m.get_n_samples() == 0


def test_float32_is_safe_rule():
    """Since 0.2 float32 products never resolve what the rank tolerance needs."""
    assert not Headrank.Moments.float32_is_safe(100_000, 2048)
    assert not Headrank.Moments.float32_is_safe(1_882_382, 128)
    assert not Headrank.Moments.float32_is_safe(10 ** 12, 1)
    m = Headrank.Moments.new(128, 2_000_000, Headrank.Precision.AUTO)
    assert m.get_precision() == Headrank.Precision.FLOAT64
    assert m.props.precision == Headrank.Precision.FLOAT64
    assert m.props.dimension == 128


def test_empty():
    m = Headrank.Moments.new(2, 0, Headrank.Precision.FLOAT64)
    assert np.all(doubles(m.get_scatter(), (2, 2)) == 0)
    assert np.isnan(m.get_simsiam_std())
    assert np.isnan(doubles(m.get_std(), (2,))).all()
