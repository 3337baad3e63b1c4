"""Feature stacks between napari and the library: TIFFs opened by the library, VisCy zarr
stores read with ``zarr`` and handed over as bytes, layers written to temporary TIFFs for
the analysis (which reads its stacks with Headrank.StackReader).

No numbers are computed here: arrays are only reshaped between the library's N × D
sample order (n = ((t·Z + z)·Y + y)·X + x for per-pixel stacks) and napari's images.
"""

import os
from pathlib import Path

import numpy as np

from ._i18n import _
from ._library import headrank

TIFF_SUFFIXES = ('.tif', '.tiff')
ZARR_SUFFIX = '.zarr'


class NotAFeatureStack(ValueError):
    """The file is not something this plugin reads as a feature stack."""


def _geometry(info):
    """(frames, depth, height, width) of a per-pixel stack's info."""
    return (info.get_frames(), info.get_depth(), info.get_height(), info.get_width())


def open_tiff(path):
    """A Headrank.StackReader over the TIFF @path, or NotAFeatureStack when the library does
    not read it as a feature stack (GLib.Error) or it is an 8-bit RGB(A) picture."""
    from gi.repository import GLib

    Headrank = headrank()
    try:
        reader = Headrank.StackReader.new(os.fspath(path), Headrank.StackLayout.AUTO, None)
    except GLib.Error as e:
        raise NotAFeatureStack(e.message) from e
    info = reader.get_info()
    if (
        info.get_sample_format() == Headrank.SampleFormat.UINT8
        and info.get_layout() == Headrank.StackLayout.CHANNELS
        and info.get_channels() in (3, 4)
    ):
        raise NotAFeatureStack(_('an 8-bit RGB picture is not a feature stack'))
    return reader


def read_tiff(path):
    """(array, info) of the feature stack in the TIFF @path: N × D for a matrix or pages,
    C × [T ×] [Z ×] Y × X for a per-pixel stack."""
    reader = open_tiff(path)
    info = reader.get_info()
    n, d = reader.get_n_samples(), reader.get_n_features()
    chunk = reader.read_chunk(n, None)
    x = np.frombuffer(chunk.get_data().get_data(), np.float32).reshape(n, d)
    if info.is_per_pixel():
        return pixels_to_image(x, _geometry(info)), info
    return x, info


def pixels_to_image(x, geometry):
    """N × C rows of a per-pixel stack → C × [T ×] [Z ×] Y × X (sizes 1 of T and Z dropped)."""
    t, z, h, w = geometry
    c = x.shape[1] if x.ndim == 2 else 1
    img = np.moveaxis(x.reshape(t, z, h, w, c), -1, 0)
    keep = [0] + [i + 1 for i, s in enumerate((t, z)) if s > 1] + [3, 4]
    return img.reshape([img.shape[i] for i in keep])


def samples_to_image(values, geometry):
    """One value per sample of a per-pixel stack → [T ×] [Z ×] Y × X."""
    return pixels_to_image(np.asarray(values).reshape(-1, 1), geometry)[0]


def image_to_pixels(img):
    """C × [T ×] [Z ×] Y × X → (N × C rows, (frames, depth, height, width))."""
    img = np.asarray(img, np.float32)
    c, rest = img.shape[0], img.shape[1:]
    if len(rest) == 2:
        t, z = 1, 1
    elif len(rest) == 3:
        t, z = 1, rest[0]
    elif len(rest) == 4:
        t, z = rest[0], rest[1]
    else:
        raise NotAFeatureStack(_('an image layer of features must be 2-D to 5-D'))
    h, w = rest[-2], rest[-1]
    rows = np.moveaxis(img, 0, -1).reshape(-1, c)
    return np.ascontiguousarray(rows), (t, z, h, w)


def feature_stack(x):
    """A Headrank.FeatureStack over a copy of the 2-D array @x, handed over as bytes."""
    from gi.repository import GLib

    Headrank = headrank()
    x = np.ascontiguousarray(x, np.float32)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise NotAFeatureStack(_('a feature stack must be a non-empty 2-D array'))
    return Headrank.FeatureStack.new_from_bytes(GLib.Bytes.new(x.tobytes()), x.shape[0], x.shape[1])


def write_tiff(path, rows, geometry=None):
    """Writes N × D @rows (with the per-pixel @geometry (t, z, h, w) when given) as a
    float32 TIFF through the library and returns a Headrank.StackReader on it."""
    Headrank = headrank()
    stack = feature_stack(rows)
    layout = Headrank.StackLayout.MATRIX
    if geometry is not None:
        t, z, h, w = geometry
        stack.set_info(Headrank.StackInfo.new_pixels(w, h, z, t))
        layout = Headrank.StackLayout.CHANNELS
    stack.write(os.fspath(path), layout, None)
    return Headrank.StackReader.new(os.fspath(path), layout, None)


# -- VisCy zarr stores -------------------------------------------------------------------


def _array(group, name):
    try:
        node = group[name]
    except KeyError:
        return None
    if not hasattr(node, 'shape'):
        return None
    return node


def read_zarr(path):
    """{'features': array, 'projections': array or None, 'format': 'anndata'|'xarray'} of a
    VisCy embedding store: AnnData zarr (``X`` = features, ``obsm/X_projections``) or the
    older xarray zarr (variables ``features`` and ``projections``). NotAFeatureStack when
    @path is neither."""
    try:
        import zarr
    except ImportError as e:  # pragma: no cover - zarr is a dependency
        raise NotAFeatureStack(str(e)) from e
    try:
        root = zarr.open_group(os.fspath(path), mode='r')
    except Exception as e:  # noqa: BLE001 - zarr raises many kinds for non-stores
        raise NotAFeatureStack(str(e)) from e
    x = _array(root, 'X')
    if x is not None:
        fmt = 'anndata'
        proj = None
        try:
            proj = _array(root['obsm'], 'X_projections')
        except KeyError:
            pass
    else:
        x = _array(root, 'features')
        if x is None:
            raise NotAFeatureStack(
                _('a zarr store without X (AnnData) or features (xarray) arrays')
            )
        fmt = 'xarray'
        proj = _array(root, 'projections')
    out = {'format': fmt, 'features': _as_matrix(x[...]), 'projections': None}
    if proj is not None:
        out['projections'] = _as_matrix(proj[...])
    # through the library: it takes the bytes, counts non-finite values and gives them back
    for key in ('features', 'projections'):
        if out[key] is not None:
            stack = feature_stack(out[key])
            out[key] = np.frombuffer(stack.get_data().get_data(), np.float32).reshape(
                stack.get_n_samples(), stack.get_n_features()
            )
    return out


def _as_matrix(a):
    a = np.asarray(a)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise NotAFeatureStack(_('the arrays of a zarr store must be numeric N × D matrices'))
    return a.astype(np.float32, copy=False)


def is_zarr(path):
    p = Path(os.fspath(path))
    return p.suffix.lower() == ZARR_SUFFIX or (
        p.is_dir() and any((p / n).exists() for n in ('.zgroup', 'zarr.json'))
    )
