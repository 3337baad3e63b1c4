"""Feature stacks between napari and the library, through its sources: TIFFs
(Headrank.StackReader) and VisCy zarr stores (Headrank.ZarrSource, read in C) become layers,
and layers reach the analysis as sources (a Headrank.MemorySource over the layer's array,
or the layer's file again when the layer is the file's): no temporary files.

Stacks up to LAZY_BYTES are read into numpy arrays; larger ones open lazily, as Dask arrays
whose blocks are read through the source when napari shows them (a matrix as a multiscale
pyramid of row-subsampled levels, so that the whole matrix on screen reads only the rows of
a coarse level).

No numbers are computed here: arrays are only reshaped between the library's N × D
sample order (n = ((t·Z + z)·Y + y)·X + x for per-pixel stacks) and napari's images.
"""

import os
import threading
import uuid
import weakref
from pathlib import Path

import numpy as np

from ._i18n import _
from ._library import headrank, numpy_helper

TIFF_SUFFIXES = ('.tif', '.tiff')
ZARR_SUFFIX = '.zarr'

#: Stacks larger than this (float32 bytes) open lazily (Dask arrays read on demand).
LAZY_BYTES = 64 << 20
#: About this many bytes of source rows per Dask block.
BLOCK_BYTES = 16 << 20
#: The coarsest level of a lazy matrix's pyramid has at most this many rows.
PYRAMID_ROWS = 2048


_made = weakref.WeakValueDictionary()


def remember(data):
    """A key under which the reader remembers the array it made for a layer (without
    keeping it alive), for is_reader_data()."""
    key = uuid.uuid4().hex
    _made[key] = data
    return key


def is_reader_data(key, data):
    """Whether @data is the very array the reader made under @key (a layer whose data were
    replaced, even by an array of the same shape, is not)."""
    return key is not None and _made.get(key) is data


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


def says_feature_stack(info):
    """Whether a TIFF the library reads (its Headrank.StackInfo @info) says by itself that it
    holds features: floating-point samples (headrank writes float32: one N × D page, or a
    per-pixel ImageJ stack of D channels), laid out as a matrix or as channels or pages of
    features. Integer images (microscopy, photos) say nothing of the kind: they are pictures
    unless the user picks them as features in the widget."""
    Headrank = headrank()
    floats = (Headrank.SampleFormat.FLOAT16, Headrank.SampleFormat.FLOAT32,
              Headrank.SampleFormat.FLOAT64)
    return info.get_sample_format() in floats


def open_source(path, array=None):
    """A new source over what a layer's metadata names: the TIFF @path, or the array
    @array of the zarr store @path."""
    Headrank = headrank()
    if array is not None:
        return Headrank.ZarrSource.new(os.fspath(path), array)
    return Headrank.StackReader.new(os.fspath(path), Headrank.StackLayout.AUTO, None)


# -- reading rows ------------------------------------------------------------------------


def read_rows(source, first, n):
    """Samples [first, first + n) of @source as an n × D float32 array: read straight into
    the array by headrank_numpy.read() (hr_source_read_rows_into), else through
    read_bytes."""
    hn = numpy_helper()
    if hn is not None:
        return hn.read(source, first, n)
    d = source.get_n_features()
    out = np.empty((n, d), np.float32)
    source.seek(first)
    got = 0
    while got < n:
        chunk = source.read_bytes(n - got, None)
        values = np.frombuffer(chunk.get_data(), np.float32).reshape(-1, d)
        if len(values) == 0:
            break
        out[got:got + len(values)] = values
        got += len(values)
    return out[:got]


class SourceRows:
    """Reads of one source from several threads (Dask's): positioned reads under a lock.
    Counts the reads and the samples read (the tests check that opening reads nothing)."""

    def __init__(self, source):
        self.source = source
        self.n = source.get_n_samples()
        self.d = source.get_n_features()
        self.lock = threading.Lock()
        self.reads = 0
        self.samples_read = 0

    def read(self, first, n):
        with self.lock:
            self.reads += 1
            self.samples_read += n
            return read_rows(self.source, first, n)

    def read_step(self, first, stop, step):
        """Samples first, first + step, … below stop: a contiguous read for small steps,
        one sample at a time for large ones (fewer bytes than the rows between)."""
        if step == 1:
            return self.read(first, stop - first)
        if step < 8:
            return self.read(first, stop - first)[::step]
        rows = [self.read(i, 1) for i in range(first, stop, step)]
        return np.concatenate(rows) if rows else np.empty((0, self.d), np.float32)


