# Tests of the napari plugin (plugin/napari_headrank): pytest, pytest-qt and napari's
# make_napari_viewer fixture, offscreen.
#
# Run: meson test -C BUILD --suite plugin (the typelib and library of BUILD/lib, the
# catalogues of BUILD/po), or from the source root
#   HEADRANK_BUILD_DIR=build QT_QPA_PLATFORM=offscreen \
#     .venv/bin/python -m pytest -q tests/plugin
# napari's canvas (vispy) needs an OpenGL context, which Qt's offscreen platform makes
# through GLX: with no DISPLAY, a private Xvfb (Debian package xvfb) is started for the
# session; without Xvfb, the tests that need a viewer are skipped.
# The plugin is used from plugin/ of this tree whether or not it is pip-installed; its npe2
# manifest is registered with napari's plugin manager when the installed one is missing.
# HEADRANK_PLUGIN_INSTALLED=1 (tests/wheel): the plugin as pip installed it, with the
# library it bundles, never this tree's.
import os
import sys
from pathlib import Path

os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
os.environ.setdefault('XDG_RUNTIME_DIR', '/tmp/runtime-' + str(os.getuid()))
Path(os.environ['XDG_RUNTIME_DIR']).mkdir(mode=0o700, exist_ok=True)

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
PLUGIN = ROOT / 'plugin'
INSTALLED = os.environ.get('HEADRANK_PLUGIN_INSTALLED') == '1'
if not INSTALLED and str(PLUGIN) not in sys.path:
    sys.path.insert(0, str(PLUGIN))
if INSTALLED:
    import napari_headrank

    if Path(napari_headrank.__file__).resolve().is_relative_to(PLUGIN.resolve()):
        raise ImportError('HEADRANK_PLUGIN_INSTALLED=1, but napari_headrank comes from this '
                          'tree: ' + napari_headrank.__file__)

import atexit  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

NO_DISPLAY = None


def _start_xvfb():
    xvfb = shutil.which('Xvfb')
    if xvfb is None:
        return 'no DISPLAY and no Xvfb: napari needs OpenGL (apt-get install xvfb)'
    r, w = os.pipe()
    proc = subprocess.Popen([xvfb, '-displayfd', str(w), '-screen', '0', '1280x1024x24',
                             '-nolisten', 'tcp'], pass_fds=(w,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        return 'Xvfb did not start'
    os.environ['DISPLAY'] = ':' + number
    atexit.register(lambda: (proc.terminate(), proc.wait(10)))
    return None


if not os.environ.get('DISPLAY'):
    NO_DISPLAY = _start_xvfb()


@pytest.fixture
def make_napari_viewer(make_napari_viewer):
    if NO_DISPLAY:
        pytest.skip(NO_DISPLAY)
    return make_napari_viewer

DATA = Path(os.environ.get('HEADRANK_DATADIR') or ROOT / 'data')


@pytest.fixture(scope='session', autouse=True)
def _registered():
    """napari-headrank in npe2's plugin manager, from this tree's manifest when the
    installed plugin is not there."""
    import npe2

    pm = npe2.PluginManager.instance()
    pm.discover()
    if 'napari-headrank' not in pm._manifests:
        pm.register(npe2.PluginManifest.from_file(PLUGIN / 'napari_headrank' / 'napari.yaml'))
    yield


@pytest.fixture
def data_dir():
    return DATA


@pytest.fixture
def notes(monkeypatch):
    """What the widget sends to napari's notifications."""
    from napari_headrank import _widget

    seen = {'error': [], 'info': [], 'warning': []}
    monkeypatch.setattr(_widget, 'show_error', lambda m: seen['error'].append(m))
    monkeypatch.setattr(_widget, 'show_info', lambda m: seen['info'].append(m))
    monkeypatch.setattr(_widget, 'show_warning', lambda m: seen['warning'].append(m))
    return seen
