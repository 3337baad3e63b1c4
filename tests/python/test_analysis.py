# HrAnalysis through GObject-Introspection: Headrank.Analysis, Headrank.Stage.
#
# Every number is checked against an independent numpy computation made here, live, in
# float64 (eigvalsh of np.cov, np.linalg.svd, np.linalg.matrix_rank, RankMe, participation
# ratio, α, per-sample and per-dimension statistics, the contrastive measures as
# lib/measures/hr-contrastive.h documents them), on the fixtures of tests/data/analysis (made by
# make_analysis.py there: a 600 × 24 stack with a large offset, a clear rank gap and four
# non-finite rows, a viscy-v2 head, projections, pairs) and on the bundled sample of data/.
#
# The head runs in float32, as PyTorch does; its output differs from a float64 numpy head
# by float32 rounding. The stages behind the head are therefore checked twice: tightly
# (the tolerances) against numpy on the head's own float32 output, which
# Headrank.Head.forward_stages() gives, and loosely (float32 tolerances) against the
# float64 numpy head.
#
# Run: meson test -C build python-stack, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_analysis.py
import csv
import json
import math
import os
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402


def _data_dir():
    srcdir = os.environ.get('G_TEST_SRCDIR')
    if srcdir and (Path(srcdir) / 'data').is_dir():
        return Path(srcdir) / 'data'
    return Path(__file__).resolve().parent.parent / 'data'


DATA = _data_dir() / 'analysis'
SAMPLE_DIR = Path(os.environ.get('HEADRANK_DATADIR')
                  or Path(__file__).resolve().parents[2] / 'data')
FEATURES = DATA / 'features.tif'
HEAD = DATA / 'head-v2.safetensors'
PREFIX = 'projection.'
EPS32 = float(np.finfo(np.float32).eps)
BN_EPS = 1e-5
FLT_MIN = float(np.finfo(np.float32).tiny)
NONFINITE_ROWS = [17, 233, 401, 599]  # make_analysis.py
ANALYSIS_ERROR = Headrank.analysis_error_quark()


# -- reading the fixtures ---------------------------------------------------------------


def read_safetensors(path):
    """A float32 safetensors file, parsed by hand: {name: array}."""
    raw = Path(path).read_bytes()
    (length,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + length])
    body = raw[8 + length:]
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        assert t['dtype'] == 'F32'
        a, b = t['data_offsets']
        out[name[len(PREFIX):] if name.startswith(PREFIX) else name] = \
            np.frombuffer(body[a:b], '<f4').reshape(t['shape'])
    return out


def numpy_head(t, x):
    """The viscy-v2 head in eval mode, float64; returns every layer's output."""
    d = lambda k: t[k].astype(np.float64)  # noqa: E731
    y0 = x.astype(np.float64) @ d('0.weight').T + d('0.bias')
    y1 = (y0 - d('1.running_mean')) / np.sqrt(d('1.running_var') + BN_EPS) * d('1.weight') \
        + d('1.bias')
    y2 = np.maximum(y1, 0.0)
    y3 = y2 @ d('3.weight').T + d('3.bias')
    y4 = (y3 - d('4.running_mean')) / np.sqrt(d('4.running_var') + BN_EPS) * d('4.weight') \
        + d('4.bias')
    return [y0, y1, y2, y3, y4]


def reader(path, layout=Headrank.StackLayout.AUTO):
    return Headrank.StackReader.new(str(path), layout, None)


def features():
    return tifffile.imread(FEATURES)


def finite_rows(x):
    return np.isfinite(x).all(axis=1)


def bytes_of(x):
    return GLib.Bytes.new(np.ascontiguousarray(x, np.float32).tobytes())


def f64(gbytes):
    return np.frombuffer(gbytes.get_data(), np.float64)


def head_stages(head, x):
    """headrank's own float32 output of every layer for the rows @x."""
    stack = Headrank.FeatureStack.new_from_bytes(bytes_of(x), *x.shape)
    out = []
    for s in head.forward_stages(stack, Headrank.NormMode.RUNNING, None):
        out.append(np.frombuffer(s.get_data().get_data(), np.float32)
                   .reshape(s.get_n_samples(), s.get_n_features()))
    return out


def head_projections(head, x):
    """headrank's float32 projections of the rows @x by Head.forward(), which folds each
    BatchNorm into the Linear before it, as the analysis does when it keeps only the
    projections (forward_stages() keeps every layer and folds nothing)."""
    stack = Headrank.FeatureStack.new_from_bytes(bytes_of(x), *x.shape)
    y = head.forward(stack, Headrank.NormMode.RUNNING, None)
    return np.frombuffer(y.get_data().get_data(), np.float32).reshape(x.shape[0], -1)


def run(analysis):
    assert analysis.run(None, None, None)
    assert analysis.is_done()
    return analysis


def analysis_with_head(head=None, path=FEATURES):
    a = Headrank.Analysis.new(reader(path))
    a.set_head(head if head is not None else load_head())
    return a


def load_head(path=HEAD, arch='viscy-v2'):
    return Headrank.Head.new_from_file(str(path), arch, None, None)


def assert_error(excinfo, domain, code):
    e = excinfo.value
    assert e.domain == GLib.quark_to_string(domain), (e.domain, e.message)
    assert e.code == int(code), (e.code, e.message)


# -- references -------------------------------------------------------------------------


def reference_spectrum(x, value_error=None, scatter_error=0.0):
    """Everything HrSpectrum documents, from the finite float32 rows @x, in float64; the
    rank tolerance (doc/analysis.md) from the value error (default: float32 values,
    2⁻²⁴·‖X‖_F) and the scatter matrix's error bound."""
    x64 = np.asarray(x, np.float64)
    n, d = x64.shape
    k = min(n, d)
    lam_all = np.clip(np.linalg.eigvalsh(np.cov(x64, rowvar=False, ddof=1).reshape(d, d))[::-1],
                      0, None)
    sv = np.linalg.svd(x64 - x64.mean(0), compute_uv=False)[:k]
    usv = np.linalg.svd(x64, compute_uv=False)[:k]
    evr = lam_all / lam_all.sum()
    if value_error is None:
        value_error = 2.0 ** -24 * np.sqrt((x64 ** 2).sum())
    tol = np.sqrt(value_error ** 2 + scatter_error + d * 2.0 ** -53 * sv[0] ** 2)
    utol = max(usv[0] * max(n, d) * EPS32,
               np.sqrt(scatter_error + d * 2.0 ** -53 * usv[0] ** 2))
    p = usv / usv.sum() + 1e-7
    cum = np.cumsum(evr)[:k]
    ref = {
        'eigenvalues': lam_all[:k],
        'explained_variance_ratio': evr[:k],
        'cumulative_explained_variance': cum,
        'singular_values': sv,
        'uncentred_singular_values': usv,
        'tolerance': tol,
        'uncentred_tolerance': utol,
        'rank': int((sv[:n - 1] > tol).sum()),
        'matrix_rank': int(np.linalg.matrix_rank(x64.astype(np.float32))),
        'effective_rank': float(np.exp(-(p * np.log(p)).sum())),
        'participation_ratio': float(lam_all.sum() ** 2 / (lam_all ** 2).sum()),
        'components': {f: int(np.argmax(cum >= f - 1e-12)) + 1 for f in (0.9, 0.95, 0.99)},
    }
    # the rank gap: both rules agree and no singular value sits near the tolerance
    ref['rank_gap'] = min(abs(np.log(sv[sv > 0] / tol))) if (sv > 0).any() else np.inf
    last = int((sv[:n - 1] > tol).sum())
    if last >= 3:
        i = np.arange(1, last + 1, dtype=np.float64)
        lx, ly = np.log(i), np.log(lam_all[:last])
        slope, intercept = np.polyfit(lx, ly, 1)
        fit = slope * lx + intercept
        ss = ((ly - ly.mean()) ** 2).sum()
        ref['alpha'] = (-slope, 1, last, 1 - ((ly - fit) ** 2).sum() / ss if ss > 0 else 1.0)
    else:
        ref['alpha'] = (math.nan, 0, 0, math.nan)
    return ref


