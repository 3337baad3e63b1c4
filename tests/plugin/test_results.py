# Issue 14 §2, §3, §6: results that belong to their inputs (a run clears the old ones, a
# failed or cancelled run leaves none, changed inputs mark them, a pairs file belongs to its
# features); room to look (a results dock with matplotlib's toolbar, a table and verdict
# readable at 1600 × 1000, publication figures written whole); the head as the command knows
# it (inferred by default with its assumption shown, a preset, a spec, stages).
import json

import numpy as np
import pytest

from napari_headrank._library import headrank
from napari_headrank._widget import ARCH_INFERRED, ARCH_SPEC, HEAD_NONE, HEAD_PRESET
from widget_helpers import make_widget, run_and_wait

Headrank = headrank()
PLUGIN = 'napari-headrank'


def _lines(widget):
    return sum(len(ax.get_lines()) for c in widget.canvases.values() for ax in c.axes)


def _sample_run(make_napari_viewer, qtbot, data_dir, notes):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'embeddings')
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_PRESET))
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData('viscy-v0'))
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    assert run_and_wait(qtbot, widget) == 'done', notes
    return viewer, widget


def test_changed_inputs_mark_results_and_failed_runs_leave_none(make_napari_viewer, qtbot,
                                                                data_dir, notes):
    viewer, widget = _sample_run(make_napari_viewer, qtbot, data_dir, notes)
    assert _lines(widget) > 0 and widget.table.rowCount() > 0 and not widget.stale
    assert not widget.stale_label.isVisibleTo(widget)
    # another head: the results shown are those of the earlier inputs
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData('viscy-v2'))
    assert widget.stale and widget.stale_label.isVisibleTo(widget)
    assert not widget.table.isEnabled()
    # a failed run (the v2 pixel head takes 16 features): nothing of the old run stays
    widget.weights_file.setText(data_dir / 'head-pixel-v2.safetensors')
    assert run_and_wait(qtbot, widget) == 'error'
    assert widget.analysis is None and widget.report is None
    assert _lines(widget) == 0 and widget.table.rowCount() == 0
    # no verdict of the old run: the results dock says why it is empty
    assert widget.verdict_label.text().startswith('No results: the analysis failed.')
    assert 'the head takes 16 features' in widget.verdict_label.text()
    assert not widget.export_button.isEnabled()
    assert not any(p.save_button.isEnabled() for p in widget.plot_panels.values())
    # a good run, then the layer's data change: marked
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData('viscy-v0'))
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    assert run_and_wait(qtbot, widget) == 'done'
    assert not widget.stale
    layer = viewer.layers['sample-embeddings']
    layer.data = layer.data * 2
    assert widget.stale


def test_a_cancelled_run_leaves_no_plots(make_napari_viewer, qtbot, data_dir, notes, tmp_path):
    import tifffile

    viewer, widget = _sample_run(make_napari_viewer, qtbot, data_dir, notes)
    big = tmp_path / 'big.tif'
    tifffile.imwrite(big, np.random.default_rng(2).standard_normal((600_000, 64),
                                                                   dtype=np.float32))
    widget.features_combo.setCurrentIndex(widget.features_combo.findData(None))
    widget.features_file.setText(big)
    widget.status = None
    widget.run()
    # cleared as the run starts
    assert _lines(widget) == 0 and widget.table.rowCount() == 0
    qtbot.waitUntil(lambda: widget.progress.value() > 0, timeout=30000)
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30000)
    assert widget.status == 'cancelled'
    assert widget.analysis is None and _lines(widget) == 0 and widget.verdict_label.text() == ''


