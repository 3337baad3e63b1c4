"""What bench_read.py and bench_zarr.py share: the folder of their cached inputs, and the
library's read-into functions through ctypes (they take a caller's buffer, so that they are
not introspectable)."""
import ctypes
import os
import tempfile


def cache_dir(arg):
    d = arg or os.environ.get('HEADRANK_BENCH_CACHE')
    if not d and os.environ.get('G_TEST_BUILDDIR'):
        d = os.path.join(os.environ['G_TEST_BUILDDIR'], 'bench-cache')
    if not d:
        d = os.path.join(tempfile.gettempdir(), 'headrank-bench-cache')
    os.makedirs(d, exist_ok=True)
    return d


def read_into(symbol):
    """The C function @symbol of libheadrank, gboolean f (object, float *buffer,
    gsize rows, gsize *n_read, GCancellable *, GError **), and a function that gives the
    C pointer of a PyGObject object to pass it as its first argument."""
    lib = ctypes.CDLL('libheadrank-1.0.so.0')
    function = getattr(lib, symbol)
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                         ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p, ctypes.c_void_p]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return function, lambda obj: get_pointer(obj.__gpointer__, None)