def check_spectrum(sp, x, what, exact_ranks=True):
    """The spectrum @sp of a stage against reference_spectrum() of its finite rows @x, with
    the tolerances of the issue. The ranks (and the end of α's fit range, which the same
    tolerance decides) are pinned only where the stage has a clear gap (@exact_ranks)."""
    ref = reference_spectrum(x, sp.get_value_error(), sp.get_scatter_error())
    lam = np.array(sp.get_eigenvalues())
    lmax = ref['eigenvalues'][0]
    assert lam.shape == ref['eigenvalues'].shape, what
    err = np.abs(lam - ref['eigenvalues'])
    assert (err <= 1e-6 * lmax).all(), (what, 'eigenvalues', err.max() / lmax)
    big = ref['eigenvalues'] > 1e-3 * lmax
    assert (err[big] <= 1e-6 * ref['eigenvalues'][big]).all(), (what, 'eigenvalues rel')
    assert np.allclose(sp.get_explained_variance_ratio(), ref['explained_variance_ratio'],
                       rtol=0, atol=1e-7), what
    assert np.allclose(sp.get_cumulative_explained_variance(),
                       ref['cumulative_explained_variance'], rtol=0, atol=1e-7), what
    sv = np.array(sp.get_singular_values())
    assert np.allclose(sv, ref['singular_values'], rtol=0,
                       atol=1e-6 * ref['singular_values'][0]), what
    usv = np.array(sp.get_uncentred_singular_values())
    assert np.allclose(usv, ref['uncentred_singular_values'], rtol=0,
                       atol=1e-6 * ref['uncentred_singular_values'][0]), what
    assert sp.get_tolerance() == pytest.approx(ref['tolerance'], rel=1e-6), what
    assert sp.get_uncentred_tolerance() == pytest.approx(ref['uncentred_tolerance'], rel=1e-6)
    if exact_ranks:
        assert sp.get_rank() == ref['rank'], what
        assert sp.get_matrix_rank() == ref['matrix_rank'], what
    assert sp.get_effective_rank() == pytest.approx(ref['effective_rank'], rel=1e-6), what
    assert sp.get_participation_ratio() == pytest.approx(ref['participation_ratio'], rel=1e-6)
    for f, k in ref['components'].items():
        assert sp.get_components(f) == k, (what, f)
    alpha, first, last, r2 = sp.get_alpha()
    ra, rfirst, rlast, rr2 = ref['alpha']
    if not exact_ranks and last != rlast:
        # the fit range ends at the rank tolerance: without a gap it may end one off
        assert abs(last - rlast) <= 1, what
        return ref
    assert (first, last) == (rfirst, rlast), what
    if math.isnan(ra):
        assert math.isnan(alpha)
    else:
        assert alpha == pytest.approx(ra, rel=1e-6), what
        assert r2 == pytest.approx(rr2, rel=1e-6, abs=1e-9), what
    return ref


def check_moments(m, x, what, rel=1e-9, zero_slack=0):
    """Per-dimension statistics of the finite rows @x: to float64 rounding (@rel) when @x
    are the very rows the analysis saw; with @rel of float32 rounding and @zero_slack
    samples per dimension whose zero may flip when they are rows computed otherwise."""
    x64 = np.asarray(x, np.float64)
    n = x64.shape[0]
    assert m.get_n_samples() == n, what
    scale = np.abs(x64).max()
    assert np.allclose(f64(m.get_mean()), x64.mean(0), rtol=rel, atol=rel * scale), what
    assert np.allclose(f64(m.get_std()), x64.std(0, ddof=0), rtol=rel,
                       atol=rel * x64.std(0).max()), what
    zf = (x64 == 0).mean(0)
    assert np.abs(f64(m.get_zero_fraction()) - zf).max() <= zero_slack / n, what
    if zero_slack == 0:
        assert m.get_n_dead() == int((zf == 1).sum()), what
    z = x64 / np.maximum(np.linalg.norm(x64, axis=1, keepdims=True), 1e-12)
    assert m.get_simsiam_std() == pytest.approx(z.std(0, ddof=0).mean(), rel=max(rel, 1e-6)), \
        what


def per_sample_reference(x_all):
    """mean, std (ddof 0), L2 norm, zero fraction of every row; NaN for non-finite rows."""
    x64 = np.asarray(x_all, np.float64)
    ok = finite_rows(x64)
    out = np.full((x64.shape[0], 4), np.nan)
    xf = x64[ok]
    out[ok] = np.column_stack([xf.mean(1), xf.std(1, ddof=0), np.linalg.norm(xf, axis=1),
                               (xf == 0).mean(1)])
    return out


def per_sample_of(stage):
    return np.frombuffer(stage.get_per_sample().get_data(), np.float32).reshape(-1, 4)


def check_per_sample(stage, x_all, what):
    got = per_sample_of(stage).astype(np.float64)
    ref = per_sample_reference(x_all)
    assert got.shape == ref.shape, what
    assert np.array_equal(np.isnan(got), np.isnan(ref)), what
    ok = ~np.isnan(ref[:, 0])
    scale = np.abs(ref[ok, :3]).max()
    assert np.allclose(got[ok], ref[ok], rtol=2e-6, atol=2e-7 * scale), what


# -- the features and the head ----------------------------------------------------------


@pytest.fixture(scope='module')
def headed():
    """The fixture stack through the fixture head, with the spectrum of every layer."""
    a = analysis_with_head()
    a.set_spectral_stages(['all'])
    return run(a)


def test_fixture_has_a_clear_rank_gap():
    """The premise of the exact rank checks: no singular value near either tolerance."""
    x = features()
    ref = reference_spectrum(x[finite_rows(x)])
    assert (ref['rank'], ref['matrix_rank']) == (10, 8)
    assert ref['rank_gap'] > math.log(5)


def test_features_stage_matches_numpy(headed):
    x = features()
    ok = finite_rows(x)
    stage = headed.find_stage('features')
    assert stage is headed.get_stage(0)
    assert (stage.get_role(), stage.get_layer(), stage.get_dimension(),
            stage.get_n_samples()) == (Headrank.StageRole.FEATURES, -1, 24, 600)
    ref = check_spectrum(stage.get_spectrum(), x[ok], 'features')
    # the offset: the uncentred rank differs from the centred one, as documented
    assert (ref['rank'], ref['matrix_rank']) == (10, 8)
    check_moments(stage.get_moments(), x[ok], 'features')
    check_per_sample(stage, x, 'features')


def test_head_stages_match_numpy_on_the_heads_output(headed):
    """Every layer's stage against numpy on headrank's own float32 layer outputs (tight),
    and against the float64 numpy head (float32 tolerances)."""
    x = features()
    ok = finite_rows(x)
    head = load_head()
    ours = head_stages(head, x[ok])
    ref64 = numpy_head(read_safetensors(HEAD), x[ok])
    names = [headed.get_stage(i).get_name() for i in range(headed.get_n_stages())]
    assert names == ['features', '0', '1', '2', '3', 'projections']
    for layer in range(5):
        stage = headed.get_stage(layer + 1)
        assert stage.get_layer() == layer
        assert stage.get_dimension() == ours[layer].shape[1]
        y = ours[layer]
        # the analysis ran the same float32 head: its rows are these, to float32 rounding
        scale = np.abs(ref64[layer]).max()
        assert np.allclose(y, ref64[layer], rtol=1e-4, atol=1e-5 * scale), layer
        # the ranks of hidden layers have no guaranteed gap: count them, do not pin them
        check_spectrum(stage.get_spectrum(), y, f'layer {layer}', exact_ranks=False)
        check_moments(stage.get_moments(), y, f'layer {layer}')
        y_all = np.full((x.shape[0], y.shape[1]), np.nan, np.float32)
        y_all[ok] = y
        check_per_sample(stage, y_all, f'layer {layer}')
        # loosely against float64: the eigenvalues within float32 rounding of the data
        lam = np.array(stage.get_spectrum().get_eigenvalues())
        lam64 = reference_spectrum(ref64[layer])['eigenvalues']
        assert np.allclose(lam, lam64, rtol=1e-3, atol=1e-5 * lam64[0]), layer
    proj = headed.find_stage('projections')
    assert proj.get_role() == Headrank.StageRole.PROJECTIONS
    assert headed.find_stage('2').get_role() == Headrank.StageRole.HIDDEN
    assert headed.find_stage('2').get_layer_kind() == Headrank.LayerKind.RELU
    assert headed.find_stage('no-such-stage') is None


def test_activation_stages_have_spectrum_and_statistics():
    """By default the features, the ReLU's output and the projections get a spectrum (the
    ReLU's since issue 16), and the ReLU's output its statistics; `none` leaves its spectrum
    out. The head folds each BatchNorm into the Linear before it, so its rows differ from
    forward_stages()'s (unfolded) by float32 rounding: float32 tolerances, and a zero may
    flip in a sample or two per unit."""
    a = run(analysis_with_head())
    names = [a.get_stage(i).get_name() for i in range(a.get_n_stages())]
    assert names == ['features', '2', 'projections']
    relu = a.find_stage('2')
    assert relu.get_spectrum() is not None
    assert a.find_stage('features').get_spectrum() is not None
    assert a.find_stage('projections').get_spectrum() is not None
    assert 0 < relu.get_cka() <= 1
    b = analysis_with_head()
    b.set_spectral_stages(['none'])
    run(b)
    assert [b.get_stage(i).get_name() for i in range(b.get_n_stages())] == names
    assert b.find_stage('2').get_spectrum() is None
    assert b.find_stage('projections').get_spectrum().get_rank() == \
        a.find_stage('projections').get_spectrum().get_rank()
    x = features()
    y = head_stages(load_head(), x[finite_rows(x)])[2]
    check_moments(relu.get_moments(), y, 'relu', rel=1e-5, zero_slack=2)
    check_moments(a.find_stage('features').get_moments(), x[finite_rows(x)], 'features')