def test_pairs_belong_to_their_features(make_napari_viewer, qtbot, data_dir, notes):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'embeddings')  # 4,096 samples
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_NONE))
    widget.pairs_file.setText(data_dir / 'sample-pairs.csv')
    assert widget.collect()['pairs'] == str(data_dir / 'sample-pairs.csv')
    # the per-pixel sample: 192 × 192 = 36,864 samples; the pairs are cleared, with a message
    viewer.open_sample(PLUGIN, 'qpi-cell')
    assert len(notes['warning']) == 0
    widget.features_combo.setCurrentIndex(
        widget.features_combo.findData('sample-qpi-cell-features'))
    assert widget.pairs_file.text() == ''
    assert len(notes['warning']) == 1
    message = notes['warning'][0]
    assert 'sample-pairs.csv' in message and '4096' in message and '36864' in message
    assert 'pairs' not in widget.collect()
    # the same number of samples (another layer of the same stack): the pairs stay
    widget.features_combo.setCurrentIndex(widget.features_combo.findData('sample-embeddings'))
    widget.pairs_file.setText(data_dir / 'sample-pairs.csv')
    x = viewer.layers['sample-embeddings'].data
    viewer.add_image(x.copy(), name='copy')
    widget.features_combo.setCurrentIndex(widget.features_combo.findData('copy'))
    assert widget.pairs_file.text() == str(data_dir / 'sample-pairs.csv')
    assert len(notes['warning']) == 1
    # refused at run time when the features changed to another size behind the form's back
    widget._pairs_for = ('layer sample-embeddings', 1000)
    widget.run()
    assert widget.worker is None
    assert 'chosen for layer sample-embeddings (1000 samples)' in notes['error'][-1]


def test_results_dock_toolbar_and_readable_table(make_napari_viewer, qtbot, data_dir, notes):
    from matplotlib.backends.backend_qtagg import NavigationToolbar2QT

    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'embeddings')
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData('viscy-v0'))
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    widget.pairs_file.setText(data_dir / 'sample-pairs.csv')
    widget.set_stages(['all'])
    assert run_and_wait(qtbot, widget) == 'done', notes
    # docked below the canvas, in a dock of its own
    assert widget.results_dock is not None
    assert widget.results_dock.widget() is widget.results or \
        widget.results in widget.results_dock.findChildren(type(widget.results))
    for panel in widget.plot_panels.values():
        assert isinstance(panel.toolbar, NavigationToolbar2QT)
        assert panel.toolbar.isVisibleTo(panel)
        names = [a.text() for a in panel.toolbar.actions()]
        assert 'Zoom' in names and 'Pan' in names and 'Save' not in names
    # the bottom dock of a 1600 × 1000 window: about 1600 × 400 (napari's GL canvas is not
    # shown offscreen, so the panel is shown alone at that size)
    widget.results.setParent(None)
    widget.results.resize(1600, 400)
    widget.results.show()
    qtbot.wait(100)
    # no sideways scrolling of the table; the verdict wraps in its width
    assert widget.table.horizontalScrollBar().maximum() == 0
    assert widget.verdict_label.width() <= widget.verdict_label.parentWidget().width()
    for panel in widget.plot_panels.values():
        if panel.isVisible():
            assert panel.canvas.height() >= 250 and panel.canvas.width() >= 700
    widget.results.hide()
    # the dock closes with the widget
    widget.close()
    assert widget.results_dock is None


def test_save_figure_is_a_publication_figure_written_whole(make_napari_viewer, qtbot, data_dir,
                                                            notes, tmp_path):
    from PIL import Image

    viewer, widget = _sample_run(make_napari_viewer, qtbot, data_dir, notes)
    viewer.theme = 'dark'
    path = tmp_path / 'ev.png'
    widget.save_figure('explained_variance', path)
    with Image.open(path) as img:
        w, h = img.size
        corner = img.convert('RGB').getpixel((2, 2))
    # 2 panels of 4.2 × 3.3 in at 300 dpi, on white whatever napari's theme
    assert (w, h) == (2520, 990) and corner == (255, 255, 255)
    for ext in ('svg', 'pdf'):
        widget.save_figure('singular_values', tmp_path / f'sv.{ext}')
        assert (tmp_path / f'sv.{ext}').stat().st_size > 1000
    assert b'<svg' in (tmp_path / 'sv.svg').read_bytes()[:400]
    # only the files asked for: no temporary file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ev.png', 'sv.pdf', 'sv.svg']
    # an extension it cannot write: refused, nothing written
    with pytest.raises(ValueError, match='png, .svg or .pdf'):
        widget.save_figure('per_sample', tmp_path / 'x.jpg')
    # a folder that is not there: an OSError, nothing written
    with pytest.raises(OSError):
        widget.save_figure('explained_variance', tmp_path / 'missing' / 'ev.png')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ev.png', 'sv.pdf', 'sv.svg']


