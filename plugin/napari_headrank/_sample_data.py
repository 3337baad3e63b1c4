"""Sample data: the bundled files of headrank's data/ directory."""

import os
from pathlib import Path

from ._i18n import _

_SOURCE_DATA = Path(__file__).resolve().parents[2] / 'data'


def datadir():
    """headrank's data directory: HEADRANK_DATADIR, the package's own data/ (installed
    from the wheel), the data/ of the clone the plugin runs from, or the installed
    $datadir/headrank (under HEADRANK_PREFIX, /usr/local, /usr)."""
    candidates = []
    env = os.environ.get('HEADRANK_DATADIR')
    if env:
        candidates.append(Path(env))
    candidates.append(Path(__file__).resolve().parent / 'data')
    candidates.append(_SOURCE_DATA)
    prefix = os.environ.get('HEADRANK_PREFIX')
    if prefix:
        candidates.append(Path(prefix) / 'share' / 'headrank')
    candidates += [Path('/usr/local/share/headrank'), Path('/usr/share/headrank')]
    for d in candidates:
        if (d / 'sample-embeddings.tif').is_file():
            return d
    raise FileNotFoundError(
        _('headrank sample data not found; set HEADRANK_DATADIR to the data directory')
    )


def _read(name):
    from ._reader import read_feature_tiff

    return read_feature_tiff(str(datadir() / name))


def _image(name, layer_name):
    from ._stacks import read_tiff

    # a one-page grey image is a matrix to the library: its rows are the image's rows
    x, _info = read_tiff(str(datadir() / name))
    return (x, {'name': layer_name, 'colormap': 'gray'}, 'image')


def sample_embeddings():
    """4096 cell embeddings × 64 features (tracks at t and t+1)."""
    return _read('sample-embeddings.tif')


def sample_qpi_cell():
    """A real quantitative phase image of a cell and its 16 per-pixel features."""
    return [_image('sample-qpi-cell.tif', _('cell (quantitative phase)'))] + _read(
        'sample-qpi-cell-features.tif'
    )


def sample_cells():
    """Synthetic cells and their 12 per-pixel filter features."""
    return [_image('sample-cells.tif', _('cells'))] + _read('sample-features.tif')
