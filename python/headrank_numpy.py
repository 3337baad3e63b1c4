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

__all__ = ['to_numpy', 'view', 'from_numpy', 'chunks', 'stage_per_sample', 'PER_SAMPLE_COLUMNS',
           'moments_mean', 'moments_std', 'moments_zero_fraction', 'moments_scatter',
           'spectrum_arrays']

#: the columns of stage_per_sample(), in order (HR_PER_SAMPLE_COLUMNS)
PER_SAMPLE_COLUMNS = ('mean', 'std', 'norm', 'zero_fraction')

_LIBRARY = 'libheadrank-1.0.so.0'
_c = None


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
            get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
            get_pointer.restype = ctypes.c_void_p
            get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
            _c = (new_copy, peek, get_pointer, _gi.pygobject_new_full)
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
    _, peek, get_pointer, _ = c
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
    new_copy, _, _, wrap = c
    pointer = new_copy(a.ctypes.data, n, d)
    return wrap(pointer, True)  # steals the reference hr_feature_stack_new_copy returned


def chunks(reader, max_samples=0, cancellable=None):
    """Yields the samples of a Headrank.StackReader as numpy arrays of at most
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