def test_the_head_inferred_by_default_with_its_assumption(make_napari_viewer, qtbot, data_dir,
                                                          notes):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'embeddings')
    assert widget.preset_combo.currentData() == ARCH_INFERRED
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    head = Headrank.Head.new_from_file(str(data_dir / 'head-viscy-v0.safetensors'), None, None,
                                       None)
    assumption = head.get_assumption()
    assert assumption and 'assumed' in assumption
    assert assumption in widget.head_label.text()
    assert head.get_spec() in widget.head_label.text()
    names = [widget.stages_list.item(i).data(0x0100) for i in range(widget.stages_list.count())]
    assert names == [head.get_layer_name(i) for i in range(head.get_n_layers())]
    assert run_and_wait(qtbot, widget) == 'done', notes
    assert widget.analysis.get_head().get_arch_source() == Headrank.ArchSource.INFERRED
    assert assumption in widget.verdict_label.text()
    # an activation given: nothing assumed about it
    widget.activation_combo.setCurrentIndex(widget.activation_combo.findData('gelu'))
    assert 'gelu' in widget.head_label.text()
    assert run_and_wait(qtbot, widget) == 'done', notes
    kinds = [Headrank.layer_kind_to_string(widget.analysis.get_head().get_layer_kind(i))
             for i in range(3)]
    assert kinds[1] == 'gelu'


def test_a_spec_and_every_activation_stage(make_napari_viewer, qtbot, data_dir, notes):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'embeddings')
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData(ARCH_SPEC))
    widget.spec_edit.setText('linear,relu,linear,l2')
    widget.spec_edit.editingFinished.emit()
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    relu = next(widget.stages_list.item(i).data(0x0100)
                for i in range(widget.stages_list.count())
                if 'relu' in widget.stages_list.item(i).text())
    relu_label = relu + ' (relu)'  # as the command's table names a hidden stage
    # the activation is checked by default, as the command computes its spectrum by
    # default (issue 16); unchecked (--stage none): the ReLU row has no rank
    assert widget.selected_stages() == [relu]
    widget.set_stages([])
    assert widget.selected_stages() == ['none']
    assert run_and_wait(qtbot, widget) == 'done', notes
    col = {widget.table.horizontalHeaderItem(c).text(): c
           for c in range(widget.table.columnCount())}
    rows = {widget.table.item(r, 0).text(): r for r in range(widget.table.rowCount())}
    assert widget.table.item(rows[relu_label], col['rank']).text() == '-'
    # with it (as --stage): the library's rank of the ReLU's output
    widget.set_stages([relu])
    assert widget.selected_stages() == [relu]
    assert run_and_wait(qtbot, widget) == 'done', notes
    a = Headrank.Analysis.new(Headrank.StackReader.new(
        str(data_dir / 'sample-embeddings.tif'), Headrank.StackLayout.AUTO, None))
    a.set_head(Headrank.Head.new_from_file(str(data_dir / 'head-viscy-v0.safetensors'),
                                           'linear,relu,linear,l2', None, None))
    a.set_spectral_stages([relu])
    assert a.run(None, None, None)
    want = {s['name']: s for s in json.loads(a.to_json(False))['stages']}
    rows = {widget.table.item(r, 0).text(): r for r in range(widget.table.rowCount())}
    assert widget.table.item(rows[relu_label], col['rank']).text() == str(want[relu]['rank'])
    assert want[relu]['has_spectrum']
    # every layer (--stage all)
    widget.set_stages(['all'])
    assert widget.selected_stages() == ['all']
    assert run_and_wait(qtbot, widget) == 'done', notes
    spectral = [s['name'] for s in widget.report['stages'] if s['has_spectrum']]
    assert relu in spectral and len(spectral) >= 3
    # a spec that does not fit the tensors: the library's reason, in the form and at run
    widget.spec_edit.setText('linear,gelu,linear,linear')
    widget.spec_edit.editingFinished.emit()
    assert widget.stages_list.count() == 0 and widget.head_label.text()
    assert run_and_wait(qtbot, widget) == 'error'


def test_errors_put_their_reason_first():
    from napari_headrank._widget import readable_error

    long = '/very/long/path/' + 'folder/' * 20 + 'features of fov 3.tif'
    text = readable_error(long + ': not a TIFF file (bad magic number)')
    first, second = text.split('\n')
    assert first == 'not a TIFF file (bad magic number) (features of fov 3.tif)'
    assert second == 'in ' + long.rsplit('/', 1)[0]
    assert readable_error('/x/pairs.csv: line 3: index 5000 out of range') == \
        'line 3: index 5000 out of range (pairs.csv)\nin /x'
    # no path first: as it is
    assert readable_error('Choose the layer of projections.') == \
        'Choose the layer of projections.'