def _ranges(key, shape):
    """@key (what Dask passes to an array-like: slices, and integers where it fuses an
    index into the read) as the (start, stop) ranges to read along each axis, and the index
    that then takes the asked-for part out of what was read."""
    import numbers

    if not isinstance(key, tuple):
        key = (key,)
    key = key + (slice(None),) * (len(shape) - len(key))
    ranges, post = [], []
    for k, size in zip(key, shape):
        if isinstance(k, numbers.Integral):
            k = int(k) + size if k < 0 else int(k)
            if not 0 <= k < size:
                raise IndexError(f'index {k} out of range for an axis of {size}')
            ranges.append((k, k + 1))
            post.append(0)
        elif isinstance(k, slice):
            start, stop, step = k.indices(size)
            if step == 1:
                ranges.append((start, max(start, stop)))
                post.append(slice(None))
            else:
                ranges.append((0, size))
                post.append(k)
        else:
            raise IndexError('lazy feature stacks take integers and slices as indices')
    return ranges, tuple(post)


class MatrixLevel:
    """Level @step of a lazy N × D matrix: samples 0, step, 2·step, … as an array-like for
    dask.array.from_array."""

    def __init__(self, rows, step):
        self.rows = rows
        self.step = step
        self.shape = (-(-rows.n // step), rows.d)
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __getitem__(self, key):
        ((r0, r1), (c0, c1)), post = _ranges(key, self.shape)
        if r1 <= r0:
            return np.empty((0, c1 - c0), np.float32)[post]
        x = self.rows.read_step(r0 * self.step, min(self.rows.n, (r1 - 1) * self.step + 1),
                                self.step)
        return x[:, c0:c1][post]


class PixelImage:
    """A per-pixel source (N = T·Z·Y·X samples of C features) as a C × T × Z × Y × X
    array-like for dask.array.from_array: a block of whole image rows is one read."""

    def __init__(self, rows, geometry):
        self.rows = rows
        self.geometry = geometry
        t, z, h, w = geometry
        self.shape = (rows.d, t, z, h, w)
        self.dtype = np.dtype(np.float32)
        self.ndim = 5

    def __getitem__(self, key):
        ranges, post = _ranges(key, self.shape)
        (c0, c1), (t0, t1), (z0, z1), (y0, y1), (x0, x1) = ranges
        _t, depth, h, w = self.geometry
        out = np.empty((c1 - c0, t1 - t0, z1 - z0, y1 - y0, x1 - x0), np.float32)
        if y1 > y0:
            for t in range(t0, t1):
                for z in range(z0, z1):
                    first = ((t * depth + z) * h + y0) * w
                    x = self.rows.read(first, (y1 - y0) * w).reshape(y1 - y0, w, -1)
                    out[:, t - t0, z - z0] = np.moveaxis(x[:, x0:x1, c0:c1], -1, 0)
        return out[post]


def _dask(arraylike, chunks):
    import dask.array as da

    return da.from_array(arraylike, chunks=chunks, name='headrank-' + uuid.uuid4().hex,
                         meta=np.empty((0,) * arraylike.ndim, np.float32), lock=False,
                         asarray=False, inline_array=True)


def lazy_matrix(rows):
    """A lazy N × D matrix: a list of Dask arrays, level k holding every 2^k-th sample,
    down to at most PYRAMID_ROWS rows (napari's multiscale image)."""
    levels = []
    step = 1
    while True:
        level = MatrixLevel(rows, step)
        block = max(1, BLOCK_BYTES // (rows.d * 4 * (step if step < 8 else 1)))
        if step >= 8:
            block = min(block, 256)
        levels.append(_dask(level, (block, rows.d)))
        if level.shape[0] <= PYRAMID_ROWS:
            return levels
        step *= 2


def lazy_pixels(rows, geometry):
    """A lazy per-pixel image C × [T ×] [Z ×] Y × X (sizes 1 of T and Z dropped), read a
    band of image rows of one plane at a time."""
    t, z, h, w = geometry
    band = max(1, min(h, BLOCK_BYTES // (w * rows.d * 4)))
    img = _dask(PixelImage(rows, geometry), (rows.d, 1, 1, band, w))
    index = (slice(None),) + tuple(slice(None) if s > 1 else 0 for s in (t, z))
    return img[index]


def is_lazy(source):
    n, d = source.get_n_samples(), source.get_n_features()
    return n * d * 4 > LAZY_BYTES


def read_all(source, progress=None):
    """All samples of @source as an N × D float32 array, read a block of about BLOCK_BYTES
    at a time; @progress(fraction) after each block when given."""
    n, d = source.get_n_samples(), source.get_n_features()
    if progress is None:
        return read_rows(source, 0, n)
    block = max(1, BLOCK_BYTES // (4 * d))
    out = np.empty((n, d), np.float32)
    for first in range(0, n, block):
        count = min(block, n - first)
        out[first:first + count] = read_rows(source, first, count)
        progress((first + count) / n)
    return out


def source_data(source, progress=None):
    """(data, lazy) of @source as a layer: a numpy array (N × D, or C × [T ×] [Z ×] Y × X
    for a per-pixel stack) read whole when it is at most LAZY_BYTES (@progress(fraction)
    called as it is read, when given), else a lazy Dask array (a list of them, a multiscale
    pyramid, for a matrix)."""
    info = source.get_info()
    per_pixel = info is not None and info.is_per_pixel()
    if is_lazy(source):
        rows = SourceRows(source)
        if per_pixel:
            return lazy_pixels(rows, _geometry(info)), True
        return lazy_matrix(rows), True
    x = read_all(source, progress)
    if per_pixel:
        return pixels_to_image(x, _geometry(info)), False
    return x, False


def read_tiff(path):
    """(array, info) of the feature stack in the TIFF @path, read whole: N × D for a matrix
    or pages, C × [T ×] [Z ×] Y × X for a per-pixel stack."""
    reader = open_tiff(path)
    info = reader.get_info()
    x = read_rows(reader, 0, reader.get_n_samples())
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


def memory_source(rows, geometry=None, name=None):
    """A Headrank.Source over the N × D array @rows in memory (a MemorySource over the
    array itself when headrank_numpy is found and @rows is C-contiguous float32, else over a
    copy handed over as bytes), with the per-pixel @geometry (t, z, h, w) when given."""
    from gi.repository import GLib

    Headrank = headrank()
    x = np.asarray(rows)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise NotAFeatureStack(_('a feature stack must be a non-empty 2-D array'))
    hn = numpy_helper()
    if hn is not None:
        source = hn.source_from_numpy(x, name=name)
    else:
        x = np.ascontiguousarray(x, np.float32)
        source = Headrank.MemorySource.new(GLib.Bytes.new(x.tobytes()), x.shape[0], x.shape[1])
        if name is not None:
            source.props.name = name
    if geometry is not None:
        t, z, h, w = geometry
        source.set_info(Headrank.StackInfo.new_pixels(w, h, z, t))
    return source


# -- VisCy zarr stores -------------------------------------------------------------------


def open_zarr(path):
    """{'features': source, 'projections': source or None, 'format': the store's layout}
    of a VisCy embedding store, read by the library: AnnData (``X`` = features and
    ``obsm/X_projections``, or with VisCy's ``embedding_key="projections"``
    ``obsm/X_backbone`` = features and ``X`` = projections) or the older xarray store
    (variables ``features`` and ``projections``). NotAFeatureStack when @path is neither."""
    from gi.repository import GLib

    Headrank = headrank()
    path = os.fspath(path)
    try:
        features = Headrank.ZarrSource.new(path, None)
        layout = features.get_layout()
        if layout not in ('anndata', 'xarray'):
            raise NotAFeatureStack(
                _('a zarr store without X (AnnData) or features (xarray) arrays')
            )
        projections = Headrank.ZarrSource.open_projections(path)
    except GLib.Error as e:
        raise NotAFeatureStack(e.message) from e
    return {'format': layout, 'features': features, 'projections': projections}


def is_anndata(path):
    """Whether @path is a zarr store that anndata wrote (its root's encoding-type): such a
    store is an embedding store even when the library cannot read it (a sparse X)."""
    import json

    p = Path(os.fspath(path))
    for name, key in (('zarr.json', 'attributes'), ('.zattrs', None)):
        try:
            meta = json.loads((p / name).read_text(encoding='utf-8'))
        except (OSError, ValueError):
            continue
        attrs = meta.get(key) if key else meta
        if isinstance(attrs, dict) and attrs.get('encoding-type') == 'anndata':
            return True
    return False


def is_zarr(path):
    p = Path(os.fspath(path))
    return p.suffix.lower() == ZARR_SUFFIX or (
        p.is_dir() and any((p / n).exists() for n in ('.zgroup', 'zarr.json'))
    )