@pytest.mark.parametrize('threads', [1, 2])
def test_diagonal_moments_of_hostile_columns(tmp_path, threads):
    """A stage without a spectrum (the ReLU under --stage none) sums its diagonal in the
    per-row pass about a shift (the running mean, the chunk's first row before there is
    one) and moves it to each chunk's mean after: against numpy in float64 on the very rows
    the analysis saw, over 3 chunks and on 1 and 2 threads, with a large offset and a tiny
    spread, a constant column, a first row 10⁶ away from the rest, a dead unit, zeros."""
    rng = np.random.default_rng(31)
    n, d = 5000, 8
    x = rng.normal(size=(n, d))
    x[:, 0] = 1e4 + 1e-3 * x[:, 0]
    x[:, 1] = 3e5
    x[0, 2] = 1e6
    x[:, 3] = -1 - np.abs(x[:, 3])          # the ReLU zeroes it: a dead unit
    x[::3, 4] = 0
    x = x.astype(np.float32)
    head = Headrank.Head.new()
    eye = np.eye(d, dtype=np.float32)
    assert head.append_linear('0', d, d, bytes_of(eye), bytes_of(np.zeros(d)))
    assert head.append_activation('1', Headrank.LayerKind.RELU)
    assert head.append_linear('2', d, 3, bytes_of(rng.normal(size=(3, d))), bytes_of(np.zeros(3)))
    tifffile.imwrite(tmp_path / 'x.tif', x)
    before = Headrank.get_n_threads()
    Headrank.set_n_threads(threads)
    try:
        a = analysis_with_head(head, tmp_path / 'x.tif')
        a.set_spectral_stages(['none'])
        run(a)
    finally:
        Headrank.set_n_threads(0 if before == 0 else before)
    relu = a.find_stage('1')
    assert relu.get_spectrum() is None
    y = head_stages(head, x)[1]
    check_moments(relu.get_moments(), y, 'relu')
    std = f64(relu.get_moments().get_std())
    assert std[1] == 0 and std[3] == 0
    assert relu.get_moments().get_n_dead() == 1


def linear_cka(x, z):
    """Linear CKA (Kornblith et al. 2019) of two float64 matrices of the same rows."""
    x = x - x.mean(0)
    z = z - z.mean(0)
    return np.linalg.norm(x.T @ z) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(z.T @ z))


@pytest.mark.parametrize('mode', [Headrank.NormMode.RUNNING, Headrank.NormMode.BATCH])
def test_cka_of_every_stage_matches_numpy(mode):
    """The CKA of every layer with the features (--stage all). With running statistics the
    CKA of a layer that follows the features or a stage through Linear and BatchNorm only
    (layers 0, 1 from the features; 3 and the projections from the ReLU's) comes from the
    cross-moments of that stage mapped by the layers' weights, not from a product over the
    samples (doc/analysis.md, "CKA"); with batch statistics every stage's is accumulated.
    Against numpy in float64 on headrank's own float32 stages (the head run by
    forward_stages(), the finite rows as one batch), and for running statistics also on
    the float64 numpy head: the mapped CKA is that of the exact map, within the float32
    rounding of the stages' values."""
    x = features()
    ok = finite_rows(x)
    a = analysis_with_head()
    a.set_norm_mode(mode)
    a.set_spectral_stages(['all'])
    run(a)
    stack = Headrank.FeatureStack.new_from_bytes(bytes_of(x[ok]), int(ok.sum()), x.shape[1])
    outs = [np.frombuffer(s.get_data().get_data(), np.float32).reshape(s.get_n_samples(), -1)
            for s in load_head().forward_stages(stack, mode, None)]
    x64 = x[ok].astype(np.float64)
    exact = numpy_head(read_safetensors(HEAD), x[ok])
    assert a.get_n_stages() == 6
    for i in range(1, a.get_n_stages()):
        stage = a.get_stage(i)
        got, layer = stage.get_cka(), stage.get_layer()
        assert got == pytest.approx(linear_cka(x64, outs[layer].astype(np.float64)), rel=1e-6), \
            stage.get_name()
        if mode == Headrank.NormMode.RUNNING:
            assert got == pytest.approx(linear_cka(x64, exact[layer]), rel=1e-5), stage.get_name()


def test_cka_mapped_through_batchnorm_dropout_and_identity_first(tmp_path):
    """A head that starts with a BatchNorm and puts Dropout and Identity among its layers:
    every stage's CKA but the GELU's is mapped (from the features' scatter matrix for
    layers 0–3, from the GELU's cross-moments for 5–7), each against numpy in float64 on
    the head's float32 stages and on the exact head."""
    rng = np.random.default_rng(12)
    x = (rng.normal(size=(2000, 6)) @ rng.normal(size=(6, 6)) + 4).astype(np.float32)
    f = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    bn0 = (f(6), f(6), f(6), np.abs(f(6)) + 0.5)
    w2, b2, w5, b5 = f(5, 6), f(5), f(4, 5), f(4)
    bn6 = (f(4), f(4), f(4), np.abs(f(4)) + 0.5)
    head = Headrank.Head.new()
    assert head.append_batch_norm('0', 6, *[bytes_of(v) for v in bn0], 1e-5)
    assert head.append_activation('1', Headrank.LayerKind.DROPOUT)
    assert head.append_linear('2', 6, 5, bytes_of(w2), bytes_of(b2))
    assert head.append_activation('3', Headrank.LayerKind.IDENTITY)
    assert head.append_activation('4', Headrank.LayerKind.GELU)
    assert head.append_linear('5', 5, 4, bytes_of(w5), bytes_of(b5))
    assert head.append_batch_norm('6', 4, *[bytes_of(v) for v in bn6], 1e-5)
    assert head.append_activation('7', Headrank.LayerKind.DROPOUT)
    tifffile.imwrite(tmp_path / 'x.tif', x)
    a = analysis_with_head(head, tmp_path / 'x.tif')
    a.set_spectral_stages(['all'])
    run(a)
    stack = Headrank.FeatureStack.new_from_bytes(bytes_of(x), *x.shape)
    outs = [np.frombuffer(s.get_data().get_data(), np.float32).reshape(s.get_n_samples(), -1)
            for s in head.forward_stages(stack, Headrank.NormMode.RUNNING, None)]

    def bn(y, p):
        g, b, m, v = (t.astype(np.float64) for t in p)
        return (y - m) / np.sqrt(v + 1e-5) * g + b

    x64 = x.astype(np.float64)
    y0 = bn(x64, bn0)
    y2 = y0 @ w2.T.astype(np.float64) + b2
    y4 = 0.5 * y2 * (1 + np.vectorize(math.erf)(y2 / math.sqrt(2)))
    y6 = bn(y4 @ w5.T.astype(np.float64) + b5, bn6)
    exact = [y0, y0, y2, y2, y4, y4 @ w5.T.astype(np.float64) + b5, y6, y6]
    assert a.get_n_stages() == 9
    for i in range(1, 9):
        stage = a.get_stage(i)
        layer = stage.get_layer()
        assert layer == i - 1
        got = stage.get_cka()
        assert got == pytest.approx(linear_cka(x64, outs[layer].astype(np.float64)), rel=1e-6), \
            stage.get_name()
        assert got == pytest.approx(linear_cka(x64, exact[layer]), rel=1e-5), stage.get_name()


