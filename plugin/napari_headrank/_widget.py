"""The dock widget "Projection head diagnostics": a headrank analysis of a stack through a
projection head, run in a worker thread, shown as plots, a table and the verdict, and for
per-pixel stacks as image layers aligned with the source."""

import json
import os
from pathlib import Path

import numpy as np
from qtpy.QtCore import QObject, Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ._i18n import _
from ._library import LibraryNotFound, headrank, numpy_helper
from ._plots import (
    PlotCanvas,
    draw_explained_variance,
    draw_per_sample,
    draw_singular_values,
    per_sample,
    theme_colors,
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


def show_error(message):
    """Errors go to napari's notifications (looked up at call time, so that tests can
    replace it)."""
    from napari.utils import notifications

    notifications.show_error(message)


def show_info(message):
    from napari.utils import notifications

    notifications.show_info(message)


class _Signals(QObject):
    """Progress from the worker thread, delivered in the main thread (queued)."""

    progress = Signal(float)


class _PathEdit(QWidget):
    """A line edit with a browse button."""

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
        button.clicked.connect(self._browse)

    def _browse(self):
        path, _unused = QFileDialog.getOpenFileName(self, self._caption, '', self._filter)
        if path:
            self.edit.setText(path)

    def text(self):
        return self.edit.text().strip()

    def setText(self, text):
        self.edit.setText(os.fspath(text))


def _rank_cell(stage):
    """The rank, or its range ("61–64") when singular values lie between the noise floor
    and the tolerance (report.json's rank_range)."""
    low, high = stage.get('rank_range', [stage['rank'], stage['rank']])
    return str(stage['rank']) if low == high else f'{low}–{high}'


class HeadrankWidget(QWidget):
    """Projection head diagnostics."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.analysis = None
        self.report = None
        self.worker = None
        self.cancellable = None
        self._signals = _Signals()
        self._signals.progress.connect(self._on_progress)
        self.status = None
        try:
            self.Headrank = headrank()
        except LibraryNotFound as e:
            self.Headrank = None
            layout = QVBoxLayout(self)
            label = QLabel(str(e))
            label.setWordWrap(True)
            layout.addWidget(label)
            show_error(str(e))
            return
        self._build()
        self._refresh_layers()
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.events.theme.connect(self._apply_theme)
        self._apply_theme()

    # -- the form ------------------------------------------------------------------------

    def _build(self):
        Headrank = self.Headrank
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        self.features_combo = QComboBox()
        self.features_file = _PathEdit(_('Features'), _('Feature stacks (*.tif *.tiff)'))
        form.addRow(_('Features:'), self.features_combo)
        form.addRow(_('Features file:'), self.features_file)
        self.features_combo.currentIndexChanged.connect(self._update_enabled)

        self.head_source = QComboBox()
        self.head_source.addItem(_('A head: preset and weights file'), HEAD_PRESET)
        self.head_source.addItem(_('Projections computed elsewhere (a layer)'), HEAD_PROJECTIONS)
        self.head_source.addItem(_('No head: the features alone'), HEAD_NONE)
        self.head_source.currentIndexChanged.connect(self._update_enabled)
        form.addRow(_('Head:'), self.head_source)

        self.preset_combo = QComboBox()
        for preset in Headrank.Head.list_presets():
            self.preset_combo.addItem(preset, preset)
        form.addRow(_('Architecture:'), self.preset_combo)
        self.weights_file = _PathEdit(_('Weights'), _('Weights (*.safetensors)'))
        form.addRow(_('Weights file:'), self.weights_file)
        self.projections_combo = QComboBox()
        form.addRow(_('Projections layer:'), self.projections_combo)

        self.norm_combo = QComboBox()
        self.norm_combo.addItem(_('Running statistics (eval mode)'), Headrank.NormMode.RUNNING)
        self.norm_combo.addItem(_('Batch statistics (training mode)'), Headrank.NormMode.BATCH)
        self.norm_combo.currentIndexChanged.connect(self._update_enabled)
        form.addRow(_('BatchNorm:'), self.norm_combo)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(2, 1 << 20)
        self.batch_size.setValue(256)
        form.addRow(_('Batch size:'), self.batch_size)
        self.pairs_file = _PathEdit(_('Positive pairs'), _('Pairs (*.csv *.txt)'))
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
        track_row = QHBoxLayout()
        track_row.addWidget(self.track_pairs)
        track_row.addWidget(self.track_dt)
        form.addRow(_('Pairs from tracks:'), track_row)
        self.track_pairs.toggled.connect(self._update_enabled)

        buttons = QHBoxLayout()
        self.run_button = QPushButton(_('Run'))
        self.cancel_button = QPushButton(_('Cancel'))
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        layout.addWidget(self.progress)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)

        self.tabs = QTabWidget()
        self.canvases = {
            'explained_variance': PlotCanvas(2),
            'singular_values': PlotCanvas(1),
            'per_sample': PlotCanvas(2),
        }
        titles = {
            'explained_variance': _('Explained variance'),
            'singular_values': _('Singular values'),
            'per_sample': _('Per sample'),
        }
        for key, canvas in self.canvases.items():
            page = QWidget()
            v = QVBoxLayout(page)
            canvas.setMinimumHeight(260)
            v.addWidget(canvas)
            save = QPushButton(_('Save plot…'))
            save.clicked.connect(lambda _checked=False, k=key: self._save_plot_dialog(k))
            v.addWidget(save)
            self.tabs.addTab(page, titles[key])

        page = QWidget()
        v = QVBoxLayout(page)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        v.addWidget(self.table)
        self.tabs.addTab(page, _('Rank measures'))
        layout.addWidget(self.tabs, 1)
        # the verdict in words, below whichever tab is shown
        self.verdict_label = QLabel()
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.verdict_label)

        self.export_button = QPushButton(_('Export report…'))
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        layout.addWidget(self.export_button)
        self._update_enabled()

    def _image_layers(self):
        from napari.layers import Image

        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _refresh_layers(self, event=None):
        for combo, none_text in (
            (self.features_combo, _('(the file below)')),
            (self.projections_combo, None),
        ):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            if none_text is not None:
                combo.addItem(none_text, None)
            for layer in self._image_layers():
                meta = layer.metadata.get('headrank', {})
                if meta.get('kind') == 'map':
                    continue
                combo.addItem(layer.name, layer.name)
            index = combo.findData(current) if current is not None else -1
            if index < 0:
                index = self._default_index(combo)
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)
        self._update_enabled()

    def _default_index(self, combo):
        """The last layer the reader made as features (or projections)."""
        want = 'projections' if combo is self.projections_combo else 'features'
        for i in range(combo.count() - 1, -1, -1):
            name = combo.itemData(i)
            if name is not None and name in self.viewer.layers:
                if self.viewer.layers[name].metadata.get('headrank', {}).get('kind') == want:
                    return i
        return -1

    def _update_enabled(self, *args):
        if self.Headrank is None:
            return
        source = self.head_source.currentData()
        self.features_file.setEnabled(self.features_combo.currentData() is None)
        self.preset_combo.setEnabled(source == HEAD_PRESET)
        self.weights_file.setEnabled(source == HEAD_PRESET)
        self.norm_combo.setEnabled(source == HEAD_PRESET)
        self.batch_size.setEnabled(
            source == HEAD_PRESET and self.norm_combo.currentData() == self.Headrank.NormMode.BATCH
        )
        self.projections_combo.setEnabled(source == HEAD_PROJECTIONS)
        tracks = self._tracks_store() is not None
        self.track_pairs.setEnabled(tracks)
        self.track_dt.setEnabled(tracks and self.track_pairs.isChecked())

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
            spec['weights'] = weights
            spec['arch'] = self.preset_combo.currentData()
            spec['norm_mode'] = self.norm_combo.currentData()
            spec['batch_size'] = self.batch_size.value()
        elif source == HEAD_PROJECTIONS:
            pname = self.projections_combo.currentData()
            if pname is None:
                raise ValueError(_('Choose the layer of projections.'))
            spec['projections'] = self._layer_input(pname)
        pairs = self.pairs_file.text()
        if pairs:
            spec['pairs'] = pairs
        store = self._tracks_store()
        if store is not None and self.track_pairs.isChecked():
            if pairs:
                raise ValueError(_('Give either a pairs file or temporal pairs, not both.'))
            spec['track_pairs'] = (store, self.track_dt.value())
        return spec

    def run(self):
        """Starts the analysis in a worker thread."""
        from napari.qt.threading import create_worker

        if self.worker is not None:
            return
        try:
            spec = self.collect()
        except ValueError as e:
            show_error(str(e))
            return
        from gi.repository import Gio

        self.cancellable = Gio.Cancellable()
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.export_button.setEnabled(False)
        self.worker = create_worker(self._work, spec, self.cancellable, _start_thread=False)
        self.worker.returned.connect(self._on_returned)
        self.worker.start()

    def cancel(self):
        if self.cancellable is not None:
            self.cancellable.cancel()

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
        from gi.repository import Gio, GLib

        Headrank = self.Headrank
        try:
            features, _geom = self._source_of(spec['features'])
            analysis = Headrank.Analysis.new_for_source(features)
            if spec['head_source'] == HEAD_PRESET:
                head = Headrank.Head.new_from_file(spec['weights'], spec['arch'], None, None)
                analysis.set_head(head)
                analysis.set_norm_mode(spec['norm_mode'])
                if spec['norm_mode'] == Headrank.NormMode.BATCH:
                    analysis.set_batch_size(spec['batch_size'])
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
            if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                return ('cancelled', None, spec)
            return ('error', e.message, spec)
        except Exception as e:  # noqa: BLE001 - shown as a notification, not a traceback
            return ('error', str(e), spec)

    def _on_progress(self, fraction):
        self.progress.setValue(int(round(fraction * 1000)))

    def _on_returned(self, result):
        status, value, spec = result
        self.worker = None
        self.cancellable = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.status = status
        if status == 'cancelled':
            self.progress.setValue(0)
            show_info(_('The analysis was cancelled.'))
            return
        if status == 'error':
            self.progress.setValue(0)
            show_error(value)
            return
        self.progress.setValue(1000)
        self.analysis = value
        self.report = json.loads(value.to_json(False))
        self._show(spec)
        self.export_button.setEnabled(True)

    # -- results -------------------------------------------------------------------------

    def _show(self, spec):
        a = self.analysis
        draw_explained_variance(self.canvases['explained_variance'], a)
        draw_singular_values(self.canvases['singular_values'], a)
        draw_per_sample(self.canvases['per_sample'], a)
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
                s['name'],
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
        """Saves the figure @key ('explained_variance', 'singular_values', 'per_sample')."""
        self.canvases[key].figure.savefig(os.fspath(path),
                                          facecolor=self.canvases[key].figure.get_facecolor())

    def _save_plot_dialog(self, key):
        path, _unused = QFileDialog.getSaveFileName(
            self, _('Save plot'), key + '.png', _('Images (*.png *.svg *.pdf)')
        )
        if path:
            try:
                self.save_plot(key, path)
            except (OSError, ValueError) as e:
                show_error(str(e))

    def export_report(self, directory):
        """Writes the report as `headrank analyze --output` does; True on success, an error
        notification otherwise."""
        from gi.repository import GLib

        if self.analysis is None:
            return False
        try:
            self.analysis.write_report(os.fspath(directory), None)
        except GLib.Error as e:
            show_error(e.message)
            return False
        show_info(_('Report written to {directory}').format(directory=os.fspath(directory)))
        return True

    def _export_dialog(self):
        directory = QFileDialog.getExistingDirectory(self, _('Export report to a directory'))
        if directory:
            self.export_report(report_folder(directory))

    def closeEvent(self, event):  # noqa: N802 - Qt's name
        self.cancel()
        super().closeEvent(event)


def report_folder(directory):
    """Where the report goes for a folder picked in the export dialog. A report replaces its
    folder as a whole, so the folder itself only when it is empty or holds an older report;
    otherwise a folder `headrank-report` in it (itself replaced if it holds a report, refused
    by the library if it holds other files)."""
    directory = Path(directory)
    if not any(directory.iterdir()) or (directory / 'report.json').is_file():
        return directory
    return directory / 'headrank-report'


def _num(value):
    return float('nan') if value is None else value
