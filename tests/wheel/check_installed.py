"""The plugin as `pip install` put it into a fresh venv, run with no variable that points
anywhere (no PYTHONPATH, GI_TYPELIB_PATH, LD_LIBRARY_PATH, HEADRANK_*), from a folder
outside the source tree: everything it loads comes from the venv's site directory.

    VENV/bin/python check_installed.py
"""
import os
import sys
import sysconfig
from pathlib import Path

site = Path(sysconfig.get_path('purelib')).resolve()
for var in ('PYTHONPATH', 'GI_TYPELIB_PATH', 'LD_LIBRARY_PATH', 'HEADRANK_BUILD_DIR',
            'HEADRANK_PREFIX', 'HEADRANK_DATADIR', 'HEADRANK_LOCALEDIR'):
    assert var not in os.environ, var + ' is set'

import napari_headrank  # noqa: E402
from napari_headrank._library import headrank, localedir, numpy_helper  # noqa: E402
from napari_headrank._sample_data import datadir  # noqa: E402

Headrank = headrank()
from gi.repository import GIRepository  # noqa: E402

typelib = Path(GIRepository.Repository.get_default().get_typelib_path('Headrank'))
libraries = {Path(line.split()[-1]) for line in open('/proc/self/maps') if 'libheadrank' in line}
helper = Path(numpy_helper().__file__)
print('package ', napari_headrank.__file__)
print('typelib ', typelib)
print('library ', *libraries)
print('helper  ', helper)
print('locale  ', localedir())
print('data    ', datadir())
# the venv is made inside the build tree: "not in the source tree" would not say much;
# everything in the venv's site directory, which only pip wrote, does
inside = [Path(napari_headrank.__file__), typelib, helper, Path(localedir()), datadir(), *libraries]
for p in inside:
    assert p.resolve().is_relative_to(site), f'{p} is not in {site}'
assert len(libraries) == 1, libraries
assert next(iter(libraries)).parent.name == '.napari_headrank.mesonpy.libs'

# the bundled sample through the bundled library: the numbers README.md shows
stack = Headrank.FeatureStack.new_from_file(str(datadir() / 'sample-embeddings.tif'),
                                            Headrank.StackLayout.AUTO, None)
assert (stack.get_n_samples(), stack.get_n_features()) == (4096, 64)
# the library's errors arrive in its domain
try:
    Headrank.FeatureStack.new_from_file(str(datadir() / 'README.md'),
                                        Headrank.StackLayout.AUTO, None)
    raise AssertionError('README.md read as a feature stack')
except Exception as e:  # GLib.Error
    assert getattr(e, 'domain', '') == 'hr-stack-error-quark', e

# the plugin's strings from the bundled catalogue
os.environ['LANGUAGE'] = 'de'
import gettext  # noqa: E402

de = gettext.translation('headrank', localedir=localedir(), languages=['de'])
message = 'headrank sample data not found; set HEADRANK_DATADIR to the data directory'
assert de.gettext(message) != message, 'no German in the bundled catalogue'
print('ok: package, typelib, library, helper, catalogues and sample data from', site)
