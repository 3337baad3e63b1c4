"""What the tests of the dock widget share: a widget docked in a new viewer, and a run
waited for until its worker is gone (the `notes` fixture is in conftest.py)."""
from napari_headrank._widget import HeadrankWidget


def make_widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = HeadrankWidget(viewer)
    qtbot.addWidget(widget)
    return viewer, widget


def run_and_wait(qtbot, widget, timeout=60000):
    widget.status = None
    widget.run()
    qtbot.waitUntil(lambda: widget.status is not None and widget.worker is None,
                    timeout=timeout)
    return widget.status
