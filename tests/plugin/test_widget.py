# The dock widget "Projection head diagnostics", end to end on the bundled sample: the
# curves drawn are the numbers of a Headrank analysis run here directly (its JSON report);
# the table and the verdict are the library's; per-pixel maps; cancel; errors as napari
# notifications; saving a plot and exporting the report.
import json

import numpy as np
import pytest
import tifffile

from gi.repository import GLib
from napari_headrank import _widget
from napari_headrank._library import headrank
from napari_headrank._widget import HEAD_NONE, HEAD_PRESET, HeadrankWidget
from widget_helpers import make_widget, run_and_wait

Headrank = headrank()  # the library the plugin found (HEADRANK_BUILD_DIR or GI_TYPELIB_PATH)

PLUGIN = 'napari-headrank'


def direct_report(features, weights=None, arch=None, pairs=None):
    a = Headrank.Analysis.new(Headrank.StackReader.new(str(features), Headrank.StackLayout.AUTO,
                                                       None))
    if weights is not None:
        a.set_head(Headrank.Head.new_from_file(str(weights), arch, None, None))
    if pairs is not None:
        a.set_pairs_file(str(pairs))
    assert a.run(None, None, None)
    return a, json.loads(a.to_json(False))


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_widget_from_the_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, 'Projection head diagnostics')
    assert isinstance(widget, HeadrankWidget)


def test_analysis_end_to_end_on_the_sample(make_napari_viewer, qtbot, data_dir, notes, tmp_path):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'embeddings')
    assert widget.features_combo.currentData() == 'sample-embeddings'
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_PRESET))
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData('viscy-v0'))
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    widget.pairs_file.setText(data_dir / 'sample-pairs.csv')
    assert run_and_wait(qtbot, widget) == 'done', notes
    assert notes['error'] == []
    assert widget.progress.value() == 1000

    analysis, report = direct_report(data_dir / 'sample-embeddings.tif',
                                     data_dir / 'head-viscy-v0.safetensors', 'viscy-v0',
                                     data_dir / 'sample-pairs.csv')
    stages = {s['name']: s for s in report['stages'] if s['has_spectrum']}
    assert set(stages) == {'features', '1', 'projections'}  # the ReLU's too (issue 16)

    per, cum = widget.canvases['explained_variance'].axes
    for name, s in stages.items():
        # labelled as the command's table names a stage: a hidden layer with its kind
        label = '{} ({})'.format(name, s['layer_kind']) if s['role'] == 'hidden' else name
        line = lines_by_label(per)[label]
        np.testing.assert_allclose(line.get_ydata(), s['explained_variance_ratio'], rtol=1e-12)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, s['dimension'] + 1))
        np.testing.assert_allclose(lines_by_label(cum)[label].get_ydata(),
                                   s['cumulative_explained_variance'], rtol=1e-12)
    (sv_ax,) = widget.canvases['singular_values'].axes
    by_gid = {line.get_gid(): line for line in sv_ax.get_lines()}
    for name, s in stages.items():
        np.testing.assert_allclose(by_gid['centred:' + name].get_ydata(), s['singular_values'],
                                   rtol=1e-12)
        np.testing.assert_allclose(by_gid['uncentred:' + name].get_ydata(),
                                   s['uncentred_singular_values'], rtol=1e-12)
        np.testing.assert_allclose(by_gid['tolerance:' + name].get_ydata(),
                                   [s['rank_tolerance']] * 2, rtol=1e-12)

    # per-sample mean and std of the projections: the library's per-sample statistics,
    # which are the numpy mean and std (ddof 0) across dimensions of the projections
    mean_ax, std_ax = widget.canvases['per_sample'].axes
    ps = np.frombuffer(analysis.find_stage('projections').get_per_sample().get_data(),
                       np.float32).reshape(-1, 4)
    assert ps.shape == (4096, 4)
    np.testing.assert_array_equal(mean_ax.get_lines()[0].get_ydata(), ps[:, 0])
    np.testing.assert_array_equal(std_ax.get_lines()[0].get_ydata(), ps[:, 1])
    summary = report['stages'][-1]['statistics']['per_sample']
    assert ps[:, 0].mean() == pytest.approx(summary['mean']['mean'], rel=1e-5)
    assert ps[:, 1].max() == pytest.approx(summary['std']['max'], rel=1e-6)

    # the table: one row per stage, the report's measures
    t = widget.table
    assert t.rowCount() == len(report['stages'])
    col = {t.horizontalHeaderItem(c).text(): c for c in range(t.columnCount())}
    for row, s in enumerate(report['stages']):
        # named as the command's table names it: a hidden stage with its kind
        hidden = s['role'] == 'hidden'
        assert t.item(row, col['stage']).text() == (
            '{} ({})'.format(s['name'], s['layer_kind']) if hidden else s['name'])
        if s['has_spectrum']:
            assert t.item(row, col['rank']).text() == str(s['rank'])
            assert t.item(row, col['m.rank']).text() == str(s['matrix_rank'])
            assert t.item(row, col['eff.rank']).text() == f"{s['effective_rank']:.2f}"
        # what the activation clips, as report.json's "clipping" (exact zeros for ReLU and
        # the stages that are not activations)
        clip = s['statistics'].get('clipping')
        want = ((clip['fraction_mean'], clip['units_always']) if clip else
                (s['statistics']['per_dimension']['zero_fraction_mean'],
                 s['statistics']['per_dimension']['dead_units']))
        assert t.item(row, col['clip']).text() == f"{want[0]:.3f}"
        assert t.item(row, col['all']).text() == str(want[1])
    for sentence in analysis.describe_verdict():
        assert sentence in widget.verdict_label.text()
    assert 'inflates' in ' '.join(report['verdict']['flags'])
    assert 'Pairs: 2048' in widget.verdict_label.text()

    # a plot saved, the report exported as the command writes it
    widget.save_plot('explained_variance', tmp_path / 'ev.png')
    assert (tmp_path / 'ev.png').stat().st_size > 1000
    assert widget.export_report(tmp_path / 'report')
    exported = json.loads((tmp_path / 'report' / 'report.json').read_text())
    assert [s['name'] for s in exported['stages']] == [s['name'] for s in report['stages']]
    assert exported['stages'][-1]['rank'] == stages['projections']['rank']


