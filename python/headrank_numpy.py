"""numpy arrays for headrank's GObject-Introspection API.

Matrices cross the GI boundary as bytes, never element by element. This module turns
them into numpy arrays and back, with the fewest copies PyGObject allows, and says how
many each function makes (measured by tests/python/test_numpy_helper.py on a
100,000 × 768 float32 matrix, 307 MB):

==========================  ======  =========================================================
function                    copies  how
==========================  ======  =========================================================
``to_numpy(stack)``         1       ``numpy.frombuffer(stack.get_data().get_data())``: the
                                    GBytes shares the stack's storage, PyGObject's
                                    ``GLib.Bytes.get_data()`` copies it into a ``bytes``,
                                    numpy wraps that ``bytes`` without copying. Read-only.
``view(stack)``             0       the stack's own memory (``hr_feature_stack_peek_data``
                                    through ctypes); read-only, keeps the stack alive.
``from_numpy(array)``       1       ``hr_feature_stack_new_copy`` through ctypes on the
                                    array's buffer (0 more when the array is already
                                    C-contiguous float32), wrapped for PyGObject.
``source_from_numpy(array)``  0     ``hr_memory_source_new_borrowed`` through ctypes on the
                                    array's buffer (a C-contiguous float32 array; others are
                                    converted once), which keeps the array alive; reads copy
                                    one chunk at a time into the reader's buffer, as reading
                                    a file does.
``pca_coordinates(p)``      1       ``hr_pca_projection_get_coordinates_into`` through ctypes
                                    into a new (or the caller's) numpy array.
``read(source)``            1       ``hr_source_read_rows_into`` through ctypes straight into
                                    a new (or the caller's) numpy array: no chunk buffer,
                                    no ``GLib.Bytes``. Falls back to ``read_bytes`` chunks
                                    copied into the array (1 copy of each chunk) without
                                    ctypes.
``source_from_numpy(array,  2       ``array.tobytes()``, ``GLib.Bytes.new()``, then
gi_only=True)``                     ``MemorySource.new()`` (which keeps the GBytes).
``from_numpy(array,         2       the pure-GI path: ``array.tobytes()`` then
gi_only=True)``                     ``GLib.Bytes.new()`` (``g_bytes_new`` copies);
                                    ``FeatureStack.new_from_bytes()`` itself keeps the
                                    GBytes without copying.
==========================  ======  =========================================================

The ctypes paths call headrank's own public C functions (``hr_feature_stack_new_copy``,
``hr_feature_stack_peek_data``) in the library the typelib already loaded, and wrap the
result with PyGObject's ``gi._gi.pygobject_new_full``; when either is unavailable
``from_numpy`` falls back to the pure-GI path and ``view`` to ``to_numpy``.

Small results (per-sample statistics, moments, spectra) are copied once; they are small.

Use::

    import headrank_numpy as hn

    analysis = hn.analyze(x, weights="head.safetensors", arch="viscy-v2")  # a numpy array
    analysis = hn.analyze("embeddings.zarr")          # a file, a store, a folder, a list
    report = hn.report(analysis)                      # report.json as a dict
    x = hn.read("features.tif")                       # a whole stack as a numpy array
    rows = hn.read(source, first=1000, n_samples=500) # some rows of any Headrank.Source
    stack = hn.from_numpy(x * 2)
"""
import ctypes

import numpy

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

__all__ = ['to_numpy', 'view', 'from_numpy', 'source_from_numpy', 'ArraySource', 'analyze',
           'report', 'open_source', 'read', 'pairs_from_tracks', 'pairs_from_numpy',
           'pairs_to_numpy', 'chunks', 'stage_per_sample', 'PER_SAMPLE_COLUMNS',
           'moments_mean', 'moments_std', 'moments_zero_fraction', 'moments_scatter',
           'spectrum_arrays']

#: the columns of stage_per_sample(), in order (HR_PER_SAMPLE_COLUMNS)
PER_SAMPLE_COLUMNS = ('mean', 'std', 'norm', 'zero_fraction')

_LIBRARY = 'libheadrank-1.0.so.0'
_c = None

