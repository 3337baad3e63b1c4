# headrank_numpy.read() (rows straight into a numpy array through hr_source_read_rows_into),
# open_source(), zarr_projections() and the one-call analyze() on arrays, files and VisCy's
# stores, against tifffile, the stores' expected values and Analysis objects made by hand.
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

from conftest import data_dir  # noqa: E402

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(ROOT / 'python'))
import headrank_numpy as hn  # noqa: E402

ZARR = data_dir() / 'zarr'


def rows(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def expected(name, d):
    return np.fromfile(ZARR / 'expected' / f'{name}.f32', dtype='<f4').reshape(-1, d)


@pytest.fixture
def tiff(tmp_path):
    x = rows(5000, 40, 1)
    x[17, 3] = np.nan
    path = tmp_path / 'x.tif'
    tifffile.imwrite(path, x)
    return path, x


@pytest.fixture(params=['ctypes', 'gi'])
def path_kind(request, monkeypatch):
    """Both ways of read(): hr_source_read_rows_into through ctypes, and read_bytes (what
    it falls back to without ctypes)."""
    if request.param == 'gi':
        hn._capi()
        monkeypatch.setattr(hn, '_read_rows', False)
    return request.param


def test_read_a_tiff_is_tifffile(tiff, path_kind):
    path, x = tiff
    got = hn.read(path)
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == x.shape
    np.testing.assert_array_equal(got, tifffile.imread(path))
    reader = Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO, None)
    np.testing.assert_array_equal(hn.read(reader, 4990), x[4990:])
    np.testing.assert_array_equal(hn.read(reader, 100, 7), x[100:107])
    assert reader.get_position() == 107
    # into the caller's array
    out = np.full((10, 40), -1, np.float32)
    assert hn.read(reader, 15, 3, out=out).base is out
    np.testing.assert_array_equal(out[:3], x[15:18])
    assert (out[3:] == -1).all()


def test_read_does_not_count_nonfinite(tiff):
    path, x = tiff
    reader = Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO, None)
    assert np.isnan(hn.read(reader)[17, 3])
    assert reader.get_n_nonfinite() == 0


def test_read_errors(tiff, path_kind):
    path, x = tiff
    reader = Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO, None)
    with pytest.raises(GLib.Error) as e:
        hn.read(reader, 4990, 11)
    assert e.value.matches(Headrank.stack_error_quark(), Headrank.StackError.INVALID)
    assert '4990' in e.value.message
    with pytest.raises(ValueError):
        hn.read(reader, 0, 10, out=np.empty((10, 40), np.float64))
    with pytest.raises(ValueError):
        hn.read(reader, 0, 10, out=np.empty((9, 40), np.float32))
    with pytest.raises(GLib.Error):
        hn.read(path.parent / 'missing.tif')


def test_read_cancelled(tiff):
    from gi.repository import Gio

    cancellable = Gio.Cancellable()
    cancellable.cancel()
    with pytest.raises(GLib.Error) as e:
        hn.read(tiff[0], cancellable=cancellable)
    assert e.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)


class Rows(Headrank.Source):
    def __init__(self, x, unknown=False):
        super().__init__(n_samples=Headrank.SOURCE_N_SAMPLES_UNKNOWN if unknown else len(x),
                         n_features=x.shape[1], name='python')
        self.x = x

    def do_read_bytes(self, first, max_samples, cancellable):
        return GLib.Bytes.new(self.x[first:first + max_samples].tobytes())


def test_read_python_sources_and_concatenations(tmp_path, path_kind):
    x = rows(300, 6, 2)
    np.testing.assert_array_equal(hn.read(Rows(x), 20, 200), x[20:220])
    np.testing.assert_array_equal(hn.read(Rows(x, unknown=True)), x)
    np.testing.assert_array_equal(hn.read(Rows(x, unknown=True), 250, 80), x[250:])
    tifffile.imwrite(tmp_path / 'a.tif', x[:120])
    tifffile.imwrite(tmp_path / 'b.tif', x[120:])
    np.testing.assert_array_equal(hn.read(tmp_path), x)
    np.testing.assert_array_equal(hn.read([tmp_path / 'a.tif', tmp_path / 'b.tif'], 100, 50),
                                  x[100:150])


