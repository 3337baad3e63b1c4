"""The library's read-into functions for the benchmarks, through ctypes (they take a
caller's buffer, so that they are not introspectable): one set-up for bench_read.py and
bench_zarr.py."""
import ctypes


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
