# The docks as napari makes them from the Plugins menu: napari hands a plugin's widget a
# PublicOnlyProxy of the viewer, whose window and docks are proxies too (found trying the
# plugin as a user would: the results dock's resize raised a TypeError in a timer, shown by
# napari as an error with a traceback, after every first run).
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