# The arrays memory sources borrow, by key, until the library lets go of them (the
# GDestroyNotify of hr_memory_source_new_borrowed; it may run on any thread, ctypes takes
# the GIL).
_DESTROY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_borrowed = {}
_next_key = [1]


def _release(key):
    _borrowed.pop(key, None)


_release_callback = _DESTROY(_release)


def _capi():
    """headrank's C functions through ctypes, and PyGObject's wrapper maker; None if
    either is missing (another soname, a PyGObject without pygobject_new_full)."""
    global _c
    if _c is None:
        try:
            from gi import _gi
            lib = ctypes.CDLL(_LIBRARY)
            new_copy = lib.hr_feature_stack_new_copy
            new_copy.restype = ctypes.c_void_p
            new_copy.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
            peek = lib.hr_feature_stack_peek_data
            peek.restype = ctypes.c_void_p
            peek.argtypes = [ctypes.c_void_p]
            borrowed = lib.hr_memory_source_new_borrowed
            borrowed.restype = ctypes.c_void_p
            borrowed.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                                 _DESTROY, ctypes.c_void_p]
            get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
            get_pointer.restype = ctypes.c_void_p
            get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
            _c = (new_copy, peek, get_pointer, _gi.pygobject_new_full, borrowed)
            _read_rows_capi(lib)
        except (OSError, AttributeError, ImportError):
            _c = False
    return _c or None


class _GError(ctypes.Structure):
    _fields_ = [('domain', ctypes.c_uint32), ('code', ctypes.c_int),
                ('message', ctypes.c_char_p)]


_read_rows = None


def _read_rows_capi(lib):
    """hr_source_read_rows_into and g_error_free through ctypes (a ctypes.CDLL call releases
    the GIL for the read)."""
    global _read_rows
    if _read_rows is None:
        try:
            fn = lib.hr_source_read_rows_into
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p,
                           ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p,
                           ctypes.POINTER(ctypes.POINTER(_GError))]
            glib = ctypes.CDLL('libglib-2.0.so.0')
            free = glib.g_error_free
            free.restype = None
            free.argtypes = [ctypes.POINTER(_GError)]
            _read_rows = (fn, free)
        except (OSError, AttributeError):
            _read_rows = False


def _shape(stack):
    return stack.get_n_samples(), stack.get_n_features()


def to_numpy(stack):
    """The N × D float32 values of a Headrank.FeatureStack as a read-only numpy array:
    exactly one copy (GLib.Bytes.get_data())."""
    return numpy.frombuffer(stack.get_data().get_data(), numpy.float32).reshape(_shape(stack))


def view(stack):
    """The N × D float32 values of a Headrank.FeatureStack without a copy: a read-only
    numpy array over the stack's own memory, which keeps the stack alive. Falls back to
    to_numpy() (one copy) when the C functions cannot be reached."""
    c = _capi()
    if c is None:
        return to_numpy(stack)
    _, peek, get_pointer, _, _ = c
    n, d = _shape(stack)
    address = peek(get_pointer(stack.__gpointer__, None))
    buffer = (ctypes.c_float * (n * d)).from_address(address)
    buffer._headrank_stack = stack  # the memory lives as long as the stack
    array = numpy.ctypeslib.as_array(buffer).reshape(n, d)
    array.flags.writeable = False
    return array


def from_numpy(array, gi_only=False):
    """A new Headrank.FeatureStack holding a copy of @array (N × D, converted to float32
    first if it is not). One copy of a C-contiguous float32 array; gi_only=True takes the
    pure-GI path, which makes two."""
    a = numpy.asarray(array)
    if a.ndim != 2:
        raise ValueError(f'a feature stack is N × D: got an array of shape {a.shape}')
    a = numpy.ascontiguousarray(a, numpy.float32)
    n, d = a.shape
    c = None if gi_only else _capi()
    if c is None or n == 0 or d == 0:
        # FeatureStack.new_from_bytes reports the error for empty arrays
        return Headrank.FeatureStack.new_from_bytes(GLib.Bytes.new(a.tobytes()), n, d)
    new_copy, _, _, wrap, _ = c
    pointer = new_copy(a.ctypes.data, n, d)
    return wrap(pointer, True)  # steals the reference hr_feature_stack_new_copy returned


