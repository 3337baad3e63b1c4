"""The dock widget "Compare heads": several heads or checkpoints run on the same features,
in a worker thread, and shown side by side as the projection-head papers show them: the
rank and effective rank of the features and of the projections, one point per head; the
cumulative explained variance of each head's projections overlaid; the measures of every
stage in one table. `headrank compare REPORT…` is its twin on the command line.

Every number comes from the library: the analyses (Headrank.Analysis) and their
comparison (Headrank.Comparison.new_from_analyses, the same as `headrank compare` of their
reports). "Save comparison…" writes what `headrank compare --output` writes: compare.json,
compare.csv and the library's cairo figures (compare_rank, compare_explained_variance).
"""

import json
import os
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ._common import (
    WorkerMixin,
    fill_layer_combo,
    image_layers,
    library_or_notice,
    outcome_of_error,
)
from ._i18n import _
from ._plots import stage_label, theme_colors, theme_figure
from ._stacks import image_to_pixels, is_zarr, memory_source, open_source

ROLES = ('features', 'projections')


def show_error(message):
    """Errors go to napari's notifications, whole (looked up at call time, so that tests
    can replace it)."""
    from napari.utils import notifications

    notifications.show_error(message)


def show_info(message):
    from napari.utils import notifications

    notifications.show_info(message)


def diagnostics_analysis(viewer):
    """The analysis last run by the "Projection head diagnostics" widget docked in
    @viewer, or None: the current analysis, which the comparison can take as one of its
    runs."""
    from ._widget import HeadrankWidget

    try:
        docked = list(viewer.window.dock_widgets.values())
    except AttributeError:  # no window (a viewer made without one)
        return None
    for widget in docked:
        if isinstance(widget, HeadrankWidget) and getattr(widget, 'analysis', None) is not None:
            return widget.analysis
    return None


