# The docks as napari makes them from the Plugins menu: napari hands a plugin's widget a
# PublicOnlyProxy of the viewer, whose window and docks are proxies too (found trying the
# plugin as a user would: the results dock's resize raised a TypeError in a timer, shown by
# napari as an error with a traceback, after every first run).
import numpy as np
from qtpy.QtWidgets import QDockWidget

PLUGIN = 'napari-headrank'


def test_first_run_from_the_plugins_menu_docks_the_results(make_napari_viewer, qtbot, data_dir,
                                                            notes):
    from napari.utils._proxies import PublicOnlyProxy

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample(PLUGIN, 'embeddings')
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, 'Projection head diagnostics')
    assert isinstance(widget.viewer, PublicOnlyProxy)  # what napari gives plugins
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    widget.status = None
    widget.run()
    qtbot.waitUntil(lambda: widget.status is not None and widget.worker is None, timeout=60000)
    assert widget.status == 'done', notes
    dock = getattr(widget.results_dock, '__wrapped__', widget.results_dock)
    assert isinstance(dock, QDockWidget)
    # the dock's resize runs from a timer: an exception there fails the test (pytest-qt)
    window = viewer.window._qt_window
    qtbot.waitUntil(lambda: abs(dock.height() - 0.4 * window.height()) < 0.05 * window.height(),
                    timeout=5000)
    assert notes['error'] == []


def test_run_progress_and_error_stay_in_view_beside_the_results(make_napari_viewer, qtbot,
                                                                 data_dir, notes):
    # at 1600 × 1000 with the results dock below the canvas, the form's dock is about 500 px
    # high: Run, the progress and the error were below the fold of the scrolling form
    from qtpy.QtWidgets import QScrollArea

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample(PLUGIN, 'embeddings')
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, 'Projection head diagnostics')
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    widget.set_stages(['all'])
    widget.status = None
    widget.run()
    qtbot.waitUntil(lambda: widget.status is not None and widget.worker is None, timeout=60000)
    assert widget.status == 'done', notes
    window = viewer.window._qt_window
    dock = getattr(widget.results_dock, '__wrapped__', widget.results_dock)
    qtbot.waitUntil(lambda: dock.height() > 0.3 * window.height(), timeout=5000)
    form = widget.findChild(QScrollArea)
    # the form scrolls (it is taller than its dock), the buttons and messages do not
    assert form.widget().height() > form.viewport().height()
    for w in (widget.run_button, widget.cancel_button, widget.progress,
              widget.show_results_button, widget.export_button):
        assert not form.widget().isAncestorOf(w)
        assert not w.visibleRegion().isEmpty()
    # a head that does not fit: the reason in view under Run, and in the emptied results dock
    widget.weights_file.setText(data_dir / 'head-pixel-v2.safetensors')
    widget.status = None
    widget.run()
    qtbot.waitUntil(lambda: widget.status is not None and widget.worker is None, timeout=60000)
    assert widget.status == 'error'
    reason = 'the head takes 16 features, the stack has 64'
    assert reason in notes['error'][-1]
    qtbot.waitUntil(lambda: not widget.error_label.visibleRegion().isEmpty(), timeout=5000)
    assert reason in widget.error_label.text()
    assert reason in widget.verdict_label.text() and widget.table.rowCount() == 0


def test_compare_heads_takes_the_features_layer_open(make_napari_viewer, qtbot, data_dir):
    # the sample loaded, then Plugins ▸ Compare heads: its features are the sample's layer
    # (they were "(the file below)", and Compare said "Choose the features")
    from napari_headrank import _compare

    errors = []
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, 'embeddings')
    _dock, compare = viewer.window.add_plugin_dock_widget(PLUGIN, 'Compare heads')
    assert compare.features_combo.currentData() == 'sample-embeddings'
    orig = _compare.show_error
    _compare.show_error = errors.append
    try:
        compare.add_head(data_dir / 'head-viscy-v0.safetensors', None, 'inferred')
        compare.add_head(data_dir / 'head-viscy-v0.safetensors', 'viscy-v0', 'preset')
        compare.run()
        qtbot.waitUntil(lambda: compare.worker is None, timeout=60000)
    finally:
        _compare.show_error = orig
    assert errors == [] and compare.result is not None
    assert [r['label'] for r in compare.result['reports']] == ['inferred', 'preset']
    # a layer added later does not take the place of the one chosen
    viewer.add_image(np.zeros((8, 8), np.float32), name='other')
    assert compare.features_combo.currentData() == 'sample-embeddings'
