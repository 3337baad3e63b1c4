# Issue 14 §1: the reader claims only what is clearly a feature stack, tested with napari's
# own reader selection (npe2's filename patterns, napari's "Choose reader" dialog and
# File ▸ Open / drag and drop through QtViewer._qt_open): pictures of any dtype go to
# napari's reader without a question; VisCy stores still open by drag and drop; feature-stack
# TIFFs open from the widget, in a worker thread.
from pathlib import Path

import numpy as np
import tifffile

from napari_headrank._reader import get_reader
from widget_helpers import make_widget

PLUGIN = 'napari-headrank'
# a store that VisCy's EmbeddingWriter wrote (tests/data/tracks/make_tracks.py)
VISCY_STORE = (Path(__file__).resolve().parents[1] / 'data' / 'tracks' / 'stores'
               / 'viscy-writer.zarr')


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


def _ome_zarr(tmp_path):
    import zarr

    path = tmp_path / 'image.ome.zarr'
    root = zarr.open_group(str(path), mode='w')
    data = np.arange(2 * 32 * 32, dtype=np.uint16).reshape(2, 32, 32)
    root.create_array('0', data=data)
    root.create_array('1', data=data[:, ::2, ::2])
    root.attrs['multiscales'] = [{
        'version': '0.4', 'axes': [{'name': 'c', 'type': 'channel'},
                                   {'name': 'y', 'type': 'space'},
                                   {'name': 'x', 'type': 'space'}],
        'datasets': [{'path': '0', 'coordinateTransformations': [{'type': 'scale',
                                                                   'scale': [1, 1, 1]}]},
                     {'path': '1', 'coordinateTransformations': [{'type': 'scale',
                                                                   'scale': [1, 2, 2]}]}]}]
    return path, data


def _zarr_array(tmp_path):
    import zarr

    path = tmp_path / 'plain.zarr'
    data = np.arange(24 * 24, dtype=np.float32).reshape(24, 24)
    zarr.open_array(str(path), mode='w', shape=data.shape, dtype=data.dtype)[:] = data
    return path, data


def _accept_the_default(monkeypatch):
    """The reader dialog answered as a user who presses OK: the preselected reader."""
    from napari._qt.dialogs import qt_reader_dialog

    offered = []

    def accept(self):
        offered.append([b.text() for b in self.reader_btn_group.buttons()])
        return self._get_plugin_choice(), False

    monkeypatch.setattr(qt_reader_dialog.QtReaderDialog, 'get_user_choices', accept)
    return offered


def test_what_napari_does_with_a_dropped_folder(make_napari_viewer, tmp_path, monkeypatch):
    """napari's own machinery, as the README describes it: a folder goes to every reader
    that accepts directories (npe2 ignores filename patterns for folders), viewer.open()
    with plugin=None refuses to choose (its default, plugin='napari', is napari's reader),
    and the dialog preselects napari's reader, which opens OME-zarr and zarr arrays and
    fails on a store that VisCy's EmbeddingWriter wrote."""
    import pytest
    from napari.errors import MultipleReaderError
    from napari.plugins import _npe2

    viewer = make_napari_viewer()
    store = VISCY_STORE
    ome, ome_data = _ome_zarr(tmp_path)
    array, array_data = _zarr_array(tmp_path)
    for path in (store, ome, array):
        assert {'napari', PLUGIN} <= set(_npe2.get_readers(str(path))), path
        with pytest.raises(MultipleReaderError):
            viewer.open(str(path), plugin=None)
    with pytest.raises(ValueError, match='No arrays found in zarr group'):
        viewer.open(str(store))
    # headrank claims only the VisCy store
    assert get_reader(str(store)) is not None
    assert get_reader(str(ome)) is None and get_reader(str(array)) is None
    # dropped (QtViewer._qt_open, as File ▸ Open Folder and a drop), the default accepted:
    # OME-zarr and the zarr array open with napari's reader, never with headrank
    offered = _accept_the_default(monkeypatch)
    for path, data in ((ome, ome_data), (array, array_data)):
        n = len(viewer.layers)
        viewer.window._qt_viewer._qt_open([str(path)], stack=False)
        (layer,) = viewer.layers[n:]
        assert layer.source.reader_plugin == 'napari', path
        first = layer.data[0] if layer.multiscale else layer.data
        np.testing.assert_array_equal(np.asarray(first), data)
    assert offered[0][0] == 'napari builtins' and 'napari-headrank' in offered[0]
    # the VisCy store with the default: napari's reader fails (what the README says)
    with pytest.raises(ValueError, match='No arrays found in zarr group'):
        viewer.window._qt_viewer._qt_open([str(store)], stack=False)
    assert offered[-1][0] == 'napari builtins'


