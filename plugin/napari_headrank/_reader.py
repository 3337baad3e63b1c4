"""The reader contribution: feature-stack TIFFs (through the library) and VisCy embedding
stores in zarr. It claims only what it reads as a feature stack and returns None for the
rest, so napari's own TIFF reading stays the default for pictures."""

import os
from pathlib import Path

from ._i18n import _
from ._library import LibraryNotFound
from ._stacks import (
    TIFF_SUFFIXES,
    NotAFeatureStack,
    is_zarr,
    open_tiff,
    read_tiff,
    read_zarr,
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
            read_zarr(path)
            return read_feature_zarr
    except (NotAFeatureStack, LibraryNotFound):
        return None
    return None


def _headrank_meta(path, kind, **extra):
    return {'headrank': dict(source=os.fspath(path), kind=kind, **extra)}


def read_feature_tiff(path):
    if isinstance(path, list):
        path = path[0]
    x, info = read_tiff(path)
    stem = Path(path).stem
    layout = LAYOUT_NICKS.get(int(info.get_layout()), 'auto')
    if info.is_per_pixel():
        axis_labels = ('c', 't', 'z', 'y', 'x')
        labels = axis_labels[:1] + axis_labels[5 - (x.ndim - 1):]
        meta = _headrank_meta(
            path,
            'features',
            layout=layout,
            per_pixel=True,
            geometry=(info.get_frames(), info.get_depth(), info.get_height(), info.get_width()),
            shape=x.shape,
        )
        kwargs = {'name': stem, 'metadata': meta, 'axis_labels': labels}
    else:
        meta = _headrank_meta(path, 'features', layout=layout, per_pixel=False, shape=x.shape)
        kwargs = {
            'name': stem,
            'metadata': meta,
            'axis_labels': (_('sample'), _('feature')),
            'colormap': 'twilight_shifted',
        }
    return [(x, kwargs, 'image')]


def read_feature_zarr(path):
    KINDS = {'features': _('features'), 'projections': _('projections')}
    if isinstance(path, list):
        path = path[0]
    store = read_zarr(path)
    stem = Path(path).stem
    out = []
    for kind in ('features', 'projections'):
        x = store[kind]
        if x is None:
            continue
        meta = _headrank_meta(path, kind, store=store['format'], per_pixel=False, shape=x.shape)
        out.append(
            (
                x,
                {
                    'name': '{} {}'.format(stem, KINDS[kind]),
                    'metadata': meta,
                    'axis_labels': (_('sample'), _('feature')),
                    'colormap': 'twilight_shifted',
                },
                'image',
            )
        )
    return out
