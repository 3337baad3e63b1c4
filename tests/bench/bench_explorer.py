#!/usr/bin/env python3
"""Benchmark: the "Embedding explorer" on a large matrix layer: the pass (the features'
analysis for their per-sample table and axes, then Headrank.PcaProjection, in the worker
thread) with the layer.features table published, the first draw (a hexbin above 50,000
samples), a 2-D scatter of every sample, and a polygon selection of about a quarter of the
samples (table, features, image links, redraw).

  DISPLAY=... HEADRANK_BUILD_DIR=build .venv/bin/python tests/bench/bench_explorer.py [N [D]]

N × D float32 standard-normal values (default 500,000 × 64) as an image layer in memory.
Needs a display (an Xvfb is enough).
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'plugin'))


def main():
    import numpy as np
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_headrank._explorer import VIEW_2D, ExplorerWidget

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    x = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
    viewer = napari.Viewer(show=False)
    viewer.add_image(x, name='matrix')
    explorer = ExplorerWidget(viewer)
    app = QApplication.instance()
    t0 = time.perf_counter()
    explorer.run()
    while explorer.worker is not None:
        app.processEvents()
    t1 = time.perf_counter()
    explorer.canvas.draw()
    t2 = time.perf_counter()
    print(f'{n} × {d}: {explorer.status}; pass and layer.features {t1 - t0:.2f} s; first '
          f'draw ({explorer.view_combo.currentData()}) {t2 - t1:.2f} s')
    t0 = time.perf_counter()
    explorer.view_combo.setCurrentIndex(explorer.view_combo.findData(VIEW_2D))
    explorer.canvas.draw()
    print(f'scatter 2-D of every sample: {time.perf_counter() - t0:.2f} s')
    t0 = time.perf_counter()
    explorer.select_polygon([(0, 0), (100, 0), (100, 100), (0, 100)])
    explorer.canvas.draw()
    print(f'selection of {int(explorer.selected.sum())} samples and redraw: '
          f'{time.perf_counter() - t0:.2f} s')
    viewer.close()


if __name__ == '__main__':
    main()
