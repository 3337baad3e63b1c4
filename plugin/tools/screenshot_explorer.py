"""A screenshot of napari with headrank's "Embedding explorer": a bundled per-pixel sample
loaded, its features projected onto their principal axes, the scatter coloured by the
per-pixel norm, the points with PC1 > 0 and PC2 > 0 selected with a polygon and shown on the
image; the whole window saved as a PNG.

    .venv/bin/python plugin/tools/screenshot_explorer.py [--build BUILD] [--sample cells]
                                                         [--output doc/images/napari-explorer.png]

Like screenshot.py (whose Xvfb it uses): napari in a real X window on a private Xvfb.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshot import open_viewer, run_with_display, save_screenshot, wait_for  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default=str(ROOT / 'build'))
    ap.add_argument('--sample', choices=('cells', 'qpi-cell'), default='cells')
    ap.add_argument('--size', default='1600x1000')
    ap.add_argument('--output', default=str(ROOT / 'doc' / 'images' / 'napari-explorer.png'))
    args = ap.parse_args()
    run_with_display(args, shoot, __file__)


def shoot(args):
    from qtpy.QtCore import Qt

    from napari_headrank import _explorer
    from napari_headrank._explorer import ExplorerWidget

    errors = []
    _explorer.show_error = errors.append
    viewer, width = open_viewer(args)
    explorer = ExplorerWidget(viewer)
    dock = viewer.window.add_dock_widget(explorer, name='Embedding explorer', area='right')
    viewer.window._qt_window.resizeDocks([dock], [int(width * 0.42)], Qt.Orientation.Horizontal)
    explorer.run()
    wait_for(explorer)
    if explorer.status != 'done':
        sys.exit('screenshot_explorer.py: no result: {} {}'.format(explorer.status, errors))
    explorer.color_combo.setCurrentIndex(explorer.color_combo.findData('stat:norm'))
    ax = explorer.canvas.figure.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    explorer.select_polygon([(0, 0), (x1, 0), (x1, y1), (0, y1)])
    for layer in viewer.layers:
        if layer.metadata.get('headrank', {}).get('kind') == 'features':
            layer.visible = False
    save_screenshot(viewer, args.output, 30)


if __name__ == '__main__':
    main()
