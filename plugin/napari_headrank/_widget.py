"""The dock widget "Projection head diagnostics": a headrank analysis of a stack through a
projection head, run in a worker thread. The results go to a dock of their own ("headrank
results", below the canvas): the plots with matplotlib's navigation toolbar, the verdict and
the table of rank measures; for per-pixel stacks, image layers aligned with the source.

Results belong to their inputs: a run clears the results of the one before as it starts (a
failed or cancelled run leaves none); changing an input afterwards marks the results as
those of the earlier inputs. A pairs file belongs to the features it was chosen for.
Errors show their reason first, the file's folder last."""

import json
import os
import re
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ._common import (
    ProgressSignals,
    WorkerMixin,
    fill_layer_combo,
    image_layers,
    library_or_notice,
    outcome_of_error,
)
from ._i18n import _
from ._library import numpy_helper
from ._plots import (
    PlotCanvas,
    PlotPanel,
    clear_canvas,
    draw_explained_variance,
    draw_per_sample,
    draw_singular_values,
    per_sample,
    stage_label,
    theme_colors,
    write_figure,
)
from ._stacks import (
    TIFF_SUFFIXES,
    image_to_pixels,
    is_reader_data,
    is_zarr,
    memory_source,
    open_source,
    samples_to_image,
)

HEAD_PRESET, HEAD_PROJECTIONS, HEAD_NONE = range(3)
ACTIVATION_ROLE = Qt.UserRole + 1  # a stage list item: whether the layer is an activation
#: the architecture combo's entries that are no preset
ARCH_INFERRED, ARCH_SPEC = '', 'spec:'
#: the activation of an inferred architecture (headrank analyze --activation)
ACTIVATIONS = ('relu', 'gelu', 'gelu-tanh', 'silu', 'leaky-relu', 'tanh', 'identity')
#: the plots: key → (columns, draw function)
PLOTS = {
    'explained_variance': (2, draw_explained_variance),
    'singular_values': (1, draw_singular_values),
    'per_sample': (2, draw_per_sample),
}


def show_error(message):
    """Errors go to napari's notifications (looked up at call time, so that tests can
    replace it)."""
    from napari.utils import notifications

    notifications.show_error(message)


def show_info(message):
    from napari.utils import notifications

    notifications.show_info(message)


def show_warning(message):
    from napari.utils import notifications

    notifications.show_warning(message)


# "PATH: reason" as the library words errors about a file (a path with no spaces, or one
# ending in a known extension)
_PATH_FIRST = re.compile(
    r'^(?P<path>/\S*?|/.*?\.(?:tiff?|zarr|csv|txt|safetensors|json|png|svg|pdf)/?)'
    r': (?P<reason>.+)$',
    re.DOTALL | re.IGNORECASE)


def readable_error(message):
    """@message with its reason first: "PATH: reason" becomes "reason (NAME)\nin FOLDER",
    so that a notification, which shows one line until it is expanded, shows the reason and
    not the start of a long path. Other messages are returned as they are."""
    m = _PATH_FIRST.match(message.strip())
    if m is None:
        return message
    path = Path(m.group('path').rstrip('/'))
    return _('{reason} ({name})\nin {folder}').format(reason=m.group('reason'),
                                                      name=path.name, folder=path.parent)


class _Signals(ProgressSignals):
    """Progress from the worker threads: the analysis' and that of opening a file."""

    open_progress = Signal(float)


class _PathEdit(QWidget):
    """A line edit with a browse button."""

    changed = Signal()

    def __init__(self, caption, file_filter='', parent=None):
        super().__init__(parent)
        self.edit = QLineEdit()
        button = QPushButton(_('Browse…'))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(button)
        self._caption = caption
        self._filter = file_filter
        self._last = ''
        button.clicked.connect(self._browse)
        self.edit.editingFinished.connect(self._maybe_changed)

    def _browse(self):
        path, _unused = QFileDialog.getOpenFileName(self, self._caption, '', self._filter)
        if path:
            self.setText(path)

    def _maybe_changed(self):
        if self.text() != self._last:
            self._last = self.text()
            self.changed.emit()

    def text(self):
        return self.edit.text().strip()

    def setText(self, text):
        self.edit.setText(os.fspath(text))
        self._maybe_changed()


def _rank_cell(stage):
    """The rank, or its range ("61–64") when singular values lie between the noise floor
    and the tolerance (report.json's rank_range)."""
    low, high = stage.get('rank_range', [stage['rank'], stage['rank']])
    return str(stage['rank']) if low == high else f'{low}–{high}'


