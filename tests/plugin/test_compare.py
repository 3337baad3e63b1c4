# The dock widget "Compare heads" (plugin/napari_headrank/_compare.py): two heads of the
# bundled sample run side by side; its values are those of `headrank compare` on the
# reports of `headrank analyze` with the same heads; cancel, errors, stale results, saving.
import csv
import os
import subprocess

import pytest

from napari_headrank import _compare
from napari_headrank._compare import CompareWidget
from napari_headrank._library import headrank
from widget_helpers import make_widget, run_and_wait

Headrank = headrank()
TOOL = os.environ.get('HEADRANK_TOOL')


@pytest.fixture
def cnotes(monkeypatch):
    seen = {'error': [], 'info': []}
    monkeypatch.setattr(_compare, 'show_error', lambda m: seen['error'].append(m))
    monkeypatch.setattr(_compare, 'show_info', lambda m: seen['info'].append(m))
    return seen


def make_compare(make_napari_viewer, qtbot, data_dir):
    viewer = make_napari_viewer()
    widget = CompareWidget(viewer)
    qtbot.addWidget(widget)
    widget.features_file.setText(str(data_dir / 'sample-embeddings.tif'))
    return viewer, widget


def compare_and_wait(qtbot, widget, timeout=60000):
    widget.status = None
    widget.run()
    qtbot.waitUntil(lambda: widget.status is not None and widget.worker is None, timeout=timeout)
    return widget.status


NUMERIC = ('dimension', 'rank', 'rank_low', 'rank_high', 'effective_rank', 'participation_ratio',
           'pcs_90', 'pcs_95', 'pcs_99', 'alpha', 'viscy_effective_rank',
           'roy_vetterli_effective_rank', 'stable_rank', 'nesum', 'cka_with_features',
           'lightly_std')


def test_two_heads_equal_headrank_compare(make_napari_viewer, qtbot, data_dir, tmp_path, cnotes):
    if not TOOL:
        pytest.skip('HEADRANK_TOOL is not set (run through meson test)')
    viewer, w = make_compare(make_napari_viewer, qtbot, data_dir)
    w.add_head(data_dir / 'head-viscy-v0.safetensors', None, 'v0')
    w.add_head(data_dir / 'head-viscy-v2.safetensors', 'viscy-v2', 'v2')
    assert compare_and_wait(qtbot, w) == 'done', cnotes
    assert w.progress.value() == 1000 and not cnotes['error']

    # the command on the same features and heads
    for name, arch in (('v0', []), ('v2', ['--arch', 'viscy-v2'])):
        subprocess.run([TOOL, 'analyze', str(data_dir / 'sample-embeddings.tif'), '--weights',
                        str(data_dir / f'head-viscy-{name}.safetensors'), *arch, '-o',
                        str(tmp_path / name)], check=True, capture_output=True)
    subprocess.run([TOOL, 'compare', str(tmp_path / 'v0'), str(tmp_path / 'v2'), '-o',
                    str(tmp_path / 'cmp')], check=True, capture_output=True)
    with open(tmp_path / 'cmp' / 'compare.csv', newline='') as f:
        command = list(csv.DictReader(f))
    widget_rows = list(csv.DictReader(w.comparison.to_csv().splitlines()))
    assert len(widget_rows) == len(command) == 6
    for ours, theirs in zip(widget_rows, command):
        assert ours['report'] == theirs['report']  # the labels were the folders' names
        assert ours['stage'] == theirs['stage']
        for key in NUMERIC:
            assert ours[key] == theirs[key], (ours['stage'], key)

    # the table shown: every head's features, then every head's projections
    shown = [[w.table.item(r, c).text() for c in range(w.table.columnCount())]
             for r in range(w.table.rowCount())]
    by = {(row['report'], row['stage']): row for row in command}
    assert [(r[0], r[1]) for r in shown[:4]] == [('v0', 'features'), ('v2', 'features'),
                                                 ('v0', 'projections'), ('v2', 'projections')]
    for cells in shown:
        # a hidden stage is shown as the command's table names it, "1 (relu)"
        name = cells[1].split(' (')[0]
        assert (cells[1] == name) == (name in ('features', 'projections')), cells[1]
        theirs = by[(cells[0], name)]
        assert cells[2] == theirs['dimension']
        if theirs['rank']:
            assert cells[3] == theirs['rank']  # no range on this sample
            assert cells[4] == format(float(theirs['effective_rank']), '.2f')
            assert cells[6] == '/'.join(theirs[k] for k in ('pcs_90', 'pcs_95', 'pcs_99'))
        else:
            assert cells[3] == '-'
    # the sample's documented numbers (data/README.md): ranks 32 → 64 (v0) and 32 → 16 (v2)
    assert [r[3] for r in shown[:4]] == ['32', '32', '64', '16']

    # the papers' figure: one bar per head and role
    ax = w.rank_canvas.figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ['v0', 'v2']
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == [16, 32, 32, 64]

    # saving: the library's files
    out = tmp_path / 'saved'
    assert w.save(out)
    for name in ('compare.json', 'compare.csv', 'compare_rank.png', 'compare_rank.svg',
                 'compare_explained_variance.png'):
        assert (out / name).stat().st_size > 0
    assert (out / 'compare.csv').read_bytes() == w.comparison.to_csv().encode()