def _float32_matrix(array):
    a = numpy.asarray(array)
    if a.ndim != 2:
        raise ValueError(f'a feature stack is N × D: got an array of shape {a.shape}')
    return numpy.ascontiguousarray(a, numpy.float32)


def source_from_numpy(array, gi_only=False, name=None):
    """A Headrank.MemorySource over @array (N × D): without a copy when the array is
    C-contiguous float32 (the source keeps it alive; do not change it while the source is
    read), else over one float32 copy. gi_only=True takes the pure-GI path (two copies)."""
    a = _float32_matrix(array)
    n, d = a.shape
    c = None if gi_only else _capi()
    if c is None or n == 0 or d == 0:
        # MemorySource.new reports the error for empty arrays
        source = Headrank.MemorySource.new(GLib.Bytes.new(a.tobytes()), n, d)
    else:
        *_, wrap, borrowed = c
        key = _next_key[0]
        _next_key[0] += 1
        _borrowed[key] = a
        pointer = borrowed(a.ctypes.data, n, d, _release_callback, key)
        source = wrap(pointer, True)  # steals the reference the constructor returned
    if name is not None:
        source.props.name = name
    return source


class ArraySource(Headrank.Source):
    """A Headrank.Source over anything that slices like an N × D numpy array and is not in
    memory as one: a numpy.memmap, an h5py or zarr-python dataset, a Dask array (each
    chunk is computed when it is read). The source for a custom loader is written the same
    way: subclass Headrank.Source and implement do_read_bytes (and do_seek to refuse or
    restart when the loader can only go forward)."""

    def __init__(self, array, name='array'):
        n, d = array.shape
        super().__init__(n_samples=n, n_features=d, name=name)
        self._array = array

    def do_read_bytes(self, first, max_samples, cancellable):
        rows = numpy.ascontiguousarray(numpy.asarray(self._array[first:first + max_samples]),
                                       numpy.float32)
        return GLib.Bytes.new(rows.tobytes())


def open_source(path, array=None):
    """A Headrank.Source over @path: a zarr store (Headrank.ZarrSource: @array inside it, or
    the features its layout names), a TIFF file (Headrank.StackReader), or several files, a
    folder or a quoted pattern as one stack (Headrank.ConcatSource; @path a list or a
    folder). Errors arrive as GLib.Error, as from the constructors."""
    import os
    if isinstance(path, (list, tuple)):
        return Headrank.ConcatSource.new_for_paths([os.fspath(p) for p in path],
                                                   Headrank.StackLayout.AUTO, None)
    path = os.fspath(path)
    if os.path.isdir(path) and any(os.path.exists(os.path.join(path, m)) for m in
                                   ('.zgroup', '.zarray', '.zmetadata', 'zarr.json')):
        return Headrank.ZarrSource.new(path, array)
    if array is not None:
        raise ValueError(f'{path} is not a zarr store: array={array!r} names nothing in it')
    if os.path.isdir(path) or any(c in os.path.basename(path) for c in '*?['):
        return Headrank.ConcatSource.new_for_paths([path], Headrank.StackLayout.AUTO, None)
    return Headrank.StackReader.new(path, Headrank.StackLayout.AUTO, None)


def _as_source(x, name):
    if isinstance(x, Headrank.Source):
        return x
    if isinstance(x, (str, bytes, list, tuple)) or hasattr(x, '__fspath__'):
        return open_source(x)
    return source_from_numpy(x, name=name)


