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

    import gi
    gi.require_version("Headrank", "1.0")
    from gi.repository import Headrank
    import headrank_numpy as hn

    x = hn.to_numpy(Headrank.FeatureStack.new_from_file("f.tif", Headrank.StackLayout.AUTO, None))
    stack = hn.from_numpy(x * 2)
"""
import ctypes

import numpy

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

__all__ = ['to_numpy', 'view', 'from_numpy', 'source_from_numpy', 'ArraySource', 'analyze',
           'chunks', 'stage_per_sample', 'PER_SAMPLE_COLUMNS',
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
        except (OSError, AttributeError, ImportError):
            _c = False
    return _c or None


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


def analyze(features, head=None, projections=None, cancellable=None):
    """Runs a Headrank.Analysis of @features (a numpy array, through source_from_numpy(),
    or any Headrank.Source) with @head (a Headrank.Head) or @projections (an array or a
    source), and returns it, run: the same analysis `headrank analyze` makes."""
    if not isinstance(features, Headrank.Source):
        features = source_from_numpy(features, name='features')
    analysis = Headrank.Analysis.new_for_source(features)
    if head is not None:
        analysis.set_head(head)
    if projections is not None:
        if not isinstance(projections, Headrank.Source):
            projections = source_from_numpy(projections, name='projections')
        analysis.set_projections_source(projections)
    analysis.run(None, None, cancellable)
    return analysis


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