@pytest.mark.parametrize('threads', [1, 2])
def test_cka_of_drifting_chunks(threads):
    """The ReLU's and the projections' CKA when the chunks drift far from the running mean
    (a stack sorted by condition): the cross-moments take the product of the rows both
    stages' moments centred on the chunk's means, merged with w·δ_x δ_zᵀ; against numpy in
    float64 on headrank's own float32 ReLU output (and its exact map by the last Linear,
    from which the projections' CKA is mapped), over 3 chunks, on 1 and 2 threads."""
    rng = np.random.default_rng(8)
    n, d = 5000, 16
    x = rng.normal(size=(n, d)) + 3.0
    x[n // 2:, :5] += 400.0
    x = x.astype(np.float32)
    head = Headrank.Head.new()
    w0, b0 = rng.normal(size=(d, d)) / 4, rng.normal(size=d)
    w2, b2 = rng.normal(size=(6, d)), rng.normal(size=6)
    assert head.append_linear('0', d, d, bytes_of(w0), bytes_of(b0))
    assert head.append_activation('1', Headrank.LayerKind.RELU)
    assert head.append_linear('2', d, 6, bytes_of(w2), bytes_of(b2))
    before = Headrank.get_n_threads()
    Headrank.set_n_threads(threads)
    try:
        a = Headrank.Analysis.new_for_source(
            Headrank.MemorySource.new(GLib.Bytes.new(x.tobytes()), n, d))
        a.set_head(head)
        run(a)
    finally:
        Headrank.set_n_threads(before)
    x64 = x.astype(np.float64)
    relu = head_stages(head, x)[1].astype(np.float64)
    assert a.find_stage('1').get_cka() == pytest.approx(linear_cka(x64, relu), rel=1e-9)
    # mapped from the ReLU's cross-moments by the last Linear, with the norm of the
    # projections' float32 values: float32's rounding (as test_cka_of_every_stage_matches_numpy)
    projections = relu @ w2.astype(np.float32).T.astype(np.float64) + b2.astype(np.float32)
    assert a.find_stage('projections').get_cka() == pytest.approx(linear_cka(x64, projections),
                                                                   rel=1e-6)


def test_a_mapped_cka_that_does_not_fit_is_accumulated():
    """At the smallest memory limit the run fits in, the scratch of the projections' map (the
    ReLU's cross-moments times the last Linear and BatchNorm) does not fit: their
    cross-moments are accumulated in the pass instead, from the projections the head
    computed in float32, and the CKA is that of those values; without the limit it is
    mapped, within float32 rounding of it. The map never makes a run fail."""
    x = features()
    ok = finite_rows(x)
    want = linear_cka(x[ok].astype(np.float64),
                      head_projections(load_head(), x[ok]).astype(np.float64))

    def cka(limit):
        a = analysis_with_head()
        a.set_memory_limit(limit)
        a.run(None, None, None)
        return a.find_stage('projections').get_cka()

    lo, hi = 1, 1 << 30  # the run fails at lo, succeeds at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            cka(mid)
            hi = mid
        except GLib.Error as e:
            assert e.matches(ANALYSIS_ERROR, Headrank.AnalysisError.MEMORY_LIMIT), e.message
            lo = mid
    assert cka(hi) == pytest.approx(want, rel=1e-12)
    free = cka(0)
    assert free == pytest.approx(want, rel=1e-6) and free != cka(hi)


def test_nonfinite_rows_are_dropped_and_counted(headed, tmp_path):
    x = features()
    bad = np.flatnonzero(~finite_rows(x))
    assert list(bad) == NONFINITE_ROWS
    assert headed.get_n_dropped() == len(bad)
    assert headed.get_n_nonfinite() == int((~np.isfinite(x)).sum()) == 7
    for i in range(headed.get_n_stages()):
        stage = headed.get_stage(i)
        assert stage.get_n_samples() == 600
        assert stage.get_moments().get_n_samples() == 600 - len(bad)
        ps = per_sample_of(stage)
        assert np.isnan(ps[bad]).all()
        assert not np.isnan(ps[finite_rows(x)]).any()
    text = headed.to_json(False)
    j = json.loads(text, parse_constant=lambda c: pytest.fail(f'{c} in the JSON'))
    assert j['input']['dropped_samples'] == 4
    assert j['input']['nonfinite_values'] == 7
    assert [s['samples'] for s in j['stages']] == [596] * 6
    assert j['stages'][0]['layer'] is None and j['stages'][0]['layer_kind'] is None
    assert ('4 samples of 600 held NaN or infinite values (7 values) and were left out '
            '(non-finite policy “drop”, the default).') in headed.describe_verdict()
    # per_sample.csv: the dropped rows have empty fields
    headed.write_report(str(tmp_path / 'r'), None)
    with open(tmp_path / 'r' / 'per_sample.csv', newline='') as f:
        rows = list(csv.reader(f))
    for i in bad:
        assert rows[1 + i][0] == str(i)
        assert all(v == '' for v in rows[1 + i][1:]), rows[1 + i]


def test_json_stage_counts_its_dropped_samples_behind_a_head(headed):
    j = json.loads(headed.to_json(False))
    for s in j['stages']:
        assert s['dropped_samples'] == 4, s['name']
        assert s['nonfinite_values'] == 7 or s['role'] != 'features', s['name']


def test_json_stage_counts_its_dropped_samples_without_a_head():
    j = json.loads(run(Headrank.Analysis.new(reader(FEATURES))).to_json(False))
    assert (j['stages'][0]['dropped_samples'], j['stages'][0]['nonfinite_values']) == (4, 7)


def test_to_json_holds_the_documented_keys(headed):
    j = json.loads(headed.to_json(True))
    assert j['report_format'] == 2
    assert j['input']['features'] == str(FEATURES)
    assert (j['input']['samples'], j['input']['features_dimension']) == (600, 24)
    assert j['input']['layout'] == 'matrix'
    assert j['head']['norm_mode'] == 'running'
    assert [(l['kind'], l['in_features'], l['out_features']) for l in j['head']['layers']] == [
        ('linear', 24, 32), ('bn', 32, 32), ('relu', 32, 32), ('linear', 32, 8),
        ('bn', 8, 8)]
    assert j['contrastive'] is None
    for s, stage in zip(j['stages'], (headed.get_stage(i) for i in range(6))):
        sp = stage.get_spectrum()
        assert s['name'] == stage.get_name()
        assert s['dimension'] == stage.get_dimension()
        assert s['samples'] == stage.get_moments().get_n_samples()
        assert s['has_spectrum'] is True
        assert s['eigenvalues'] == list(sp.get_eigenvalues())
        assert s['explained_variance_ratio'] == list(sp.get_explained_variance_ratio())
        assert s['singular_values'] == list(sp.get_singular_values())
        assert s['uncentred_singular_values'] == list(sp.get_uncentred_singular_values())
        assert s['rank'] == sp.get_rank()
        assert s['matrix_rank'] == sp.get_matrix_rank()
        assert s['effective_rank'] == sp.get_effective_rank()
        assert s['participation_ratio'] == sp.get_participation_ratio()
        assert s['components'] == {'90': sp.get_components(0.9), '95': sp.get_components(0.95),
                                   '99': sp.get_components(0.99)}
        alpha, first, last, r2 = sp.get_alpha()
        assert s['alpha'] == (alpha if not math.isnan(alpha) else None)
        assert s['alpha_fit'] == {'first': first, 'last': last,
                                  'r_squared': r2 if not math.isnan(r2) else None}
        st = s['statistics']
        assert st['simsiam_std'] == stage.get_moments().get_simsiam_std()
        assert st['simsiam_std_healthy'] == pytest.approx(1 / math.sqrt(stage.get_dimension()))
        assert st['per_dimension']['dead_units'] == stage.get_moments().get_n_dead()
        ps = per_sample_of(stage).astype(np.float64)
        ps = ps[~np.isnan(ps[:, 0])]
        for c, key in enumerate(['mean', 'std', 'norm', 'zero_fraction']):
            assert st['per_sample'][key]['mean'] == pytest.approx(ps[:, c].mean(), rel=1e-9,
                                                                  abs=1e-12)
            assert st['per_sample'][key]['min'] == ps[:, c].min()
            assert st['per_sample'][key]['max'] == ps[:, c].max()
    flags = j['verdict']['flags']
    v = headed.get_verdict()
    assert ('reduces_rank' in flags) == bool(v & Headrank.VerdictFlags.REDUCES_RANK)
    assert ('clipping' in flags) == bool(v & Headrank.VerdictFlags.CLIPPING)
    assert j['verdict']['summary'] == headed.describe_verdict()


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.reader(f))


def test_write_report_writes_every_file(headed, tmp_path):
    out = tmp_path / 'deep' / 'report'
    assert headed.write_report(str(out), None)
    names = sorted(os.listdir(out))
    figures = [f'{n}.{e}' for n in ('explained_variance', 'singular_values', 'per_sample',
                                    'zero_fraction') for e in ('png', 'svg')]
    assert names == sorted(['report.json', 'per_sample.csv', 'per_dimension.csv'] + figures)
    for name in figures:
        data = (out / name).read_bytes()
        if name.endswith('.png'):
            assert data[:8] == b'\x89PNG\r\n\x1a\n', name
            w, h = struct.unpack('>II', data[16:24])
            assert data[12:16] == b'IHDR' and w > 100 and h > 100, name
        else:
            assert b'<svg' in data[:400], name
    assert json.loads((out / 'report.json').read_text()) == json.loads(headed.to_json(False))

    # per_sample.csv: the per-sample statistics of every stage, mean/std/norm (+zero
    # fraction for the activation), as get_per_sample() gives them
    rows = read_csv(out / 'per_sample.csv')
    header = rows[0]
    expected = ['sample']
    for i in range(headed.get_n_stages()):
        name = headed.get_stage(i).get_name()
        expected += [f'{name}_mean', f'{name}_std', f'{name}_norm']
        if name == '2':
            expected.append('2_zero_fraction')
    assert header == expected
    assert len(rows) == 601
    table = np.array([[float(v) if v else np.nan for v in r] for r in rows[1:]])
    assert np.array_equal(table[:, 0], np.arange(600))
    col = 1
    for i in range(headed.get_n_stages()):
        stage = headed.get_stage(i)
        ps = per_sample_of(stage)
        k = 4 if stage.get_name() == '2' else 3
        got = table[:, col:col + k].astype(np.float32)  # %.9g round-trips float32
        assert np.array_equal(got, ps[:, :k], equal_nan=True), stage.get_name()
        col += k

    # per_dimension.csv: stage, dimension, mean, std, zero fraction, dead
    rows = read_csv(out / 'per_dimension.csv')
    assert rows[0] == ['stage', 'dimension', 'mean', 'std', 'zero_fraction', 'dead']
    body = rows[1:]
    for i in range(headed.get_n_stages()):
        stage = headed.get_stage(i)
        m = stage.get_moments()
        mine = [r for r in body if r[0] == stage.get_name()]
        assert [int(r[1]) for r in mine] == list(range(stage.get_dimension()))
        vals = np.array([[float(v) for v in r[2:5]] for r in mine])
        assert np.array_equal(vals[:, 0], f64(m.get_mean()))
        assert np.array_equal(vals[:, 1], f64(m.get_std()))
        assert np.array_equal(vals[:, 2], f64(m.get_zero_fraction()))
        assert sum(int(r[5]) for r in mine) == m.get_n_dead()
    assert len(body) == sum(headed.get_stage(i).get_dimension() for i in range(6))