class _Canvas(QWidget):
    """A matplotlib figure with its navigation toolbar (zoom, pan, save)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(6, 4), layout='constrained')
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(NavigationToolbar2QT(self.canvas, self))
        layout.addWidget(self.canvas, 1)

    def clear(self):
        self.figure.clear()
        self.canvas.draw_idle()


def _fmt(value, spec):
    return '-' if value is None else format(value, spec)


def _rank_text(stage):
    if stage.get('rank') is None:
        return '-'
    low, high = stage.get('rank_range') or (stage['rank'], stage['rank'])
    return str(stage['rank']) if low == high else f'{low}–{high}'


class CompareWidget(WorkerMixin, QWidget):
    """Compare heads: several heads or checkpoints on the same features, side by side."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self._init_worker(napari_viewer)
        self.runs = []  # {'label', 'weights', 'arch'} or {'label', 'analysis'}
        self.comparison = None
        self.result = None  # compare.json of the comparison, parsed
        self.curves = None  # per run: {role: cumulative explained variance}
        self.Headrank = library_or_notice(self, show_error)
        if self.Headrank is None:
            return
        self._build()
        self._watch_layers()
        self.viewer.events.theme.connect(self._on_theme)
        self._on_theme()

    # -- the form ------------------------------------------------------------------------

    def _build(self):
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        self.features_combo = QComboBox()
        form.addRow(_('Features:'), self.features_combo)
        self.features_file = QLineEdit()
        browse = QPushButton(_('Browse…'))
        browse.clicked.connect(self._browse_features)
        row = QHBoxLayout()
        row.addWidget(self.features_file)
        row.addWidget(browse)
        form.addRow(_('Features file:'), row)
        self.features_combo.currentIndexChanged.connect(self._inputs_changed)
        self.features_file.textChanged.connect(self._inputs_changed)

        # a head to add: its weights, its architecture (inferred or a preset), its label
        self.weights_file = QLineEdit()
        browse = QPushButton(_('Browse…'))
        browse.clicked.connect(self._browse_weights)
        row = QHBoxLayout()
        row.addWidget(self.weights_file)
        row.addWidget(browse)
        form.addRow(_('Weights file:'), row)
        self.arch_combo = QComboBox()
        self.arch_combo.addItem(_('inferred from the weights'), None)
        for preset in self.Headrank.Head.list_presets():
            self.arch_combo.addItem(preset, preset)
        form.addRow(_('Architecture:'), self.arch_combo)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText(_('the file’s name'))
        form.addRow(_('Label:'), self.label_edit)
        add_row = QHBoxLayout()
        self.add_button = QPushButton(_('Add head'))
        self.add_button.clicked.connect(self._add_head_from_form)
        self.add_current_button = QPushButton(_('Add the diagnostics’ analysis'))
        self.add_current_button.setToolTip(
            _('The analysis last run by the “Projection head diagnostics” widget, on the '
              'same features')
        )
        self.add_current_button.clicked.connect(self.add_current_analysis)
        add_row.addWidget(self.add_button)
        add_row.addWidget(self.add_current_button)
        layout.addLayout(add_row)

        self.runs_table = QTableWidget(0, 2)
        self.runs_table.setHorizontalHeaderLabels([_('label'), _('head')])
        self.runs_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.runs_table.horizontalHeader().setStretchLastSection(True)
        self.runs_table.setMaximumHeight(140)
        layout.addWidget(self.runs_table)
        self.remove_button = QPushButton(_('Remove'))
        self.remove_button.clicked.connect(self._remove_selected)
        layout.addWidget(self.remove_button)

        self._make_run_controls(layout, _('Compare'), _('Cancel'))

        self.tabs = QTabWidget()
        self.rank_canvas = _Canvas()
        self.variance_canvas = _Canvas()
        self.tabs.addTab(self.rank_canvas, _('Rank per head'))
        self.tabs.addTab(self.variance_canvas, _('Explained variance'))
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.tabs.addTab(self.table, _('Rank measures'))
        layout.addWidget(self.tabs, 1)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.warnings_label)
        self.save_button = QPushButton(_('Save comparison…'))
        self.save_button.setToolTip(
            _('compare.json, compare.csv and the figures (PNG and SVG), as “headrank compare '
              '--output” writes them')
        )
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_dialog)
        layout.addWidget(self.save_button)

    def _browse_features(self):
        path, _unused = QFileDialog.getOpenFileName(
            self, _('Features'), '', _('Feature stacks (*.tif *.tiff)'))
        if path:
            self.features_file.setText(path)

    def _browse_weights(self):
        path, _unused = QFileDialog.getOpenFileName(
            self, _('Weights'), '', _('Weights (*.safetensors)'))
        if path:
            self.weights_file.setText(path)

    def _refresh_layers(self, event=None):
        # as "Projection head diagnostics": else the last layer the reader made as features
        fill_layer_combo(self.features_combo, image_layers(self.viewer), 'features',
                         _('(the file below)'))

    # -- the runs ------------------------------------------------------------------------

    def _unique(self, label):
        taken = {r['label'] for r in self.runs}
        if label not in taken:
            return label
        k = 2
        while f'{label} ({k})' in taken:
            k += 1
        return f'{label} ({k})'

    def add_head(self, weights, arch=None, label=None):
        """Adds a run: the head of the safetensors file @weights, with the preset or spec
        @arch (None: inferred from the tensors), labelled @label (default: the file's
        name)."""
        weights = os.fspath(weights)
        label = self._unique(label or Path(weights).stem)
        self.runs.append({'label': label, 'weights': weights, 'arch': arch})
        self._runs_changed()
        return label

    def add_analysis(self, analysis, label=None):
        """Adds a run that has already run: @analysis (a Headrank.Analysis of the same
        features)."""
        label = self._unique(label or _('current analysis'))
        self.runs.append({'label': label, 'analysis': analysis})
        self._runs_changed()
        return label

    def add_current_analysis(self):
        analysis = diagnostics_analysis(self.viewer)
        if analysis is None:
            show_error(_('No analysis to add: run the “Projection head diagnostics” widget '
                         'first.'))
            return None
        return self.add_analysis(analysis)

    def _add_head_from_form(self):
        weights = self.weights_file.text().strip()
        if not weights:
            show_error(_('Choose the weights file of the head (safetensors).'))
            return
        self.add_head(weights, self.arch_combo.currentData(), self.label_edit.text().strip() or None)
        self.weights_file.clear()
        self.label_edit.clear()

    def _remove_selected(self):
        rows = sorted({i.row() for i in self.runs_table.selectedIndexes()}, reverse=True)
        for row in rows:
            del self.runs[row]
        self._runs_changed()

    def _runs_changed(self):
        self.runs_table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            if 'analysis' in run:
                what = _('an analysis already run')
            else:
                what = '{} ({})'.format(run['weights'], run['arch'] or _('inferred'))
            self.runs_table.setItem(row, 0, QTableWidgetItem(run['label']))
            self.runs_table.setItem(row, 1, QTableWidgetItem(what))
        self._inputs_changed()

    def _inputs_changed(self, *args):
        """The results shown no longer belong to the inputs: cleared."""
        if self.comparison is not None:
            self._clear_results()

    def _clear_results(self):
        self.comparison = None
        self.result = None
        self.curves = None
        self.rank_canvas.clear()
        self.variance_canvas.clear()
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.warnings_label.setText('')
        self.save_button.setEnabled(False)

    # -- running -------------------------------------------------------------------------

    def collect(self):
        """The inputs, checked; raises ValueError with a message for the user."""
        name = self.features_combo.currentData()
        if name is not None:
            features = {'layer': name, 'data': self.viewer.layers[name].data,
                        'meta': dict(self.viewer.layers[name].metadata.get('headrank', {}))}
        else:
            path = self.features_file.text().strip()
            needs_features = any('analysis' not in r for r in self.runs)
            if not path and needs_features:
                raise ValueError(_('Choose the features: a layer or a file.'))
            features = {'path': path} if path else None
        if len(self.runs) < 2:
            raise ValueError(_('Add at least two heads or checkpoints to compare.'))
        return {'features': features, 'runs': [dict(r) for r in self.runs]}

    def _source(self, features):
        """A new Headrank.Source over the features (one per run)."""
        Headrank = self.Headrank
        if 'path' in features:
            path = features['path']
            if is_zarr(path):
                return Headrank.ZarrSource.new(path, None)
            return open_source(path)
        data = features['data']
        data = data[0] if isinstance(data, list) else data
        meta = features['meta']
        source = meta.get('source')
        if source and tuple(meta.get('shape') or ()) == tuple(data.shape):
            if meta.get('array') is not None and Path(source).is_dir():
                return open_source(source, meta['array'])
            if Path(source).is_file():
                return open_source(source)
        data = np.asarray(data)
        if data.ndim >= 3:
            rows, geometry = image_to_pixels(data)
            return memory_source(rows, geometry, name=features['layer'])
        if data.ndim != 2:
            raise ValueError(_('A layer of features must be an N × D matrix or a C × Y × X image.'))
        return memory_source(data, name=features['layer'])

    def run(self):
        """Runs the heads in a worker thread, then compares them."""
        if self.worker is not None:
            return
        try:
            spec = self.collect()
        except ValueError as e:
            show_error(str(e))
            return
        self._clear_results()
        self._start_worker(self._work, spec)

    def _work(self, spec, cancellable):
        """In the worker thread; never raises: ('done', comparison, curves),
        ('cancelled', None, None) or ('error', message, None)."""
        from gi.repository import Gio, GLib

        Headrank = self.Headrank
        runs = spec['runs']
        to_run = [r for r in runs if 'analysis' not in r]
        try:
            analyses = []
            done = 0
            for run in runs:
                if 'analysis' in run:
                    analyses.append(run['analysis'])
                    continue
                try:
                    head = Headrank.Head.new_from_file(run['weights'], run['arch'], None, None)
                    analysis = Headrank.Analysis.new_for_source(self._source(spec['features']))
                    analysis.set_head(head)

                    def progress(fraction, *unused, base=done):
                        self._signals.progress.emit((base + fraction) / len(to_run))

                    analysis.run(progress, None, cancellable)
                except GLib.Error as e:
                    if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                        raise
                    # which run failed, then the library's whole reason
                    return ('error', '{}: {}'.format(run['label'], e.message), None)
                analyses.append(analysis)
                done += 1
            if cancellable.is_cancelled():
                return ('cancelled', None, None)
            comparison = Headrank.Comparison.new_from_analyses(
                analyses, [r['label'] for r in runs])
            curves = []
            for analysis in analyses:
                report = json.loads(analysis.to_json(False))
                curves.append({s['role']: s.get('cumulative_explained_variance')
                               for s in report['stages'] if s['role'] in ROLES})
            return ('done', comparison, curves)
        except GLib.Error as e:
            return outcome_of_error(e) + (None,)
        except Exception as e:  # noqa: BLE001 - shown as a notification, not a traceback
            return ('error', str(e), None)

    def _on_progress(self, fraction):
        if self.worker is not None:
            self._set_progress(fraction)

    def _on_returned(self, result):
        status, value, curves = result
        self._worker_ended()
        if status == 'done':
            self.progress.setValue(1000)
            self.comparison = value
            self.result = json.loads(value.to_json(False))
            self.curves = curves
            self._show()
            self.save_button.setEnabled(True)
        else:
            self.progress.setValue(0)
            if status == 'cancelled':
                show_info(_('The comparison was cancelled.'))
            else:
                show_error(value)
        self.status = status

    # -- results -------------------------------------------------------------------------

    def _stage(self, report, role):
        for s in report['stages']:
            if s['role'] == role:
                return s
        return None

    def _show(self):
        self._draw_rank()
        self._draw_variance()
        self._fill_table()
        self.warnings_label.setText('\n'.join(self.result['warnings']))

    def _theme(self, panel):
        """Colours @panel's figure after napari's theme, as the results dock's, and draws
        it."""
        theme_figure(panel.figure, theme_colors(self.viewer))
        panel.canvas.draw_idle()

    def _on_theme(self, event=None):
        for panel in (self.rank_canvas, self.variance_canvas):
            self._theme(panel)

    def _draw_rank(self):
        """The papers' figure: per head, the rank (bars) and effective rank (points) of
        the features and of the projections."""
        fig = self.rank_canvas.figure
        fig.clear()
        ax = fig.add_subplot()
        reports = self.result['reports']
        x = np.arange(len(reports))
        width = 0.38
        for k, role in enumerate(ROLES):
            offset = (k - 0.5) * width
            ranks = [(self._stage(r, role) or {}).get('rank') for r in reports]
            eff = [(self._stage(r, role) or {}).get('effective_rank') for r in reports]
            ranks = [np.nan if v is None else v for v in ranks]
            eff = [np.nan if v is None else v for v in eff]
            ax.bar(x + offset, ranks, width, color=f'C{k}', alpha=0.75,
                   label=_('{role}: rank').format(role=role))
            ax.plot(x + offset, eff, 'o', color=f'C{k}', markeredgecolor='black',
                    label=_('{role}: effective rank').format(role=role))
        ax.set_xticks(x, [r['label'] for r in reports])
        ax.set_ylabel(_('rank'))
        ax.set_title(_('Rank of the features and of the projections, per head'))
        ax.legend(fontsize='small')
        self._theme(self.rank_canvas)

    def _draw_variance(self):
        """The cumulative explained variance of each head's projections, overlaid, with
        the features' dashed."""
        fig = self.variance_canvas.figure
        fig.clear()
        ax = fig.add_subplot()
        for i, (report, curves) in enumerate(zip(self.result['reports'], self.curves)):
            y = curves.get('projections')
            if y:
                ax.plot(np.arange(1, len(y) + 1), [np.nan if v is None else v for v in y],
                        color=f'C{i % 10}', label=report['label'])
        y = self.curves[0].get('features') if self.curves else None
        if y:
            ax.plot(np.arange(1, len(y) + 1), [np.nan if v is None else v for v in y], '--',
                    color='gray', label=_('features'))
        ax.set_xscale('log')
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(_('principal components'))
        ax.set_ylabel(_('cumulative explained variance'))
        ax.set_title(_('Cumulative explained variance of the projections, per head'))
        ax.legend(fontsize='small')
        self._theme(self.variance_canvas)

    COLUMNS = ('head', 'stage', 'dim', 'rank', 'eff.rank', 'PR', 'PCs 90/95/99%', 'alpha',
               'VisCy eff.rank', 'CKA')

    def table_rows(self):
        """The rows of the table, as shown: one per stage of each head, every head's
        features, then every head's projections and hidden stages (side by side)."""
        rows = []
        for role in ('features', 'projections', 'hidden'):
            for report in self.result['reports']:
                for s in report['stages']:
                    if s['role'] != role:
                        continue
                    comps = s.get('components') or {}
                    rows.append([
                        report['label'],
                        stage_label(s),
                        str(s['dimension']),
                        _rank_text(s),
                        _fmt(s.get('effective_rank'), '.2f'),
                        _fmt(s.get('participation_ratio'), '.2f'),
                        '/'.join(str(comps.get(k, '-')) for k in ('90', '95', '99'))
                        if comps else '-',
                        _fmt(s.get('alpha'), '.2f'),
                        _fmt(s.get('viscy_effective_rank'), '.2f'),
                        _fmt(s.get('cka_with_features'), '.3f'),
                    ])
        return rows

    def _fill_table(self):
        headers = [_('head'), _('stage'), _('dim'), _('rank'), _('eff.rank'), _('PR'),
                   _('PCs 90/95/99%'), _('alpha'), _('VisCy eff.rank'), _('CKA')]
        rows = self.table_rows()
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c > 1:
                    item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    # -- saving --------------------------------------------------------------------------

    def save(self, directory):
        """Writes compare.json, compare.csv and the figures compare_rank and
        compare_explained_variance (PNG and SVG, the library's cairo figures) into
        @directory; True on success, an error notification otherwise."""
        from gi.repository import GLib

        if self.comparison is None:
            return False
        try:
            self.comparison.write(os.fspath(directory), None)
        except GLib.Error as e:
            show_error(e.message)
            return False
        show_info(_('Comparison written to {directory}').format(directory=os.fspath(directory)))
        return True

    def _save_dialog(self):
        directory = QFileDialog.getExistingDirectory(self, _('Save the comparison to a folder'))
        if directory:
            self.save(directory)

    def closeEvent(self, event):  # noqa: N802 - Qt's name
        self.cancel()
        super().closeEvent(event)
