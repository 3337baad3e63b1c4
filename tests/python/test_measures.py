# The measures the field compares heads with (doc/analysis.md, issue 10 section 6), against
# reference values computed by the reference code (tests/data/measures/make_measures.py),
# and the spectra of wide stacks (section 4) against numpy.
import json
import math

import numpy as np
import pytest
import tifffile

from gi.repository import GLib
from conftest import Headrank, data_dir

DATA = data_dir() / 'measures'


def reader(path):
    return Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO, None)


def reference():
    with open(DATA / 'reference.json') as f:
        return json.load(f)


def analysis(standardize=False, positives=True):
    a = Headrank.Analysis.new(reader(DATA / 'features.tif'))
    a.set_projections(reader(DATA / 'projections.tif'))
    if positives:
        a.set_positives(reader(DATA / 'positives.tif'))
    a.set_standardize(standardize)
    a.run(None, None, None)
    return a


@pytest.fixture(scope='module')
def measured():
    return analysis()


@pytest.mark.parametrize('stage', ['features', 'projections'])
def test_spectrum_measures_match_the_reference_code(measured, stage):
    ref = reference()[stage]
    sp = measured.find_stage(stage).get_spectrum()
    # VisCy's SVD is float32 (numpy on the float32 array), ours float64 from XᵀX
    assert sp.get_viscy_effective_rank() == pytest.approx(ref['viscy_effective_rank'], rel=1e-5)
    assert sp.get_roy_vetterli_effective_rank() == pytest.approx(ref['roy_vetterli'], rel=1e-9)
    assert sp.get_stable_rank() == pytest.approx(ref['stable_rank'], rel=1e-9)
    assert sp.get_nesum() == pytest.approx(ref['nesum'], rel=1e-9)


def test_the_measures_differ_from_each_other(measured):
    """Each measure says something of its own on this data (a common offset, one dimension
    in other units): no two of them coincide."""
    sp = measured.find_stage('features').get_spectrum()
    values = [sp.get_effective_rank(), sp.get_viscy_effective_rank(),
              sp.get_roy_vetterli_effective_rank(), sp.get_stable_rank(), sp.get_nesum()]
    assert len({round(v, 6) for v in values}) == len(values)


def test_normalized_projections_match_directclr(measured):
    ref = np.array(reference()['normalized_eigenvalues'])
    proj = measured.find_stage('projections')
    nsp = proj.get_normalized_spectrum()
    got = np.array(nsp.get_eigenvalues())
    assert got == pytest.approx(ref[:len(got)], rel=1e-5, abs=1e-6 * ref[0])
    assert measured.find_stage('features').get_normalized_spectrum() is None
    # the projections have one nearly constant unit: the normalised rows lose it too
    assert nsp.get_rank() <= proj.get_spectrum().get_rank()


def test_lightly_std_matches_lightly(measured):
    m = measured.find_stage('projections').get_moments()
    assert m.get_lightly_std() == pytest.approx(reference()['lightly_std'], rel=1e-5)
    n = m.get_n_samples()
    assert m.get_lightly_std() == pytest.approx(m.get_simsiam_std() * math.sqrt(n / (n - 1)),
                                                rel=1e-3)


def test_linear_cka_matches_kornblith(measured):
    assert measured.find_stage('projections').get_cka() == pytest.approx(reference()['cka'],
                                                                         rel=1e-9)
    assert measured.find_stage('features').get_cka() == 1.0


def test_cka_is_one_for_an_orthogonal_map_and_a_scaling(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 12)).astype(np.float32) + 5
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    z = (3.0 * x @ q + 7).astype(np.float32)
    tifffile.imwrite(tmp_path / 'x.tif', x)
    tifffile.imwrite(tmp_path / 'z.tif', z)
    a = Headrank.Analysis.new(reader(tmp_path / 'x.tif'))
    a.set_projections(reader(tmp_path / 'z.tif'))
    a.run(None, None, None)
    assert a.find_stage('projections').get_cka() == pytest.approx(1.0, abs=1e-6)


def test_standardized_spectrum_matches_sklearn():
    ref = np.array(reference()['features']['standardized_eigenvalues'])
    plain = analysis(positives=False).find_stage('features').get_spectrum()
    a = analysis(standardize=True, positives=False)
    assert a.get_standardize()
    sp = a.find_stage('features').get_spectrum()
    assert np.array(sp.get_eigenvalues()) == pytest.approx(ref, rel=1e-9, abs=1e-12 * ref[0])
    # one dimension in other units dominates the raw spectrum, not the standardised one
    assert sp.get_effective_rank() > plain.get_effective_rank()
    j = json.loads(a.to_json(False))
    assert j['input']['standardized'] is True
    assert j['stages'][0]['centring'].startswith('standardized')


def test_lidar_matches_stable_pretraining(measured):
    assert measured.get_lidar() == pytest.approx(reference()['lidar'], rel=1e-7)
    assert math.isnan(analysis(positives=False).get_lidar())


