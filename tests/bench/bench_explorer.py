#!/usr/bin/env python3
"""Benchmark: how long the "Embedding explorer" holds up napari's main thread on a large
matrix layer. Each phase runs in Qt's event loop with a 10 ms timer ticking; the longest gap
between two ticks is the longest stall of the main thread (what a user feels as a frozen
viewer), printed with the phase's wall time:

- the pass (the features' analysis and Headrank.PcaProjection in the worker thread), then
  the result arriving in the main thread (layer.features published, the first view drawn:
  a density above 50,000 samples);
- switching to the 2-D scatter (at most 50,000 markers drawn);
- a polygon selection of about a quarter of the samples in the scatter (the mask, the
  table, layer.features, the redraw), then the same in the density view;
- napari drawing the explorer's points layer (hidden above 50,000 samples) when it is
  shown, and hidden again.

It also prints the CPU time (time.thread_time()) the explorer's own slots take in the main
thread: when the result arrives (_on_returned, which adds the layer to napari, and
_show_result, the first view) and for each selection (set_selection); the canvas's Agg
rendering, which Qt runs later, comes on top.

  DISPLAY=... HEADRANK_BUILD_DIR=build .venv/bin/python tests/bench/bench_explorer.py \
      [--visible-image] [N [D]]

N × D float32 standard-normal values (default 500,000 × 256) as an image layer in memory,
hidden as the plugin's reader adds a matrix (--visible-image: shown, as an image added by
hand; napari then slices it again when the explorer's 3-D points layer arrives, which is
napari's cost, in its main thread). Needs a display (an Xvfb is enough); the viewer is
shown, so that napari's canvas draws.
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'plugin'))


class SlotClock:
    """The main thread's CPU time in some methods of a class, summed by name."""

    def __init__(self):
        self.cpu = {}

    def wrap(self, cls, method, name):
        f = getattr(cls, method)

        def timed(*args, **kwargs):
            t = time.thread_time()
            try:
                return f(*args, **kwargs)
            finally:
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - t

        setattr(cls, method, timed)

    def take(self, name):
        return self.cpu.pop(name, 0.0)


class StallMeter:
    """The longest gap between the ticks of a 10 ms QTimer while a phase runs."""

    def __init__(self, app):
        from qtpy.QtCore import QTimer

        self.app = app
        self.gaps = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def run(self, start, done, settle=0.5):
        """Calls start() from the event loop, spins it until done() and @settle seconds
        more (the paints that draw_idle() asked for); returns (wall time, longest stall)."""
        from qtpy.QtCore import QTimer

        self.gaps = []
        t0 = time.perf_counter()
        self.last = t0
        QTimer.singleShot(0, start)
        self.app.processEvents()
        while not done():
            self.app.processEvents()
            time.sleep(0.001)
        t1 = time.perf_counter()
        while time.perf_counter() < t1 + settle:
            self.app.processEvents()
            time.sleep(0.001)
        return t1 - t0, max(self.gaps) if self.gaps else 0.0


def main():
    import numpy as np
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_headrank._explorer import VIEW_2D, VIEW_DENSITY, ExplorerWidget

    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    visible = '--visible-image' in sys.argv
    n = int(args[0]) if len(args) > 0 else 500_000
    d = int(args[1]) if len(args) > 1 else 256
    # before the widget connects its slots: the class's methods, timed
    clock = SlotClock()
    clock.wrap(ExplorerWidget, '_on_returned', 'result')
    clock.wrap(ExplorerWidget, '_show_result', 'result')
    clock.wrap(ExplorerWidget, 'set_selection', 'selection')
    x = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
    viewer = napari.Viewer(show=True)
    viewer.add_image(x, name='matrix', visible=visible)
    explorer = ExplorerWidget(viewer)
    viewer.window.add_dock_widget(explorer, area='right')
    app = QApplication.instance()
    meter = StallMeter(app)
    meter.run(lambda: None, lambda: True)
    seconds, stall = meter.run(explorer.run, lambda: explorer.status is not None)
    print(f'{n} × {d}: {explorer.status}; pass, layer.features and first view '
          f'({explorer.view_combo.currentData()}) {seconds:.2f} s, longest stall of the '
          f'main thread {stall:.2f} s; the explorer\'s slots {clock.take("result"):.3f} s '
          f'of CPU')

    def view(key):
        return lambda: explorer.view_combo.setCurrentIndex(explorer.view_combo.findData(key))

    seconds, stall = meter.run(view(VIEW_2D), lambda: True)
    print(f'scatter 2-D: longest stall {stall:.2f} s')
    x0, x1 = 0.0, 100.0
    square = [(x0, x0), (x1, x0), (x1, x1), (x0, x1)]
    seconds, stall = meter.run(lambda: explorer.select_polygon(square), lambda: True)
    print(f'selection of {int(explorer.selected.sum())} samples in the scatter: longest '
          f'stall {stall:.2f} s; the explorer\'s slots {clock.take("selection"):.3f} s of CPU')
    seconds, stall = meter.run(view(VIEW_DENSITY), lambda: True)
    print(f'density with that selection: longest stall {stall:.2f} s')
    seconds, stall = meter.run(lambda: explorer.select_polygon(square[::-1]), lambda: True)
    print(f'selection again in the density view: longest stall {stall:.2f} s; the '
          f'explorer\'s slots {clock.take("selection"):.3f} s of CPU')
    points = viewer.layers[explorer.layers['features']]
    was = points.visible
    seconds, stall = meter.run(lambda: setattr(points, 'visible', True), lambda: True)
    print(f'napari showing the {len(points.data)}-point layer {points.name!r} (it was '
          f'{"shown" if was else "hidden"}): longest stall {stall:.2f} s')
    seconds, stall = meter.run(lambda: setattr(points, 'visible', False), lambda: True)
    print(f'napari hiding it again: longest stall {stall:.2f} s')
    viewer.close()


if __name__ == '__main__':
    main()
