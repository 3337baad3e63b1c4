"""The reader contribution: feature-stack TIFFs and VisCy embedding stores in zarr, both
read by the library (Headrank.StackReader, Headrank.ZarrSource). It claims only what it
reads as a feature stack and returns None for the rest, so napari's own TIFF reading stays
the default for pictures. Stacks larger than _stacks.LAZY_BYTES open lazily (Dask arrays
read through the source as napari shows them)."""

import os
from pathlib import Path

from ._i18n import _
from ._library import LibraryNotFound
from ._stacks import (
    TIFF_SUFFIXES,
    NotAFeatureStack,
    is_anndata,
    is_zarr,
    open_tiff,
    open_zarr,
    remember,
    source_data,
)

LAYOUT_NICKS = {0: 'auto', 1: 'matrix', 2: 'channels', 3: 'pages'}


def get_reader(path):
    """napari's reader hook: a function that reads @path, or None when @path is not a
    feature stack."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    path = os.fspath(path)
    try:
        if Path(path).suffix.lower() in TIFF_SUFFIXES:
            open_tiff(path)
            return read_feature_tiff
        if is_zarr(path):
            try:
                open_zarr(path)
            except NotAFeatureStack as e:
                if not is_anndata(path):
                    raise
                # an embedding store the library refuses (a sparse X, a codec it lacks):
                # claimed, so that napari shows why instead of "no reader found"
                return _refuse(e)
            return read_feature_zarr
    except (NotAFeatureStack, LibraryNotFound):
        return None
    return None


def _refuse(error):
    def read_refused(path):
        raise ValueError(str(error))

    return read_refused


def _headrank_meta(path, kind, data, lazy, **extra):
    """The layer's metadata: where it comes from, and (for the widget, which reads the
    source again instead of the layer while the layer holds what the reader made) the
    shape of the data and the key under which _stacks remembers them."""
    first = data[0] if isinstance(data, list) else data
    meta = dict(source=os.fspath(path), kind=kind, shape=tuple(first.shape), lazy=lazy,
                data_key=remember(first), **extra)
    return {'headrank': meta}


def _matrix_kwargs(name, meta, lazy):
    kwargs = {
        'name': name,
        'metadata': meta,
        'axis_labels': (_('sample'), _('feature')),
        'colormap': 'twilight_shifted',
    }
    if lazy:
        kwargs['multiscale'] = True
    return kwargs


def read_feature_tiff(path):
    if isinstance(path, list):
        path = path[0]
    reader = open_tiff(path)
    info = reader.get_info()
    x, lazy = source_data(reader)
    stem = Path(path).stem
    layout = LAYOUT_NICKS.get(int(info.get_layout()), 'auto')
    if info.is_per_pixel():
        axis_labels = ('c', 't', 'z', 'y', 'x')
        labels = axis_labels[:1] + axis_labels[5 - (x.ndim - 1):]
        meta = _headrank_meta(
            path,
            'features',
            x,
            lazy,
            layout=layout,
            per_pixel=True,
            geometry=(info.get_frames(), info.get_depth(), info.get_height(), info.get_width()),
        )
        kwargs = {'name': stem, 'metadata': meta, 'axis_labels': labels}
    else:
        meta = _headrank_meta(path, 'features', x, lazy, layout=layout, per_pixel=False)
        kwargs = _matrix_kwargs(stem, meta, lazy)
    return [(x, kwargs, 'image')]


def read_feature_zarr(path):
    KINDS = {'features': _('features'), 'projections': _('projections')}
    if isinstance(path, list):
        path = path[0]
    store = open_zarr(path)
    stem = Path(path).stem
    out = []
    for kind in ('features', 'projections'):
        source = store[kind]
        if source is None:
            continue
        x, lazy = source_data(source)
        meta = _headrank_meta(path, kind, x, lazy, store=store['format'],
                              array=source.get_array(), per_pixel=False)
        out.append((x, _matrix_kwargs('{} {}'.format(stem, KINDS[kind]), meta, lazy), 'image'))
    return out
