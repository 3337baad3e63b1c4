"""Matplotlib figures of an analysis: drawn in Qt docks (with matplotlib's navigation
toolbar, coloured after napari's theme) and saved as publication figures (a light
background, a print size, written whole: a temporary file renamed over the target).

Every number drawn comes from the library (Headrank.Spectrum, Headrank.Stage); this module
only places it on axes.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.figure import Figure
from qtpy.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ._i18n import _

# distinguishable on napari's dark and light canvases
PALETTE = ('#4c9be8', '#f28e2b', '#59c36a', '#e15759', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7')


def stage_label(stage):
    """A stage as the command's tables name it: a hidden layer with its kind ("1 (relu)"),
    the features and projections by name. @stage: a Headrank.Stage or a stage of
    report.json."""
    if isinstance(stage, dict):
        name, hidden, kind = stage['name'], stage.get('role') == 'hidden', stage.get('layer_kind')
    else:
        from ._library import headrank

        Headrank = headrank()
        name = stage.get_name()
        hidden = stage.get_role() == Headrank.StageRole.HIDDEN
        kind = Headrank.layer_kind_to_string(stage.get_layer_kind()) if hidden else None
    return '{} ({})'.format(name, kind) if hidden and kind else name


def theme_colors(viewer):
    """{'background', 'canvas', 'text', 'grid'} hex colours of the viewer's napari theme."""
    from napari.utils.theme import get_theme

    theme = get_theme(viewer.theme)

    def hexof(c):
        return c.as_hex() if hasattr(c, 'as_hex') else str(c)

    return {
        'background': hexof(theme.background),
        'canvas': hexof(theme.foreground),
        'text': hexof(theme.text),
        'grid': hexof(theme.primary),
    }


def theme_figure(figure, colors, grid=True):
    """Colours @figure after napari's theme (@colors of theme_colors()): its background,
    and of every axes (plots, colour bars, 3-D axes) the face, spines, ticks, labels,
    title, the legend and (@grid) the grid."""
    figure.set_facecolor(colors['background'])
    for ax in figure.axes:
        ax.set_facecolor(colors['canvas'])
        for spine in ax.spines.values():
            spine.set_color(colors['text'])
        ax.tick_params(colors=colors['text'], which='both')
        axes = [ax.xaxis, ax.yaxis] + ([ax.zaxis] if hasattr(ax, 'zaxis') else [])
        for axis in axes:
            axis.label.set_color(colors['text'])
            if hasattr(axis, 'set_pane_color'):  # 3-D axes: the panes behind the points
                axis.set_pane_color(colors['canvas'])
        ax.title.set_color(colors['text'])
        if grid and ax.get_label() != '<colorbar>':
            ax.grid(True, color=colors['grid'], linewidth=0.5, alpha=0.6)
        legend = ax.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor(colors['background'])
            legend.get_frame().set_edgecolor(colors['grid'])
            for t in legend.get_texts():
                t.set_color(colors['text'])


class PlotCanvas(FigureCanvasQTAgg):
    """A figure with 1 × @ncols axes, side by side (the plots dock is wide)."""

    def __init__(self, ncols=1, parent=None):
        self.figure = Figure(figsize=(5 * ncols, 3), layout='constrained')
        super().__init__(self.figure)
        self.setParent(parent)
        self.ncols = ncols
        self.axes = [self.figure.add_subplot(1, ncols, i + 1) for i in range(ncols)]
        self.colors = None

    def clear(self):
        for ax in self.axes:
            ax.clear()

    def apply_theme(self, colors):
        self.colors = colors
        theme_figure(self.figure, colors)
        self.draw_idle()

    def finish(self):
        if self.colors is not None:
            self.apply_theme(self.colors)
        else:
            self.draw_idle()


class PlotPanel(QWidget):
    """A PlotCanvas with matplotlib's navigation toolbar (zoom, pan, home; its own save
    button, which writes the on-screen figure in the theme's colours, is replaced by "Save
    figure…", which writes the publication figure)."""

    def __init__(self, canvas, on_save, parent=None):
        super().__init__(parent)
        self.canvas = canvas
        self.toolbar = NavigationToolbar2QT(canvas, self)
        for action in self.toolbar.actions():
            if action.text() in ('Save', 'Customize'):
                self.toolbar.removeAction(action)
        self.save_button = QPushButton(_('Save figure…'))
        self.save_button.setToolTip(
            _('A publication figure: light background, print size (PNG at 300 dpi, SVG or '
              'PDF)'))
        self.save_button.clicked.connect(on_save)
        self.save_button.setEnabled(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.toolbar, 1)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(canvas, 1)


class PaperFigure:
    """A figure off screen for a file, 1 × @ncols axes, in matplotlib's default light
    style: the same interface as PlotCanvas for the draw_* functions."""

    #: inches of one panel
    PANEL = (4.2, 3.3)

    def __init__(self, ncols=1):
        import matplotlib.style

        with matplotlib.style.context('default'):
            self.figure = Figure(figsize=(self.PANEL[0] * ncols, self.PANEL[1]),
                                 layout='constrained', facecolor='white')
            FigureCanvasAgg(self.figure)
            self.axes = [self.figure.add_subplot(1, ncols, i + 1) for i in range(ncols)]
        self.colors = None

    def clear(self):
        for ax in self.axes:
            ax.clear()

    def finish(self):
        for ax in self.axes:
            ax.grid(True, color='#d0d0d0', linewidth=0.5)