def test_write_report_before_run_is_an_error(tmp_path):
    a = Headrank.Analysis.new(reader(FEATURES))
    assert a.to_json(False) is None
    assert a.describe_verdict() == ['The analysis has not run.']
    with pytest.raises(GLib.Error) as e:
        a.write_report(str(tmp_path / 'r'), None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.INVALID)
    assert not (tmp_path / 'r').exists()


# -- without a head ---------------------------------------------------------------------


def test_features_and_given_projections():
    """Projections computed elsewhere (numpy float64 head, rounded to float32), analysed
    alongside: the projections stage is numpy's on that stack."""
    x = features()
    p = tifffile.imread(DATA / 'projections.tif')
    a = Headrank.Analysis.new(reader(FEATURES))
    a.set_projections(reader(DATA / 'projections.tif'))
    run(a)
    assert [a.get_stage(i).get_name() for i in range(a.get_n_stages())] == \
        ['features', 'projections']
    proj = a.get_stage(1)
    assert (proj.get_role(), proj.get_layer(), proj.get_dimension()) == \
        (Headrank.StageRole.PROJECTIONS, -1, 8)
    ok = finite_rows(p)
    assert list(np.flatnonzero(~ok)) == NONFINITE_ROWS
    check_spectrum(proj.get_spectrum(), p[ok], 'given projections', exact_ranks=False)
    check_moments(proj.get_moments(), p[ok], 'given projections')
    check_per_sample(proj, p, 'given projections')
    check_spectrum(a.get_stage(0).get_spectrum(), x[finite_rows(x)], 'features')
    # the dropped samples are the features'; the NaN values of both stacks are counted
    assert a.get_n_dropped() == 4
    assert a.get_n_nonfinite() == 7 + int((~np.isfinite(p)).sum())
    # the float64 head's projections have the head's rank: 8 of 8
    assert proj.get_spectrum().get_rank() == 8
    j = json.loads(a.to_json(False))
    assert j['head'] is None
    assert j['input']['projections'] == str(DATA / 'projections.tif')


def test_features_alone():
    x = features()
    a = run(Headrank.Analysis.new(reader(FEATURES)))
    assert a.get_n_stages() == 1
    check_spectrum(a.get_stage(0).get_spectrum(), x[finite_rows(x)], 'features alone')
    assert a.get_verdict() == Headrank.VerdictFlags.NONE
    lines = a.describe_verdict()
    assert lines[0] == ('No head and no projections were given: only the features were '
                        'analysed.')
    assert a.get_contrastive() is None


# -- the verdict ------------------------------------------------------------------------


def sample_analysis(head_name, arch):
    path = SAMPLE_DIR / 'sample-embeddings.tif'
    if not path.exists():
        pytest.skip(f'{path} does not exist')
    a = Headrank.Analysis.new(reader(path))
    a.set_head(load_head(SAMPLE_DIR / head_name, arch))
    return run(a)


def test_verdict_of_the_bundled_heads():
    """data/README.md: the v0 head inflates rank, the v2 head reduces it; the flags follow
    the stages' own numbers."""
    for name, arch, flag, sentence in [
            ('head-viscy-v0.safetensors', 'viscy-v0', Headrank.VerdictFlags.INFLATES_RANK,
             'The head inflates rank'),
            ('head-viscy-v2.safetensors', 'viscy-v2', Headrank.VerdictFlags.REDUCES_RANK,
             'The head reduces rank')]:
        a = sample_analysis(name, arch)
        f = a.find_stage('features').get_spectrum()
        p = a.find_stage('projections').get_spectrum()
        v = a.get_verdict()
        assert v & flag, (name, v)
        # the rules of doc/analysis.md, "The verdict": ranges, and a 1 % margin
        (fl, fh), (pl, ph) = f.get_rank_range(), p.get_rank_range()
        ef, ep = f.get_effective_rank(), p.get_effective_rank()
        assert bool(v & Headrank.VerdictFlags.INFLATES_RANK) == (pl > fh)
        assert bool(v & Headrank.VerdictFlags.REDUCES_RANK) == (ph < fl)
        assert bool(v & Headrank.VerdictFlags.KEEPS_RANK) == (not pl > fh and not ph < fl)
        assert bool(v & Headrank.VerdictFlags.INFLATES_EFFECTIVE_RANK) == \
            (ep > ef + 0.01 * max(ef, ep))
        lines = a.describe_verdict()
        assert lines[0].startswith(sentence), lines
        assert f'rank {p.get_rank()} and effective rank {p.get_effective_rank():.1f}' in lines[0]
        assert f'features rank {f.get_rank()}' in lines[0]
        assert not v & Headrank.VerdictFlags.COLLAPSED
    # numbers of data/README.md
    a = sample_analysis('head-viscy-v0.safetensors', 'viscy-v0')
    f = a.find_stage('features').get_spectrum()
    p = a.find_stage('projections').get_spectrum()
    assert (f.get_rank(), p.get_rank()) == (32, 64)
    assert p.get_effective_rank() > f.get_effective_rank()


def make_head(layers):
    """A head from (kind, weight, bias) tuples, float32, via the append API."""
    head = Headrank.Head.new()
    for i, (kind, w, b) in enumerate(layers):
        if kind == 'linear':
            assert head.append_linear(str(i), w.shape[1], w.shape[0], bytes_of(w), bytes_of(b))
        else:
            assert head.append_activation(str(i), Headrank.LayerKind.RELU)
    return head


def test_verdict_flags_of_constructed_heads():
    """Clipping and dead units (a ReLU with a large negative bias, and one unit that is
    never positive), collapse (a rank-1 last layer), inflation (ReLU on low-rank data)."""
    x = features()
    ok = finite_rows(x)
    rng = np.random.default_rng(5)
    xc = x[ok].astype(np.float64)
    centre = xc.mean(0)
    w1 = rng.normal(0, 1 / np.sqrt(24), (48, 24))
    # biases that centre each unit, then push most units below zero
    b1 = -(w1 @ centre) - 0.7 * np.abs(w1 @ (xc - centre).T).mean(1)
    b1[5] = -1e6  # dead
    w2 = rng.normal(0, 1 / np.sqrt(48), (24, 48))
    clipping = make_head([('linear', w1, b1), ('relu', None, None),
                          ('linear', w2, np.zeros(24))])
    a = run(analysis_with_head(clipping))
    relu = a.find_stage('1')
    zf = f64(relu.get_moments().get_zero_fraction())
    assert zf.mean() > 0.5 and zf[5] == 1.0
    v = a.get_verdict()
    assert v & Headrank.VerdictFlags.CLIPPING
    assert v & Headrank.VerdictFlags.DEAD_UNITS
    lines = a.describe_verdict()
    assert any(l.startswith('Layer 1 (ReLU) clips most activations:') for l in lines), lines
    assert 'Stage 1 has 1 dead unit: zero for every sample.' in lines
    # the ReLU of low-rank (10) features into 24 dims inflates the rank
    f, p = a.find_stage('features').get_spectrum(), a.find_stage('projections').get_spectrum()
    assert p.get_rank() > f.get_rank() == 10
    assert v & Headrank.VerdictFlags.INFLATES_RANK
    assert not v & Headrank.VerdictFlags.REDUCES_RANK

    # collapse: the last layer maps everything onto one direction
    u = rng.normal(size=(8, 1))
    collapse = make_head([('linear', w1[:, :], -(w1 @ centre)), ('relu', None, None),
                          ('linear', u @ rng.normal(size=(1, 48)), np.ones(8) * 3)])
    a = run(analysis_with_head(collapse))
    v = a.get_verdict()
    assert a.find_stage('projections').get_spectrum().get_rank() <= 1
    assert v & Headrank.VerdictFlags.COLLAPSED
    assert any(l.startswith('The projections look collapsed') for l in a.describe_verdict())
    j = json.loads(a.to_json(False), parse_constant=lambda c: pytest.fail(f'{c} in the JSON'))
    assert 'collapsed' in j['verdict']['flags']
    # fewer than 3 eigenvalues above the tolerance: no α, written as null
    assert math.isnan(a.find_stage('projections').get_spectrum().get_alpha()[0])
    assert j['stages'][-1]['alpha'] is None
    assert j['stages'][-1]['alpha_fit'] == {'first': 0, 'last': 0, 'r_squared': None}


# -- pairs ------------------------------------------------------------------------------


def normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def batches(n, b):
    """Consecutive batches of @b; a last batch of one pair joins the one before."""
    if n <= b:
        return [(0, n)]
    cuts = list(range(0, n, b)) + [n]
    out = list(zip(cuts, cuts[1:]))
    if out[-1][1] - out[-1][0] == 1:
        out[-2:] = [(out[-2][0], n)]
    return out


def reference_contrastive(a, p, neg, b, tau, margin):
    """lib/measures/hr-contrastive.h, in float64 from the float32 rows."""
    a, p = a.astype(np.float64), p.astype(np.float64)
    na, npp = normalize(a), normalize(p)
    align = ((na - npp) ** 2).sum(1).mean()
    uni_sum = uni_w = 0.0
    nt_sum, nt_n = 0.0, 0
    negcos_sum, negcos_n = 0.0, 0
    trip = []
    for s, e in batches(len(a), b):
        m = e - s
        w = m * (m - 1) / 2

        def u(z):
            d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
            iu = np.triu_indices(m, 1)
            return np.log(np.exp(-2 * d2[iu]).mean())

        uni_sum += w * (u(na[s:e]) + u(npp[s:e])) / 2
        uni_w += w
        z = np.concatenate([na[s:e], npp[s:e]])
        sim = z @ z.T / tau
        for i in range(2 * m):
            j = (i + m) % (2 * m)
            mask = np.ones(2 * m, bool)
            mask[[i, j]] = False
            c = max(sim[i, j], sim[i, mask].max())
            num = np.exp(sim[i, j] - c)
            nt_sum += -np.log(num / (num + np.exp(sim[i, mask] - c).sum()) + FLT_MIN)
            negcos_sum += (sim[i, mask] * tau).sum()
            negcos_n += mask.sum()
        nt_n += 2 * m
        for i in range(s, e):
            n_row = neg[i].astype(np.float64) if neg is not None else p[s + (i - s + 1) % m]
            dap = np.linalg.norm(a[i] - p[i] + 1e-6)
            dan = np.linalg.norm(a[i] - n_row + 1e-6)
            trip.append(max(dap - dan + margin, 0))
    return {'alignment': align, 'uniformity': uni_sum / uni_w, 'ntxent': nt_sum / nt_n,
            'triplet': float(np.mean(trip)),
            'positive_cosine': float((na * npp).sum(1).mean()),
            'negative_cosine': negcos_sum / negcos_n}


def contrastive_values(c):
    return {k: getattr(c, f'get_{k}')() for k in
            ('alignment', 'uniformity', 'ntxent', 'triplet', 'positive_cosine',
             'negative_cosine')}


PAIR_BATCH, TAU, MARGIN = 128, 0.3, 0.4


@pytest.fixture(scope='module')
def pair_runs():
    """The fixture head with the pair file, and with the aligned positives stack."""
    out = {}
    for route in ('file', 'positives'):
        a = analysis_with_head()
        a.set_contrastive_parameters(PAIR_BATCH, TAU, MARGIN)
        if route == 'file':
            a.set_pairs_file(str(DATA / 'pairs.csv'))
        else:
            a.set_positives(reader(DATA / 'positives.tif'))
        out[route] = run(a)
    return out


def fixture_pairs():
    rows = read_csv(DATA / 'pairs.csv')[1:]
    return np.array([[int(v) for v in r] for r in rows])


def test_pairs_file_and_positives_agree_with_numpy(pair_runs):
    x = features()
    ok = finite_rows(x)
    pairs = fixture_pairs()
    keep = ok[pairs[:, 0]] & ok[pairs[:, 1]]
    proj = np.full((600, 8), np.nan, np.float32)
    proj[ok] = head_projections(load_head(), x[ok])
    anchors, positives = proj[pairs[keep, 0]], proj[pairs[keep, 1]]
    ref = reference_contrastive(anchors, positives, None, PAIR_BATCH, TAU, MARGIN)
    direct = Headrank.Contrastive.new_from_bytes(bytes_of(anchors), bytes_of(positives), None,
                                                 8, PAIR_BATCH, TAU, MARGIN)
    for route, a in pair_runs.items():
        c = a.get_contrastive()
        assert c.get_n_pairs() == int(keep.sum()), route
        assert a.get_n_pairs_skipped() == int((~keep).sum()) > 0, route
        assert (c.get_batch_size(), c.get_temperature(), c.get_margin()) == \
            (PAIR_BATCH, TAU, MARGIN)
        assert not c.has_negatives()
        got = contrastive_values(c)
        # The mean cosines are differences of O(1) terms (0.007 here): the float32 rounding
        # of projections computed in other batches (another sgemm blocking) moves them by
        # ~1e-7 absolute, so they are compared with an absolute tolerance on the cosine scale.
        assert got == pytest.approx(contrastive_values(direct), rel=1e-6, abs=1e-6), route
        assert got == pytest.approx(ref, rel=1e-6, abs=1e-6), route
        j = json.loads(a.to_json(False))['contrastive']
        assert j['pairs'] == int(keep.sum()) and j['pairs_skipped'] == int((~keep).sum())
        assert j['ntxent'] == c.get_ntxent()
    assert contrastive_values(pair_runs['file'].get_contrastive()) == pytest.approx(
        contrastive_values(pair_runs['positives'].get_contrastive()), rel=1e-6, abs=1e-6)


def test_triplet_file_uses_its_negatives():
    x = features()
    ok = finite_rows(x)
    t = np.array([[int(v) for v in r] for r in read_csv(DATA / 'triplets.csv')])
    a = analysis_with_head()
    a.set_contrastive_parameters(PAIR_BATCH, TAU, MARGIN)
    a.set_pairs_file(str(DATA / 'triplets.csv'))
    c = run(a).get_contrastive()
    keep = ok[t].all(1)
    proj = np.full((600, 8), np.nan, np.float32)
    proj[ok] = head_projections(load_head(), x[ok])
    ref = reference_contrastive(proj[t[keep, 0]], proj[t[keep, 1]], proj[t[keep, 2]],
                                PAIR_BATCH, TAU, MARGIN)
    assert c.has_negatives()
    assert c.get_n_pairs() == int(keep.sum())
    assert contrastive_values(c) == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_pairs_without_a_head_use_the_features():
    x = features()
    ok = finite_rows(x)
    pairs = fixture_pairs()
    keep = ok[pairs[:, 0]] & ok[pairs[:, 1]]
    a = Headrank.Analysis.new(reader(FEATURES))
    a.set_contrastive_parameters(PAIR_BATCH, TAU, MARGIN)
    a.set_pairs_file(str(DATA / 'pairs.csv'))
    c = run(a).get_contrastive()
    ref = reference_contrastive(x[pairs[keep, 0]], x[pairs[keep, 1]], None, PAIR_BATCH, TAU,
                                MARGIN)
    assert contrastive_values(c) == pytest.approx(ref, rel=1e-6, abs=1e-9)


# -- asynchronous runs and cancellation -------------------------------------------------


def run_async(a, cancellable=None, on_progress=None, timeout=60, delay=0.0):
    """Runs @a with run_async() in a GLib main loop started @delay seconds after the
    call; returns the result and the progress notifications seen (value, in the main
    thread, time)."""
    loop = GLib.MainLoop()
    result = {}
    main = threading.get_ident()
    seen = []

    def notified(obj, pspec):
        seen.append((a.get_property('progress'), threading.get_ident() == main,
                     time.monotonic()))
        if on_progress is not None:
            on_progress(seen[-1][0])

    def done(obj, res, *args):
        result['time'] = time.monotonic()
        try:
            result['ok'] = obj.run_finish(res)
        except GLib.Error as e:
            result['error'] = e
        loop.quit()

    handler = a.connect('notify::progress', notified)
    a.run_async(cancellable, done, None)
    time.sleep(delay)
    GLib.timeout_add_seconds(timeout, lambda: (result.setdefault('timeout', True),
                                               loop.quit())[1] and False)
    loop.run()
    a.disconnect(handler)
    assert 'timeout' not in result
    return result, seen


def test_run_async_notifies_progress_in_the_main_thread_whose_loop_starts_late():
    """The worker reports progress before the main loop runs (the main thread sleeps
    first): the notifications still come in the main thread, from its loop, none in the
    worker's (which could acquire the idle default context and deliver them itself)."""
    a = analysis_with_head()
    a.set_pairs_file(str(DATA / 'pairs.csv'))
    result, seen = run_async(a, delay=0.5)
    assert result.get('ok') is True, result
    assert seen and all(main for _, main, _ in seen), seen


def test_run_async_notifies_progress_in_the_main_thread():
    a = analysis_with_head()
    a.set_pairs_file(str(DATA / 'pairs.csv'))
    result, seen = run_async(a)
    assert result.get('ok') is True, result
    assert a.is_done()
    values = [v for v, _, _ in seen]
    assert all(main for _, main, _ in seen)
    assert values == sorted(values)
    assert values[-1] == 1.0 and a.get_property('progress') == 1.0
    assert len(values) >= 2
    # the same results as a synchronous run
    b = run(analysis_with_head())
    for name in ('features', 'projections'):
        assert list(a.find_stage(name).get_spectrum().get_eigenvalues()) == \
            list(b.find_stage(name).get_spectrum().get_eigenvalues())
    assert a.get_contrastive() is not None