def analyze(features, head=None, projections=None, weights=None, arch=None, pairs=None,
            norm_mode=None, batch_size=None, progress=None, cancellable=None):
    """One call for the analysis `headrank analyze` makes, on numpy arrays or files.

    @features and @projections: a numpy array (N × D; read in place through
    source_from_numpy(), no copy when C-contiguous float32), a path (a TIFF, a zarr store,
    a folder or a list of files: open_source()) or any Headrank.Source. The head: a
    Headrank.Head as @head, or its safetensors file as @weights with @arch (a preset name,
    or None for the file's metadata). @pairs: positive pairs, a pair file, a Headrank.Pairs
    (pairs_from_tracks(), Headrank.Pairs.new_from_store()) or an n × 2 / n × 3 array of
    sample indices (anchor, positive[, negative]). @norm_mode (a
    Headrank.NormMode) and @batch_size as in the command; @progress(fraction) is called
    from the analysis' thread. A zarr store given as features brings its projections when
    its layout names some and none are given; so do several stores (a list or a folder of
    them), as one stack, when every one names projections.

    Returns the Headrank.Analysis, run (report(analysis) is its report.json as a dict);
    raises GLib.Error as the library does."""
    store = None
    if projections is None and head is None and weights is None and not isinstance(
            features, (Headrank.Source, list, tuple)) and (
                isinstance(features, (str, bytes)) or hasattr(features, '__fspath__')):
        store = features
    features = _as_source(features, 'features')
    analysis = Headrank.Analysis.new_for_source(features)
    if head is None and weights is not None:
        import os
        head = Headrank.Head.new_from_file(os.fspath(weights), arch, None, cancellable)
    if head is not None:
        analysis.set_head(head)
    if projections is None and store is not None and isinstance(features, Headrank.ZarrSource):
        projections = zarr_projections(store)
    if projections is None and head is None and isinstance(features, Headrank.ConcatSource):
        projections = _parts_projections(features)
    if projections is not None:
        analysis.set_projections_source(_as_source(projections, 'projections'))
    if pairs is not None:
        import os
        if isinstance(pairs, (str, bytes)) or hasattr(pairs, '__fspath__'):
            analysis.set_pairs_file(os.fspath(pairs))
        else:
            if not isinstance(pairs, Headrank.Pairs):
                pairs = pairs_from_numpy(pairs)
            analysis.set_pairs(pairs)
    if norm_mode is not None:
        analysis.set_norm_mode(norm_mode)
    if batch_size is not None:
        analysis.set_batch_size(batch_size)
    callback = None if progress is None else (lambda fraction, *unused: progress(fraction))
    analysis.run(callback, None, cancellable)
    return analysis


def pairs_from_numpy(indices):
    """A Headrank.Pairs from an n × 2 (anchor, positive) or n × 3 (anchor, positive,
    negative) array of non-negative sample indices."""
    a = numpy.asarray(indices)
    if a.ndim != 2 or a.shape[1] not in (2, 3):
        raise ValueError(f'pairs must be an n × 2 or n × 3 array, not of shape {a.shape}')
    if a.dtype.kind not in 'iu':
        raise TypeError(f'pair indices must be integers, not {a.dtype}')
    if a.size and a.min() < 0:
        raise ValueError('pair indices must not be negative')
    a = numpy.ascontiguousarray(a, numpy.uint64)
    return Headrank.Pairs.new_from_bytes(GLib.Bytes.new(a.tobytes()), a.shape[1])


def pairs_to_numpy(pairs):
    """The indices of a Headrank.Pairs: an n × 2 array (anchor, positive), n × 3 with the
    negatives when the pairs have them (uint64)."""
    a = numpy.frombuffer(pairs.get_bytes().get_data(), numpy.uint64).reshape(-1, 3)
    return a if pairs.has_negatives() else a[:, :2].copy()


def _missing(values):
    """The missing entries of a column: pandas' isna where there is one, NaN, None."""
    if hasattr(values, 'isna'):
        return numpy.asarray(values.isna(), bool)
    a = numpy.asarray(values)
    if a.dtype.kind == 'f':
        return numpy.isnan(a)
    if a.dtype.kind == 'O':
        return numpy.fromiter((v is None or (isinstance(v, float) and v != v) for v in a.ravel()),
                              bool, a.size)
    return numpy.zeros(a.shape, bool)


def _fov_codes(fov, missing):
    """FOV codes (any values: strings, categories, numbers), -1 where missing."""
    a = fov.to_numpy(dtype=object) if hasattr(fov, 'to_numpy') else numpy.asarray(fov)
    if a.ndim != 1:
        raise ValueError(f'fov must be one-dimensional, not of shape {a.shape}')
    codes = numpy.full(a.shape[0], -1, numpy.int64)
    keep = ~missing
    if keep.any():
        values = a[keep]
        if values.dtype.kind == 'O':
            values = values.astype(str)
        _, inverse = numpy.unique(values, return_inverse=True)
        codes[keep] = inverse.reshape(-1)
    return codes


