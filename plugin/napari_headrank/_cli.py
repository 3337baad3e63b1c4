"""The ``headrank`` command of the wheel (``pip install napari-headrank``).

The wheel holds the command's executable beside the library it links, in
``.napari_headrank.mesonpy.libs`` (its RUNPATH ``$ORIGIN/.`` finds the library there; meson
installs it into LIBDIR with -Dwheel=true). pip turns the console script ``headrank`` of
pyproject.toml into a launcher that calls main(), which replaces the Python process with
that executable: the arguments, standard streams, signals and exit status are the
command's own. An executable installed as a wheel script instead would land in the venv's
``bin/``, whose path to the library depends on the Python version and the install scheme.

The command finds its sample data and catalogues in the package (``data/``, ``locale/``)
through HEADRANK_DATADIR and HEADRANK_LOCALEDIR, set here unless the user set them.
"""

import os
import sys
from pathlib import Path

from ._i18n import _
from ._library import _bundled


def executable():
    """The bundled ``headrank`` executable, or None (a clone or an editable install)."""
    bundled = _bundled()
    if bundled is None:
        return None
    path = bundled[1] / 'headrank'
    return path if os.access(path, os.X_OK) else None


def main():
    path = executable()
    if path is None:
        sys.stderr.write('headrank: ' + _('this installation of napari-headrank has no '
                                          'headrank command (the wheel has one); build '
                                          'headrank with meson') + '\n')
        return 1
    package = Path(__file__).resolve().parent
    os.environ.setdefault('HEADRANK_DATADIR', str(package / 'data'))
    os.environ.setdefault('HEADRANK_LOCALEDIR', str(package / 'locale'))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, ['headrank'] + sys.argv[1:])
