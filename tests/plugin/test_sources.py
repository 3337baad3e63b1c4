# The plugin on the library's sources: VisCy's stores in every layout read by the library
# with the right layer names, no temporary files when layers are analysed, and large stacks
# opened lazily (Dask arrays read through the source as napari shows them) and analysed from
# their file, not from the layer.
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_headrank import _stacks
from napari_headrank._library import headrank
from napari_headrank._reader import add_feature_stack, get_reader
from napari_headrank._widget import HEAD_NONE, HEAD_PROJECTIONS
from widget_helpers import make_widget, run_and_wait

Headrank = headrank()
PLUGIN = 'napari-headrank'
ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
ZARR = ROOT / 'tests' / 'data' / 'zarr'


def expected(name, d):
    return np.fromfile(ZARR / 'expected' / f'{name}.f32', dtype='<f4').reshape(-1, d)


@pytest.mark.parametrize('store, layout, features, projections, d', [
    ('anndata-v2.zarr', 'anndata', 'anndata-v2-X', 'anndata-v2-proj', (16, 6)),
    ('anndata-v3.zarr', 'anndata', 'anndata-v3-X', 'anndata-v3-proj', (16, 6)),
    ('anndata-v2-projections.zarr', 'anndata', 'anndata-v2-projections-backbone',
     'anndata-v2-projections-X', (16, 6)),
    ('anndata-v3-projections.zarr', 'anndata', 'anndata-v3-projections-backbone',
     'anndata-v3-projections-X', (16, 6)),
    ('xarray.zarr', 'xarray', 'xarray-features', 'xarray-projections', (16, 6)),
    # written by VisCy's own write_embedding_dataset (make_viscy_stores.py), both ways
    ('viscy-features.zarr', 'anndata', 'viscy-features', 'viscy-projections', (24, 8)),
    ('viscy-projections.zarr', 'anndata', 'viscy-features', 'viscy-projections', (24, 8)),
])
def test_viscy_stores_open_with_the_right_names(make_napari_viewer, monkeypatch, store, layout,
                                                features, projections, d):
    # read by the library, not zarr-python
    monkeypatch.setitem(sys.modules, 'zarr', None)
    path = ZARR / 'stores' / store
    assert get_reader(str(path)) is not None
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin=PLUGIN)
    stem = Path(store).stem
    assert [layer.name for layer in layers] == [f'{stem} features', f'{stem} projections']
    assert [layer.metadata['headrank']['kind'] for layer in layers] == ['features',
                                                                         'projections']
    np.testing.assert_array_equal(layers[0].data, expected(features, d[0]))
    np.testing.assert_array_equal(layers[1].data, expected(projections, d[1]))
    assert layers[0].metadata['headrank']['store'] == layout


def test_refused_stores(tmp_path):
    # a sparse X: claimed (an AnnData store), and refused with the library's message
    sparse = str(ZARR / 'stores' / 'anndata-sparse.zarr')
    with pytest.raises(ValueError, match='sparse matrix'):
        get_reader(sparse)(sparse)
    assert get_reader(str(ZARR / 'stores' / 'v3-default-f4.zarr')) is None  # one array


@pytest.fixture
def no_temporary_files(tmp_path, monkeypatch):
    """TMPDIR an empty folder that must stay empty, and Python's tempfile refusing to make
    anything."""
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    monkeypatch.setenv('TMPDIR', str(tmp))
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp))

    def refuse(*args, **kwargs):
        raise AssertionError('a temporary file was asked for')

    for name in ('mkstemp', 'mkdtemp', 'NamedTemporaryFile', 'TemporaryFile',
                 'TemporaryDirectory', 'SpooledTemporaryFile'):
        monkeypatch.setattr(tempfile, name, refuse)
    before = set(Path(tempfile.gettempprefix()).parent.glob('napari-headrank-*'))
    yield tmp
    assert list(tmp.iterdir()) == []
    assert set(Path(tempfile.gettempprefix()).parent.glob('napari-headrank-*')) == before