def test_file_menu_opens_a_viscy_store_with_headrank(make_napari_viewer, tmp_path,
                                                    monkeypatch):
    """File ▸ IO Utilities ▸ Open a VisCy embedding store…: napari's menu, its command and
    viewer.open(plugin='napari-headrank'); another folder is refused with a reason."""
    from napari._app_model import get_app_model
    from qtpy.QtWidgets import QFileDialog

    from napari_headrank import _reader

    viewer = make_napari_viewer()
    app = get_app_model()
    command = 'napari-headrank.open_viscy_store'
    items = app.menus.get_menu('napari/file/io_utilities')
    assert command in [getattr(i, 'command', None) and i.command.id for i in items]
    store = VISCY_STORE
    chosen = [str(store)]
    monkeypatch.setattr(QFileDialog, 'getExistingDirectory',
                        staticmethod(lambda *a, **k: chosen[0]))
    errors = []
    monkeypatch.setattr('napari.utils.notifications.show_error', errors.append)
    app.commands.execute_command(command).result()
    assert [layer.source.reader_plugin for layer in viewer.layers] == [PLUGIN] * 2
    layer = viewer.layers[0]
    assert layer.metadata['headrank']['kind'] == 'features' and layer.data.shape[0] == 26
    n = len(viewer.layers)
    # an OME-zarr, a zarr array, a folder of TIFFs: a reason, no layer
    ome, _data = _ome_zarr(tmp_path)
    array, _data = _zarr_array(tmp_path)
    for path in (ome, array, tmp_path):
        assert _reader.open_viscy_store(viewer, path) == []
    assert len(viewer.layers) == n and len(errors) == 3
    assert 'image.ome.zarr' in errors[0] and 'plain.zarr' in errors[1]
    # the folder that is no zarr store at all says so once
    assert errors[2] == (f'{tmp_path} is not a zarr store: choose the folder of a VisCy '
                         'embedding store'), errors[2]
    # cancelled: nothing
    chosen[0] = ''
    app.commands.execute_command(command).result()
    assert len(viewer.layers) == n and len(errors) == 3


def test_the_widgets_open_a_store_chosen_as_a_folder(make_napari_viewer, qtbot, monkeypatch,
                                                     notes):
    """The file choosers pick files, and a store is a folder: "Open VisCy store…" in the
    diagnostics widget and "Store…" in the explorer ask for a folder."""
    from qtpy.QtWidgets import QFileDialog

    from napari_headrank._explorer import ExplorerWidget

    monkeypatch.setattr(QFileDialog, 'getExistingDirectory',
                        staticmethod(lambda *a, **k: str(VISCY_STORE)))
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    widget.open_store_button.click()
    assert not widget.open_store_button.isEnabled()
    qtbot.waitUntil(lambda: widget.open_worker is None, timeout=30000)
    assert notes['error'] == [] and widget.open_store_button.isEnabled()
    kinds = [layer.metadata['headrank']['kind'] for layer in widget.opened]
    assert kinds == ['features', 'projections']
    assert widget.features_file.text() == str(VISCY_STORE)
    explorer = ExplorerWidget(viewer)
    qtbot.addWidget(explorer)
    explorer._browse_store()
    assert explorer.current_input_name() == str(VISCY_STORE)