def test_report_json_holds_the_measures(measured):
    j = json.loads(measured.to_json(False))
    ref = reference()
    f, p = j['stages'][0], j['stages'][-1]
    for key in ('viscy_effective_rank', 'roy_vetterli_effective_rank', 'stable_rank', 'nesum'):
        assert key in f and key in p
    assert f['spectrum_from'] == 'scatter' and f['normalized'] is None
    assert p['cka_with_features'] == pytest.approx(ref['cka'], rel=1e-9)
    assert p['lightly_std'] == pytest.approx(ref['lightly_std'], rel=1e-5)
    assert p['normalized']['eigenvalues'][0] == pytest.approx(ref['normalized_eigenvalues'][0],
                                                              rel=1e-5)
    assert j['contrastive']['lidar'] == pytest.approx(ref['lidar'], rel=1e-7)


# -- wide stacks: N < D -------------------------------------------------------------------

def numpy_spectrum(x):
    x64 = x.astype(np.float64)
    n = x.shape[0]
    sc = np.linalg.svd(x64 - x64.mean(0), compute_uv=False)
    su = np.linalg.svd(x64, compute_uv=False)
    return sc ** 2 / (n - 1), su


@pytest.mark.parametrize('n,d', [(2, 100_000), (3, 6000), (300, 20_000)])
def test_wide_stack_spectrum_matches_numpy(tmp_path, n, d):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((n, d)) * np.linspace(1, 3, d) + 0.5).astype(np.float32)
    tifffile.imwrite(tmp_path / 'x.tif', x)
    a = Headrank.Analysis.new(reader(tmp_path / 'x.tif'))
    a.run(None, None, None)
    stage = a.find_stage('features')
    sp = stage.get_spectrum()
    ev, su = numpy_spectrum(x)
    assert sp.get_n_components() == n
    assert np.array(sp.get_eigenvalues()) == pytest.approx(ev, rel=1e-9, abs=1e-12 * ev[0])
    assert np.array(sp.get_uncentred_singular_values()) == pytest.approx(su, rel=1e-9)
    assert sp.get_rank() == n - 1
    assert sp.get_matrix_rank() == n
    assert json.loads(a.to_json(False))['stages'][0]['spectrum_from'] == 'gram'
    # the per-dimension statistics are still there
    assert stage.get_moments().get_n_samples() == n


