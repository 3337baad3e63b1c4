# Issue 14 §1: the reader claims only what is clearly a feature stack, tested with napari's
# own reader selection (npe2's filename patterns, napari's "Choose reader" dialog and
# File ▸ Open / drag and drop through QtViewer._qt_open): pictures of any dtype go to
# napari's reader without a question; VisCy stores still open by drag and drop; feature-stack
# TIFFs open from the widget, in a worker thread.
import numpy as np
import tifffile

from napari_headrank._reader import get_reader
from widget_helpers import make_widget

PLUGIN = 'napari-headrank'


def _pictures(tmp_path):
    rng = np.random.default_rng(14)
    out = {}
    out['rgb photo'] = tmp_path / 'photo.tif'
    tifffile.imwrite(out['rgb photo'], rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
                     photometric='rgb')
    out['uint16 microscopy'] = tmp_path / 'nuclei.TIF'
    tifffile.imwrite(out['uint16 microscopy'],
                     rng.integers(0, 4096, (5, 40, 50), dtype=np.uint16), imagej=True,
                     metadata={'axes': 'ZYX'})
    out['float32 image'] = tmp_path / 'phase.tiff'
    tifffile.imwrite(out['float32 image'], rng.standard_normal((64, 64), dtype=np.float32))
    out['uint8 grey'] = tmp_path / 'cells.tif'
    tifffile.imwrite(out['uint8 grey'], rng.integers(0, 256, (32, 32), dtype=np.uint8))
    return out


def test_pictures_are_never_offered_to_headrank(make_napari_viewer, tmp_path):
    from napari.plugins import _npe2

    viewer = make_napari_viewer()
    for what, path in _pictures(tmp_path).items():
        readers = _npe2.get_readers(str(path))
        assert PLUGIN not in readers, what
        assert 'napari' in readers, what
        # plugin=None: napari's own choice, no MultipleReaderError
        (layer,) = viewer.open(path)
        assert layer.source.reader_plugin == 'napari', what


def test_file_open_and_drop_of_a_picture_ask_nothing(make_napari_viewer, tmp_path,
                                                      monkeypatch):
    from napari._qt.dialogs import qt_reader_dialog

    def no_dialog(self):
        raise AssertionError('napari asked which reader to use')

    monkeypatch.setattr(qt_reader_dialog.QtReaderDialog, 'get_user_choices', no_dialog)
    viewer = make_napari_viewer()
    pictures = _pictures(tmp_path)
    for path in pictures.values():
        # what File ▸ Open and a drop call
        viewer.window._qt_viewer._qt_open([str(path)], stack=False)
    assert len(viewer.layers) == len(pictures)
    assert {layer.source.reader_plugin for layer in viewer.layers} == {'napari'}


def test_a_folder_keeps_napari_preselected(make_napari_viewer, tmp_path):
    # folders go to every reader that accepts directories (npe2 ignores patterns for them);
    # the dialog preselects the first display name, which must be napari's
    from napari._qt.dialogs.qt_reader_dialog import QtReaderDialog
    from napari.plugins import _npe2

    folder = tmp_path / 'images'
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f'{i}.tif', np.full((8, 8), i, np.uint16))
    make_napari_viewer()
    readers = _npe2.get_readers(str(folder))
    assert {'napari', PLUGIN} <= set(readers)
    dialog = QtReaderDialog(pth=str(folder), readers=readers)
    assert dialog._get_plugin_choice() == readers['napari']
    # and headrank refuses it if chosen anyway: it is no zarr store
    assert get_reader(str(folder)) is None


def test_a_viscy_store_dropped_opens_with_headrank(make_napari_viewer, tmp_path, monkeypatch):
    import zarr
    from napari._qt.dialogs import qt_reader_dialog

    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 10)).astype(np.float32)
    store = tmp_path / 'embeddings.zarr'
    root = zarr.open_group(str(store), mode='w')
    root.attrs.update({'encoding-type': 'anndata', 'encoding-version': '0.1.0'})
    root.create_array('X', data=x)
    asked = []

    def choose_headrank(self):
        asked.append([b.text() for b in self.reader_btn_group.buttons()])
        return 'napari-headrank', False

    monkeypatch.setattr(qt_reader_dialog.QtReaderDialog, 'get_user_choices', choose_headrank)
    viewer = make_napari_viewer()
    viewer.window._qt_viewer._qt_open([str(store)], stack=False)
    assert asked and 'napari-headrank' in asked[0]
    (layer,) = viewer.layers
    assert layer.metadata['headrank']['kind'] == 'features'
    np.testing.assert_array_equal(layer.data, x)
    # a matrix: hidden, marked for a scatter view
    assert not layer.visible and layer.metadata['headrank']['matrix']


def test_get_reader_claims_tiffs_that_say_they_hold_features(tmp_path, data_dir):
    from napari_headrank._library import headrank

    Headrank = headrank()
    for what, path in _pictures(tmp_path).items():
        if what != 'float32 image':
            assert get_reader(str(path)) is None, what
    # float32 stacks: the bundled ones and one written by the library (as headrank writes)
    assert get_reader(str(data_dir / 'sample-embeddings.tif')) is not None
    assert get_reader(str(data_dir / 'sample-qpi-cell-features.tif')) is not None
    from gi.repository import GLib

    x = np.random.default_rng(1).standard_normal((30, 6)).astype(np.float32)
    source = Headrank.MemorySource.new(GLib.Bytes.new(x.tobytes()), 30, 6)
    out = tmp_path / 'written.tif'
    assert Headrank.StackWriter.write_source(source, str(out), Headrank.StackLayout.MATRIX,
                                             None)
    ((data, kwargs, _kind),) = get_reader(str(out))(str(out))
    np.testing.assert_array_equal(data, x)
    assert kwargs['metadata']['headrank']['kind'] == 'features'


def test_the_widget_opens_a_feature_tiff_in_the_background(make_napari_viewer, qtbot,
                                                           data_dir, notes):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    widget.features_combo.setCurrentIndex(widget.features_combo.findData(None))
    seen = []
    widget._signals.open_progress.connect(seen.append)
    widget.open_features_file(data_dir / 'sample-qpi-cell-features.tif')
    # read in a worker: the call returns at once
    assert widget.open_worker is not None and not widget.open_button.isEnabled()
    qtbot.waitUntil(lambda: widget.open_worker is None, timeout=30000)
    assert notes['error'] == []
    (layer,) = widget.opened
    assert layer.name in viewer.layers and layer.visible
    assert layer.data.shape == (16, 192, 192)
    assert seen and seen[-1] == 1.0 and widget.progress.value() == 1000
    # the features just opened are the ones the form analyses
    assert widget.features_combo.currentData() == layer.name
    # a matrix opens hidden
    widget.open_features_file(data_dir / 'sample-embeddings.tif')
    qtbot.waitUntil(lambda: widget.open_worker is None, timeout=30000)
    (matrix,) = widget.opened
    assert not matrix.visible and matrix.metadata['headrank']['matrix']
    # a file that is no feature stack: the reason, no layer
    bad = data_dir / 'sample-pairs.csv'
    n = len(viewer.layers)
    widget.open_features_file(bad)
    qtbot.waitUntil(lambda: widget.open_worker is None, timeout=30000)
    assert len(viewer.layers) == n and len(notes['error']) == 1
    assert 'sample-pairs.csv' in notes['error'][0]
