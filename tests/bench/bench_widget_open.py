#!/usr/bin/env python3
"""Benchmark: how long napari's main thread stalls while a large feature stack opens, from
the widget's "Open as layers" (read and layers made in a worker thread) and, with
--main-thread, through add_feature_stack() in the main thread. The stall is the longest
gap between the ticks of a 10 ms QTimer while the file opens (the event loop is blocked for
that long: no repaint, no click).

  DISPLAY=... HEADRANK_BUILD_DIR=build .venv/bin/python tests/bench/bench_widget_open.py \
      [--pixels | --matrix] [--main-thread]

--pixels (the default): a per-pixel ImageJ stack of 32 channels × 2048 × 2048 float32
(512 MiB); --matrix: 524,288 × 256 float32 (512 MiB). Needs a display (an Xvfb is enough);
the TIFF is written once into the temp dir and read once before opening (warm page cache).
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'plugin'))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    kind = ap.add_mutually_exclusive_group()
    kind.add_argument('--pixels', action='store_true', help='a per-pixel stack (the default)')
    kind.add_argument('--matrix', action='store_true', help='an N × D matrix')
    ap.add_argument('--main-thread', action='store_true',
                    help='open with add_feature_stack() in the main thread')
    args = ap.parse_args()
    import numpy as np
    import tifffile

    tmp = Path(tempfile.gettempdir())
    rng = np.random.default_rng(1)
    if args.matrix:
        path = tmp / 'headrank-bench-widget-open-matrix.tif'
        if not path.exists():
            tifffile.imwrite(path, rng.standard_normal((524288, 256), np.float32))
    else:
        path = tmp / 'headrank-bench-widget-open-pixels.tif'
        if not path.exists():
            tifffile.imwrite(path, rng.standard_normal((32, 2048, 2048), np.float32),
                             imagej=True, metadata={'axes': 'CYX'})
    with open(path, 'rb') as f:
        while f.read(64 << 20):
            pass

    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_headrank._reader import add_feature_stack
    from napari_headrank._widget import HeadrankWidget

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    widget = HeadrankWidget(viewer)
    for _ in range(20):  # the window drawn once before timing
        app.processEvents()
        time.sleep(0.02)
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    t = time.perf_counter()
    if args.main_thread:
        QTimer.singleShot(0, lambda: add_feature_stack(viewer, path))
        while not len(viewer.layers):
            app.processEvents()
    else:
        widget.open_features_file(path)
        while widget.open_worker is not None:
            app.processEvents()
    for _ in range(20):  # let napari slice and draw
        app.processEvents()
        time.sleep(0.02)
    seconds = time.perf_counter() - t - 20 * 0.02
    timer.stop()
    print(f'{path.name} ({path.stat().st_size / 2**20:.0f} MiB), '
          f'{"main thread" if args.main_thread else "widget (worker thread)"}: open and show '
          f'{seconds:.2f} s, longest stall of the main thread {max(gaps):.2f} s')
    viewer.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
