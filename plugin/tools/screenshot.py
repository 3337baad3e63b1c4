"""A screenshot of napari with headrank's plugin: the bundled sample loaded, the widget
"Projection head diagnostics" run on it, the whole window saved as a PNG.

    .venv/bin/python plugin/tools/screenshot.py [--build BUILD] [--sample embeddings|qpi-cell]
                                                [--tab N] [--output doc/images/napari-widget.png]

Runs napari under a private Xvfb (Debian package xvfb) when there is no DISPLAY, in a real X
window (Qt's xcb platform: Debian packages libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0
beside the ones tools/setup.sh installs), OpenGL through GLX with Mesa. BUILD (default build/) is a meson build
tree of headrank (typelib and library in BUILD/lib, catalogues in BUILD/po). The PNG is
reduced to a 256-colour palette when it would exceed 500 KB.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = {
    # sample key: (head preset, weights, pairs)
    'embeddings': ('viscy-v0', 'head-viscy-v0.safetensors', 'sample-pairs.csv'),
    'qpi-cell': ('viscy-v2', 'head-pixel-v2.safetensors', None),
}


def start_xvfb(size):
    xvfb = shutil.which('Xvfb')
    if xvfb is None:
        sys.exit('screenshot.py: no DISPLAY and no Xvfb (apt-get install xvfb)')
    r, w = os.pipe()
    proc = subprocess.Popen(
        [xvfb, '-displayfd', str(w), '-screen', '0', size + 'x24', '-nolisten', 'tcp'],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        os.environ['DISPLAY'] = ':' + f.readline().strip()
    return proc


def run_with_display(args, shoot, script):
    """Calls shoot(args) where there is a DISPLAY; else runs @script again (with the same
    arguments) on a private Xvfb of args.size and exits with its status."""
    os.environ.setdefault('HEADRANK_BUILD_DIR', args.build)
    if os.environ.get('DISPLAY'):
        # a real X window, so that napari's OpenGL canvas is in the screenshot
        os.environ.setdefault('QT_QPA_PLATFORM', 'xcb')
        sys.path.insert(0, str(ROOT / 'plugin'))
        shoot(args)
        return
    # napari in a child process that has closed its X connection before Xvfb stops
    xvfb = start_xvfb(args.size)
    try:
        rc = subprocess.call([sys.executable, script] + sys.argv[1:])
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    sys.exit(rc)


def open_viewer(args):
    """A napari window of args.size with the plugin's sample args.sample: (viewer, width)."""
    import warnings

    warnings.filterwarnings('ignore', message='System theme detection')
    import napari

    width, height = (int(v) for v in args.size.split('x'))
    viewer = napari.Viewer(show=True, title='napari — headrank')
    viewer.window._qt_window.resize(width, height)
    viewer.open_sample('napari-headrank', args.sample)
    return viewer, width


def wait_for(widget):
    """Processes Qt's events until @widget's worker is done."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    while widget.worker is not None:
        app.processEvents()


def save_screenshot(viewer, output, settle):
    """Saves the whole window of @viewer as the PNG @output (a 256-colour palette above
    500 KB) after @settle rounds of Qt's events, then closes it."""
    from qtpy.QtWidgets import QApplication

    viewer.reset_view()
    for _ in range(settle):
        QApplication.instance().processEvents()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    img = viewer.screenshot(canvas_only=False, flash=False)
    from PIL import Image

    Image.fromarray(img).save(out, optimize=True)
    if out.stat().st_size > 500_000:
        Image.fromarray(img).convert('RGB').quantize(256).save(out, optimize=True)
    print('{}: {} × {}, {} bytes'.format(out, img.shape[1], img.shape[0], out.stat().st_size))
    viewer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default=str(ROOT / 'build'))
    ap.add_argument('--sample', choices=sorted(SAMPLES), default='embeddings')
    ap.add_argument('--tab', type=int, default=0, help='the widget tab shown (0: explained variance)')
    ap.add_argument('--size', default='1600x1000')
    ap.add_argument('--output', default=str(ROOT / 'doc' / 'images' / 'napari-widget.png'))
    args = ap.parse_args()
    run_with_display(args, shoot, __file__)


def shoot(args):
    from qtpy.QtCore import Qt

    from napari_headrank import _widget
    from napari_headrank._sample_data import datadir
    from napari_headrank._widget import HEAD_PRESET, HeadrankWidget

    errors = []
    _widget.show_error = errors.append

    viewer, width = open_viewer(args)
    widget = HeadrankWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name='Projection head diagnostics', area='right')
    viewer.window._qt_window.resizeDocks([dock], [int(width * 0.45)], Qt.Orientation.Horizontal)
    preset, weights, pairs = SAMPLES[args.sample]
    data = datadir()
    widget.head_source.setCurrentIndex(widget.head_source.findData(HEAD_PRESET))
    widget.preset_combo.setCurrentIndex(widget.preset_combo.findData(preset))
    widget.weights_file.setText(data / weights)
    if pairs:
        widget.pairs_file.setText(data / pairs)
    widget.run()
    wait_for(widget)
    if widget.status != 'done':
        sys.exit('screenshot.py: the analysis did not finish: {} {}'.format(widget.status, errors))
    widget.tabs.setCurrentIndex(args.tab)
    if args.sample == 'qpi-cell':
        viewer.layers.selection.active = viewer.layers['projection norm']
    save_screenshot(viewer, args.output, 20)


if __name__ == '__main__':
    main()
