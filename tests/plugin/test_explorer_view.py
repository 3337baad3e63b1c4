# The explorer as a user sees it in its dock of a 1600 × 1000 window (found trying the plugin
# as a user would): the 3-D scatter named only its first axis (PC2 had no label, PC3's fell
# off the figure), and the table of the selected samples showed one row.
from napari_headrank import _explorer

PLUGIN = 'napari-headrank'


def _docked_explorer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample(PLUGIN, 'embeddings')
    _dock, explorer = viewer.window.add_plugin_dock_widget(PLUGIN, 'Embedding explorer')
    explorer.status = None
    explorer.run()
    qtbot.waitUntil(lambda: explorer.status is not None and explorer.worker is None,
                    timeout=60000)
    assert explorer.status == 'done'
    return viewer, explorer


def test_3d_scatter_names_its_three_axes_inside_the_figure(make_napari_viewer, qtbot):
    _viewer, explorer = _docked_explorer(make_napari_viewer, qtbot)
    explorer.view_combo.setCurrentIndex(explorer.view_combo.findData(_explorer.VIEW_3D))
    fig = explorer.canvas.figure
    explorer.canvas.draw()
    ax = fig.axes[0]
    assert ax.name == '3d'
    labels = (ax.xaxis.label, ax.yaxis.label, ax.zaxis.label)
    assert [t.get_text()[:5] for t in labels] == ['PC1 (', 'PC2 (', 'PC3 (']
    renderer = explorer.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    for t in labels:
        box = t.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= width and 0 <= box.y0 and box.y1 <= height, \
            (t.get_text(), box, width, height)


def test_selected_samples_table_shows_several_rows(make_napari_viewer, qtbot):
    _viewer, explorer = _docked_explorer(make_napari_viewer, qtbot)
    ax = explorer.canvas.figure.axes[0]
    (_x0, x1), (_y0, y1) = ax.get_xlim(), ax.get_ylim()
    explorer.select_polygon([(0, 0), (x1, 0), (x1, y1), (0, y1)])
    assert explorer.table.rowCount() > 6
    qtbot.wait(50)
    table = explorer.table
    shown = table.viewport().height() // table.verticalHeader().defaultSectionSize()
    assert shown >= 5, (table.height(), table.viewport().height())


def test_the_table_makes_room_without_growing_the_window(make_napari_viewer, qtbot):
    # with "Projection head diagnostics" docked on the same side: the window keeps its height
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1600, 1000)
    viewer.open_sample(PLUGIN, 'embeddings')
    viewer.window.add_plugin_dock_widget(PLUGIN, 'Projection head diagnostics')
    _dock, explorer = viewer.window.add_plugin_dock_widget(PLUGIN, 'Embedding explorer')
    qtbot.wait(50)
    assert window.height() == 1000
    explorer.status = None
    explorer.run()
    qtbot.waitUntil(lambda: explorer.status is not None and explorer.worker is None,
                    timeout=60000)
    ax = explorer.canvas.figure.axes[0]
    (_x0, x1), (_y0, y1) = ax.get_xlim(), ax.get_ylim()
    explorer.select_polygon([(0, 0), (x1, 0), (x1, y1), (0, y1)])
    qtbot.wait(50)
    assert window.height() == 1000
