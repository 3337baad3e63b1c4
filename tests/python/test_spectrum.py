# The spectrum of a stage through GObject-Introspection: Headrank.Spectrum.
#
# Headrank.Spectrum.new_from_bytes() takes the float64 mean and centred scatter matrix as
# GLib.Bytes (numpy's tobytes()); its arrays come back as Python lists. Compared live with
# scikit-learn's PCA (svd_solver='full') and numpy on random data and on the samples of
# tests/data/spectrum (see make_spectrum.py there; its manifest holds the ranks that torch
# and numpy.linalg.matrix_rank gave); bad input must raise GLib.Error in
# hr-analysis-error-quark with its code. The tests that need scikit-learn are skipped
# without it.
#
# Run: meson test -C build --suite python, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_spectrum.py
import json
import os
from pathlib import Path

import numpy as np
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)
DOMAIN = 'hr-analysis-error-quark'


def spectrum_dir():
    srcdir = os.environ.get('G_TEST_SRCDIR')
    if srcdir and (Path(srcdir) / 'data' / 'spectrum').is_dir():
        return Path(srcdir) / 'data' / 'spectrum'
    return Path(__file__).resolve().parent.parent / 'data' / 'spectrum'


MANIFEST = json.loads((spectrum_dir() / 'manifest.json').read_text())
CASES = {c['name']: c for c in MANIFEST['cases']}