def test_layers_are_analysed_without_temporary_files(make_napari_viewer, qtbot, notes,
                                                     no_temporary_files, tmp_path):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3000, 32)) * np.linspace(0.5, 4, 32)).astype(np.float32)
    p = np.maximum(x[:, :12] @ rng.standard_normal((12, 12)).astype(np.float32), 0)
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.add_image(x, name='my features')
    viewer.add_image(p, name='my projections')
    widget.features_combo.setCurrentIndex(widget.features_combo.findData('my features'))
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_PROJECTIONS))
    widget.projections_combo.setCurrentIndex(widget.projections_combo.findData('my projections'))
    assert run_and_wait(qtbot, widget) == 'done', notes
    assert isinstance(widget.analysis.get_source(), Headrank.MemorySource)
    got = {s['name']: s for s in widget.report['stages']}

    # the same stacks from files (written here, outside the widget) give the same report
    tifffile.imwrite(tmp_path / 'x.tif', x)
    tifffile.imwrite(tmp_path / 'p.tif', p)
    a = Headrank.Analysis.new(
        Headrank.StackReader.new(str(tmp_path / 'x.tif'), Headrank.StackLayout.AUTO, None))
    a.set_projections(
        Headrank.StackReader.new(str(tmp_path / 'p.tif'), Headrank.StackLayout.AUTO, None))
    a.run(None, None, None)
    want = {s['name']: s for s in json.loads(a.to_json(False))['stages']}
    assert set(got) == set(want) == {'features', 'projections'}
    for name in got:
        np.testing.assert_allclose(got[name]['explained_variance_ratio'],
                                   want[name]['explained_variance_ratio'], rtol=1e-12)
        assert got[name]['rank'] == want[name]['rank']


def test_a_changed_per_pixel_layer_without_temporary_files(make_napari_viewer, qtbot, notes,
                                                           no_temporary_files, data_dir):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'qpi-cell')
    layer = viewer.layers['sample-qpi-cell-features']
    layer.data = layer.data * 2  # no longer the file's
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_NONE))
    assert widget.features_combo.currentData() == 'sample-qpi-cell-features'
    assert 'array' in widget.collect()['features']
    assert run_and_wait(qtbot, widget) == 'done', notes
    info = widget.analysis.get_source().get_info()
    assert info.is_per_pixel() and (info.get_width(), info.get_height()) == (192, 192)
    ev = widget.report['stages'][0]['eigenvalues']
    ref = np.moveaxis(tifffile.imread(data_dir / 'sample-qpi-cell-features.tif'), 0, -1)
    ref = (ref.reshape(-1, 16) * 2).astype(np.float64)
    np.testing.assert_allclose(ev, np.linalg.eigvalsh(np.cov(ref.T))[::-1], rtol=1e-5)


@pytest.fixture
def counted_reads(monkeypatch):
    """Stacks above 1 MB open lazily; counts the samples read through the plugin's lazy
    arrays."""
    monkeypatch.setattr(_stacks, 'LAZY_BYTES', 1 << 20)
    monkeypatch.setattr(_stacks, 'BLOCK_BYTES', 256 << 10)
    monkeypatch.setattr(_stacks, 'PYRAMID_ROWS', 512)
    seen = {'samples': 0, 'reads': 0}
    read = _stacks.read_rows

    def counting(source, first, n):
        seen['samples'] += n
        seen['reads'] += 1
        return read(source, first, n)

    monkeypatch.setattr(_stacks, 'read_rows', counting)
    return seen


def test_a_large_matrix_opens_lazily(make_napari_viewer, qtbot, tmp_path, counted_reads, notes):
    import dask.array as da

    n, d = 60_000, 32  # 7.7 MB
    x = np.random.default_rng(9).standard_normal((n, d)).astype(np.float32)
    path = tmp_path / 'big.tif'
    tifffile.imwrite(path, x)

    # the reader's layer: a pyramid of Dask arrays, nothing read
    (data, kwargs, kind), = get_reader(str(path))(str(path))
    assert counted_reads['samples'] == 0
    assert isinstance(data, list) and all(isinstance(level, da.Array) for level in data)
    assert kwargs['multiscale'] and data[0].shape == (n, d) and data[-1].shape[0] <= 512
    np.testing.assert_array_equal(data[0][12345:12350].compute(), x[12345:12350])
    np.testing.assert_array_equal(data[3][100:110].compute(), x[800:880:8])
    np.testing.assert_array_equal(data[-1].compute(), x[::2 ** (len(data) - 1)])
    counted_reads['samples'] = 0

    # in napari: what the screen shows, far from the whole stack
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    (layer,) = add_feature_stack(viewer, path)
    assert layer.multiscale
    # a matrix opens hidden (an image of it means nothing): nothing read to show it
    assert not layer.visible and layer.metadata['headrank']['matrix']
    qtbot.wait(200)
    assert counted_reads['samples'] == 0, counted_reads
    layer.visible = True
    qtbot.wait(200)
    assert 0 < counted_reads['samples'] < n // 4, counted_reads

    # the analysis streams from the file, not from the layer
    counted_reads['samples'] = 0
    widget.features_combo.setCurrentIndex(widget.features_combo.findData('big'))
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_NONE))
    assert widget.collect()['features'] == {'path': str(path), 'layer': 'big'}
    assert run_and_wait(qtbot, widget) == 'done', notes
    assert counted_reads['samples'] == 0
    assert isinstance(widget.analysis.get_source(), Headrank.StackReader)
    ev = widget.report['stages'][0]['eigenvalues']
    np.testing.assert_allclose(ev, np.linalg.eigvalsh(np.cov(x.T.astype(np.float64)))[::-1],
                               rtol=1e-6)