def _integers(values, name, missing):
    """A column of whole numbers as int64 (0 where missing)."""
    if hasattr(values, 'to_numpy'):
        a = values.to_numpy(dtype=object) if missing.any() else values.to_numpy()
    else:
        a = numpy.asarray(values)
    if a.ndim != 1:
        raise ValueError(f'{name} must be one-dimensional, not of shape {a.shape}')
    a = numpy.where(missing, 0, a)
    if a.dtype.kind == 'O':
        try:
            a = a.astype(numpy.float64) if any(isinstance(v, float) for v in a) else a.astype(numpy.int64)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f'{name} must hold integers') from None
    if a.dtype.kind == 'f':
        bad = numpy.flatnonzero(a != numpy.floor(a))
        if bad.size:
            raise ValueError(f'{name}: value {a[bad[0]]} of row {bad[0]} is not an integer')
        return a.astype(numpy.int64)
    if a.dtype.kind == 'u' and a.size and a.max() > numpy.iinfo(numpy.int64).max:
        raise ValueError(f'{name}: values beyond 64-bit signed integers')
    if a.dtype.kind not in 'iub':
        raise TypeError(f'{name} must hold integers, not {a.dtype}')
    return a.astype(numpy.int64)


def pairs_from_tracks(fov, track, t, dt=1):
    """Temporal positive pairs as VisCy's time-aware sampling builds them: cell i (fov,
    track, t) is an anchor when the same fov and track have a cell j at t + @dt, and j is its
    positive (Headrank.Pairs.new_from_tracks). @fov, @track and @t are columns of one length
    (numpy arrays or pandas Series: an AnnData's ``obs["fov_name"]``, ``obs["track_id"]``,
    ``obs["t"]``); sample i of the analysed stack is row i. FOVs may be strings, categories
    or numbers; track ids and times whole numbers (integers, or floats without a fraction).
    A row with a missing value takes no part. Raises GLib.Error (Headrank.AnalysisError) for
    a cell that appears twice or when no pair is found."""
    n = len(fov)
    if len(track) != n or len(t) != n:
        raise ValueError(f'fov, track and t differ in length ({n}, {len(track)}, {len(t)})')
    missing = _missing(fov) | _missing(track) | _missing(t)
    codes = _fov_codes(fov, missing)
    tracks = _integers(track, 'track', missing)
    times = _integers(t, 't', missing)
    return Headrank.Pairs.new_from_tracks_bytes(GLib.Bytes.new(codes.tobytes()),
                                                GLib.Bytes.new(tracks.tobytes()),
                                                GLib.Bytes.new(times.tobytes()), int(dt))


def _parts_projections(concat):
    """Several zarr stores as one stack: their projections as one stack too, store by store
    (as `headrank analyze A.zarr B.zarr`), or None when a part is not a store or a store
    names none."""
    parts = []
    for i in range(concat.get_n_parts()):
        part = concat.get_part(i)
        if not isinstance(part, Headrank.ZarrSource):
            return None
        projections = Headrank.ZarrSource.open_projections(part.get_store())
        if projections is None:
            return None
        parts.append(projections)
    return Headrank.ConcatSource.new(parts)


def zarr_projections(path):
    """The Headrank.ZarrSource of the projections of the zarr store @path as its layout names
    them (obsm/X_projections, X when the features are in obsm/X_backbone, the xarray
    projections variable), or None when it has none."""
    import os
    return Headrank.ZarrSource.open_projections(os.fspath(path))


def report(analysis):
    """The report.json of a run Headrank.Analysis as a dict."""
    import json
    return json.loads(analysis.to_json(False))


