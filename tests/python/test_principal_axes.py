# Principal axes and the streamed PCA projection through GObject-Introspection:
# Headrank.PrincipalAxes and Headrank.PcaProjection, compared live with scikit-learn's PCA
# (svd_solver='full'): components (with the sign convention checked on both sides),
# explained variances, transformed coordinates; of the features, of a stage of a head, and
# of an analysis' stages; NaN rows, hostile k and N, cancellation, the asynchronous run.
#
# Run: meson test -C build --suite python, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_principal_axes.py
import sys
from pathlib import Path

import numpy as np
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / 'python'))
import headrank_numpy as hn  # noqa: E402

decomposition = pytest.importorskip('sklearn.decomposition')

DOMAIN = 'hr-analysis-error-quark'


def anisotropic(n, d, seed=0, offset=3.0):
    """Samples with well separated variances (so every axis is defined up to its sign), a
    non-zero mean and a random rotation."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(10.0, 0.1, d)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = (rng.standard_normal((n, d)) * scales) @ q.T + offset
    return np.ascontiguousarray(x, np.float32)


def moments_of(x):
    m = Headrank.Moments.new(x.shape[1], x.shape[0], Headrank.Precision.FLOAT64)
    m.add_bytes(GLib.Bytes.new(x.tobytes()))
    return m


def components(axes):
    return np.frombuffer(axes.get_components_bytes().get_data(), np.float64).reshape(
        axes.get_n_axes(), axes.get_dimension())


def coordinates(projection):
    k = projection.get_n_axes()
    return np.frombuffer(projection.get_coordinates().get_data(), np.float32).reshape(-1, k)


def assert_largest_positive(c):
    rows = np.arange(c.shape[0])
    assert np.all(c[rows, np.argmax(np.abs(c), axis=1)] > 0)


def test_axes_match_sklearn_pca():
    x = anisotropic(5000, 24)
    k = 5
    axes = Headrank.PrincipalAxes.new_from_moments(moments_of(x), k)
    pca = decomposition.PCA(n_components=k, svd_solver='full').fit(x.astype(np.float64))
    c = components(axes)
    # the sign convention, on both sides: the largest |component| of each axis is positive
    assert_largest_positive(c)
    assert_largest_positive(pca.components_)
    np.testing.assert_allclose(c, pca.components_, atol=1e-9)
    np.testing.assert_allclose(axes.get_explained_variance(), pca.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(axes.get_explained_variance_ratio(),
                               pca.explained_variance_ratio_, rtol=1e-9)
    np.testing.assert_allclose(axes.get_mean(), pca.mean_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(c @ c.T, np.eye(k), atol=1e-12)
    y = np.frombuffer(axes.project_bytes(GLib.Bytes.new(x.tobytes())).get_data(),
                      np.float32).reshape(-1, k)
    ref = pca.transform(x.astype(np.float64))
    # float32 coordinates of values up to ~40: a few float32 ulps
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_all_axes_by_default_and_wide_data():
    """k = 0 keeps min(N, D); N < D (a wide stage) has N axes, the last of variance 0."""
    x = anisotropic(12, 30, seed=2)
    axes = Headrank.PrincipalAxes.new_from_moments(moments_of(x), 0)
    assert axes.get_n_axes() == 12
    pca = decomposition.PCA(svd_solver='full').fit(x.astype(np.float64))
    # the first N − 1 axes are defined; the N-th (variance 0) is any vector of the null space
    np.testing.assert_allclose(components(axes)[:11], pca.components_[:11], atol=1e-7)
    assert axes.get_explained_variance()[11] == pytest.approx(0, abs=1e-9)


def test_projection_of_a_source_matches_sklearn():
    x = anisotropic(20000, 16, seed=3)
    projection = Headrank.PcaProjection.new(hn.source_from_numpy(x), 3)
    fractions = []
    assert projection.run(lambda f, *a: fractions.append(f), None, None)
    assert projection.is_done() and projection.get_n_samples() == 20000
    assert fractions and fractions[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(fractions, fractions[1:]))
    pca = decomposition.PCA(n_components=3, svd_solver='full').fit(x.astype(np.float64))
    np.testing.assert_allclose(components(projection.get_axes()), pca.components_, atol=1e-9)
    ref = pca.transform(x.astype(np.float64))
    np.testing.assert_allclose(coordinates(projection), ref, atol=1e-5 * np.abs(ref).max())


def test_nonfinite_rows_get_nan_and_are_left_out():
    x = anisotropic(3000, 8, seed=4)
    x[[5, 100, 2999]] = np.nan
    x[7, 3] = np.inf
    bad = [5, 7, 100, 2999]
    projection = Headrank.PcaProjection.new(hn.source_from_numpy(x), 2)
    assert projection.run(None, None, None)
    y = coordinates(projection)
    assert projection.get_n_dropped() == 4
    assert np.all(np.isnan(y[bad]))
    keep = np.setdiff1d(np.arange(3000), bad)
    pca = decomposition.PCA(n_components=2, svd_solver='full').fit(x[keep].astype(np.float64))
    ref = pca.transform(x[keep].astype(np.float64))
    np.testing.assert_allclose(y[keep], ref, atol=1e-5 * np.abs(ref).max())


def make_head(d, hidden, out, seed=7):
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((hidden, d)) / np.sqrt(d)).astype(np.float32)
    b1 = rng.standard_normal(hidden).astype(np.float32) * 0.1
    w2 = (rng.standard_normal((out, hidden)) / np.sqrt(hidden)).astype(np.float32)
    head = Headrank.Head.new()
    assert head.append_linear('0', d, hidden, GLib.Bytes.new(w1.tobytes()),
                              GLib.Bytes.new(b1.tobytes()))
    assert head.append_activation('1', Headrank.LayerKind.RELU)
    assert head.append_linear('2', hidden, out, GLib.Bytes.new(w2.tobytes()), None)
    return head, (w1, b1, w2)


@pytest.mark.parametrize('stage', ['0', '1', 'projections'])
def test_projection_of_a_head_stage_matches_sklearn(stage):
    x = anisotropic(4000, 12, seed=8)
    head, (w1, b1, w2) = make_head(12, 20, 6)
    h0 = x @ w1.T + b1
    h1 = np.maximum(h0, 0)
    z = {'0': h0, '1': h1, 'projections': h1 @ w2.T}[stage].astype(np.float64)
    projection = Headrank.PcaProjection.new(hn.source_from_numpy(x), 3)
    assert projection.set_head(head, stage, Headrank.NormMode.RUNNING, 0)
    assert projection.run(None, None, None)
    pca = decomposition.PCA(n_components=3, svd_solver='full').fit(z)
    # the head runs in float32: its outputs carry float32 rounding, as PyTorch's would
    np.testing.assert_allclose(components(projection.get_axes()), pca.components_, atol=1e-4)
    ref = pca.transform(z)
    np.testing.assert_allclose(coordinates(projection), ref, atol=1e-4 * np.abs(ref).max())


def test_projection_for_the_stages_of_an_analysis():
    x = anisotropic(3000, 12, seed=9)
    head, (w1, b1, w2) = make_head(12, 20, 6)
    analysis = hn.analyze(x, head=head)
    z = (np.maximum(x @ w1.T + b1, 0) @ w2.T).astype(np.float64)
    for stage, values in (('features', x.astype(np.float64)), ('projections', z)):
        projection = Headrank.PcaProjection.new_for_stage(analysis, stage, 2)
        # the axes of a spectral stage come from the analysis: one pass, no first pass
        assert projection.get_axes() is not None
        assert projection.get_stage() == stage
        assert projection.run(None, None, None)
        pca = decomposition.PCA(n_components=2, svd_solver='full').fit(values)
        ref = pca.transform(values)
        np.testing.assert_allclose(coordinates(projection), ref,
                                   atol=1e-4 * np.abs(ref).max())
    # a stage whose scatter matrix the analysis did not keep: the pass computes the axes
    projection = Headrank.PcaProjection.new_for_stage(analysis, '1', 2)
    assert projection.run(None, None, None)
    h1 = np.maximum(x @ w1.T + b1, 0).astype(np.float64)
    ref = decomposition.PCA(n_components=2, svd_solver='full').fit_transform(h1)
    np.testing.assert_allclose(coordinates(projection), ref, atol=1e-4 * np.abs(ref).max())
    with pytest.raises(GLib.Error) as e:
        Headrank.PcaProjection.new_for_stage(analysis, 'bogus', 2)
    assert e.value.domain == DOMAIN and e.value.code == Headrank.AnalysisError.INVALID


def test_given_axes_place_new_samples():
    x = anisotropic(2000, 10, seed=10)
    new = anisotropic(500, 10, seed=11)
    axes = Headrank.PrincipalAxes.new_from_moments(moments_of(x), 2)
    projection = Headrank.PcaProjection.new(hn.source_from_numpy(new), 7)
    projection.set_axes(axes)
    assert projection.get_n_axes() == 2
    assert projection.run(None, None, None)
    pca = decomposition.PCA(n_components=2, svd_solver='full').fit(x.astype(np.float64))
    ref = pca.transform(new.astype(np.float64))
    np.testing.assert_allclose(coordinates(projection), ref, atol=1e-5 * np.abs(ref).max())
    wrong = Headrank.PrincipalAxes.new_from_moments(moments_of(anisotropic(50, 4)), 2)
    projection.set_axes(wrong)
    with pytest.raises(GLib.Error) as e:
        projection.run(None, None, None)
    assert e.value.code == Headrank.AnalysisError.SHAPE
    assert projection.get_coordinates() is None


@pytest.mark.parametrize('n, d, k, code', [
    (100, 4, 5, 'INVALID'),          # k > D
    (3, 10, 4, 'INVALID'),           # k > N
    (1, 4, 1, 'TOO_FEW_SAMPLES'),    # N < 2
])
def test_hostile_sizes_of_axes(n, d, k, code):
    x = anisotropic(n, d, seed=12)
    with pytest.raises(GLib.Error) as e:
        Headrank.PrincipalAxes.new_from_moments(moments_of(x), k)
    assert e.value.domain == DOMAIN
    assert e.value.code == getattr(Headrank.AnalysisError, code)


def test_hostile_inputs():
    m = np.zeros(3).tobytes()
    with pytest.raises(GLib.Error) as e:
        Headrank.PrincipalAxes.new_from_bytes(10, 3, GLib.Bytes.new(m),
                                              GLib.Bytes.new(np.zeros(8).tobytes()), 1)
    assert e.value.code == Headrank.AnalysisError.SHAPE
    s = np.eye(3)
    s[1, 1] = np.nan
    with pytest.raises(GLib.Error) as e:
        Headrank.PrincipalAxes.new_from_bytes(10, 3, GLib.Bytes.new(m), GLib.Bytes.new(s.tobytes()), 1)
    assert e.value.code == Headrank.AnalysisError.NUMERIC
    diagonal = Headrank.Moments.new_diagonal(3)
    with pytest.raises(GLib.Error) as e:
        Headrank.PrincipalAxes.new_from_moments(diagonal, 1)
    assert e.value.code == Headrank.AnalysisError.INVALID
    axes = Headrank.PrincipalAxes.new_from_bytes(10, 3, GLib.Bytes.new(m),
                                                 GLib.Bytes.new(np.eye(3).tobytes()), 2)
    with pytest.raises(GLib.Error) as e:
        axes.project_bytes(GLib.Bytes.new(b'\0' * 10))
    assert e.value.code == Headrank.AnalysisError.SHAPE

    source = hn.source_from_numpy(anisotropic(50, 4))
    for k in (0, 5):
        bad = Headrank.PcaProjection.new(source, k)
        with pytest.raises(GLib.Error) as e:
            bad.run(None, None, None)
        assert e.value.code == Headrank.AnalysisError.INVALID
    # sources held in variables: a borrowed numpy source must outlive the raised error
    one_source = hn.source_from_numpy(anisotropic(1, 4))
    one = Headrank.PcaProjection.new(one_source, 1)
    with pytest.raises(GLib.Error) as e:
        one.run(None, None, None)
    assert e.value.code == Headrank.AnalysisError.TOO_FEW_SAMPLES
    nan = anisotropic(10, 4)
    nan[1:] = np.nan
    nan_source = hn.source_from_numpy(nan)
    nan_projection = Headrank.PcaProjection.new(nan_source, 1)
    with pytest.raises(GLib.Error) as e:
        nan_projection.run(None, None, None)
    assert e.value.code == Headrank.AnalysisError.TOO_FEW_SAMPLES
    head, _ = make_head(4, 5, 3)
    p = Headrank.PcaProjection.new(source, 1)
    with pytest.raises(GLib.Error) as e:
        p.set_head(head, 'nope', Headrank.NormMode.RUNNING, 0)
    assert e.value.code == Headrank.AnalysisError.INVALID
    with pytest.raises(GLib.Error) as e:
        p.set_head(None, 'projections', Headrank.NormMode.RUNNING, 0)
    assert e.value.code == Headrank.AnalysisError.INVALID
    wrong_source = hn.source_from_numpy(anisotropic(50, 6))
    wrong = Headrank.PcaProjection.new(wrong_source, 1)
    wrong.set_head(head, 'projections', Headrank.NormMode.RUNNING, 0)
    with pytest.raises(GLib.Error) as e:
        wrong.run(None, None, None)
    assert e.value.code == Headrank.AnalysisError.SHAPE


def test_cancel_stops_the_pass_and_keeps_no_result():
    x = anisotropic(200000, 32, seed=13)
    projection = Headrank.PcaProjection.new(hn.source_from_numpy(x), 2)
    cancellable = Gio.Cancellable()
    seen = []

    def progress(fraction, *unused):
        seen.append(fraction)
        if fraction > 0.2:
            cancellable.cancel()

    with pytest.raises(GLib.Error) as e:
        projection.run(progress, None, cancellable)
    assert e.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
    assert max(seen) < 0.6  # stopped within a chunk, not at the end
    assert not projection.is_done() and projection.get_coordinates() is None


def test_async_run_notifies_progress_and_can_be_cancelled():
    x = anisotropic(100000, 16, seed=14)
    projection = Headrank.PcaProjection.new(hn.source_from_numpy(x), 3)
    loop = GLib.MainLoop()
    notified, result = [], {}
    projection.connect('notify::progress', lambda p, _: notified.append(p.get_progress()))

    def done(p, res, *unused):
        try:
            result['ok'] = p.run_finish(res)
        except GLib.Error as e:
            result['error'] = e
        loop.quit()

    projection.run_async(None, done, None)
    loop.run()
    assert result == {'ok': True}
    assert notified[-1] == 1.0
    ref = decomposition.PCA(n_components=3, svd_solver='full').fit_transform(x.astype(np.float64))
    np.testing.assert_allclose(coordinates(projection), ref, atol=1e-5 * np.abs(ref).max())

    cancellable = Gio.Cancellable()
    cancellable.cancel()
    result.clear()
    projection.run_async(cancellable, done, None)
    loop.run()
    assert result['error'].matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
    assert projection.get_coordinates() is None


def test_a_million_samples_match_sklearn():
    """At the sizes of VisCy's stores (10⁶ cells): the streamed pass over a memory source
    in chunks, against scikit-learn on the whole array."""
    x = anisotropic(1_000_000, 16, seed=15)
    projection = Headrank.PcaProjection.new(hn.source_from_numpy(x), 2)
    assert projection.run(None, None, None)
    ref = decomposition.PCA(n_components=2, svd_solver='full').fit_transform(
        x.astype(np.float64))
    np.testing.assert_allclose(coordinates(projection), ref, atol=1e-5 * np.abs(ref).max())


def test_numpy_helper_pca():
    """headrank_numpy.pca(): the features' or a stage's coordinates as a numpy array
    (hr_pca_projection_get_coordinates_into through ctypes, into the caller's array too)."""
    x = anisotropic(5000, 12, seed=16)
    ref = decomposition.PCA(n_components=3, svd_solver='full').fit_transform(
        x.astype(np.float64))
    y = hn.pca(x, 3)
    assert y.shape == (5000, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, atol=1e-5 * np.abs(ref).max())
    head, (w1, b1, w2) = make_head(12, 20, 6)
    z = (np.maximum(x @ w1.T + b1, 0) @ w2.T).astype(np.float64)
    ref_z = decomposition.PCA(n_components=2, svd_solver='full').fit_transform(z)
    np.testing.assert_allclose(hn.pca(x, 2, head=head), ref_z,
                               atol=1e-4 * np.abs(ref_z).max())
    projection = Headrank.PcaProjection.new(hn.source_from_numpy(x), 3)
    with pytest.raises(GLib.Error) as e:
        hn.pca_coordinates(projection)  # before a run
    assert e.value.code == Headrank.AnalysisError.INVALID
    projection.run(None, None, None)
    out = np.full(5000 * 3 + 5, -1, np.float32)
    got = hn.pca_coordinates(projection, out=out)
    assert np.shares_memory(got, out) and out[-1] == -1
    np.testing.assert_array_equal(got, coordinates(projection))
    with pytest.raises(ValueError):
        hn.pca_coordinates(projection, out=np.empty(10, np.float32))