#: what "Save figure…" writes, by extension
FIGURE_FORMATS = {'.png': 'png', '.svg': 'svg', '.pdf': 'pdf'}


def write_figure(draw, ncols, analysis, path):
    """Draws @analysis with @draw on a PaperFigure of @ncols panels and writes it to @path
    (PNG at 300 dpi, SVG or PDF, by the extension) whole: into a temporary file beside
    @path, renamed over it when complete, so that @path is never half written. Raises
    ValueError for another extension, OSError when the file cannot be written."""
    import matplotlib.style

    path = Path(os.fspath(path))
    fmt = FIGURE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            _('{name}: a figure is written as .png, .svg or .pdf').format(name=path.name))
    with matplotlib.style.context('default'):
        paper = PaperFigure(ncols)
        draw(paper, analysis)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix='.' + path.name + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            paper.figure.savefig(f, format=fmt, dpi=300, facecolor='white')
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def clear_canvas(canvas):
    """Removes what an earlier analysis drew."""
    canvas.clear()
    canvas.finish()


def _spectral_stages(analysis):
    for i in range(analysis.get_n_stages()):
        stage = analysis.get_stage(i)
        spectrum = stage.get_spectrum()
        if spectrum is not None:
            yield stage, spectrum


def draw_explained_variance(canvas, analysis):
    """Per component (top) and cumulative (bottom) explained-variance ratio of every stage
    with a spectrum. Lines are labelled with the stage's label (stage_label())."""
    canvas.clear()
    per, cum = canvas.axes
    log = analysis.get_log_plots()
    for k, (stage, spectrum) in enumerate(_spectral_stages(analysis)):
        color = PALETTE[k % len(PALETTE)]
        ratio = np.asarray(spectrum.get_explained_variance_ratio(), np.float64)
        cumulative = np.asarray(spectrum.get_cumulative_explained_variance(), np.float64)
        x = np.arange(1, ratio.size + 1)
        per.plot(x, ratio, color=color, label=stage_label(stage), marker='.', markersize=3)
        cum.plot(x, cumulative, color=color, label=stage_label(stage))
    if log:
        per.set_xscale('log')
        per.set_yscale('log')
        cum.set_xscale('log')
        # ratios far below the largest are numerical zeros (beyond the rank): the curve
        # falls off the bottom of the axes there instead of stretching them to 1e-17
        top = max((max(line.get_ydata()) for line in per.get_lines()), default=1.0)
        per.set_ylim(top * 1e-6, top * 2)
    per.set_title(_('PCA: explained variance per component'))
    per.set_ylabel(_('ratio'))
    cum.set_title(_('Cumulative explained variance'))
    cum.set_xlabel(_('principal component'))
    cum.set_ylabel(_('cumulative ratio'))
    for ax in (per, cum):
        if ax.lines:
            ax.legend(fontsize='small')
    canvas.finish()


def draw_singular_values(canvas, analysis):
    """Centred (solid) and uncentred (dashed) singular values of every stage with a spectrum,
    with the rank tolerance (dotted)."""
    canvas.clear()
    (ax,) = canvas.axes
    for k, (stage, spectrum) in enumerate(_spectral_stages(analysis)):
        color = PALETTE[k % len(PALETTE)]
        name = stage.get_name()
        label = stage_label(stage)
        sv = np.asarray(spectrum.get_singular_values(), np.float64)
        usv = np.asarray(spectrum.get_uncentred_singular_values(), np.float64)
        x = np.arange(1, sv.size + 1)
        ax.plot(x, sv, color=color, label=label, gid='centred:' + name)
        ax.plot(x, usv, color=color, linestyle='--', gid='uncentred:' + name,
                label=_('{stage} (uncentred)').format(stage=label))
        ax.axhline(spectrum.get_tolerance(), color=color, linestyle=':', linewidth=0.8,
                   gid='tolerance:' + name)
        floor = spectrum.get_noise_floor()
        if 0 < floor < spectrum.get_tolerance():
            ax.axhline(floor, color=color, linestyle='-.', linewidth=0.6,
                       gid='noise-floor:' + name)
    ax.set_yscale('log')
    ax.set_title(_('Singular values (dotted: rank tolerance; dash-dotted: noise floor)'))
    ax.set_xlabel(_('index'))
    ax.set_ylabel(_('singular value'))
    if ax.lines:
        ax.legend(fontsize='small')
    canvas.finish()


def per_sample(stage):
    """The N × 4 per-sample statistics of @stage (mean, std, norm, zero fraction)."""
    data = stage.get_per_sample().get_data()
    return np.frombuffer(data, np.float32).reshape(-1, 4)


def draw_per_sample(canvas, analysis):
    """Per-sample mean (top) and std (bottom) of the projections, across dimensions."""
    canvas.clear()
    mean_ax, std_ax = canvas.axes
    stage = analysis.find_stage('projections')
    if stage is not None:
        values = per_sample(stage)
        x = np.arange(values.shape[0])
        mean_ax.plot(x, values[:, 0], linestyle='none', marker='.', markersize=1.5,
                     color=PALETTE[0], gid='mean')
        std_ax.plot(x, values[:, 1], linestyle='none', marker='.', markersize=1.5,
                    color=PALETTE[1], gid='std')
    mean_ax.set_title(_('Projections: mean of each sample (across dimensions)'))
    mean_ax.set_ylabel(_('mean'))
    std_ax.set_title(_('Projections: standard deviation of each sample'))
    std_ax.set_ylabel(_('std'))
    std_ax.set_xlabel(_('sample'))
    canvas.finish()