def read(source, first=0, n_samples=None, out=None, cancellable=None):
    """Samples @first to @first + @n_samples − 1 (all from @first when None) of a
    Headrank.Source, or of a path (open_source()), as an n × D float32 numpy array, read
    straight into it: hr_source_read_rows_into through ctypes writes into the array's
    memory (no chunk buffer, no GLib.Bytes; the GIL is released while it reads). @out: a
    C-contiguous float32 array of at least n × D values to read into instead (returned,
    reshaped to n × D). The source is left after the last sample read.

    Without ctypes (another soname), the rows come through read_bytes() a chunk at a time,
    each copied once into the array. A source of unknown length (a generator) is read to
    its end when @n_samples is None, a chunk at a time, and the chunks joined (one copy)."""
    if not isinstance(source, Headrank.Source):
        source = open_source(source)
    d = source.get_n_features()
    total = source.get_n_samples()
    if total == Headrank.SOURCE_N_SAMPLES_UNKNOWN and n_samples is None:
        source.seek(first)
        parts = [numpy.empty((0, d), numpy.float32)]
        while True:
            chunk = source.read_bytes(0, cancellable)
            if chunk.get_size() == 0:
                break
            parts.append(numpy.frombuffer(chunk.get_data(), numpy.float32).reshape(-1, d))
        return numpy.concatenate(parts)
    if n_samples is None:
        n_samples = max(0, total - first)
    if out is None:
        out = numpy.empty((n_samples, d), numpy.float32)
    elif (not isinstance(out, numpy.ndarray) or out.dtype != numpy.float32
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError('out must be a writable C-contiguous float32 numpy array')
    elif out.size < n_samples * d:
        raise ValueError(f'out holds {out.size} values, {n_samples} × {d} are read')
    c = _capi()
    if c is not None and _read_rows:
        fn, free = _read_rows
        get_pointer = c[2]
        got = ctypes.c_size_t(0)
        error = ctypes.POINTER(_GError)()
        cancel = None if cancellable is None else get_pointer(cancellable.__gpointer__, None)
        if not fn(get_pointer(source.__gpointer__, None), first, n_samples, out.ctypes.data,
                  out.size, ctypes.byref(got), cancel, ctypes.byref(error)):
            e = error.contents
            raised = GLib.Error.new_literal(e.domain, e.message.decode('utf-8', 'replace'),
                                            e.code)
            free(error)
            raise raised
        n = got.value
    else:
        if total != Headrank.SOURCE_N_SAMPLES_UNKNOWN and first + n_samples > total:
            raise GLib.Error.new_literal(
                Headrank.stack_error_quark(),
                f'{source.get_name()}: samples {first} to {first + n_samples} asked for, '
                f'the source has {total}', int(Headrank.StackError.INVALID))
        flat = out.reshape(-1)
        source.seek(first)
        n = 0
        while n < n_samples:
            chunk = source.read_bytes(min(n_samples - n, source.get_preferred_chunk()),
                                      cancellable)
            values = numpy.frombuffer(chunk.get_data(), numpy.float32)
            if values.size == 0:
                break
            flat[n * d:n * d + values.size] = values
            n += values.size // d
    return out.reshape(-1)[:n * d].reshape(n, d)


def pca_coordinates(projection, out=None):
    """The N × k float32 coordinates of a Headrank.PcaProjection that has run, copied once
    into a new (or the caller's, @out: C-contiguous float32, at least N × k values) numpy
    array by hr_pca_projection_get_coordinates_into through ctypes; without ctypes, from
    get_coordinates() (GLib.Bytes, one more copy). NaN rows: samples left out."""
    k = projection.get_n_axes()
    n = projection.get_n_samples()
    if out is None:
        out = numpy.empty((n, k), numpy.float32)
    elif (not isinstance(out, numpy.ndarray) or out.dtype != numpy.float32
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError('out must be a writable C-contiguous float32 numpy array')
    elif out.size < n * k:
        raise ValueError(f'out holds {out.size} values, {n} × {k} are copied')
    c = _capi()
    fn = None
    if c is not None:
        try:
            fn = ctypes.CDLL(_LIBRARY).hr_pca_projection_get_coordinates_into
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p,
                           ctypes.c_size_t, ctypes.POINTER(ctypes.POINTER(_GError))]
        except (OSError, AttributeError):
            fn = None
    if fn is not None and _read_rows:
        free = _read_rows[1]
        error = ctypes.POINTER(_GError)()
        if not fn(c[2](projection.__gpointer__, None), 0, n, out.ctypes.data, out.size,
                  ctypes.byref(error)):
            e = error.contents
            raised = GLib.Error.new_literal(e.domain, e.message.decode('utf-8', 'replace'),
                                            e.code)
            free(error)
            raise raised
    else:
        data = projection.get_coordinates()
        if data is None:
            raise GLib.Error.new_literal(Headrank.analysis_error_quark(),
                                         'the projection has not run yet',
                                         int(Headrank.AnalysisError.INVALID))
        out.reshape(-1)[:n * k] = numpy.frombuffer(data.get_data(), numpy.float32)
    return out.reshape(-1)[:n * k].reshape(n, k)


def pca(features, n_axes=2, head=None, stage=None, norm_mode=None, batch_size=0,
        cancellable=None):
    """The coordinates of every sample of @features (a numpy array, a path or any
    Headrank.Source) on the @n_axes leading principal axes of a stage, as an N × k float32
    array: scikit-learn's PCA(n_components=k).fit_transform() (same sign convention),
    streamed by Headrank.PcaProjection (two passes: the axes, then the coordinates). The
    stage: the features themselves, or @stage (a layer name or "projections") of the
    Headrank.Head @head. Samples with NaN or infinite values get NaN rows."""
    source = _as_source(features, 'features')
    projection = Headrank.PcaProjection.new(source, n_axes)
    if head is not None or stage is not None:
        projection.set_head(head, stage or 'projections',
                            norm_mode if norm_mode is not None else Headrank.NormMode.RUNNING,
                            batch_size)
    projection.run(None, None, cancellable)
    return pca_coordinates(projection)


def chunks(reader, max_samples=0, cancellable=None):
    """Yields the samples of a Headrank.Source (a StackReader, ...) as numpy arrays of at most
    @max_samples rows (0: the reader's preferred chunk), one copy each."""
    while True:
        stack = reader.read_chunk(max_samples, cancellable)
        if stack is None:
            return
        yield to_numpy(stack)


def stage_per_sample(stage):
    """Per-sample statistics of a Headrank.Stage: an N × 4 float32 array with columns
    PER_SAMPLE_COLUMNS (mean and std across dimensions, ddof 0; L2 norm; fraction of
    exact zeros), NaN for rows dropped as non-finite."""
    data = stage.get_per_sample()
    return numpy.frombuffer(data.get_data(), numpy.float32).reshape(-1, len(PER_SAMPLE_COLUMNS))


def _f64(gbytes):
    return numpy.frombuffer(gbytes.get_data(), numpy.float64)


def moments_mean(moments):
    """The D per-dimension means of a Headrank.Moments, float64."""
    return _f64(moments.get_mean())


def moments_std(moments):
    """The D per-dimension standard deviations (ddof 0) of a Headrank.Moments, float64."""
    return _f64(moments.get_std())


def moments_zero_fraction(moments):
    """Per dimension, the fraction of samples whose value is exactly 0, float64."""
    return _f64(moments.get_zero_fraction())


def moments_scatter(moments):
    """The centred D × D scatter matrix (float64), or None for diagonal moments."""
    data = moments.get_scatter()
    if data is None:
        return None
    d = moments.get_dimension()
    return _f64(data).reshape(d, d)


def spectrum_arrays(spectrum):
    """The arrays of a Headrank.Spectrum as float64 numpy arrays of K = min(N, D) values:
    eigenvalues (of the covariance, ddof 1, descending), explained_variance_ratio,
    cumulative_explained_variance, singular_values (of the centred data) and
    uncentred_singular_values."""
    return {
        'eigenvalues': numpy.asarray(spectrum.get_eigenvalues(), numpy.float64),
        'explained_variance_ratio':
            numpy.asarray(spectrum.get_explained_variance_ratio(), numpy.float64),
        'cumulative_explained_variance':
            numpy.asarray(spectrum.get_cumulative_explained_variance(), numpy.float64),
        'singular_values': numpy.asarray(spectrum.get_singular_values(), numpy.float64),
        'uncentred_singular_values':
            numpy.asarray(spectrum.get_uncentred_singular_values(), numpy.float64),
    }
