# The npe2 manifest (npe2 validate), the sample-data contributions, and the message when the
# library cannot be found.
import os
import shutil
import subprocess
import sys
from pathlib import Path

import npe2
import pytest

from conftest import PLUGIN

MANIFEST = PLUGIN / 'napari_headrank' / 'napari.yaml'


def test_npe2_validate_the_manifest():
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == 'napari-headrank'
    # npe2 validate: the schema, and that every command's python_name imports
    manifest.validate_imports()
    assert {r.command for r in manifest.contributions.readers} == {'napari-headrank.get_reader'}
    reader = manifest.contributions.readers[0]
    assert reader.accepts_directories
    # napari offers readers by name: no TIFF pattern, so pictures never meet this reader
    assert set(reader.filename_patterns) == {'*.zarr'}
    widgets = {w.display_name for w in manifest.contributions.widgets}
    assert {'Projection head diagnostics', 'Compare heads', 'Embedding explorer'} <= widgets


def test_npe2_validate_command_on_the_installed_plugin():
    npe2_cmd = shutil.which('npe2', path=os.path.dirname(sys.executable))
    pm = npe2.PluginManager.instance()
    installed = any(
        ep.name == 'napari-headrank'
        for ep in __import__('importlib.metadata').metadata.entry_points(group='napari.manifest'))
    if npe2_cmd is None or not installed:
        pytest.skip('napari-headrank is not pip-installed (pip install -e plugin/)')
    r = subprocess.run([npe2_cmd, 'validate', 'napari-headrank'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'valid' in r.stdout
    assert pm.get_manifest('napari-headrank').name == 'napari-headrank'


@pytest.mark.parametrize('key,layers', [
    ('embeddings', {'sample-embeddings': (4096, 64)}),
    ('qpi-cell', {'cell (quantitative phase)': (192, 192),
                  'sample-qpi-cell-features': (16, 192, 192)}),
    ('cells', {'cells': (128, 128), 'sample-features': (12, 128, 128)}),
])
def test_sample_data(make_napari_viewer, key, layers):
    viewer = make_napari_viewer()
    viewer.open_sample('napari-headrank', key)
    assert {layer.name: layer.data.shape for layer in viewer.layers} == layers


def test_a_clear_message_when_the_library_is_missing(tmp_path):
    # a copy of the package outside the tree, with no way to the build
    shutil.copytree(PLUGIN / 'napari_headrank', tmp_path / 'pkg' / 'napari_headrank')
    env = {k: v for k, v in os.environ.items()
           if k not in ('GI_TYPELIB_PATH', 'LD_LIBRARY_PATH', 'HEADRANK_BUILD_DIR',
                        'HEADRANK_PREFIX')}
    env['HEADRANK_BUILD_DIR'] = str(tmp_path / 'no-build')
    env['PYTHONPATH'] = str(tmp_path / 'pkg')
    code = ('from napari_headrank._library import headrank, LibraryNotFound\n'
            'try:\n    headrank()\nexcept LibraryNotFound as e:\n    print(e)\n')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    if 'Traceback' in r.stderr or r.returncode != 0:
        pytest.fail(r.stderr)
    if not r.stdout:
        pytest.skip('a system-wide headrank typelib is installed')
    assert 'cannot load the headrank library' in r.stdout
    assert 'HEADRANK_BUILD_DIR' in r.stdout and str(tmp_path / 'no-build') in r.stdout