@pytest.mark.parametrize('store, features, projections, d', [
    ('anndata-v2.zarr', 'anndata-v2-X', 'anndata-v2-proj', (16, 6)),
    ('anndata-v3-projections.zarr', 'anndata-v3-projections-backbone',
     'anndata-v3-projections-X', (16, 6)),
    ('xarray.zarr', 'xarray-features', 'xarray-projections', (16, 6)),
    ('viscy-features.zarr', 'viscy-features', 'viscy-projections', (24, 8)),
    ('viscy-projections.zarr', 'viscy-features', 'viscy-projections', (24, 8)),
])
def test_read_viscy_stores(store, features, projections, d):
    path = ZARR / 'stores' / store
    np.testing.assert_array_equal(hn.read(path), expected(features, d[0]))
    np.testing.assert_array_equal(hn.read(hn.zarr_projections(path)), expected(projections, d[1]))


def test_zarr_projections_none_and_layout():
    path = ZARR / 'stores' / 'v3-default-f4.zarr'
    assert hn.zarr_projections(path) is None
    assert hn.open_source(path).get_layout() == 'array'
    assert hn.open_source(ZARR / 'stores' / 'viscy-projections.zarr').get_layout() == 'anndata'
    assert hn.open_source(ZARR / 'stores' / 'viscy-projections.zarr', 'obsm/X_pca') \
        .get_n_features() == 4
    with pytest.raises(ValueError):
        hn.open_source(ZARR / 'expected' / 'viscy-features.f32', 'X')


def stages(analysis):
    return {s['name']: s for s in hn.report(analysis)['stages']}


def test_analyze_numpy_arrays_in_one_call(tmp_path):
    x = rows(2000, 24, 4) * np.linspace(1, 3, 24, dtype=np.float32)
    p = np.tanh(x[:, :8] @ rows(8, 8, 5))
    got = stages(hn.analyze(x, projections=p))
    tifffile.imwrite(tmp_path / 'x.tif', x)
    tifffile.imwrite(tmp_path / 'p.tif', p)
    by_hand = Headrank.Analysis.new(
        Headrank.StackReader.new(str(tmp_path / 'x.tif'), Headrank.StackLayout.AUTO, None))
    by_hand.set_projections(
        Headrank.StackReader.new(str(tmp_path / 'p.tif'), Headrank.StackLayout.AUTO, None))
    by_hand.run(None, None, None)
    want = stages(by_hand)
    assert set(got) == set(want) == {'features', 'projections'}
    for name in got:
        np.testing.assert_allclose(got[name]['explained_variance_ratio'],
                                   want[name]['explained_variance_ratio'], rtol=1e-12)
        assert got[name]['rank'] == want[name]['rank']
    # the same from the files by path, and eigenvalues as numpy computes them
    from_paths = stages(hn.analyze(tmp_path / 'x.tif', projections=tmp_path / 'p.tif'))
    np.testing.assert_allclose(from_paths['features']['eigenvalues'],
                               np.linalg.eigvalsh(np.cov(x.T.astype(np.float64)))[::-1],
                               rtol=1e-6)


def test_analyze_with_weights_and_progress():
    x = rows(512, 64, 6)
    seen = []
    a = hn.analyze(x, weights=ROOT / 'data' / 'head-viscy-v0.safetensors',
                   arch='viscy-v0', progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0)
    assert a.find_stage('projections') is not None


def test_analyze_a_viscy_store_takes_its_projections():
    # embedding_key="projections": X holds the projections, obsm/X_backbone the features
    got = stages(hn.analyze(ZARR / 'stores' / 'viscy-projections.zarr'))
    assert got['features']['dimension'] == 24
    assert got['projections']['dimension'] == 8
    f = expected('viscy-features', 24).astype(np.float64)
    np.testing.assert_allclose(got['features']['eigenvalues'][:5],
                               np.linalg.eigvalsh(np.cov(f.T))[::-1][:5], rtol=1e-6)