def test_wide_and_tall_spectra_agree():
    """The Gram route (N < D) and the scatter route give the same spectrum."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((40, 90)) @ np.diag(np.linspace(0.1, 4, 90)) + 2).astype(np.float32)
    gram = Headrank.Spectrum.new_from_row_bytes(90, GLib.Bytes.new(x.tobytes()), False)
    x64 = x.astype(np.float64)
    m = x64.mean(0)
    scatter = (x64 - m).T @ (x64 - m)
    direct = Headrank.Spectrum.new_from_bytes(40, 90, GLib.Bytes.new(m.tobytes()),
                                              GLib.Bytes.new(scatter.tobytes()))
    for getter in ('get_eigenvalues', 'get_uncentred_singular_values'):
        a, b = np.array(getattr(gram, getter)()), np.array(getattr(direct, getter)())
        assert a[:39] == pytest.approx(b[:39], rel=1e-8)
    for getter in ('get_rank', 'get_matrix_rank'):
        assert getattr(gram, getter)() == getattr(direct, getter)()
    for getter in ('get_effective_rank', 'get_participation_ratio', 'get_nesum',
                   'get_stable_rank', 'get_viscy_effective_rank'):
        assert getattr(gram, getter)() == pytest.approx(getattr(direct, getter)(), rel=1e-8)
    # standardised from the rows = StandardScaler then PCA
    z = Headrank.Spectrum.new_from_row_bytes(90, GLib.Bytes.new(x.tobytes()), True)
    xs = (x64 - m) / x64.std(0)
    ref = np.linalg.svd(xs, compute_uv=False) ** 2 / 39
    assert np.array(z.get_eigenvalues())[:39] == pytest.approx(ref[:39], rel=1e-8)


def test_wide_projections_have_a_normalized_spectrum(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((50, 30)).astype(np.float32)
    z = rng.standard_normal((50, 400)).astype(np.float32) + 1
    tifffile.imwrite(tmp_path / 'x.tif', x)
    tifffile.imwrite(tmp_path / 'z.tif', z)
    a = Headrank.Analysis.new(reader(tmp_path / 'x.tif'))
    a.set_projections(reader(tmp_path / 'z.tif'))
    a.run(None, None, None)
    p = a.find_stage('projections')
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    ref = np.linalg.svd(zn - zn.mean(0), compute_uv=False) ** 2 / 49
    got = np.array(p.get_normalized_spectrum().get_eigenvalues())
    assert got[:49] == pytest.approx(ref[:49], rel=1e-5)
    # CKA from the kept rows: the cross-moments and the Gram matrix's norm
    assert p.get_cka() == pytest.approx(numpy_linear_cka(x, z), rel=1e-9)


def memory(rows):
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    return Headrank.MemorySource.new(GLib.Bytes.new(rows.tobytes()), *rows.shape)


def numpy_linear_cka(x, z):
    """Linear CKA of Kornblith et al. (ICML 2019), feature-space form, in float64."""
    xc = x.astype(np.float64) - x.astype(np.float64).mean(0)
    zc = z.astype(np.float64) - z.astype(np.float64).mean(0)
    return (np.linalg.norm(xc.T @ zc) ** 2
            / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(zc.T @ zc)))


def test_cka_of_stacks_with_nonfinite_rows_matches_numpy(tmp_path):
    """Projections given as a stack: the cross-moments come from the rows themselves (the
    finite rows of each block of 256 found, averaged and centred on the pool's threads, by
    parts of rows). NaN and infinite rows here and there in either stack, a block of them
    across a part's boundary: CKA as numpy's over the rows finite in both."""
    rng = np.random.default_rng(11)
    n = 5000
    x = (rng.standard_normal((n, 24)) @ rng.standard_normal((24, 24)) + 2).astype(np.float32)
    z = np.tanh(x[:, :10] * 0.7 - x[:, 5:15]).astype(np.float32)
    bad_x = rng.choice(n, 60, replace=False)
    bad_z = np.concatenate([rng.choice(n, 40, replace=False), np.arange(250, 290)])
    x[bad_x, rng.integers(0, 24, 60)] = np.nan
    z[bad_z[:40], rng.integers(0, 10, 40)] = np.inf
    z[bad_z[40:], 3] = -np.inf
    tifffile.imwrite(tmp_path / 'x.tif', x)
    tifffile.imwrite(tmp_path / 'z.tif', z)
    a = Headrank.Analysis.new(reader(tmp_path / 'x.tif'))
    a.set_projections(reader(tmp_path / 'z.tif'))
    assert a.run(None, None, None)
    keep = np.isfinite(x).all(1) & np.isfinite(z).all(1)
    assert keep.sum() < n - 100
    assert a.find_stage('projections').get_cka() == pytest.approx(
        numpy_linear_cka(x[keep], z[keep]), rel=1e-9)


@pytest.mark.parametrize('dz', [8, 500])
def test_wide_features_have_a_cka(tmp_path, dz):
    """96 samples of 768 features (wider than the samples: their rows are kept for the
    Gram matrix), projections narrow (8) or wide too (500): CKA as numpy's, and as the
    merge of two parts of the same samples gives it."""
    rng = np.random.default_rng(768)
    x = (rng.standard_normal((96, 768)) @ rng.standard_normal((768, 768)) * 0.05
         + 3).astype(np.float32)
    z = np.maximum(x[:, :dz] - 0.5 * x[:, 1:dz + 1], 0).astype(np.float32)
    tifffile.imwrite(tmp_path / 'x.tif', x)
    tifffile.imwrite(tmp_path / 'z.tif', z)
    a = Headrank.Analysis.new(reader(tmp_path / 'x.tif'))
    a.set_projections(reader(tmp_path / 'z.tif'))
    a.run(None, None, None)
    one = a.find_stage('projections').get_cka()
    assert one == pytest.approx(numpy_linear_cka(x, z), rel=1e-9)
    assert 0 < one < 1
    assert json.loads(a.to_json(False))['stages'][-1]['cka_with_features'] == one
    parts = []
    for rows in (slice(0, 48), slice(48, 96)):
        b = Headrank.Analysis.new_for_source(memory(x[rows]))
        b.set_projections_source(memory(z[rows]))
        parts.append(b.run_part(None, None, None))
    merged = Headrank.Analysis.new_from_parts(parts, None, None)
    assert merged.find_stage('projections').get_cka() == pytest.approx(one, rel=1e-12)


def test_memory_limit_refuses_before_allocating(tmp_path):
    x = np.ones((300, 2000), np.float32)
    tifffile.imwrite(tmp_path / 'x.tif', x)
    a = Headrank.Analysis.new(reader(tmp_path / 'x.tif'))
    a.set_memory_limit(1 << 20)
    assert a.get_memory_limit() == 1 << 20
    with pytest.raises(GLib.Error) as e:
        a.run(None, None, None)
    # a refusal by the limit, not a shape error or a failed allocation
    assert e.value.matches(Headrank.AnalysisError.quark(), Headrank.AnalysisError.MEMORY_LIMIT)
    assert 'stage features' in e.value.message and '300 × 2000' in e.value.message
    assert 'MiB' in e.value.message
    a.set_memory_limit(0)
    assert a.get_memory_limit() > 1 << 20
