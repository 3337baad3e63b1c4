# The dock widget "Embedding explorer" (plugin/napari_headrank/_explorer.py): principal
# coordinates of the features and of an analysed stage (equal to Headrank.PcaProjection's and
# to scikit-learn's PCA), colouring by statistics and obs columns, the density view, the
# per-sample table in layer.features, and the selection linked both ways: scatter → image
# and image region → scatter for per-pixel stacks; scatter → obs table and cells on an open
# image of their FOV for VisCy stores. Offscreen, with napari's viewer.
from pathlib import Path

import numpy as np
import pytest

from napari_headrank import _explorer
from napari_headrank._explorer import ExplorerWidget
from napari_headrank._reader import add_feature_stack

PLUGIN = 'napari-headrank'
TRACKS = Path(__file__).resolve().parents[1] / 'data' / 'tracks'


@pytest.fixture
def explorer_notes(monkeypatch):
    seen = []
    monkeypatch.setattr(_explorer, 'show_error', seen.append)
    return seen


def make_explorer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    explorer = ExplorerWidget(viewer)
    qtbot.addWidget(explorer)
    return viewer, explorer


def compute(qtbot, explorer, timeout=60000):
    explorer.status = None
    explorer.run()
    qtbot.waitUntil(lambda: explorer.status is not None and explorer.worker is None,
                    timeout=timeout)
    return explorer.status


def choose(combo, data):
    index = combo.findData(data)
    assert index >= 0, (data, [combo.itemData(i) for i in range(combo.count())])
    combo.setCurrentIndex(index)


def pca(x, k):
    decomposition = pytest.importorskip('sklearn.decomposition')
    return decomposition.PCA(n_components=k, svd_solver='full').fit_transform(
        np.asarray(x, np.float64))