def test_cancel_and_stale_results(make_napari_viewer, qtbot, data_dir, cnotes):
    viewer, w = make_compare(make_napari_viewer, qtbot, data_dir)
    w.add_head(data_dir / 'head-viscy-v0.safetensors')
    w.add_head(data_dir / 'head-viscy-v2.safetensors')
    assert compare_and_wait(qtbot, w) == 'done'
    assert w.table.rowCount() == 6
    # a new input: the results shown are cleared
    w.add_head(data_dir / 'head-viscy-v2.safetensors')
    assert w.runs[-1]['label'] == 'head-viscy-v2 (2)'
    assert w.comparison is None and w.table.rowCount() == 0 and not w.save_button.isEnabled()
    # cancelled before it starts: nothing shown, said so
    w.status = None
    w.run()
    w.cancel()
    qtbot.waitUntil(lambda: w.status is not None and w.worker is None, timeout=60000)
    assert w.status == 'cancelled'
    assert w.comparison is None and w.table.rowCount() == 0
    assert cnotes['info'] == ['The comparison was cancelled.']


def test_errors_shown_whole(make_napari_viewer, qtbot, data_dir, cnotes):
    viewer, w = make_compare(make_napari_viewer, qtbot, data_dir)
    w.run()
    assert cnotes['error'] == ['Add at least two heads or checkpoints to compare.']
    # a head of 16 inputs on 64 features: the library's reason, whole, with the run's label
    w.add_head(data_dir / 'head-viscy-v0.safetensors')
    w.add_head(data_dir / 'head-pixel-v2.safetensors', None, 'pixel head')
    assert compare_and_wait(qtbot, w) == 'error'
    message = cnotes['error'][-1]
    assert message.startswith('pixel head: ')
    with pytest.raises(Exception) as e:
        a = Headrank.Analysis.new_for_source(
            Headrank.StackReader.new(str(data_dir / 'sample-embeddings.tif'),
                                     Headrank.StackLayout.AUTO, None))
        a.set_head(Headrank.Head.new_from_file(str(data_dir / 'head-pixel-v2.safetensors'),
                                               None, None, None))
        a.run(None, None, None)
    assert message == 'pixel head: ' + e.value.message
    assert w.comparison is None and w.progress.value() == 0


def test_the_diagnostics_analysis_as_a_run(make_napari_viewer, qtbot, data_dir, notes, cnotes):
    viewer, diag = make_widget(make_napari_viewer, qtbot)
    diag.features_file.setText(str(data_dir / 'sample-embeddings.tif'))
    diag.weights_file.setText(str(data_dir / 'head-viscy-v0.safetensors'))
    diag.preset_combo.setCurrentIndex(diag.preset_combo.findData('viscy-v0'))
    assert run_and_wait(qtbot, diag) == 'done'
    viewer.window.add_dock_widget(diag, name='diagnostics')
    w = CompareWidget(viewer)
    qtbot.addWidget(w)
    assert _compare.diagnostics_analysis(viewer) is diag.analysis
    assert w.add_current_analysis() == 'current analysis'
    w.add_head(data_dir / 'head-viscy-v2.safetensors', None, 'v2')
    # no features needed for the analysis already run, but the head needs them
    assert w.features_combo.currentData() is None
    w.features_file.setText(str(data_dir / 'sample-embeddings.tif'))
    assert compare_and_wait(qtbot, w) == 'done', cnotes
    labels = [r['label'] for r in w.result['reports']]
    assert labels == ['current analysis', 'v2']
    assert w.result['reports'][0]['report'] is None
    assert w.result['warnings'] == []
    ranks = [(s['name'], s['rank']) for s in w.result['reports'][0]['stages'] if s['has_spectrum']]
    assert ranks == [('features', 32), ('1', 188), ('projections', 64)]  # the ReLU's too


def test_the_plots_follow_the_theme(make_napari_viewer, qtbot, data_dir, cnotes):
    from matplotlib.colors import to_hex

    from napari_headrank._plots import theme_colors

    viewer, w = make_compare(make_napari_viewer, qtbot, data_dir)
    w.add_head(data_dir / 'head-viscy-v0.safetensors')
    w.add_head(data_dir / 'head-viscy-v2.safetensors')
    assert compare_and_wait(qtbot, w) == 'done', cnotes
    seen = []
    for theme in ('dark', 'light'):
        viewer.theme = theme
        colors = theme_colors(viewer)
        for panel in (w.rank_canvas, w.variance_canvas):
            fig = panel.figure
            assert to_hex(fig.get_facecolor()) == to_hex(colors['background'])
            assert to_hex(fig.axes[0].get_facecolor()) == to_hex(colors['canvas'])
            assert to_hex(fig.axes[0].title.get_color()) == to_hex(colors['text'])
        seen.append(to_hex(w.rank_canvas.figure.get_facecolor()))
    assert seen[0] != seen[1]
