# Hidden stages named as the command's tables name them ("1 (relu)", not "1"), in the
# widget's table and legends, the explorer's stage list and the comparison's table (found
# trying the plugin as a user would: legends and rows "0", "1"); the assumption about an
# inferred head said once in the verdict (it was printed twice).
import json

from napari_headrank._library import headrank
from napari_headrank._widget import HEAD_PRESET
from widget_helpers import make_widget, run_and_wait

PLUGIN = 'napari-headrank'


def _run_all_stages(make_napari_viewer, qtbot, data_dir, notes):
    viewer, widget = make_widget(make_napari_viewer, qtbot)
    viewer.open_sample(PLUGIN, 'embeddings')
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_PRESET))
    # inferred (the default): the activation is assumed, and the library says so
    widget.weights_file.setText(data_dir / 'head-viscy-v0.safetensors')
    widget.set_stages(['all'])
    assert run_and_wait(qtbot, widget) == 'done', notes
    return viewer, widget


def test_hidden_stages_are_labelled_with_their_kind(make_napari_viewer, qtbot, data_dir,
                                                     notes):
    from napari_headrank._explorer import ExplorerWidget

    viewer, widget = _run_all_stages(make_napari_viewer, qtbot, data_dir, notes)
    stages = widget.report['stages']
    want = [s['name'] + ' (' + s['layer_kind'] + ')' if s['role'] == 'hidden' else s['name']
            for s in stages]
    assert '1 (relu)' in want and '0 (linear)' in want
    assert [widget.table.item(r, 0).text() for r in range(widget.table.rowCount())] == want
    spectral = [w for w, s in zip(want, stages) if s['has_spectrum']]
    for ax in widget.canvases['explained_variance'].axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == spectral
    (ax,) = widget.canvases['singular_values'].axes
    labels = [line.get_label() for line in ax.get_lines() if line.get_gid()
              and line.get_gid().startswith('centred:')]
    assert labels == spectral
    # the explorer lists the same stages by label, and keeps their names as data
    explorer = ExplorerWidget(viewer)
    qtbot.addWidget(explorer)
    explorer.link(widget)
    explorer._refresh_stages()
    combo = explorer.stage_combo
    assert [combo.itemText(i) for i in range(combo.count())] == want
    assert [combo.itemData(i) for i in range(combo.count())] == [s['name'] for s in stages]


def test_the_assumption_is_said_once(make_napari_viewer, qtbot, data_dir, notes):
    _viewer, widget = _run_all_stages(make_napari_viewer, qtbot, data_dir, notes)
    assumption = widget.analysis.get_head().get_assumption()
    assert assumption
    assert widget.verdict_label.text().count(assumption) == 1


def test_the_comparison_table_labels_hidden_stages(make_napari_viewer, qtbot, data_dir, notes):
    from napari_headrank._compare import CompareWidget

    Headrank = headrank()
    viewer = make_napari_viewer()
    compare = CompareWidget(viewer)
    qtbot.addWidget(compare)
    a = Headrank.Analysis.new(Headrank.StackReader.new(
        str(data_dir / 'sample-embeddings.tif'), Headrank.StackLayout.AUTO, None))
    a.set_head(Headrank.Head.new_from_file(str(data_dir / 'head-viscy-v0.safetensors'),
                                           'viscy-v0', None, None))
    a.set_spectral_stages(['all'])
    assert a.run(None, None, None)
    report = json.loads(a.to_json(False))
    hidden = [s['name'] + ' (' + s['layer_kind'] + ')' for s in report['stages']
              if s['role'] == 'hidden']
    assert hidden
    comparison = Headrank.Comparison.new_from_analyses([a], ['v0'])
    compare.result = json.loads(comparison.to_json(False))
    assert [row[1] for row in compare.table_rows()
            if row[1] not in ('features', 'projections')] == hidden