def test_run_async_without_finish_leaves_nothing_running():
    """Issue 13: a result dropped without run_finish() left the analysis 'running', so
    every later run and setter was refused."""
    a = analysis_with_head()
    loop = GLib.MainLoop()
    called = {}

    def done(obj, res, *args):
        called['done'] = obj.is_done()  # free already, before any finish
        loop.quit()                      # and the result is dropped

    a.run_async(None, done, None)
    GLib.timeout_add_seconds(60, lambda: (called.setdefault('timeout', True),
                                          loop.quit())[1] and False)
    loop.run()
    assert called == {'done': True}
    a.set_batch_size(64)
    assert a.get_batch_size() == 64
    run(a)
    result, _ = run_async(a)
    assert result.get('ok') is True, result


@pytest.fixture(scope='module')
def big_stack(tmp_path_factory):
    """200 000 × 64 float32 (51 MB): through the bundled 64 → 192 → 64 head it takes
    about 1.5 s on the 2-core test machine."""
    path = tmp_path_factory.mktemp('big') / 'big.tif'
    x = np.random.default_rng(3).standard_normal((200_000, 64), dtype=np.float32)
    tifffile.imwrite(path, x)
    return path


def test_cancel_mid_run(big_stack):
    head_path = SAMPLE_DIR / 'head-viscy-v0.safetensors'
    if not head_path.exists():
        pytest.skip(f'{head_path} does not exist')
    a = Headrank.Analysis.new(reader(big_stack))
    a.set_head(load_head(head_path, 'viscy-v0'))
    cancellable = Gio.Cancellable()
    cancelled = {}

    def on_progress(value):
        if 0 < value < 0.5 and 'at' not in cancelled:
            cancelled['at'] = time.monotonic()
            cancelled['value'] = value
            cancellable.cancel()

    result, seen = run_async(a, cancellable, on_progress)
    assert 'at' in cancelled, f'no progress below 0.5 before the end: {seen}'
    e = result.get('error')
    assert e is not None, result
    assert e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), e
    assert result['time'] - cancelled['at'] < 2.0
    assert not a.is_done()
    assert a.get_n_stages() == 0 and a.to_json(False) is None
    # the analysis can run again after a cancellation
    a.set_head(None)
    run(a)
    assert a.get_n_stages() == 1 and a.get_stage(0).get_n_samples() == 200_000


def test_cancelled_before_sync_run():
    c = Gio.Cancellable()
    c.cancel()
    a = analysis_with_head()
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, c)
    assert e.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)


def test_sync_progress_callback():
    values = []
    a = analysis_with_head()
    assert a.run(lambda f, *data: values.append(f), None, None)
    assert values == sorted(values) and values[-1] == 1.0


# -- errors -----------------------------------------------------------------------------


def test_head_width_mismatch(tmp_path):
    path = tmp_path / 'x16.tif'
    tifffile.imwrite(path, np.ones((50, 16), np.float32))
    a = analysis_with_head(path=path)
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.SHAPE)
    assert str(path) in e.value.message
    assert not a.is_done()


def test_unknown_stage():
    a = analysis_with_head()
    a.set_spectral_stages(['7'])
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.INVALID)
    b = Headrank.Analysis.new(reader(FEATURES))
    b.set_spectral_stages(['0'])
    with pytest.raises(GLib.Error) as e:
        b.run(None, None, None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.INVALID)


def test_head_and_projections():
    a = analysis_with_head()
    a.set_projections(reader(DATA / 'projections.tif'))
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.INVALID)


def test_projections_of_another_length(tmp_path):
    path = tmp_path / 'p.tif'
    tifffile.imwrite(path, np.ones((599, 8), np.float32))
    a = Headrank.Analysis.new(reader(FEATURES))
    a.set_projections(reader(path))
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.SHAPE)


def test_positives_of_another_shape(tmp_path):
    path = tmp_path / 'pos.tif'
    tifffile.imwrite(path, np.ones((600, 8), np.float32))
    a = analysis_with_head()
    a.set_positives(reader(path))
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.SHAPE)


@pytest.mark.parametrize('text', ['0,1\n2,600\n', '0,1\n-1,2\n', '0,1,2\n3,4\n', ''])
def test_bad_pair_file(tmp_path, text):
    path = tmp_path / 'pairs.csv'
    path.write_text(text)
    a = analysis_with_head()
    a.set_pairs_file(str(path))
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.PAIRS)
    assert str(path) in e.value.message


def test_write_report_into_a_file(headed, tmp_path):
    path = tmp_path / 'a-file'
    path.write_text('x')
    with pytest.raises(GLib.Error) as e:
        headed.write_report(str(path), None)
    assert e.value.domain == GLib.quark_to_string(Gio.io_error_quark())
    assert path.read_text() == 'x'


def test_write_report_into_a_read_only_folder(headed, tmp_path):
    if os.geteuid() == 0:
        pytest.skip('root writes into read-only folders')
    out = tmp_path / 'ro'
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(GLib.Error) as e:
            headed.write_report(str(out), None)
        assert e.value.domain == GLib.quark_to_string(Gio.io_error_quark())
        assert os.listdir(out) == []
    finally:
        out.chmod(0o755)


@pytest.mark.parametrize('rows', [1, 5])
def test_too_few_samples(tmp_path, rows):
    """One sample has no covariance; five samples of which four are NaN neither, and the
    message says why."""
    x = np.arange(rows * 24, dtype=np.float32).reshape(rows, 24)
    x[1:, 0] = np.nan
    path = tmp_path / 'one.tif'
    tifffile.imwrite(path, x)
    a = analysis_with_head(path=path)
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    assert_error(e, ANALYSIS_ERROR, Headrank.AnalysisError.TOO_FEW_SAMPLES)
    if rows == 5:
        assert 'only 1 of 5 samples are free of NaN and infinite values (4 non-finite values ' \
            'in all)' in e.value.message
    assert not a.is_done()


# -- batch statistics, running twice ----------------------------------------------------


def numpy_head_batch(t, x):
    """The viscy-v2 head in training mode, the rows @x as one batch (biased variance)."""
    d = lambda k: t[k].astype(np.float64)  # noqa: E731

    def bn(y, i):
        return (y - y.mean(0)) / np.sqrt(y.var(0) + BN_EPS) * d(f'{i}.weight') + d(f'{i}.bias')

    y = np.maximum(bn(x.astype(np.float64) @ d('0.weight').T + d('0.bias'), 1), 0)
    return bn(y @ d('3.weight').T + d('3.bias'), 4)


def test_batch_statistics_over_the_finite_rows():
    """norm-mode BATCH with batch size 0: one batch of every finite row, as torch's
    training mode would normalise it; checked against numpy in float64 with float32
    tolerances (the head runs in float32)."""
    x = features()
    ok = finite_rows(x)
    a = analysis_with_head()
    a.set_norm_mode(Headrank.NormMode.BATCH)
    run(a)
    ref = numpy_head_batch(read_safetensors(HEAD), x[ok])
    proj = a.find_stage('projections')
    m = proj.get_moments()
    # BatchNorm in training mode: the projections' per-dimension mean is the BN bias
    assert np.allclose(f64(m.get_mean()), ref.mean(0), rtol=1e-4, atol=1e-4)
    assert np.allclose(f64(m.get_std()), ref.std(0), rtol=1e-4, atol=1e-4)
    lam = np.array(proj.get_spectrum().get_eigenvalues())
    lam64 = reference_spectrum(ref)['eigenvalues']
    assert np.allclose(lam, lam64, rtol=1e-3, atol=1e-5 * lam64[0])
    assert json.loads(a.to_json(False))['head']['norm_mode'] == 'batch'
    # training-mode BatchNorm: the projections' mean is the last BatchNorm's bias
    t = read_safetensors(HEAD)
    assert np.allclose(f64(m.get_mean()), t['4.bias'], rtol=0, atol=1e-5)


def test_running_again_replaces_the_results():
    a = analysis_with_head()
    a.set_pairs_file(str(DATA / 'pairs.csv'))
    first = run(a).to_json(False)
    assert run(a).to_json(False) == first
    a.set_pairs_file(None)
    a.set_head(None)
    run(a)
    assert a.get_n_stages() == 1 and a.get_contrastive() is None
    assert a.get_n_pairs_skipped() == 0


def test_positives_without_a_head_are_features():
    """Without a head the positives stack holds features: the same measures as the pair
    file on the features."""
    a = Headrank.Analysis.new(reader(FEATURES))
    a.set_contrastive_parameters(PAIR_BATCH, TAU, MARGIN)
    a.set_positives(reader(DATA / 'positives.tif'))
    b = Headrank.Analysis.new(reader(FEATURES))
    b.set_contrastive_parameters(PAIR_BATCH, TAU, MARGIN)
    b.set_pairs_file(str(DATA / 'pairs.csv'))
    ca, cb = run(a).get_contrastive(), run(b).get_contrastive()
    assert ca.get_n_pairs() == cb.get_n_pairs()
    assert a.get_n_pairs_skipped() == b.get_n_pairs_skipped()
    assert contrastive_values(ca) == pytest.approx(contrastive_values(cb), rel=1e-12, abs=1e-15)


