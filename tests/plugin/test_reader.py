# The reader contribution: feature-stack TIFFs through the library (matrix, per-pixel
# channels as pages and as samples per pixel), VisCy zarr stores (AnnData and xarray
# layouts) made here with zarr, and what it must refuse (an 8-bit RGB photo, a non-TIFF).
import numpy as np
import pytest
import tifffile

from napari_headrank._reader import add_feature_stack, get_reader

PLUGIN = 'napari-headrank'


def test_matrix_tiff_is_one_image_of_the_matrix(make_napari_viewer, data_dir):
    viewer = make_napari_viewer()
    path = data_dir / 'sample-embeddings.tif'
    layers = add_feature_stack(viewer, path)
    assert len(layers) == 1
    expected = tifffile.imread(path)
    assert expected.shape == (4096, 64)
    np.testing.assert_array_equal(layers[0].data, expected)
    assert layers[0].metadata['headrank']['layout'] == 'matrix'


def test_per_pixel_pages_are_c_y_x(make_napari_viewer, data_dir):
    viewer = make_napari_viewer()
    path = data_dir / 'sample-qpi-cell-features.tif'
    layers = add_feature_stack(viewer, path)
    assert len(layers) == 1
    expected = tifffile.imread(path)  # ImageJ hyperstack: C × Y × X
    assert expected.shape == (16, 192, 192)
    np.testing.assert_array_equal(layers[0].data, expected)
    assert tuple(layers[0].axis_labels) == ('c', 'y', 'x')
    assert layers[0].metadata['headrank']['per_pixel']


def test_per_pixel_samples_per_pixel_and_integers(make_napari_viewer, tmp_path):
    # 5 uint16 channels stored as samples per pixel (contiguous), Y × X × C on disk
    rng = np.random.default_rng(5)
    yxc = rng.integers(0, 60000, size=(24, 40, 5), dtype=np.uint16)
    path = tmp_path / 'contig.tif'
    tifffile.imwrite(path, yxc, planarconfig='contig', photometric='minisblack',
                     metadata={'axes': 'YXC'})
    # integers say nothing of features: napari's (get_reader refuses), but the widget and
    # add_feature_stack open them as features when asked
    assert get_reader(str(path)) is None
    viewer = make_napari_viewer()
    (layer,) = add_feature_stack(viewer, path)
    np.testing.assert_array_equal(layer.data, np.moveaxis(yxc, -1, 0).astype(np.float32))


def test_an_rgb_photo_is_not_a_feature_stack(tmp_path):
    rng = np.random.default_rng(3)
    for channels, extra in ((3, None), (4, ['unassalpha'])):
        path = tmp_path / f'photo{channels}.tif'
        tifffile.imwrite(path, rng.integers(0, 256, size=(48, 64, channels), dtype=np.uint8),
                         photometric='rgb', extrasamples=extra)
        assert get_reader(str(path)) is None


def test_non_tiffs_are_refused(make_napari_viewer, tmp_path, data_dir):
    fake = tmp_path / 'notes.tif'
    fake.write_text('not a TIFF at all\n')
    assert get_reader(str(fake)) is None
    assert get_reader(str(data_dir / 'sample-pairs.csv')) is None
    assert get_reader(str(tmp_path)) is None  # a directory that is no zarr store
    viewer = make_napari_viewer()
    with pytest.raises(Exception):
        viewer.open(fake, plugin=PLUGIN)


def _features_projections(n=50, d=12, p=6):
    rng = np.random.default_rng(11)
    return (rng.standard_normal((n, d)).astype(np.float32),
            rng.standard_normal((n, p)).astype(np.float32))


def test_viscy_anndata_zarr(make_napari_viewer, tmp_path):
    import zarr

    x, proj = _features_projections()
    path = tmp_path / 'embeddings.zarr'
    root = zarr.open_group(str(path), mode='w')
    root.attrs.update({'encoding-type': 'anndata', 'encoding-version': '0.1.0'})
    root.create_array('X', data=x)
    obsm = root.create_group('obsm')
    obsm.create_array('X_projections', data=proj)
    assert get_reader(str(path)) is not None
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin=PLUGIN)
    assert [layer.metadata['headrank']['kind'] for layer in layers] == ['features', 'projections']
    np.testing.assert_array_equal(layers[0].data, x)
    np.testing.assert_array_equal(layers[1].data, proj)
    assert layers[0].metadata['headrank']['store'] == 'anndata'


def test_viscy_xarray_zarr(make_napari_viewer, tmp_path):
    import zarr

    x, proj = _features_projections(n=30, d=8, p=4)
    path = tmp_path / 'old.zarr'
    root = zarr.open_group(str(path), mode='w', zarr_format=2)
    a = root.create_array('features', data=x.astype(np.float64))
    a.attrs['_ARRAY_DIMENSIONS'] = ['sample', 'features']
    b = root.create_array('projections', data=proj)
    b.attrs['_ARRAY_DIMENSIONS'] = ['sample', 'projections']
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin=PLUGIN)
    assert len(layers) == 2
    np.testing.assert_array_equal(layers[0].data, x)
    np.testing.assert_array_equal(layers[1].data, proj)
    assert layers[0].metadata['headrank']['store'] == 'xarray'


def test_a_zarr_without_embeddings_is_refused(tmp_path):
    import zarr

    root = zarr.open_group(str(tmp_path / 'other.zarr'), mode='w')
    root.create_array('labels', data=np.zeros((4, 4), np.uint8))
    assert get_reader(str(tmp_path / 'other.zarr')) is None


def test_an_anndata_store_with_a_sparse_x_is_claimed_and_refused_clearly(tmp_path):
    # napari would otherwise say only that no reader can open it
    import zarr

    root = zarr.open_group(str(tmp_path / 'sparse.zarr'), mode='w', zarr_format=3)
    root.attrs.update({'encoding-type': 'anndata', 'encoding-version': '0.1.0'})
    x = root.create_group('X')
    x.attrs.update({'encoding-type': 'csr_matrix', 'encoding-version': '0.1.0', 'shape': [4, 3]})
    x.create_array('data', data=np.ones(4, np.float32))
    x.create_array('indices', data=np.arange(4, dtype=np.int32) % 3)
    x.create_array('indptr', data=np.arange(5, dtype=np.int32))
    reader = get_reader(str(tmp_path / 'sparse.zarr'))
    assert reader is not None
    with pytest.raises(ValueError, match='sparse matrix.*csr_matrix'):
        reader(str(tmp_path / 'sparse.zarr'))
    # a store that is not anndata's stays napari's
    other = zarr.open_group(str(tmp_path / 'other.zarr'), mode='w', zarr_format=3)
    other.create_array('labels', data=np.zeros((4, 4), np.uint8))
    assert get_reader(str(tmp_path / 'other.zarr')) is None