def test_a_large_per_pixel_stack_and_store_open_lazily(make_napari_viewer, tmp_path,
                                                       counted_reads):
    import dask.array as da

    c, z, h, w = 6, 3, 200, 160  # 2.3 MB
    img = np.random.default_rng(10).standard_normal((c, z, h, w)).astype(np.float32)
    path = tmp_path / 'pixels.tif'
    tifffile.imwrite(path, np.moveaxis(img, 0, -1), photometric='minisblack',
                     planarconfig='contig', metadata={'axes': 'ZYXC'})
    (data, kwargs, _kind), = get_reader(str(path))(str(path))
    assert counted_reads['samples'] == 0
    assert isinstance(data, da.Array) and data.shape == (c, z, h, w)
    assert kwargs['axis_labels'] == ('c', 'z', 'y', 'x')
    np.testing.assert_array_equal(data[4, 1].compute(), img[4, 1])
    # one plane's pixels, not the stack's
    assert counted_reads['samples'] == h * w
    np.testing.assert_array_equal(data[:, 2, 50:60, 7].compute(), img[:, 2, 50:60, 7])

    # a zarr store above the threshold: both layers lazy, named by the layout
    import zarr

    feats = np.random.default_rng(11).standard_normal((20_000, 24)).astype(np.float32)
    proj = feats[:, :16] * 3
    store = tmp_path / 'emb.zarr'
    root = zarr.open_group(str(store), mode='w', zarr_format=2)
    root.attrs.update({'encoding-type': 'anndata', 'encoding-version': '0.1.0'})
    x = root.create_array('X', data=proj, chunks=(1000, 16))
    x.attrs.update({'encoding-type': 'array', 'encoding-version': '0.2.0'})
    obsm = root.create_group('obsm')
    obsm.create_array('X_backbone', data=feats, chunks=(1000, 24))
    counted_reads['samples'] = 0
    viewer = make_napari_viewer()
    layers = viewer.open(store, plugin=PLUGIN)
    assert [layer.name for layer in layers] == ['emb features', 'emb projections']
    assert all(layer.multiscale for layer in layers)
    assert counted_reads['samples'] < 20_000 // 4
    np.testing.assert_array_equal(layers[0].data[0][5000:5100].compute(), feats[5000:5100])
    np.testing.assert_array_equal(layers[1].data[0][-3:].compute(), proj[-3:])
    assert layers[0].metadata['headrank']['array'] == 'obsm/X_backbone'


def test_a_store_as_the_features_file(make_napari_viewer, qtbot, notes):
    # the features of the layout: obsm/X_backbone, not X (which holds the projections)
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    widget.features_combo.setCurrentIndex(widget.features_combo.findData(None))
    widget.features_file.setText(ZARR / 'stores' / 'viscy-projections.zarr')
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_NONE))
    assert run_and_wait(qtbot, widget) == 'done', notes
    assert widget.analysis.get_source().get_array() == 'obsm/X_backbone'
    f = expected('viscy-features', 24).astype(np.float64)
    np.testing.assert_allclose(widget.report['stages'][0]['eigenvalues'],
                               np.linalg.eigvalsh(np.cov(f.T))[::-1], rtol=1e-6)
