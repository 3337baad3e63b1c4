"""The reader contribution: VisCy embedding stores in zarr (Headrank.ZarrSource) and
feature-stack TIFFs (Headrank.StackReader), both read by the library.

napari chooses readers by file name alone (npe2's filename patterns; folders go to every
reader that accepts directories) and its "Choose reader" dialog preselects the first plugin
by display name. So the manifest claims ``*.zarr`` and folders only, and no TIFF pattern:
File ▸ Open and drag-and-drop of a TIFF (a photo, a microscopy image, any dtype) go to
napari's own reader without a question. get_reader() claims only what is clearly a feature
stack: a zarr store the library reads as features (or an AnnData store it refuses, so that
the reason shows), and, called directly, a TIFF that says it holds features
(_stacks.says_feature_stack); it returns None for the rest. Feature-stack TIFFs open as
layers from the widget ("Open as layers", read in a worker thread with progress), from the
sample menu, and with read_feature_stack() in Python.

Stacks larger than _stacks.LAZY_BYTES open lazily (Dask arrays read through the source as
napari shows them). A matrix (N × D, samples × features) is no picture: its layer is added
hidden, with ``metadata['headrank']['matrix']`` set, for a scatter of its samples (the
embedding explorer) to show it; the widget analyses it all the same."""

import os
from pathlib import Path

from napari.viewer import Viewer

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
    says_feature_stack,
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
            if says_feature_stack(open_tiff(path).get_info()):
                return _read_tiff
            return None
        if is_zarr(path):
            try:
                open_zarr(path)
            except NotAFeatureStack as e:
                if not is_anndata(path):
                    raise
                # an embedding store the library refuses (a sparse X, a codec it lacks):
                # claimed, so that napari shows why instead of "no reader found"
                return _refuse(e)
            return _read_zarr
    except (NotAFeatureStack, LibraryNotFound):
        return None
    return None


def _read_tiff(path):
    return read_feature_tiff(path)


def _read_zarr(path):
    return read_feature_zarr(path)


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
    # an image of a matrix means nothing (a 500,000 × 256 stack is a black canvas): hidden,
    # and marked for a scatter view
    meta['headrank']['matrix'] = True
    kwargs = {
        'name': name,
        'metadata': meta,
        'visible': False,
        'axis_labels': (_('sample'), _('feature')),
        'colormap': 'twilight_shifted',
    }
    if lazy:
        kwargs['multiscale'] = True
    return kwargs


def read_feature_stack(path, progress=None):
    """The layer data of the feature stack @path (a TIFF the library reads, whatever its
    sample format, or a VisCy zarr store), as napari's readers return them; @progress
    (fraction) as a stack read whole is read. Raises NotAFeatureStack with the library's
    reason."""
    path = os.fspath(path)
    if is_zarr(path):
        return read_feature_zarr(path, progress)
    return read_feature_tiff(path, progress)


def read_feature_tiff(path, progress=None):
    if isinstance(path, list):
        path = path[0]
    reader = open_tiff(path)
    info = reader.get_info()
    x, lazy = source_data(reader, progress)
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


def read_feature_zarr(path, progress=None):
    KINDS = {'features': _('features'), 'projections': _('projections')}
    if isinstance(path, list):
        path = path[0]
    store = open_zarr(path)
    stem = Path(path).stem
    out = []
    kinds = [k for k in ('features', 'projections') if store[k] is not None]
    for i, kind in enumerate(kinds):
        source = store[kind]
        step = None
        if progress is not None:
            def step(f, i=i):
                progress((i + f) / len(kinds))
        x, lazy = source_data(source, step)
        meta = _headrank_meta(path, kind, x, lazy, store=store['format'],
                              array=source.get_array(), per_pixel=False)
        out.append((x, _matrix_kwargs('{} {}'.format(stem, KINDS[kind]), meta, lazy), 'image'))
    return out


def layers_from_data(layer_data):
    """napari layers of the (data, kwargs, type) tuples a reader returned (the tuples' own
    source path stays in the metadata)."""
    from napari.layers import Layer

    return [Layer.create(data, kwargs, kind) for data, kwargs, kind in layer_data]


def add_feature_stack(viewer, path):
    """Reads the feature stack @path (read_feature_stack()) and adds its layers to
    @viewer, in the calling thread; returns the layers. The widget's "Open as layers" does
    the same in a worker thread."""
    layers = layers_from_data(read_feature_stack(path))
    for layer in layers:
        viewer.add_layer(layer)
    return layers


def open_viscy_store(viewer: Viewer, path=None):
    """File ▸ IO Utilities ▸ "Open a VisCy embedding store…": asks for a folder (unless
    @path is given) and opens it with this plugin's reader, through napari's own
    viewer.open(path, plugin="napari-headrank"). A dropped folder goes to napari's "Choose
    reader" dialog, which preselects napari's own reader (see the README, "Reader that stays
    out of the way"): this is the way to a store without that question. A folder that is
    no embedding store gets a notification with the library's reason. Returns the layers
    added."""
    from napari.utils.notifications import show_error

    if path is None:
        from qtpy.QtWidgets import QFileDialog

        path = QFileDialog.getExistingDirectory(None, _('Open a VisCy embedding store'))
        if not path:
            return []
    path = os.fspath(path)
    if not is_zarr(path):
        show_error(_('{path} is not a zarr store: choose the folder of a VisCy embedding '
                     'store').format(path=path))
        return []
    try:
        open_zarr(path)
    except NotAFeatureStack as e:
        reason = str(e)
        if reason.startswith(path + ': '):
            reason = reason[len(path) + 2:]
        show_error(_('Not a VisCy embedding store: {reason} ({path})').format(reason=reason,
                                                                            path=path))
        return []
    except LibraryNotFound as e:
        show_error(str(e))
        return []
    return viewer.open(path, plugin='napari-headrank')
