"""A screenshot of napari with headrank's "Embedding explorer": a bundled per-pixel sample
loaded, its features projected onto their principal axes, the scatter coloured by the
per-pixel norm, the points with PC1 > 0 and PC2 > 0 selected with a polygon and shown on the
image; the whole window saved as a PNG.

    .venv/bin/python plugin/tools/screenshot_explorer.py [--build BUILD] [--sample cells]
                                                         [--output doc/images/napari-explorer.png]

Like screenshot.py (whose Xvfb it uses): napari in a real X window on a private Xvfb.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshot import start_xvfb  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default=str(ROOT / 'build'))
    ap.add_argument('--sample', choices=('cells', 'qpi-cell'), default='cells')
    ap.add_argument('--size', default='1600x1000')
    ap.add_argument('--output', default=str(ROOT / 'doc' / 'images' / 'napari-explorer.png'))
    args = ap.parse_args()

    os.environ.setdefault('HEADRANK_BUILD_DIR', args.build)
    if os.environ.get('DISPLAY'):
        os.environ.setdefault('QT_QPA_PLATFORM', 'xcb')
        sys.path.insert(0, str(ROOT / 'plugin'))
        shoot(args)
        return
    xvfb = start_xvfb(args.size)
    try:
        rc = subprocess.call([sys.executable, __file__] + sys.argv[1:])
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    sys.exit(rc)


def shoot(args):
    import warnings

    warnings.filterwarnings('ignore', message='System theme detection')
    import napari
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    from napari_headrank import _explorer
    from napari_headrank._explorer import ExplorerWidget

    errors = []
    _explorer.show_error = errors.append
    width, height = (int(v) for v in args.size.split('x'))
    viewer = napari.Viewer(show=True, title='napari — headrank')
    viewer.window._qt_window.resize(width, height)
    viewer.open_sample('napari-headrank', args.sample)
    explorer = ExplorerWidget(viewer)
    dock = viewer.window.add_dock_widget(explorer, name='Embedding explorer', area='right')
    viewer.window._qt_window.resizeDocks([dock], [int(width * 0.42)], Qt.Orientation.Horizontal)
    explorer.run()
    app = QApplication.instance()
    while explorer.worker is not None:
        app.processEvents()
    if explorer.status != 'done':
        sys.exit('screenshot_explorer.py: no result: {} {}'.format(explorer.status, errors))
    explorer.color_combo.setCurrentIndex(explorer.color_combo.findData('stat:norm'))
    ax = explorer.canvas.figure.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    explorer.select_polygon([(0, 0), (x1, 0), (x1, y1), (0, y1)])
    for layer in viewer.layers:
        if layer.metadata.get('headrank', {}).get('kind') == 'features':
            layer.visible = False
    viewer.reset_view()
    for _ in range(30):
        app.processEvents()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    img = viewer.screenshot(canvas_only=False, flash=False)
    from PIL import Image

    Image.fromarray(img).save(out, optimize=True)
    if out.stat().st_size > 500_000:
        Image.fromarray(img).convert('RGB').quantize(256).save(out, optimize=True)
    print('{}: {} × {}, {} bytes'.format(out, img.shape[1], img.shape[0], out.stat().st_size))
    viewer.close()


if __name__ == '__main__':
    main()