def accumulators(x32):
    """The float64 mean and centred scatter matrix of float32 samples, as HrMoments
    accumulates them."""
    x = np.asarray(x32, dtype=np.float32).astype(np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    return mean, centred.T @ centred


def spectrum_of(x32):
    mean, scatter = accumulators(x32)
    n, d = x32.shape
    return Headrank.Spectrum.new_from_bytes(n, d, GLib.Bytes.new(mean.tobytes()),
                                            GLib.Bytes.new(scatter.tobytes()))


def load_case(name):
    c = CASES[name]
    x = np.fromfile(spectrum_dir() / c['files']['x'], dtype='<f4')
    return c, x.reshape(c['n_samples'], c['dimension'])


def close_spectrum(got, ref, abs_scale=1e-6, rel=1e-6, floor=1e-3):
    """|Δ| ≤ abs_scale·max(ref), and ≤ rel·ref where ref > floor·max(ref)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape
    top = np.abs(ref).max() if ref.size else 0.0
    np.testing.assert_array_less(np.abs(got - ref), abs_scale * top + 1e-300)
    big = np.abs(ref) > floor * top
    np.testing.assert_allclose(got[big], ref[big], rtol=rel, atol=0)


def rankme(s):
    p = s / s.sum() + 1e-7
    return float(np.exp(-(p * np.log(p)).sum()))


def random_samples(seed, n, d, offset=0.0):
    rng = np.random.default_rng(seed)
    scales = np.arange(1, d + 1) ** -0.6
    return ((rng.standard_normal((n, d)) * scales) + offset).astype(np.float32)


@pytest.mark.parametrize('seed,n,d,offset', [(1, 500, 32, 0.0), (2, 300, 64, 2.0),
                                             (3, 20, 50, -1.0), (4, 2, 7, 0.5),
                                             (5, 1200, 96, 10.0)])
def test_live_against_sklearn(seed, n, d, offset):
    decomposition = pytest.importorskip('sklearn.decomposition')
    x32 = random_samples(seed, n, d, offset)
    x = x32.astype(np.float64)
    spectrum = spectrum_of(x32)
    pca = decomposition.PCA(svd_solver='full').fit(x)
    k = min(n, d)

    assert spectrum.get_n_samples() == n
    assert spectrum.get_dimension() == d
    assert spectrum.get_n_components() == k
    eigenvalues = spectrum.get_eigenvalues()
    assert isinstance(eigenvalues, list) and len(eigenvalues) == k
    close_spectrum(np.array(eigenvalues), pca.explained_variance_)
    np.testing.assert_allclose(spectrum.get_explained_variance_ratio(),
                               pca.explained_variance_ratio_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(spectrum.get_cumulative_explained_variance(),
                               np.cumsum(pca.explained_variance_ratio_), rtol=0, atol=1e-7)
    close_spectrum(spectrum.get_singular_values(), pca.singular_values_)
    s_raw = np.linalg.svd(x, compute_uv=False)
    close_spectrum(spectrum.get_uncentred_singular_values(), s_raw)
    np.testing.assert_allclose(spectrum.get_effective_rank(), rankme(s_raw), rtol=1e-6)

    # Random Gaussian samples: a wide gap at the tolerance, so the ranks are exact.
    assert spectrum.get_matrix_rank() == np.linalg.matrix_rank(x32)
    s_centred = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    # doc/analysis.md: float32 values (2⁻²⁴·‖X‖_F), exact moments, dsyevd's D·2⁻⁵³·σ₁²
    tol = np.sqrt((2.0 ** -24 * np.linalg.norm(x)) ** 2 + d * 2.0 ** -53 * s_centred.max() ** 2)
    assert spectrum.get_rank() == int((s_centred[:n - 1] > tol).sum())
    np.testing.assert_allclose(spectrum.get_tolerance(), tol, rtol=1e-6)
    np.testing.assert_allclose(spectrum.get_uncentred_tolerance(),
                               s_raw.max() * max(n, d) * EPS32, rtol=1e-6)

    lam = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False).reshape(d, d)), 0, None)
    np.testing.assert_allclose(spectrum.get_participation_ratio(),
                               lam.sum() ** 2 / (lam ** 2).sum(), rtol=1e-9)
    for fraction in (0.9, 0.95, 0.99):
        cumulative = np.cumsum(pca.explained_variance_ratio_)
        expected = int(np.nonzero(cumulative >= fraction - 1e-12)[0][0]) + 1
        assert spectrum.get_components(fraction) == expected


@pytest.mark.parametrize('name', sorted(CASES))
def test_fixture_samples(name):
    """The fixture samples, accumulated here: the manifest's references still hold."""
    c, x32 = load_case(name)
    spectrum = spectrum_of(x32)
    close_spectrum(spectrum.get_eigenvalues(), c['eigenvalues'])
    close_spectrum(spectrum.get_uncentred_singular_values(), c['uncentred_singular_values'])
    assert spectrum.get_rank() == c['rank']
    assert spectrum.get_matrix_rank() == c['matrix_rank']
    np.testing.assert_allclose(spectrum.get_effective_rank(), c['effective_rank'], rtol=1e-6)
    alpha, first, last, r_squared = spectrum.get_alpha()
    if c['alpha'] is None:
        assert np.isnan(alpha) and np.isnan(r_squared) and first == last == 0
    else:
        np.testing.assert_allclose(alpha, c['alpha']['alpha'], rtol=1e-6)
        np.testing.assert_allclose(r_squared, c['alpha']['r_squared'], atol=1e-6)
        assert (first, last) == (c['alpha']['first'], c['alpha']['last'])


def test_offset_ranks_differ():
    """A common offset of 1e3 hides the weak directions from the uncentred rank."""
    c, x32 = load_case('offset')
    spectrum = spectrum_of(x32)
    assert spectrum.get_rank() == c['dimension']
    assert spectrum.get_matrix_rank() == np.linalg.matrix_rank(x32) < spectrum.get_rank()


def test_arrays_to_numpy():
    spectrum = spectrum_of(random_samples(7, 100, 8))
    values = np.asarray(spectrum.get_eigenvalues(), dtype=np.float64)
    assert values.shape == (8,)
    assert np.all(np.diff(values) <= 0)
    assert np.all(np.diff(spectrum.get_cumulative_explained_variance()) >= 0)


def expect_error(code, n, d, mean, scatter):
    with pytest.raises(GLib.Error) as info:
        Headrank.Spectrum.new_from_bytes(n, d, GLib.Bytes.new(mean), GLib.Bytes.new(scatter))
    assert info.value.domain == DOMAIN
    assert info.value.code == int(code)
    assert info.value.message


def test_errors():
    mean, scatter = accumulators(random_samples(8, 50, 4))
    m, s = mean.tobytes(), scatter.tobytes()
    expect_error(Headrank.AnalysisError.TOO_FEW_SAMPLES, 1, 4, m, s)
    expect_error(Headrank.AnalysisError.TOO_FEW_SAMPLES, 0, 4, m, s)
    expect_error(Headrank.AnalysisError.SHAPE, 50, 5, m, s)
    expect_error(Headrank.AnalysisError.SHAPE, 50, 4, m[:-8], s)
    expect_error(Headrank.AnalysisError.SHAPE, 50, 4, m, s + b'\0')
    expect_error(Headrank.AnalysisError.SHAPE, 50, 0, b'', b'')
    bad = scatter.copy()
    bad[1, 2] = np.nan
    expect_error(Headrank.AnalysisError.NUMERIC, 50, 4, m, bad.tobytes())
    bad_mean = mean.copy()
    bad_mean[0] = np.inf
    expect_error(Headrank.AnalysisError.NUMERIC, 50, 4, bad_mean.tobytes(), s)


@pytest.mark.parametrize('d,mean_kind', [(40, 'random'), (40, 'large'), (40, 'first'),
                                         (40, 'last'), (40, 'zero'), (2, 'random'),
                                         (1, 'random')])
def test_uncentred_values_from_the_centred_reduction(d, mean_kind):
    """The uncentred values come from the reduction of S to tridiagonal form, with N ‖m‖²
    added to its first element after a reflection takes m to the first axis: against
    numpy's eigenvalues of S / (N − 1) and of S + N m mᵀ formed directly, for a mean along
    no axis, dominating S, along the first and the last axis, zero, and D = 1 and 2."""
    rng = np.random.default_rng(11 + d)
    n = 1000
    a = rng.standard_normal((d, d)) * np.arange(1, d + 1) ** -1.0
    s = a @ a.T * n
    s = (s + s.T) / 2
    m = {'random': rng.standard_normal(d), 'large': 1e3 * rng.standard_normal(d),
         'first': np.eye(d)[0] * 3.0, 'last': np.eye(d)[-1] * 3.0,
         'zero': np.zeros(d)}[mean_kind]
    spectrum = Headrank.Spectrum.new_from_bytes(n, d, GLib.Bytes.new(m.tobytes()),
                                                GLib.Bytes.new(s.tobytes()))
    centred = np.linalg.eigvalsh(s / (n - 1))[::-1]
    uncentred = np.linalg.eigvalsh(s + n * np.outer(m, m))[::-1]
    # both backward stable: D·2⁻⁵³ of the largest value, and more than 1e-14 of it
    np.testing.assert_allclose(spectrum.get_eigenvalues(), np.clip(centred, 0, None), rtol=0,
                               atol=1e-13 * centred[0])
    np.testing.assert_allclose(np.square(spectrum.get_uncentred_singular_values()),
                               np.clip(uncentred, 0, None), rtol=0, atol=1e-13 * uncentred[0])
    assert spectrum.get_uncentred_singular_values()[0] == pytest.approx(
        np.sqrt(uncentred[0]), rel=1e-14)