def test_batch_statistics_in_batches_of_stack_rows():
    """With a batch size, the batches are consecutive runs of that many rows of the stack;
    the non-finite rows are dropped from their batch (numpy, float64, batch by batch)."""
    x = features()
    ok = finite_rows(x)
    t = read_safetensors(HEAD)
    a = analysis_with_head()
    a.set_norm_mode(Headrank.NormMode.BATCH)
    a.set_batch_size(100)
    run(a)
    got = per_sample_of(a.find_stage('projections')).astype(np.float64)
    ref = np.full((600, 4), np.nan)
    for start in range(0, 600, 100):
        rows = np.arange(start, start + 100)
        rows = rows[ok[rows]]
        ref[rows] = per_sample_reference(numpy_head_batch(t, x[rows]))
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    good = ~np.isnan(ref[:, 0])
    assert np.allclose(got[good], ref[good], rtol=1e-4, atol=1e-4)
    assert json.loads(a.to_json(False))['head']['batch_size'] == 100


def test_given_projections_with_aligned_positives():
    """With projections given, the positives stack holds projections: the same measures
    as the pair file on the projections."""
    p = tifffile.imread(DATA / 'projections.tif')
    pairs = fixture_pairs()
    ok = finite_rows(p)
    keep = ok[pairs[:, 0]] & ok[pairs[:, 1]]
    results = []
    for route in ('positives', 'file'):
        a = Headrank.Analysis.new(reader(FEATURES))
        a.set_projections(reader(DATA / 'projections.tif'))
        a.set_contrastive_parameters(PAIR_BATCH, TAU, MARGIN)
        if route == 'file':
            a.set_pairs_file(str(DATA / 'pairs.csv'))
        else:
            a.set_positives(reader(DATA / 'positives-projections.tif'))
        run(a)
        assert a.get_n_pairs_skipped() == int((~keep).sum())
        results.append(contrastive_values(a.get_contrastive()))
    ref = reference_contrastive(p[pairs[keep, 0]], p[pairs[keep, 1]], None, PAIR_BATCH, TAU,
                                MARGIN)
    assert results[0] == pytest.approx(results[1], rel=1e-12, abs=1e-15)
    assert results[0] == pytest.approx(ref, rel=1e-6, abs=1e-9)


# -- HrComparison: reports side by side -------------------------------------------------

def test_comparison_of_reports(headed, tmp_path):
    """Two reports of the same analysis: the comparison's numbers are the reports' own;
    garbage is a GLib.Error of HR_ANALYSIS_ERROR_REPORT naming the file."""
    from gi.repository import GLib
    headed.write_report(str(tmp_path / 'a'), None)
    headed.write_report(str(tmp_path / 'b'), None)
    cmp = Headrank.Comparison.new_from_reports([str(tmp_path / 'a'),
                                                str(tmp_path / 'b' / 'report.json')])
    assert cmp.get_n_reports() == 2
    assert list(cmp.get_warnings()) == []
    j = json.loads(cmp.to_json(False))
    report = json.loads((tmp_path / 'a' / 'report.json').read_text())
    for entry in j['reports']:
        for mine, theirs in zip(entry['stages'], report['stages']):
            for key in ('rank', 'rank_range', 'effective_rank', 'alpha', 'components'):
                assert mine[key] == theirs[key]
    assert cmp.to_csv().count('\r\n') == 1 + 2 * len(report['stages'])
    (tmp_path / 'c').mkdir()
    (tmp_path / 'c' / 'report.json').write_text('{"report_format": 2, "input": []}')
    with pytest.raises(GLib.Error) as e:
        Headrank.Comparison.new_from_reports([str(tmp_path / 'a'), str(tmp_path / 'c')])
    assert e.value.matches(Headrank.analysis_error_quark(), Headrank.AnalysisError.REPORT)
    assert 'report.json' in e.value.message and 'input' in e.value.message


def test_comparison_of_analyses_in_memory(headed, tmp_path):
    """Analyses compared in memory (as the napari widget compares them) give the same CSV as
    their reports compared from files, with the labels given and no report path; an
    analysis that has not run, or one of other features, is refused."""
    alone = Headrank.Analysis.new(reader(FEATURES))
    run(alone)
    headed.write_report(str(tmp_path / 'a'), None)
    alone.write_report(str(tmp_path / 'b'), None)
    files = Headrank.Comparison.new_from_reports([str(tmp_path / 'a'), str(tmp_path / 'b')])
    memory = Headrank.Comparison.new_from_analyses([headed, alone], ['a', 'b'])
    assert memory.get_n_reports() == 2
    assert memory.to_csv() == files.to_csv()
    j = json.loads(memory.to_json(False))
    assert [r['label'] for r in j['reports']] == ['a', 'b']
    assert [r['report'] for r in j['reports']] == [None, None]
    assert list(memory.get_warnings()) == []
    not_run = Headrank.Analysis.new(reader(FEATURES))
    with pytest.raises(GLib.Error) as e:
        Headrank.Comparison.new_from_analyses([headed, not_run], ['a', 'not run'])
    assert e.value.matches(ANALYSIS_ERROR, Headrank.AnalysisError.INVALID)
    assert e.value.message == 'not run: the analysis has not run to the end'
    other = Headrank.Analysis.new(reader(SAMPLE_DIR / 'sample-embeddings.tif'))
    run(other)
    with pytest.raises(GLib.Error) as e:
        Headrank.Comparison.new_from_analyses([headed, other], ['a', 'sample'])
    assert e.value.matches(ANALYSIS_ERROR, Headrank.AnalysisError.REPORT)
    assert e.value.message.startswith('a and sample are reports of different features')


# -- the per-sample table at scale (issue 15, item 5) -------------------------------------

def test_per_sample_table_gzip_at_a_million_samples(tmp_path):
    """10^6 samples generated here: per_sample.csv.gz (HrAnalysis:per-sample-format) reads
    back with pandas, one row per sample in order, equal to numpy's per-sample mean, std
    (ddof 0) and L2 norm within float32 rounding; report.json names the file; the per_sample
    figure adds the distribution of every sample (a histogram) beside the envelope."""
    pandas = pytest.importorskip('pandas')
    n, d = 1_000_000, 16
    rng = np.random.default_rng(15)
    x = (rng.standard_normal((n, d), dtype=np.float32) * np.float32(3)
         + np.linspace(-1, 1, d, dtype=np.float32))
    source = Headrank.MemorySource.new(GLib.Bytes.new(x.tobytes()), n, d)
    a = Headrank.Analysis.new_for_source(source)
    assert a.get_per_sample_format() == Headrank.PerSampleFormat.CSV
    a.set_per_sample_format(Headrank.PerSampleFormat.CSV_GZIP)
    assert a.props.per_sample_format == Headrank.PerSampleFormat.CSV_GZIP
    run(a)
    a.write_report(str(tmp_path / 'r'), None)
    assert not (tmp_path / 'r' / 'per_sample.csv').exists()
    report = json.loads((tmp_path / 'r' / 'report.json').read_text())
    assert report['outputs']['per_sample'] == {'format': 'csv.gz', 'file': 'per_sample.csv.gz',
                                               'rows': n, 'statistics_held': True}
    frame = pandas.read_csv(tmp_path / 'r' / 'per_sample.csv.gz')
    assert frame.shape == (n, 4)
    assert (frame['sample'].to_numpy() == np.arange(n)).all()
    x64 = x.astype(np.float64)
    for column, ref in (('features_mean', x64.mean(1)), ('features_std', x64.std(1)),
                        ('features_norm', np.sqrt((x64 ** 2).sum(1)))):
        np.testing.assert_allclose(frame[column].to_numpy(), ref, rtol=1e-5, atol=1e-5)
    # two columns of panels (1400 × 700 at scale 2): the envelope and the histograms
    assert _png_size(tmp_path / 'r' / 'per_sample.png') == (2800, 1400)


def _png_size(path):
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b'\x89PNG\r\n\x1a\n'
    return struct.unpack('>II', head[16:24])


def test_per_sample_table_none_writes_nothing(tmp_path):
    a = Headrank.Analysis.new(reader(FEATURES))
    a.set_per_sample_format(Headrank.PerSampleFormat.NONE)
    run(a)
    a.write_report(str(tmp_path / 'r'), None)
    assert sorted(p.name for p in (tmp_path / 'r').glob('per_sample*')) == \
        ['per_sample.png', 'per_sample.svg']
    # under 5,000 samples, one column: the samples' values themselves
    assert report_samples(tmp_path / 'r') < 5000
    assert _png_size(tmp_path / 'r' / 'per_sample.png') == (2000, 1400)
    report = json.loads((tmp_path / 'r' / 'report.json').read_text())
    assert report['outputs']['per_sample'] == {'format': 'none', 'file': None,
                                               'rows': report['input']['samples'],
                                               'statistics_held': True}


def report_samples(folder):
    return json.loads((Path(folder) / 'report.json').read_text())['input']['samples']