def test_per_pixel_maps_are_aligned_with_the_source(make_napari_viewer, qtbot, data_dir, notes):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'qpi-cell')
    features = viewer.layers['sample-qpi-cell-features']
    features.scale = (1, 0.5, 0.25)
    # the layer's data, not its file: changed data go through a memory source
    features.metadata['headrank']['shape'] = None
    widget._refresh_layers()
    assert widget.features_combo.currentData() == 'sample-qpi-cell-features'
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData('viscy-v2'))
    widget.weights_file.setText(data_dir / 'head-pixel-v2.safetensors')
    assert run_and_wait(qtbot, widget) == 'done', notes

    analysis, _report = direct_report(data_dir / 'sample-qpi-cell-features.tif',
                                      data_dir / 'head-pixel-v2.safetensors', 'viscy-v2')
    ps = np.frombuffer(analysis.find_stage('projections').get_per_sample().get_data(),
                       np.float32).reshape(192, 192, 4)
    norm = viewer.layers['projection norm']
    np.testing.assert_allclose(norm.data, ps[:, :, 2], rtol=1e-6)
    np.testing.assert_allclose(viewer.layers['projection mean'].data, ps[:, :, 0], rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_allclose(viewer.layers['projection std'].data, ps[:, :, 1], rtol=1e-6)
    relu = [s for s in range(analysis.get_n_stages())
            if analysis.get_stage(s).get_layer_kind() == Headrank.LayerKind.RELU
            and analysis.get_stage(s).get_role() == Headrank.StageRole.HIDDEN]
    assert len(relu) == 1
    name = analysis.get_stage(relu[0]).get_name()
    zf = np.frombuffer(analysis.get_stage(relu[0]).get_per_sample().get_data(),
                       np.float32).reshape(192, 192, 4)[:, :, 3]
    np.testing.assert_array_equal(viewer.layers[f'zero fraction, layer {name}'].data, zf)
    assert norm.visible and not viewer.layers[f'zero fraction, layer {name}'].visible
    np.testing.assert_array_equal(norm.scale, (0.5, 0.25))
    # a second run updates the maps instead of adding more
    n_layers = len(viewer.layers)
    assert run_and_wait(qtbot, widget) == 'done'
    assert len(viewer.layers) == n_layers


def test_cancel(make_napari_viewer, qtbot, tmp_path, data_dir, notes):
    # 600,000 samples: about a second through the head on an idle machine, long enough for
    # the click to land before the end (200,000 took 0.3 s)
    rng = np.random.default_rng(7)
    big = tmp_path / 'big.tif'
    tifffile.imwrite(big, rng.standard_normal((600_000, 64), dtype=np.float32))
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    widget.features_combo.setCurrentIndex(widget.features_combo.findData(None))
    widget.features_file.setText(big)
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData('viscy-v0'))
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    widget.status = None
    widget.run()
    assert widget.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: widget.progress.value() > 0, timeout=30000)
    widget.cancel_button.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30000)
    assert widget.status == 'cancelled'
    assert notes['error'] == []
    assert notes['info'] == ['The analysis was cancelled.']
    assert widget.progress.value() == 0
    assert widget.run_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_library_errors_are_notifications(make_napari_viewer, qtbot, data_dir, notes, tmp_path):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    widget.features_combo.setCurrentIndex(widget.features_combo.findData(None))
    widget.features_file.setText(data_dir / 'sample-embeddings.tif')
    # the v2 head of the pixel sample takes 16 features, the stack has 64
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData('viscy-v2'))
    widget.weights_file.setText(data_dir / 'head-pixel-v2.safetensors')
    assert run_and_wait(qtbot, widget) == 'error'
    assert len(notes['error']) == 1
    assert 'Traceback' not in notes['error'][0]
    with pytest.raises(GLib.Error) as e:
        a = Headrank.Analysis.new(Headrank.StackReader.new(
            str(data_dir / 'sample-embeddings.tif'), Headrank.StackLayout.AUTO, None))
        a.set_head(Headrank.Head.new_from_file(str(data_dir / 'head-pixel-v2.safetensors'),
                                               'viscy-v2', None, None))
        a.run(None, None, None)
    # the whole reason on the first line (a notification shows one line until expanded),
    # the file's folder after it; the widget shows it too
    first = notes['error'][0].split('\n')[0]
    path = str(data_dir / 'sample-embeddings.tif')
    assert e.value.message == path + ': the head takes 16 features, the stack has 64'
    assert first == 'the head takes 16 features, the stack has 64 (sample-embeddings.tif)'
    assert notes['error'][0] == _widget.readable_error(e.value.message)
    assert widget.error_label.isVisibleTo(widget) and first in widget.error_label.text()

    # a file that is no TIFF
    bad = tmp_path / 'bad.tif'
    bad.write_bytes(b'II*\0garbage')
    widget.features_file.setText(bad)
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_NONE))
    assert run_and_wait(qtbot, widget) == 'error'
    assert notes['error'][1].endswith('(bad.tif)\nin ' + str(tmp_path))
    # nothing chosen: a message, no worker
    widget.features_file.setText('')
    widget.run()
    assert widget.worker is None
    assert len(notes['error']) == 3


def test_follows_the_theme(make_napari_viewer, qtbot):
    from napari.utils.theme import get_theme

    viewer, widget = make_widget(make_napari_viewer, qtbot)
    for theme in ('light', 'dark'):
        viewer.theme = theme
        fig = widget.canvases['singular_values'].figure
        bg = get_theme(theme).background.as_rgb_tuple()
        assert tuple(round(c * 255) for c in fig.get_facecolor()[:3]) == tuple(bg[:3])


def test_report_folder_of_the_export_dialog(tmp_path):
    """A report replaces its folder as a whole: the dialog's folder is used only when empty
    or holding a report, otherwise a subfolder, so that the user's files stay."""
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert _widget.report_folder(empty) == empty
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'notes.txt').write_text('keep me')
    assert _widget.report_folder(mine) == mine / 'headrank-report'
    old = tmp_path / 'old'
    old.mkdir()
    (old / 'report.json').write_text('{"report_format": 1}')
    assert _widget.report_folder(old) == old