def test_per_pixel_stack_linked_both_ways(make_napari_viewer, qtbot, data_dir, explorer_notes):
    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    add_feature_stack(viewer, data_dir / 'sample-features.tif')
    image = viewer.layers['sample-features']
    c, h, w = image.data.shape
    choose(explorer.features_combo, 'sample-features')
    assert compute(qtbot, explorer) == 'done', explorer_notes
    coords = explorer.result['coords']
    assert coords.shape == (h * w, 3)
    rows = np.moveaxis(np.asarray(image.data), 0, -1).reshape(-1, c)
    ref = pca(rows, 3)
    np.testing.assert_allclose(coords, ref, atol=1e-4 * np.abs(ref).max())

    # the per-sample table in layer.features of a labels layer (label n + 1 = pixel n)
    table = viewer.layers['sample-features embedding'].features
    assert list(table.columns[:6]) == ['label', 'sample', 'PC1', 'PC2', 'PC3', 'mean']
    assert len(table) == h * w
    np.testing.assert_allclose(table['norm'], np.linalg.norm(rows, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(viewer.layers['sample-features embedding'].data.ravel(),
                                  np.arange(1, h * w + 1))

    # scatter → image: a polygon around the points with PC1 > 0 and PC2 > 0
    big = float(np.abs(coords).max()) * 2
    explorer.select_polygon([(0, 0), (big, 0), (big, big), (0, big)])
    want = (coords[:, 0] > 0) & (coords[:, 1] > 0)
    assert 0 < want.sum() < h * w
    np.testing.assert_array_equal(explorer.selected, want)
    selection = viewer.layers['sample-features selection'].data
    np.testing.assert_array_equal(selection.ravel().astype(bool), want)
    assert viewer.layers['sample-features embedding'].features['selected'].sum() == want.sum()
    assert explorer.table.rowCount() == min(int(want.sum()), _explorer.TABLE_ROWS)

    # image → scatter: a rectangle drawn on the image selects exactly its pixels
    region = viewer.layers['sample-features region']
    region.add_rectangles(np.array([[2, 3], [10, 20]]))
    inside = np.zeros((h, w), bool)
    inside[2:11, 3:21] = True
    np.testing.assert_array_equal(explorer.selected, inside.ravel())
    np.testing.assert_array_equal(viewer.layers['sample-features selection'].data.astype(bool),
                                  inside)
    assert '{} of {}'.format(inside.sum(), h * w) in explorer.selection_label.text()

    # a new selection in the scatter clears the drawn region
    explorer.select_polygon([(0, 0), (big, 0), (big, big)])
    assert len(region.data) == 0

    # 3-D and density views draw; colouring by a statistic adds a colour bar
    choose(explorer.color_combo, 'stat:norm')
    for view in (_explorer.VIEW_3D, _explorer.VIEW_DENSITY, _explorer.VIEW_2D):
        choose(explorer.view_combo, view)
        assert len(explorer.canvas.figure.axes) == 2  # the plot and its colour bar
    assert explorer.canvas.figure.axes[0].get_xlabel().startswith('PC1 (')
    assert explorer.canvas.figure.axes[1].get_ylabel() == 'norm'  # the colour bar's


def test_viscy_store_table_and_cells(make_napari_viewer, qtbot, explorer_notes):
    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    store = TRACKS / 'stores' / 'viscy-writer.zarr'
    viewer.open(str(store), plugin=PLUGIN)
    features = next(layer.name for layer in viewer.layers
                    if layer.metadata.get('headrank', {}).get('kind') == 'features')
    # an image of FOV A/1/0, T × Y × X, opened by the user
    cells = viewer.add_image(np.zeros((5, 128, 128), np.float32), name='A/1/0 phase')
    choose(explorer.features_combo, features)
    assert compute(qtbot, explorer) == 'done', explorer_notes
    obs = explorer.result['obs']
    assert {'fov_name', 'track_id', 't', 'x', 'y'} <= set(obs)
    n = len(explorer.result['coords'])
    assert n == 26
    # colour by any obs column: fov_name (categories) and t (numbers)
    choose(explorer.color_combo, 'obs:fov_name')
    values, categories = explorer.color_values()
    assert categories == ['A/1/0', 'A/1/1', 'B/2/0']
    assert [categories[v] for v in values] == list(obs['fov_name'])
    bar = explorer.canvas.figure.axes[1]
    assert [t.get_text() for t in bar.get_yticklabels()] == categories
    choose(explorer.view_combo, _explorer.VIEW_DENSITY)  # counts, not categories
    assert explorer.canvas.figure.axes[1].get_ylabel() == 'samples per bin'
    choose(explorer.view_combo, _explorer.VIEW_2D)
    choose(explorer.color_combo, 'obs:t')
    assert explorer.color_values()[1] is None

    # the features layer: a points layer of the coordinates with the obs in its features
    layer = viewer.layers[f'{features} embedding']
    assert list(layer.features['fov_name']) == list(obs['fov_name'])
    np.testing.assert_array_equal(layer.data, explorer.result['coords'][:, :3])

    # select every sample: the table lists them with their obs, the cells of FOV A/1/0 are
    # marked on its image at (t, y, x)
    explorer.set_selection(np.ones(n, bool), 'scatter')
    assert explorer.table.rowCount() == n
    headers = [explorer.table.horizontalHeaderItem(j).text()
               for j in range(explorer.table.columnCount())]
    col = headers.index('fov_name')
    assert [explorer.table.item(i, col).text() for i in range(n)] == list(obs['fov_name'])
    marked = viewer.layers['A/1/0 phase selected cells'].data
    rows = [i for i in range(n) if obs['fov_name'][i] == 'A/1/0']
    np.testing.assert_allclose(marked, np.c_[obs['t'][rows], obs['y'][rows], obs['x'][rows]])
    assert cells.name == 'A/1/0 phase'
    # rows chosen in the table stand out in the scatter (stars at their coordinates)
    explorer.table.selectRow(3)
    np.testing.assert_array_equal(explorer.focus, [3])
    stars = explorer.canvas.figure.axes[0].collections[-1]
    np.testing.assert_allclose(stars.get_offsets(), explorer.result['coords'][[3], :2])
    # image → scatter: a rectangle drawn on the FOV's image selects its cells inside it
    region = viewer.layers['A/1/0 phase region']
    region.add_rectangles(np.array([[0, 0], [128, 60]]))
    want = np.array([obs['fov_name'][i] == 'A/1/0' and obs['x'][i] <= 60 for i in range(n)])
    assert 0 < want.sum() < len(rows)
    np.testing.assert_array_equal(explorer.selected, want)
    assert len(viewer.layers['A/1/0 phase selected cells'].data) == want.sum()
    # a selection in the scatter empties the region
    explorer.set_selection(np.ones(n, bool), 'scatter')
    assert len(region.data) == 0
    # a smaller selection updates the marks
    one = np.zeros(n, bool)
    one[rows[0]] = True
    explorer.set_selection(one, 'scatter')
    assert len(viewer.layers['A/1/0 phase selected cells'].data) == 1
    assert explorer.table.rowCount() == 1


def test_stages_of_the_diagnostics_analysis(make_napari_viewer, qtbot, data_dir,
                                            explorer_notes):
    """The stages of the analysis in a docked "Projection head diagnostics" of the same
    features; the coordinates those of Headrank.PcaProjection on that analysis."""
    import sys

    from conftest import ROOT
    from napari_headrank._widget import HeadrankWidget

    sys.path.insert(0, str(ROOT / 'python'))
    import headrank_numpy as hn

    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    path = str(data_dir / 'sample-embeddings.tif')
    add_feature_stack(viewer, path)
    diagnostics = HeadrankWidget(viewer)
    viewer.window.add_dock_widget(diagnostics, name='diagnostics')
    assert [explorer.stage_combo.itemData(i)
            for i in range(explorer.stage_combo.count())] == ['features']
    # what the diagnostics widget holds after a run on that file with the viscy-v0 head
    diagnostics.analysis = hn.analyze(path, weights=data_dir / 'head-viscy-v0.safetensors',
                                      arch='viscy-v0')
    explorer._refresh_stages()
    stages = [explorer.stage_combo.itemData(i) for i in range(explorer.stage_combo.count())]
    assert stages[0] == 'features' and stages[-1] == 'projections' and len(stages) > 2
    explorer.stage_combo.blockSignals(True)
    choose(explorer.stage_combo, 'projections')
    explorer.stage_combo.blockSignals(False)
    assert compute(qtbot, explorer) == 'done', explorer_notes
    assert explorer.result['stage'] == 'projections'
    projection = explorer.Headrank.PcaProjection.new_for_stage(diagnostics.analysis,
                                                               'projections', 3)
    projection.run(None, None, None)
    ref = np.frombuffer(projection.get_coordinates().get_data(), np.float32).reshape(-1, 3)
    np.testing.assert_array_equal(explorer.result['coords'], ref)
    stage = diagnostics.analysis.find_stage('projections')
    np.testing.assert_array_equal(
        explorer.result['stats'],
        np.frombuffer(stage.get_per_sample().get_data(), np.float32).reshape(-1, 4))
    # another stage chosen after a result recomputes by itself
    choose(explorer.stage_combo, 'features')
    qtbot.waitUntil(lambda: explorer.worker is None and explorer.result['stage'] == 'features',
                    timeout=60000)


def test_density_for_many_points_and_cancel(make_napari_viewer, qtbot, monkeypatch,
                                           explorer_notes):
    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    rng = np.random.default_rng(0)
    viewer.add_image(rng.standard_normal((3000, 8)).astype(np.float32), name='matrix')
    monkeypatch.setattr(_explorer, 'DENSITY_POINTS', 1000)
    choose(explorer.features_combo, 'matrix')
    assert compute(qtbot, explorer) == 'done', explorer_notes
    assert explorer.view_combo.currentData() == _explorer.VIEW_DENSITY
    from matplotlib.image import AxesImage

    # an image of the 2-D histogram, with every sample counted once
    (image,) = [a for a in explorer.canvas.figure.axes[0].get_children()
                if isinstance(a, AxesImage)]
    assert image.get_array().sum() == 3000

    # a cancelled pass keeps the earlier result and says nothing
    before = explorer.result
    from gi.repository import Gio

    real = Gio.Cancellable

    class Cancelled(real):
        def __init__(self):
            super().__init__()
            self.cancel()

    monkeypatch.setattr(Gio, 'Cancellable', Cancelled)
    assert compute(qtbot, explorer) == 'cancelled'
    assert explorer.result is before and explorer_notes == []

    # other features: the result is gone from the dock
    viewer.add_image(rng.standard_normal((50, 4)).astype(np.float32), name='other')
    assert explorer.result is before
    choose(explorer.features_combo, 'other')
    assert explorer.result is None and explorer.table.rowCount() == 0
    assert explorer.canvas.figure.axes == []


def test_errors_are_notifications(make_napari_viewer, qtbot, explorer_notes):
    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    explorer.run()
    assert explorer_notes == ['Choose the features: a layer or a file.']
    viewer.add_image(np.zeros((1, 4), np.float32), name='one sample')
    choose(explorer.features_combo, 'one sample')
    assert compute(qtbot, explorer) == 'error'
    assert explorer_notes[-1]  # the library's message, whole
    assert explorer.result is None


def test_files_without_layers(make_napari_viewer, qtbot, data_dir, explorer_notes):
    """A store or a TIFF given as a file (no layer of its features: the scatter is their
    view): the same coordinates, obs and linking layers."""
    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    store = TRACKS / 'stores' / 'viscy-writer.zarr'
    explorer.file_edit.setText(str(store))
    assert compute(qtbot, explorer) == 'done', explorer_notes
    assert explorer.result['coords'].shape == (26, 3)
    assert 'fov_name' in explorer.result['obs']
    assert list(viewer.layers['viscy-writer embedding'].features['track_id']) == \
        list(explorer.result['obs']['track_id'])
    tiff = data_dir / 'sample-features.tif'
    explorer.file_edit.setText(str(tiff))
    explorer._on_features_changed()
    assert explorer.result is None
    assert compute(qtbot, explorer) == 'done', explorer_notes
    n = len(explorer.result['coords'])
    explorer.set_selection(np.arange(n) % 2 == 0, 'scatter')
    selection = viewer.layers['sample-features selection'].data
    assert selection.size == n and selection.ravel()[0] == 1 and selection.ravel()[1] == 0
    explorer.file_edit.setText(str(data_dir / 'head-viscy-v0.safetensors'))
    assert compute(qtbot, explorer) == 'error'
    assert 'head-viscy-v0.safetensors' in explorer_notes[-1]


def _markers(ax):
    from matplotlib.collections import PathCollection

    return [c for c in ax.collections if isinstance(c, PathCollection)]


def test_large_selections_draw_a_bounded_number_of_markers(make_napari_viewer, qtbot,
                                                            monkeypatch, explorer_notes):
    """The scatter draws at most MAX_MARKERS markers (a random subset, the selected among
    them in proportion, a small selection whole); the density view draws a large selection
    as the outline of its bins; layer.features keeps every sample."""
    from matplotlib.contour import ContourSet

    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    rng = np.random.default_rng(3)
    n = 4000
    viewer.add_image(rng.standard_normal((n, 6)).astype(np.float32), name='matrix')
    monkeypatch.setattr(_explorer, 'MAX_MARKERS', 500)
    monkeypatch.setattr(_explorer, 'SELECTION_MARKERS', 50)
    monkeypatch.setattr(_explorer, 'DENSITY_POINTS', 1000)
    choose(explorer.features_combo, 'matrix')
    assert compute(qtbot, explorer) == 'done', explorer_notes
    coords = explorer.result['coords']
    choose(explorer.view_combo, _explorer.VIEW_2D)
    ax = explorer.canvas.figure.axes[0]
    assert sum(len(c.get_offsets()) for c in _markers(ax)) == 500
    assert '500' in ax.get_title()
    # a quarter of the samples selected: a quarter of the markers, all of them selected ones
    big = float(np.abs(coords).max()) * 2
    explorer.select_polygon([(0, 0), (big, 0), (big, big), (0, big)])
    want = (coords[:, 0] > 0) & (coords[:, 1] > 0)
    np.testing.assert_array_equal(explorer.selected, want)
    ax = explorer.canvas.figure.axes[0]
    others, chosen = _markers(ax)
    assert len(others.get_offsets()) + len(chosen.get_offsets()) == 500
    assert abs(len(chosen.get_offsets()) - 500 * want.mean()) <= 1
    rows = {tuple(p) for p in coords[want, :2].astype(np.float64)}
    assert all(tuple(p) in rows for p in np.asarray(chosen.get_offsets(), np.float64))
    features = viewer.layers['matrix embedding'].features
    assert len(features) == n and features['selected'].sum() == want.sum()
    # the density view: the large selection as an outline, no markers
    choose(explorer.view_combo, _explorer.VIEW_DENSITY)
    ax = explorer.canvas.figure.axes[0]
    assert _markers(ax) == [] and any(isinstance(c, ContourSet) for c in ax.collections)
    # a small selection: every selected sample drawn, in both views
    few = np.zeros(n, bool)
    few[rng.choice(n, 7, replace=False)] = True
    explorer.set_selection(few, 'scatter')
    (marks,) = _markers(explorer.canvas.figure.axes[0])
    np.testing.assert_allclose(np.sort(marks.get_offsets()[:, 0]), np.sort(coords[few, 0]))
    choose(explorer.view_combo, _explorer.VIEW_2D)
    others, chosen = _markers(explorer.canvas.figure.axes[0])
    assert len(chosen.get_offsets()) == 7 and len(others.get_offsets()) == 493


def test_drawn_samples():
    order = np.random.default_rng(0).permutation(1000)
    selected = np.zeros(1000, bool)
    others, chosen = _explorer.drawn_samples(order, selected, 2000)
    assert len(others) == 1000 and len(chosen) == 0
    others, chosen = _explorer.drawn_samples(order, selected, 100)
    assert len(others) == 100 and len(chosen) == 0
    np.testing.assert_array_equal(others, np.sort(order[:100]))
    selected[::2] = True
    others, chosen = _explorer.drawn_samples(order, selected, 100)
    assert len(others) == 50 and len(chosen) == 50
    assert selected[chosen].all() and not selected[others].any()
    # a selection smaller than a tenth of the budget shows whole
    selected[:] = False
    selected[[3, 500, 999]] = True
    others, chosen = _explorer.drawn_samples(order, selected, 100)
    assert list(chosen) == [3, 500, 999] and len(others) == 97
    # everything selected
    others, chosen = _explorer.drawn_samples(order, np.ones(1000, bool), 100)
    assert len(others) == 0 and len(chosen) == 100


def test_colour_choices_leave_out_ids_and_constants(make_napari_viewer, qtbot, explorer_notes):
    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    explorer.file_edit.setText(str(TRACKS / 'stores' / 'viscy-writer.zarr'))
    assert compute(qtbot, explorer) == 'done', explorer_notes
    obs = explorer.result['obs']
    # id: a different integer in every row; parent_id and z: one value
    assert len(set(obs['id'])) == len(obs['id']) and len(set(obs['z'])) == 1
    offered = [explorer.color_combo.itemData(i) for i in range(explorer.color_combo.count())]
    assert [key for key in offered if key and key.startswith('obs:')] == [
        'obs:fov_name', 'obs:track_id', 'obs:t', 'obs:parent_track_id', 'obs:y', 'obs:x']
    # every column stays in layer.features
    table = viewer.layers['viscy-writer embedding'].features
    assert {'id', 'parent_id', 'z', 'track_id'} <= set(table.columns)
    assert _explorer.colour_columns({'t': np.arange(5), 'cell': np.array(list('abcde'), object),
                                     'well': np.array(list('aabbb'), object)}) == ['t', 'well']


def test_the_plot_follows_the_theme(make_napari_viewer, qtbot, data_dir, explorer_notes):
    from matplotlib.colors import to_hex

    from napari_headrank._plots import theme_colors

    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    add_feature_stack(viewer, data_dir / 'sample-embeddings.tif')
    choose(explorer.features_combo, 'sample-embeddings')
    assert compute(qtbot, explorer) == 'done', explorer_notes
    seen = []
    for theme in ('dark', 'light'):
        viewer.theme = theme
        colors = theme_colors(viewer)
        fig = explorer.canvas.figure
        assert to_hex(fig.get_facecolor()) == to_hex(colors['background'])
        assert to_hex(fig.axes[0].get_facecolor()) == to_hex(colors['canvas'])
        assert to_hex(fig.axes[0].xaxis.label.get_color()) == to_hex(colors['text'])
        seen.append(to_hex(fig.get_facecolor()))
    assert seen[0] != seen[1]


def test_the_points_fill_the_canvas_beside_a_hidden_matrix(make_napari_viewer, qtbot,
                                                           data_dir, explorer_notes):
    """napari's extent counts hidden layers: the view is fitted to the embedding points,
    not to the 4,096-row matrix the reader added hidden."""
    viewer, explorer = make_explorer(make_napari_viewer, qtbot)
    (matrix,) = add_feature_stack(viewer, data_dir / 'sample-embeddings.tif')
    assert not matrix.visible
    choose(explorer.features_combo, 'sample-embeddings')
    assert compute(qtbot, explorer) == 'done', explorer_notes
    points = viewer.layers['sample-embeddings embedding']
    assert points.visible
    lo, hi = points.extent.world
    shown = list(viewer.dims.displayed)
    np.testing.assert_allclose(viewer.camera.center[-2:], ((lo + hi) / 2)[shown],
                               atol=1e-3 * float(np.max(hi - lo)))
    # the matrix is 4,096 rows tall; the points span a few units
    assert float(np.max((hi - lo)[shown])) < 100 < matrix.extent.world[1][0]
