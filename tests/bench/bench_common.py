"""What the benchmarks share: the folder of their cached inputs, the headrank command, a
command timed by /usr/bin/time, and the library's read-into functions through ctypes (they
take a caller's buffer, so that they are not introspectable)."""
import ctypes
import os
import shutil
import subprocess
import tempfile

TIME = '/usr/bin/time'
TIME_MARK = 'HEADRANK-BENCH-TIME'


def cache_dir(arg):
    d = arg or os.environ.get('HEADRANK_BENCH_CACHE')
    if not d and os.environ.get('G_TEST_BUILDDIR'):
        d = os.path.join(os.environ['G_TEST_BUILDDIR'], 'bench-cache')
    if not d:
        d = os.path.join(tempfile.gettempdir(), 'headrank-bench-cache')
    os.makedirs(d, exist_ok=True)
    return d


def headrank_tool():
    """The headrank command to time: $HEADRANK_TOOL, else the one on PATH; None if neither."""
    return os.environ.get('HEADRANK_TOOL') or shutil.which('headrank')


def timed(cmd, env=None):
    """Runs @cmd under /usr/bin/time: dict of wall (s), cpu (user + system, s), rss_mb (peak
    RSS) and stdout; RuntimeError with the end of its stderr if it fails."""
    r = subprocess.run([TIME, '-f', TIME_MARK + ' %e %U %S %M'] + cmd, capture_output=True,
                       text=True, env=env)
    mark = [ln for ln in r.stderr.splitlines() if ln.startswith(TIME_MARK)]
    if r.returncode != 0 or not mark:
        raise RuntimeError(f'{" ".join(str(c) for c in cmd[:3])}… failed (rc {r.returncode}):\n'
                           f'{r.stderr.strip()[-2000:]}')
    wall, user, system, kb = mark[-1].split()[1:]
    return dict(wall=float(wall), cpu=float(user) + float(system), rss_mb=int(kb) / 1024,
                stdout=r.stdout)


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