class HeadrankWidget(WorkerMixin, QWidget):
    """Projection head diagnostics."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self._init_worker(napari_viewer, _Signals())
        self._signals.open_progress.connect(self._on_progress)
        self.analysis = None
        self.report = None
        self.open_worker = None
        self.stale = False
        self.results_dock = None
        # the features a pairs file was chosen for: (description, number of samples)
        self._pairs_for = None
        self._watched = None
        self.Headrank = library_or_notice(self, show_error)
        if self.Headrank is None:
            return
        self._build()
        self._build_results()
        self._watch_layers()
        self.viewer.events.theme.connect(self._apply_theme)
        self._apply_theme()

    # -- the form ------------------------------------------------------------------------

    def _build(self):
        Headrank = self.Headrank
        # the form scrolls: its height does not hold up the results dock below the canvas
        inner = QWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        layout = QVBoxLayout(inner)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        layout.addLayout(form)

        self.features_combo = QComboBox()
        self.features_file = _PathEdit(_('Features'),
                                       _('Feature stacks (*.tif *.tiff);;All files (*)'))
        form.addRow(_('Features:'), self.features_combo)
        form.addRow(_('Features file:'), self.features_file)
        self.open_button = QPushButton(_('Open as layers'))
        self.open_button.setToolTip(
            _('Read the features file (a TIFF or a VisCy zarr store) into layers, in the '
              'background'))
        self.open_button.clicked.connect(self.open_features_file)
        # a zarr store is a folder, which the file chooser above does not pick
        self.open_store_button = QPushButton(_('Open VisCy store…'))
        self.open_store_button.setToolTip(
            _('Choose a VisCy embedding store (a folder such as embeddings.zarr) and read it '
              'into layers, in the background'))
        self.open_store_button.clicked.connect(self._choose_store)
        open_row = QHBoxLayout()
        open_row.addWidget(self.open_button)
        open_row.addWidget(self.open_store_button)
        form.addRow('', open_row)
        self.features_combo.currentIndexChanged.connect(self._features_changed)
        self.features_file.changed.connect(self._features_changed)

        self.head_source = QComboBox()
        self.head_source.addItem(_('A head: weights file and architecture'), HEAD_PRESET)
        self.head_source.addItem(_('Projections computed elsewhere (a layer)'), HEAD_PROJECTIONS)
        self.head_source.addItem(_('No head: the features alone'), HEAD_NONE)
        self.head_source.currentIndexChanged.connect(self._head_changed)
        form.addRow(_('Head:'), self.head_source)

        self.weights_file = _PathEdit(_('Weights'), _('Weights (*.safetensors)'))
        form.addRow(_('Weights file:'), self.weights_file)
        self.weights_file.changed.connect(self._head_changed)
        # the architecture as `headrank analyze --arch` takes it: inferred (the default, as
        # the command), a preset, or a spec
        self.preset_combo = QComboBox()
        self.preset_combo.addItem(_('Inferred from the weights'), ARCH_INFERRED)
        for preset in Headrank.Head.list_presets():
            self.preset_combo.addItem(_('Preset {name}').format(name=preset), preset)
        self.preset_combo.addItem(_('Spec (below)'), ARCH_SPEC)
        self.preset_combo.currentIndexChanged.connect(self._head_changed)
        form.addRow(_('Architecture:'), self.preset_combo)
        self.spec_edit = QLineEdit()
        self.spec_edit.setPlaceholderText('linear:2048,bn,relu,linear:128,bn')
        self.spec_edit.editingFinished.connect(self._head_changed)
        form.addRow(_('Spec:'), self.spec_edit)
        self.activation_combo = QComboBox()
        self.activation_combo.addItem(_('The file’s, else ReLU (assumed)'), None)
        for name in ACTIVATIONS:
            self.activation_combo.addItem(name, name)
        self.activation_combo.currentIndexChanged.connect(self._head_changed)
        form.addRow(_('Activation:'), self.activation_combo)
        # what the head is, once read: its layers, and what was assumed about it
        self.head_label = QLabel()
        self.head_label.setWordWrap(True)
        self.head_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form.addRow(self.head_label)
        # the stages that get a spectrum besides features and projections (--stage)
        self.stages_list = QListWidget()
        self.stages_list.setMaximumHeight(110)
        self.stages_list.setToolTip(
            _('Layers whose output gets a spectrum and rank too (as --stage); the features '
              'and the projections always get one, the activation layers unless unchecked'))
        self.stages_list.itemChanged.connect(self._inputs_changed)
        self.all_stages = QCheckBox(_('Every layer (--stage all)'))
        self.all_stages.toggled.connect(self._all_stages_toggled)
        form.addRow(_('Spectra of layers:'), self.all_stages)
        form.addRow(self.stages_list)

        self.projections_combo = QComboBox()
        self.projections_combo.currentIndexChanged.connect(self._inputs_changed)
        form.addRow(_('Projections layer:'), self.projections_combo)

        self.norm_combo = QComboBox()
        self.norm_combo.addItem(_('Running statistics (eval mode)'), Headrank.NormMode.RUNNING)
        self.norm_combo.addItem(_('Batch statistics (training mode)'), Headrank.NormMode.BATCH)
        self.norm_combo.currentIndexChanged.connect(self._inputs_changed)
        form.addRow(_('BatchNorm:'), self.norm_combo)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(2, 1 << 20)
        self.batch_size.setValue(256)
        self.batch_size.valueChanged.connect(self._inputs_changed)
        form.addRow(_('Batch size:'), self.batch_size)
        self.pairs_file = _PathEdit(_('Positive pairs'), _('Pairs (*.csv *.txt)'))
        self.pairs_file.changed.connect(self._pairs_changed)
        form.addRow(_('Positive pairs (optional):'), self.pairs_file)
        # temporal pairs from the cell tracks (obs) of the store the features layer came from
        self.track_pairs = QCheckBox(_('Temporal pairs (dt)'))
        self.track_pairs.setToolTip(
            _('A cell at t and its track at t + dt, from the obs table of the features’ store '
              '(fov_name, track_id, t), as VisCy’s time-aware sampling pairs them')
        )
        self.track_dt = QSpinBox()
        self.track_dt.setRange(1, 1 << 30)
        self.track_dt.setValue(1)
        self.track_dt.valueChanged.connect(self._inputs_changed)
        track_row = QHBoxLayout()
        track_row.addWidget(self.track_pairs)
        track_row.addWidget(self.track_dt)
        form.addRow(_('Pairs from tracks:'), track_row)
        self.track_pairs.toggled.connect(self._inputs_changed)

        # Run, the progress, the error and the state of the results stay in view below the
        # form, which scrolls: once the results dock takes the bottom of the window, the
        # form's dock is about 500 px high at 1600 × 1000
        footer = QVBoxLayout()
        footer.setContentsMargins(layout.contentsMargins())
        outer.addLayout(footer)
        self._make_run_controls(footer, _('Run'), _('Cancel'))
        # the last error in full (a notification shows one line until expanded)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.error_label.setStyleSheet('color: #e15759')
        self.error_label.hide()
        footer.addWidget(self.error_label)
        self.stale_label = QLabel(
            _('The inputs changed since these results were computed: run again.'))
        self.stale_label.setWordWrap(True)
        self.stale_label.setStyleSheet('color: #f28e2b')
        self.stale_label.hide()
        footer.addWidget(self.stale_label)
        self.show_results_button = QPushButton(_('Show the results'))
        self.show_results_button.clicked.connect(self.show_results_dock)
        self.show_results_button.setEnabled(False)
        self.export_button = QPushButton(_('Export report…'))
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        after = QHBoxLayout()
        after.addWidget(self.show_results_button)
        after.addWidget(self.export_button)
        footer.addLayout(after)
        layout.addStretch(1)
        self._update_enabled()

    def _build_results(self):
        """The results panel (docked by show_results_dock()): the plots in tabs, each with
        the navigation toolbar, beside the verdict and the table."""
        self.results = QSplitter(Qt.Horizontal)
        self.results.setObjectName('headrank-results')
        self.tabs = QTabWidget()
        titles = {
            'explained_variance': _('Explained variance'),
            'singular_values': _('Singular values'),
            'per_sample': _('Per sample'),
        }
        self.canvases = {}
        self.plot_panels = {}
        for key, (ncols, _draw) in PLOTS.items():
            canvas = PlotCanvas(ncols)
            canvas.setMinimumSize(320, 220)
            panel = PlotPanel(canvas, lambda _checked=False, k=key: self._save_plot_dialog(k))
            self.canvases[key] = canvas
            self.plot_panels[key] = panel
            self.tabs.addTab(panel, titles[key])
        self.results.addWidget(self.tabs)

        side = QWidget()
        v = QVBoxLayout(side)
        v.setContentsMargins(0, 0, 0, 0)
        self.verdict_label = QLabel()
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.verdict_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.verdict_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        verdict_scroll = QScrollArea()
        verdict_scroll.setWidgetResizable(True)
        verdict_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        verdict_scroll.setWidget(self.verdict_label)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        v.addWidget(verdict_scroll, 2)
        v.addWidget(self.table, 3)
        self.results.addWidget(side)
        self.results.setStretchFactor(0, 3)
        self.results.setStretchFactor(1, 2)

    def show_results_dock(self):
        """Docks the results below the canvas (once; shown again if closed). Without a
        napari window (a viewer model alone), the results stay an undocked widget."""
        window = getattr(self.viewer, 'window', None)
        if window is None:
            return
        if self.results_dock is None:
            self.results_dock = window.add_dock_widget(
                self.results, name=_('headrank results'), area='bottom', tabify=False)
            # room to look: about 40 % of the window's height (the user resizes it), once
            # the dock is laid out (Qt ignores sizes of a dock not placed yet). A plugin's
            # viewer is napari's PublicOnlyProxy, whose dock Qt's resizeDocks() refuses
            # (TypeError): the QDockWidget itself, and its main window through Qt's API
            dock = getattr(self.results_dock, '__wrapped__', self.results_dock)
            QTimer.singleShot(0, lambda: _resize_dock(dock, 0.4))
        self.results_dock.show()
        self.results_dock.raise_()

    def _refresh_layers(self, event=None):
        layers = image_layers(self.viewer)
        for combo, kind, none_text in (
            (self.features_combo, 'features', _('(the file below)')),
            (self.projections_combo, 'projections', None),
        ):
            # else the last layer the reader made as features (or projections)
            current = fill_layer_combo(combo, layers, kind, none_text)
            if combo.currentData() != current:
                if combo is self.features_combo:
                    self._features_changed()
                else:
                    self._inputs_changed()
        self._update_enabled()

    def _update_enabled(self, *args):
        if self.Headrank is None:
            return
        source = self.head_source.currentData()
        head = source == HEAD_PRESET
        self.features_file.setEnabled(self.features_combo.currentData() is None)
        self.preset_combo.setEnabled(head)
        self.spec_edit.setEnabled(head and self.preset_combo.currentData() == ARCH_SPEC)
        self.activation_combo.setEnabled(
            head and self.preset_combo.currentData() == ARCH_INFERRED)
        self.weights_file.setEnabled(head)
        self.stages_list.setEnabled(head and not self.all_stages.isChecked())
        self.all_stages.setEnabled(head)
        self.norm_combo.setEnabled(head)
        self.batch_size.setEnabled(
            head and self.norm_combo.currentData() == self.Headrank.NormMode.BATCH
        )
        self.projections_combo.setEnabled(source == HEAD_PROJECTIONS)
        tracks = self._tracks_store() is not None
        self.track_pairs.setEnabled(tracks)
        self.track_dt.setEnabled(tracks and self.track_pairs.isChecked())
        self.open_button.setEnabled(self.open_worker is None)
        self.open_store_button.setEnabled(self.open_worker is None)

    def _tracks_store(self):
        """The zarr store with an obs table that the features layer was read from, or None."""
        name = self.features_combo.currentData()
        if name is None or name not in self.viewer.layers:
            return None
        source = self.viewer.layers[name].metadata.get('headrank', {}).get('source')
        if source and Path(source).is_dir() and (Path(source) / 'obs').is_dir():
            return source
        return None

    def _apply_theme(self, event=None):
        colors = theme_colors(self.viewer)
        for canvas in self.canvases.values():
            canvas.apply_theme(colors)

    # -- inputs and the results that belong to them ---------------------------------------

    def _inputs_changed(self, *args):
        """An input changed: results shown are now those of earlier inputs."""
        self._update_enabled()
        if self.analysis is not None and not self.stale:
            self.stale = True
            self.stale_label.show()
            self.verdict_label.setEnabled(False)
            self.table.setEnabled(False)

    def _head_changed(self, *args):
        self._read_head()
        self._inputs_changed()

    def _all_stages_toggled(self, checked):
        self._inputs_changed()

    def _features_changed(self, *args):
        """Other features: the results are stale, the layer is watched for changes of its
        data, and a pairs file chosen for other features of another size is dropped."""
        if self._watched is not None:
            try:
                self._watched.events.data.disconnect(self._inputs_changed)
            except (TypeError, ValueError, RuntimeError):
                pass
            self._watched = None
        name = self.features_combo.currentData()
        if name is not None and name in self.viewer.layers:
            self._watched = self.viewer.layers[name]
            self._watched.events.data.connect(self._inputs_changed)
        self._check_pairs_belong()
        self._inputs_changed()

    def _features_key(self):
        """(what the features are, their number of samples or None when unknown)."""
        name = self.features_combo.currentData()
        if name is not None:
            return (_('layer {name}').format(name=name), self._layer_samples(name))
        path = self.features_file.text()
        if not path:
            return None
        return (Path(path).name, self._file_samples(path))

    def _layer_samples(self, name):
        if name not in self.viewer.layers:
            return None
        layer = self.viewer.layers[name]
        shape = tuple((layer.data[0] if layer.multiscale else layer.data).shape)
        meta = layer.metadata.get('headrank', {})
        per_pixel = meta.get('per_pixel', len(shape) >= 3)
        if per_pixel and len(shape) >= 3:
            return int(np.prod(shape[1:], dtype=np.int64))
        return shape[0] if len(shape) == 2 else None

    def _file_samples(self, path):
        from gi.repository import GLib

        try:
            if is_zarr(path):
                return self.Headrank.ZarrSource.new(path, None).get_n_samples()
            return open_source(path).get_n_samples()
        except (GLib.Error, OSError, ValueError):
            return None

    def _pairs_changed(self):
        self._pairs_for = self._features_key() if self.pairs_file.text() else None
        self._inputs_changed()

    def _check_pairs_belong(self):
        """A pairs file holds indices of the samples of the features it was chosen for:
        when the features change to a stack with another number of samples, it is cleared,
        with a message (with as many samples, it stays: the indices fit)."""
        if not self.pairs_file.text() or self._pairs_for is None:
            return
        now = self._features_key()
        if now is None:  # no features (yet): nothing to compare with
            return
        was_what, was_n = self._pairs_for
        now_what, now_n = now
        if now_what == was_what or (now_n is not None and now_n == was_n):
            return
        pairs = Path(self.pairs_file.text()).name
        self.pairs_file.blockSignals(True)
        self.pairs_file.setText('')
        self.pairs_file.blockSignals(False)
        self._pairs_for = None
        show_warning(
            _('The pairs file {pairs} was chosen for {was} ({was_n} samples); the features '
              'are now {now} ({now_n} samples): the pairs were cleared. Choose pairs for these '
              'features.').format(pairs=pairs, was=was_what, was_n=_count(was_n),
                                  now=now_what, now_n=_count(now_n)))

    def _read_head(self):
        """Reads the head of the weights file as the form describes it, to list its layers
        for the stage selection and to say what was inferred or assumed; errors are shown
        here and again when running."""
        from gi.repository import GLib

        self.stages_list.blockSignals(True)
        listed = {self.stages_list.item(i).data(Qt.UserRole)
                  for i in range(self.stages_list.count())}
        checked = {self.stages_list.item(i).data(Qt.UserRole)
                   for i in range(self.stages_list.count())
                   if self.stages_list.item(i).checkState() == Qt.Checked}
        self.stages_list.clear()
        self.head = None
        text = ''
        weights = self.weights_file.text()
        if self.head_source.currentData() == HEAD_PRESET and weights:
            try:
                self.head = self._load_head(self._head_spec(weights))
            except (GLib.Error, ValueError) as e:
                text = readable_error(getattr(e, 'message', str(e)))
        if self.head is not None:
            h = self.head
            for i in range(h.get_n_layers()):
                name = h.get_layer_name(i)
                kind = self.Headrank.layer_kind_to_string(h.get_layer_kind(i))
                item = QListWidgetItem(f'{name}  ({kind}, {h.get_layer_out_features(i)})')
                item.setData(Qt.UserRole, name)
                item.setData(ACTIVATION_ROLE, h.get_layer_kind(i) in self._activation_kinds())
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                # an activation layer has its spectrum by default (issue 16), as in the command
                on = name in checked if name in listed else item.data(ACTIVATION_ROLE)
                item.setCheckState(Qt.Checked if on else Qt.Unchecked)
                self.stages_list.addItem(item)
            text = _('Head: {spec} ({inputs} → {outputs})').format(
                spec=h.get_spec(), inputs=h.get_in_features(), outputs=h.get_out_features())
            assumption = h.get_assumption()
            if assumption:
                text += '\n⚠ ' + assumption
        self.head_label.setText(text)
        self.stages_list.blockSignals(False)

    def _head_spec(self, weights):
        """What Headrank.Head.new_from_file_full takes, from the form."""
        arch = self.preset_combo.currentData()
        if arch == ARCH_SPEC:
            arch = self.spec_edit.text().strip()
            if not arch:
                raise ValueError(_('Write the spec of the architecture, such as '
                                   'linear:2048,bn,relu,linear:128,bn.'))
        activation = self.activation_combo.currentData() if arch == ARCH_INFERRED else None
        return {'weights': weights, 'arch': arch or None, 'activation': activation}

    def _load_head(self, spec):
        return self.Headrank.Head.new_from_file_full(spec['weights'], spec['arch'], None,
                                                     spec['activation'], None)

    def _activation_kinds(self):
        k = self.Headrank.LayerKind
        return (k.RELU, k.GELU, k.SILU, k.GELU_TANH, k.LEAKY_RELU, k.TANH)

    def selected_stages(self):
        """The layers chosen for a spectrum (['all'] for every layer), as
        set_spectral_stages() takes them: the activation layers have one by default, so an
        unchecked one makes the list start with 'none' and name the checked ones."""
        if self.all_stages.isChecked():
            return ['all']
        items = [self.stages_list.item(i) for i in range(self.stages_list.count())]
        names = [it.data(Qt.UserRole) for it in items if it.checkState() == Qt.Checked]
        if any(it.data(ACTIVATION_ROLE) and it.checkState() != Qt.Checked for it in items):
            return ['none'] + names
        return names

    def set_stages(self, names):
        """Checks the layers @names (['all'] for every layer) for a spectrum, and only
        those."""
        self.all_stages.setChecked('all' in names)
        for i in range(self.stages_list.count()):
            item = self.stages_list.item(i)
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in names else Qt.Unchecked)

    # -- opening files as layers -----------------------------------------------------------

    def _choose_store(self):
        path = QFileDialog.getExistingDirectory(self, _('Open a VisCy embedding store'))
        if path:
            self.features_file.setText(path)
            self.open_features_file(path)

    def open_features_file(self, path=None):
        """Reads the feature stack @path (default: the features file) into layers in a
        worker thread, with progress; the layers are added when it is read."""
        from napari.qt.threading import create_worker

        path = os.fspath(path) if path else self.features_file.text()
        if not path:
            self._error(_('Choose the features file to open.'))
            return
        if self.open_worker is not None or self.worker is not None:
            return
        # busy until the first fraction read (a lazy stack reads nothing up front; its
        # first plane is read as its layer is made, in the worker too)
        self.progress.setRange(0, 0)
        self.open_button.setEnabled(False)
        self.open_store_button.setEnabled(False)
        self.run_button.setEnabled(False)
        self.opened = None
        self.open_worker = create_worker(self._open_work, path, _start_thread=False)
        self.open_worker.returned.connect(self._on_opened)
        self.open_worker.start()

    def _open_work(self, path):
        from gi.repository import GLib

        from ._reader import layers_from_data, read_feature_stack

        try:
            data = read_feature_stack(path, self._signals.open_progress.emit)
            # the layers are made here too: making one slices it (for a lazy per-pixel
            # stack, a read of the shown plane), which must not hold up the viewer
            return ('done', layers_from_data(data), path)
        except (GLib.Error, ValueError, OSError) as e:
            return ('error', getattr(e, 'message', str(e)), path)

    def _on_opened(self, result):
        status, value, path = result
        self.open_worker = None
        self.progress.setRange(0, 1000)
        self.run_button.setEnabled(True)
        self._update_enabled()
        if status == 'error':
            self.progress.setValue(0)
            self._error(value)
            self.opened = []
            return
        self.progress.setValue(1000)
        layers = value
        for layer in layers:
            self.viewer.add_layer(layer)
        self.opened = layers
        # the features just opened are the ones to analyse
        for layer in layers:
            if layer.metadata.get('headrank', {}).get('kind') == 'features':
                self.features_combo.setCurrentIndex(self.features_combo.findData(layer.name))
                break

    # -- running -------------------------------------------------------------------------

    def _layer_input(self, name):
        """What the worker needs to read the layer @name: its file (or the array of its
        zarr store) when the reader made it and it is unchanged, else its data."""
        layer = self.viewer.layers[name]
        meta = layer.metadata.get('headrank', {})
        data = layer.data[0] if layer.multiscale else layer.data
        source = meta.get('source')
        unchanged = (
            source
            and tuple(meta.get('shape') or ()) == tuple(data.shape)
            and is_reader_data(meta.get('data_key'), data)
        )
        if unchanged and meta.get('array') is not None and Path(source).is_dir():
            return {'path': source, 'zarr_array': meta['array'], 'layer': name}
        if unchanged and Path(source).suffix.lower() in TIFF_SUFFIXES and Path(source).is_file():
            return {'path': source, 'layer': name}
        per_pixel = meta.get('per_pixel', data.ndim >= 3)
        return {'array': data, 'per_pixel': bool(per_pixel and data.ndim >= 3), 'layer': name}

    def collect(self):
        """The inputs of the form, checked; raises ValueError with a message for the user."""
        spec = {}
        name = self.features_combo.currentData()
        if name is not None:
            spec['features'] = self._layer_input(name)
        else:
            path = self.features_file.text()
            if not path:
                raise ValueError(_('Choose the features: a layer or a file.'))
            spec['features'] = {'path': path}
        source = self.head_source.currentData()
        spec['head_source'] = source
        if source == HEAD_PRESET:
            weights = self.weights_file.text()
            if not weights:
                raise ValueError(_('Choose the weights file of the head (safetensors).'))
            spec.update(self._head_spec(weights))
            spec['norm_mode'] = self.norm_combo.currentData()
            spec['batch_size'] = self.batch_size.value()
            spec['stages'] = self.selected_stages()
        elif source == HEAD_PROJECTIONS:
            pname = self.projections_combo.currentData()
            if pname is None:
                raise ValueError(_('Choose the layer of projections.'))
            spec['projections'] = self._layer_input(pname)
        pairs = self.pairs_file.text()
        if pairs:
            now = self._features_key()
            if self._pairs_for is not None and now is not None:
                (was, was_n), (what, n) = self._pairs_for, now
                if was_n is not None and n is not None and was_n != n:
                    raise ValueError(
                        _('The pairs file {pairs} was chosen for {was} ({was_n} samples), not '
                          'for {now} ({now_n} samples): choose pairs for these features.')
                        .format(pairs=Path(pairs).name, was=was, was_n=was_n, now=what,
                                now_n=n))
            spec['pairs'] = pairs
        store = self._tracks_store()
        if store is not None and self.track_pairs.isChecked():
            if pairs:
                raise ValueError(_('Give either a pairs file or temporal pairs, not both.'))
            spec['track_pairs'] = (store, self.track_dt.value())
        return spec

    def run(self):
        """Starts the analysis in a worker thread; the results shown so far are cleared."""
        if self.worker is not None or self.open_worker is not None:
            return
        try:
            spec = self.collect()
        except ValueError as e:
            self._error(str(e))
            return
        self.clear_results()
        self.error_label.hide()
        self._start_worker(self._work, spec)

    def _error(self, message):
        """An error: in a notification (its reason first) and in full in the widget."""
        text = readable_error(message)
        self.error_label.setText(text)
        self.error_label.setToolTip(message)
        self.error_label.show()
        show_error(text)

    def _source_of(self, item):
        """A Headrank.Source for an input of collect(), and its per-pixel geometry: the file
        or store again, or the layer's array in memory (a MemorySource over the array, no
        copy of a C-contiguous float32 matrix; a Dask array a chunk at a time). No files."""
        Headrank = self.Headrank
        if 'path' in item:
            path = item['path']
            if item.get('zarr_array') is None and is_zarr(path):
                return Headrank.ZarrSource.new(path, None), None
            return open_source(path, item.get('zarr_array')), None
        data = item['array']
        if item['per_pixel']:
            rows, geometry = image_to_pixels(data)
            return memory_source(rows, geometry, name=item['layer']), geometry
        if data.ndim != 2:
            raise ValueError(_('A layer of features must be an N × D matrix or a C × Y × X image.'))
        hn = numpy_helper()
        if not isinstance(data, np.ndarray) and hn is not None:
            return hn.ArraySource(data, name=item['layer']), None
        return memory_source(np.asarray(data), name=item['layer']), None

    def _work(self, spec, cancellable):
        """Runs in the worker thread; never raises: returns ('done', analysis),
        ('cancelled', None) or ('error', message)."""
        from gi.repository import GLib

        Headrank = self.Headrank
        try:
            features, _geom = self._source_of(spec['features'])
            analysis = Headrank.Analysis.new_for_source(features)
            if spec['head_source'] == HEAD_PRESET:
                analysis.set_head(self._load_head(spec))
                analysis.set_norm_mode(spec['norm_mode'])
                if spec['norm_mode'] == Headrank.NormMode.BATCH:
                    analysis.set_batch_size(spec['batch_size'])
                if spec['stages']:
                    analysis.set_spectral_stages(spec['stages'])
            elif spec['head_source'] == HEAD_PROJECTIONS:
                projections, _geom = self._source_of(spec['projections'])
                analysis.set_projections_source(projections)
            if 'pairs' in spec:
                analysis.set_pairs_file(spec['pairs'])
            if 'track_pairs' in spec:
                store, dt = spec['track_pairs']
                analysis.set_pairs(Headrank.Pairs.new_from_store(store, dt))

            def progress(fraction, *unused):
                self._signals.progress.emit(fraction)

            analysis.run(progress, None, cancellable)
            return ('done', analysis, spec)
        except GLib.Error as e:
            return outcome_of_error(e) + (spec,)
        except Exception as e:  # noqa: BLE001 - shown as a notification, not a traceback
            return ('error', str(e), spec)

    def _on_progress(self, fraction):
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
        self._set_progress(fraction)

    def _on_returned(self, result):
        status, value, spec = result
        self._worker_ended()
        self.status = status
        if status == 'cancelled':
            self.progress.setValue(0)
            show_info(_('The analysis was cancelled.'))
            return
        if status == 'error':
            self.progress.setValue(0)
            self._error(value)
            # the results dock, cleared as the run started, says why it is empty
            self.verdict_label.setText(
                _('No results: the analysis failed. {reason}').format(
                    reason=readable_error(value)))
            return
        self.progress.setValue(1000)
        self.analysis = value
        self.report = json.loads(value.to_json(False))
        self._show(spec)
        self.export_button.setEnabled(True)
        self.show_results_button.setEnabled(True)
        for panel in self.plot_panels.values():
            panel.save_button.setEnabled(True)
        self.show_results_dock()

    # -- results -------------------------------------------------------------------------

    def clear_results(self):
        """Removes the results shown (plots, table, verdict, the maps' layers): they belong
        to inputs that a new run replaces."""
        self.analysis = None
        self.report = None
        self.stale = False
        self.stale_label.hide()
        for canvas in self.canvases.values():
            clear_canvas(canvas)
        for panel in self.plot_panels.values():
            panel.save_button.setEnabled(False)
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.table.setEnabled(True)
        self.verdict_label.setText('')
        self.verdict_label.setEnabled(True)
        self.export_button.setEnabled(False)
        for layer in list(self.viewer.layers):
            if layer.metadata.get('headrank', {}).get('kind') == 'map':
                self.viewer.layers.remove(layer)

    def _show(self, spec):
        a = self.analysis
        for key, (_ncols, draw) in PLOTS.items():
            draw(self.canvases[key], a)
        self._fill_table()
        self._add_maps(spec)

    def _fill_table(self):
        headers = [
            _('stage'), _('samples'), _('dim'), _('rank'), _('m.rank'), _('eff.rank'), _('PR'),
            _('PCs 90/95/99%'), _('alpha'), _('clip'), _('all'),
        ]
        stages = self.report['stages']
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(stages))

        def fmt(value, spec):
            return '-' if value is None else format(value, spec)

        for row, s in enumerate(stages):
            stats = s.get('statistics', {}).get('per_dimension', {})
            # what the stage's activation clips (report.json's "clipping", as the command's
            # table): exact zeros and dead units for ReLU and stages that are not activations
            clip = s.get('statistics', {}).get('clipping')
            clipped = (clip['fraction_mean'], clip['units_always']) if clip else (
                stats.get('zero_fraction_mean'), stats.get('dead_units', '-'))
            spectral = s.get('has_spectrum')
            comps = s.get('components') or {}
            cells = [
                stage_label(s),
                str(s['samples']),
                str(s['dimension']),
                _rank_cell(s) if spectral else '-',
                str(s['matrix_rank']) if spectral else '-',
                fmt(s.get('effective_rank'), '.2f') if spectral else '-',
                fmt(s.get('participation_ratio'), '.2f') if spectral else '-',
                '/'.join(str(comps.get(k, '-')) for k in ('90', '95', '99')) if spectral else '-',
                fmt(s.get('alpha'), '.2f') if spectral else '-',
                fmt(clipped[0], '.3f'),
                str(clipped[1]),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col > 0:
                    item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        # as wide as its columns: the splitter gives the table its width, no sideways scroll
        header = self.table.horizontalHeader()
        self.table.setMinimumWidth(
            header.length() + 2 * self.table.frameWidth()
            + self.table.verticalScrollBar().sizeHint().width())
        lines = list(self.analysis.describe_verdict())
        c = self.report.get('contrastive')
        if c:
            lines.append(
                _(
                    'Pairs: {pairs}; alignment {alignment:.4f}, uniformity {uniformity:.4f}, '
                    'NT-Xent (τ = {temperature:g}) {ntxent:.4f}, triplet (margin {margin:g}) '
                    '{triplet:.4f}'
                ).format(
                    pairs=c['pairs'], alignment=_num(c['alignment']),
                    uniformity=_num(c['uniformity']), temperature=c['temperature'],
                    ntxent=_num(c['ntxent']), margin=c['margin'], triplet=_num(c['triplet']),
                )
            )
        head = self.analysis.get_head()
        assumption = head.get_assumption() if head is not None else None
        # the verdict may say it already (the library's describe_verdict())
        if assumption and not any(assumption in line for line in lines):
            lines.append('⚠ ' + assumption)
        self.verdict_label.setText('\n\n'.join(lines))

    def _add_maps(self, spec):
        """For a per-pixel stack: projection norm, mean and std and the zero fraction of each
        activation stage, as image layers with the source's geometry and scale."""
        info = self.analysis.get_source().get_info()
        if not info.is_per_pixel():
            return
        geometry = (info.get_frames(), info.get_depth(), info.get_height(), info.get_width())
        source = spec['features'].get('layer')
        scale = translate = None
        if source is not None and source in self.viewer.layers:
            layer = self.viewer.layers[source]
            # the source is C × (spatial); the maps are its spatial axes
            scale = tuple(layer.scale[1:])
            translate = tuple(layer.translate[1:])
        maps = []
        proj = self.analysis.find_stage('projections')
        if proj is not None:
            values = per_sample(proj)
            maps += [
                (_('projection norm'), values[:, 2], 'magma'),
                (_('projection mean'), values[:, 0], 'twilight_shifted'),
                (_('projection std'), values[:, 1], 'viridis'),
            ]
        Headrank = self.Headrank
        activations = (Headrank.LayerKind.RELU, Headrank.LayerKind.GELU, Headrank.LayerKind.SILU)
        for i in range(self.analysis.get_n_stages()):
            stage = self.analysis.get_stage(i)
            if stage.get_role() == Headrank.StageRole.HIDDEN and stage.get_layer_kind() in activations:
                maps.append(
                    (
                        _('zero fraction, layer {stage}').format(stage=stage.get_name()),
                        per_sample(stage)[:, 3],
                        'inferno',
                    )
                )
        # the maps cover each other and the source: only the first (the norm) is shown
        for index, (name, values, cmap) in enumerate(maps):
            img = samples_to_image(values, geometry)
            kwargs = {'name': name, 'colormap': cmap, 'visible': index == 0,
                      'metadata': {'headrank': {'kind': 'map'}}}
            if scale is not None and len(scale) == img.ndim:
                kwargs['scale'] = scale
                kwargs['translate'] = translate
            if name in self.viewer.layers:
                self.viewer.layers[name].data = img
            else:
                self.viewer.add_image(img, **kwargs)

    # -- saving --------------------------------------------------------------------------

    def save_plot(self, key, path):
        """Writes the figure @key ('explained_variance', 'singular_values', 'per_sample') of
        the results shown as a publication figure (light background, print size; PNG at 300
        dpi, SVG or PDF by the extension of @path), written whole."""
        if self.analysis is None:
            raise ValueError(_('There are no results to save: run the analysis first.'))
        ncols, draw = PLOTS[key]
        write_figure(draw, ncols, self.analysis, path)

    save_figure = save_plot

    def _save_plot_dialog(self, key):
        path, _unused = QFileDialog.getSaveFileName(
            self, _('Save figure'), key + '.png', _('Images (*.png *.svg *.pdf)')
        )
        if path:
            try:
                self.save_plot(key, path)
            except (OSError, ValueError) as e:
                self._error(str(e))

    def export_report(self, directory):
        """Writes the report as `headrank analyze --output` does; True on success, an error
        notification otherwise."""
        from gi.repository import GLib

        if self.analysis is None:
            return False
        try:
            self.analysis.write_report(os.fspath(directory), None)
        except GLib.Error as e:
            self._error(e.message)
            return False
        show_info(_('Report written to {directory}').format(directory=os.fspath(directory)))
        return True

    def _export_dialog(self):
        directory = QFileDialog.getExistingDirectory(self, _('Export report to a directory'))
        if directory:
            self.export_report(report_folder(directory))

    def closeEvent(self, event):  # noqa: N802 - Qt's name
        self.cancel()
        if self.results_dock is not None:
            try:
                self.viewer.window.remove_dock_widget(self.results_dock)
            except (AttributeError, KeyError, RuntimeError):
                pass
            self.results_dock = None
        super().closeEvent(event)


def _resize_dock(dock, fraction):
    """Makes the bottom dock @dock @fraction of its main window's height."""
    from qtpy.QtWidgets import QMainWindow

    try:
        window = dock.window()
    except RuntimeError:  # deleted meanwhile
        return
    if isinstance(window, QMainWindow) and window.height() > 0:
        window.resizeDocks([dock], [int(window.height() * fraction)], Qt.Vertical)


def report_folder(directory):
    """Where the report goes for a folder picked in the export dialog. A report replaces its
    folder as a whole, so the folder itself only when it is empty or holds an older report;
    otherwise a folder `headrank-report` in it (itself replaced if it holds a report, refused
    by the library if it holds other files)."""
    directory = Path(directory)
    if not any(directory.iterdir()) or (directory / 'report.json').is_file():
        return directory
    return directory / 'headrank-report'


def _count(n):
    return '?' if n is None else str(n)


def _num(value):
    return float('nan') if value is None else value
