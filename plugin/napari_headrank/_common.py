"""What the dock widgets ("Projection head diagnostics", "Compare heads", "Embedding
explorer") share: loading the library or saying why not, the layer choosers, and a run in a
worker thread with its Run and Cancel buttons and its progress bar. It has no strings to
translate (po/POTFILES.in does not list it): the widgets pass theirs.

A widget using WorkerMixin has the attributes worker, cancellable, run_button,
cancel_button and progress, and a method _on_returned(result) that the worker's result goes
to; its work runs in the worker thread and never raises (see outcome_of_error())."""

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from ._library import LibraryNotFound, headrank


class ProgressSignals(QObject):
    """Progress from the worker thread, delivered in the main thread (queued)."""

    progress = Signal(float)


def library_or_notice(widget, show_error):
    """The Headrank namespace, or None when the library is not found: then @widget shows the
    reason in a label and @show_error notifies it."""
    try:
        return headrank()
    except LibraryNotFound as e:
        label = QLabel(str(e))
        label.setWordWrap(True)
        QVBoxLayout(widget).addWidget(label)
        show_error(str(e))
        return None


def outcome_of_error(e):
    """A worker's result for a GLib.Error @e: ('cancelled', None) when it says the run was
    cancelled, else ('error', its message)."""
    from gi.repository import Gio

    if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
        return ('cancelled', None)
    return ('error', e.message)


def kind_of(layer):
    """What the reader made @layer as ('features', 'projections', 'map', …), or None."""
    return layer.metadata.get('headrank', {}).get('kind')


def image_layers(viewer, maps=False):
    """The image layers of @viewer, without the maps of results unless @maps."""
    from napari.layers import Image

    return [layer for layer in viewer.layers
            if isinstance(layer, Image) and (maps or kind_of(layer) != 'map')]


def fill_layer_combo(combo, layers, kind, none_text=None):
    """Fills @combo with the names of @layers, after an entry @none_text with no data when
    given. The layer chosen before stays chosen; else the last layer the reader made as
    @kind; else the first entry. The combo's signals are blocked meanwhile. Returns the data
    chosen before."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    first = 0
    if none_text is not None:
        combo.addItem(none_text, None)
        first = 1
    for layer in layers:
        combo.addItem(layer.name, layer.name)
    index = combo.findData(current) if current is not None else -1
    if index < 0:
        made = [first + i for i, layer in enumerate(layers) if kind_of(layer) == kind]
        index = made[-1] if made else 0
    combo.setCurrentIndex(index)
    combo.blockSignals(False)
    return current


class WorkerMixin:
    """Run, Cancel and the progress of a widget's work in a worker thread."""

    def _init_worker(self, viewer, signals=None):
        """Sets the widget's viewer, no worker, cancellable or status yet, and its signals
        (@signals, else a ProgressSignals), whose progress goes to self._on_progress()."""
        self.viewer = viewer
        self.worker = None
        self.cancellable = None
        self.status = None
        self._signals = signals if signals is not None else ProgressSignals()
        self._signals.progress.connect(self._on_progress)

    def _make_run_controls(self, layout, run_text, cancel_text, *more_buttons):
        """Adds to @layout a row of the buttons Run and Cancel (labelled @run_text and
        @cancel_text, translated by the caller) and @more_buttons, then the progress bar."""
        buttons = QHBoxLayout()
        self.run_button = QPushButton(run_text)
        self.cancel_button = QPushButton(cancel_text)
        self.cancel_button.setEnabled(False)
        for button in (self.run_button, self.cancel_button) + more_buttons:
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        layout.addWidget(self.progress)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)

    def _watch_layers(self):
        """Fills the layer choosers now and whenever a layer comes or goes."""
        self._refresh_layers()
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)

    def _start_worker(self, work, *args):
        """Runs work(*args, cancellable) in a worker thread; its result goes to
        self._on_returned()."""
        from gi.repository import Gio
        from napari.qt.threading import create_worker

        self.cancellable = Gio.Cancellable()
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.worker = create_worker(work, *args, self.cancellable, _start_thread=False)
        self.worker.returned.connect(self._on_returned)
        self.worker.start()

    def _worker_ended(self):
        """In _on_returned(): the widget is free for another run."""
        self.worker = None
        self.cancellable = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _set_progress(self, fraction):
        self.progress.setValue(int(round(fraction * 1000)))

    def cancel(self):
        if self.cancellable is not None:
            self.cancellable.cancel()
