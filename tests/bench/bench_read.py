#!/usr/bin/env python3
"""Benchmark: read a large float32 matrix TIFF with headrank and with tifffile.

The file is what users have: ``tifffile.imwrite(path, features)`` with default
settings for a (N, 2048) float32 array, which tifffile stores uncompressed as
ONE strip (rowsperstrip = N) with a shaped JSON ImageDescription.  It is
written once and cached (in $HEADRANK_BENCH_CACHE, else $G_TEST_BUILDDIR/
bench-cache, else the temp dir) and read warm from the page cache.

Every reader runs in a fresh subprocess, so that its peak RSS is its own:
peak RSS = the peak at the end minus the peak after the imports (VmHWM from
/proc/self/status; ru_maxrss where that is missing, see maxrss_mb()).

  headrank            Headrank.StackReader.read_chunk (preferred chunk), each
                      chunk turned into numpy (GLib.Bytes.get_data copies) and
                      a column summed
  headrank-numpy      headrank_numpy.read(): the whole stack into one new numpy array
                      through hr_source_read_rows_into (ctypes), no chunk buffer, no
                      GLib.Bytes: what a script that wants the stack as numpy calls;
                      a column summed (the peer of tifffile-imread)
  headrank-numpy-out  the same into an array allocated and touched before the clock
                      starts (read(..., out=x)): the read without the kernel's zeroing of
                      800 MB of new pages, which dominates the two above and varies with
                      the machine's other work (the peer of tifffile-imread-out)
  headrank-read-into  the library alone: hr_stack_reader_read_into (not
                      introspectable) through ctypes into one reused numpy
                      buffer of the preferred chunk: no per-chunk allocation,
                      no GLib.Bytes copy
  tifffile-imread     tifffile.imread of the whole file, a column summed
  tifffile-imread-out tifffile.imread(path, out=x) into the same kind of array
  tifffile-memmap     tifffile.memmap, copied and summed a chunk at a time
                      (RSS counts the mapped file pages that were touched)
  raw-readinto        plain readinto at the strip offset, chunk by chunk: the
                      page-cache copy ceiling, for reference

Each reader runs --repeat times (default 3), in rounds of one run of each; the best time
is reported.

  python3 tests/bench/bench_read.py [--size full|small] [--repeat 3]
  meson test -C build --benchmark
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

from bench_common import cache_dir

SIZES = {'full': (100_000, 2048), 'small': (10_000, 2048)}
READERS = ['headrank', 'headrank-numpy', 'headrank-numpy-out', 'headrank-read-into',
           'tifffile-imread', 'tifffile-imread-out',
           'tifffile-memmap', 'raw-readinto']
COLUMN = 7


def maxrss_mb():
    """Peak RSS of this process in MB.

    ru_maxrss (RUSAGE_SELF) on Linux carries the parent's high-water mark
    across fork/vfork + exec, so a child started by a big parent would start
    with the parent's peak; VmHWM in /proc/self/status is the peak of this
    process image only.  Use it where it exists."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_file_mb():
    """File-backed pages resident now (mmap'ed file data counts as RSS)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('RssFile:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float('nan')


# --------------------------------------------------------------------------
# children: one reader, one run; print one JSON line
# --------------------------------------------------------------------------

def child(reader, path):
    import numpy
    chunk_rows = None
    if reader.startswith('headrank'):
        import gi
        gi.require_version('Headrank', '1.0')
        from gi.repository import Headrank
        if reader.startswith('headrank-numpy'):
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            '..', '..', 'python'))
            import headrank_numpy as hn
            hn._capi()  # ctypes' look-ups, once per process, before the clock starts
    else:
        import tifffile
    if reader.endswith('-out'):
        import tifffile
        with tifffile.TiffFile(path) as tf:
            shape = tf.pages[0].shape
        dest = numpy.empty(shape, numpy.float32)
        dest.fill(0)  # its pages exist before the clock starts
    base = maxrss_mb()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    detail = {}

    t0 = time.perf_counter()
    if reader == 'headrank':
        r = Headrank.StackReader.new(path, Headrank.StackLayout.AUTO, None)
        n, d = r.get_n_samples(), r.get_n_features()
        chunk_rows = r.get_preferred_chunk()
        total = 0.0
        t_read = t_copy = 0.0
        while True:
            a = time.perf_counter()
            s = r.read_chunk(0, None)
            b = time.perf_counter()
            if s is None:
                break
            x = numpy.frombuffer(s.get_data().get_data(), numpy.float32)
            x = x.reshape(s.get_n_samples(), d)
            c = time.perf_counter()
            total += float(x[:, COLUMN].sum(dtype=numpy.float64))
            t_read += b - a
            t_copy += c - b
        detail = dict(read_chunk_s=t_read, get_data_s=t_copy)
    elif reader == 'headrank-numpy':
        x = hn.read(Headrank.StackReader.new(path, Headrank.StackLayout.AUTO, None))
        n, d = x.shape
        total = float(x[:, COLUMN].sum(dtype=numpy.float64))
    elif reader == 'headrank-numpy-out':
        x = hn.read(Headrank.StackReader.new(path, Headrank.StackLayout.AUTO, None), out=dest)
        n, d = x.shape
        total = float(x[:, COLUMN].sum(dtype=numpy.float64))
    elif reader == 'tifffile-imread-out':
        x = tifffile.imread(path, out=dest)
        n, d = x.shape
        total = float(x[:, COLUMN].sum(dtype=numpy.float64))
    elif reader == 'headrank-read-into':
        import ctypes
        import bench_common
        read_into, c_pointer = bench_common.read_into('hr_stack_reader_read_into')
        r = Headrank.StackReader.new(path, Headrank.StackLayout.AUTO, None)
        n, d = r.get_n_samples(), r.get_n_features()
        chunk_rows = r.get_preferred_chunk()
        buf = numpy.empty((chunk_rows, d), numpy.float32)
        got = ctypes.c_size_t(0)
        total = 0.0
        t_read = 0.0
        while True:
            a = time.perf_counter()
            if not read_into(c_pointer(r), buf.ctypes.data,
                             chunk_rows, ctypes.byref(got), None, None):
                raise RuntimeError('hr_stack_reader_read_into failed')
            t_read += time.perf_counter() - a
            if got.value == 0:
                break
            total += float(buf[:got.value, COLUMN].sum(dtype=numpy.float64))
        detail = dict(read_chunk_s=t_read, get_data_s=0.0)
    elif reader == 'tifffile-imread':
        x = tifffile.imread(path)
        n, d = x.shape
        total = float(x[:, COLUMN].sum(dtype=numpy.float64))
    elif reader == 'tifffile-memmap':
        mm = tifffile.memmap(path, mode='r')
        n, d = mm.shape
        chunk_rows = max(1, (16 << 20) // (d * 4))
        total = 0.0
        for i in range(0, n, chunk_rows):
            x = numpy.array(mm[i:i + chunk_rows])
            total += float(x[:, COLUMN].sum(dtype=numpy.float64))
    elif reader == 'raw-readinto':
        with tifffile.TiffFile(path) as tf:
            page = tf.pages[0]
            n, d = page.shape
            offset = page.dataoffsets[0]
            assert page.dtype == numpy.float32 and page.compression == 1
            assert page.dataoffsets[-1] + page.databytecounts[-1] == \
                offset + n * d * 4, 'not one contiguous strip run'
            native = tf.byteorder == '<'
        chunk_rows = max(1, (16 << 20) // (d * 4))
        buf = numpy.empty((chunk_rows, d), numpy.float32)
        total = 0.0
        with open(path, 'rb', buffering=0) as f:
            f.seek(offset)
            for i in range(0, n, chunk_rows):
                rows = min(chunk_rows, n - i)
                view = buf[:rows]
                got = f.readinto(memoryview(view).cast('B'))
                assert got == rows * d * 4
                if not native:
                    view = view.byteswap()
                total += float(view[:, COLUMN].sum(dtype=numpy.float64))
    else:
        raise SystemExit(f'unknown reader {reader}')
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)

    print(json.dumps(dict(reader=reader, seconds=seconds, n=n, d=d,
                          rss_mb=maxrss_mb() - base, base_rss_mb=base,
                          rss_file_mb=rss_file_mb(),
                          user_s=ru.ru_utime - ru0.ru_utime,
                          sys_s=ru.ru_stime - ru0.ru_stime,
                          minflt=ru.ru_minflt - ru0.ru_minflt,
                          checksum=total, chunk=chunk_rows, **detail)))


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------

def ensure_file(path, n, d):
    import numpy
    import tifffile
    want = n * d * 4
    if os.path.exists(path):
        try:
            with tifffile.TiffFile(path) as tf:
                p = tf.pages[0]
                if (p.shape == (n, d) and p.dtype == numpy.float32 and
                        sum(p.databytecounts) == want):
                    return False
        except Exception:  # noqa: BLE001 - rewrite anything unreadable
            pass
    # in a subprocess, so that this (parent) process stays small
    subprocess.run([sys.executable, os.path.abspath(__file__), '--write',
                    path, str(n), str(d)], check=True)
    return True


def write_file(path, n, d):
    import numpy
    import tifffile
    rng = numpy.random.default_rng(20240611)
    data = rng.standard_normal((n, d), dtype=numpy.float32)
    tmp = path + '.part'
    tifffile.imwrite(tmp, data)          # default settings, as users do
    os.replace(tmp, path)


def warm(path):
    with open(path, 'rb', buffering=0) as f:
        while f.read(64 << 20):
            pass


def file_facts(path):
    import tifffile
    with tifffile.TiffFile(path) as tf:
        p = tf.pages[0]
        return dict(rowsperstrip=p.rowsperstrip, nstrips=len(p.dataoffsets),
                    compression=p.compression.name, byteorder=tf.byteorder,
                    description=p.description)


def versions():
    import numpy
    import tifffile
    import gi
    out = dict(python=platform.python_version(), numpy=numpy.__version__,
               tifffile=tifffile.__version__, pygobject=gi.__version__)
    try:
        gi.require_version('Headrank', '1.0')
        from gi.repository import Headrank
        out['headrank'] = Headrank.VERSION_S
    except Exception as exc:  # noqa: BLE001
        out['headrank'] = f'unavailable ({exc})'
    try:
        import ctypes
        import ctypes.util
        lt = ctypes.CDLL(ctypes.util.find_library('tiff') or 'libtiff.so.6')
        lt.TIFFGetVersion.restype = ctypes.c_char_p
        out['libtiff'] = lt.TIFFGetVersion().decode().splitlines()[0]
    except Exception:  # noqa: BLE001
        pass
    try:
        import imagecodecs
        out['imagecodecs'] = imagecodecs.__version__
    except ImportError:
        pass
    return out


def run_child(reader, path):
    r = subprocess.run([sys.executable, os.path.abspath(__file__), '--child',
                        reader, path], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f'{reader} failed (rc {r.returncode}):\n'
                           f'{r.stderr.strip()}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', choices=sorted(SIZES), default='full')
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--cache-dir')
    ap.add_argument('--readers', default=','.join(READERS),
                    help='comma-separated subset of ' + ','.join(READERS))
    ap.add_argument('--child', nargs=2, metavar=('READER', 'PATH'),
                    help=argparse.SUPPRESS)
    ap.add_argument('--write', nargs=3, metavar=('PATH', 'N', 'D'),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write:
        write_file(args.write[0], int(args.write[1]), int(args.write[2]))
        return 0
    if args.child:
        child(*args.child)
        return 0

    n, d = SIZES[args.size]
    path = os.path.join(cache_dir(args.cache_dir),
                        f'matrix-{n}x{d}-float32-tifffile-default.tif')
    t = time.perf_counter()
    wrote = ensure_file(path, n, d)
    mb = n * d * 4 / 1e6
    print(f'file: {path} ({os.path.getsize(path) / 1e6:.0f} MB on disk, '
          f'{"written in %.1f s" % (time.perf_counter() - t) if wrote else "cached"})')
    facts = file_facts(path)
    print(f'  {n} x {d} float32, tifffile defaults: compression '
          f'{facts["compression"]}, rowsperstrip {facts["rowsperstrip"]} '
          f'({facts["nstrips"]} strip(s)), byteorder {facts["byteorder"]}, '
          f'description {facts["description"]!r}')
    print(f'machine: nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} '
          f'usable), {platform.machine()}, {platform.platform()}')
    print('versions: ' + ', '.join(f'{k} {v}' for k, v in versions().items()))
    warm(path)
    print(f'page cache warmed before each run; {args.repeat} runs per reader, best time; '
          f'peak RSS = peak (VmHWM) - baseline after imports; in brackets the '
          f'file-backed part at the end')
    print()
    print(f'{"reader":17s} {"best s":>8s} {"MB/s":>8s} {"peak RSS MB":>12s} '
          f'{"chunk rows":>10s}  runs (s)')
    print(f'{"":17s} {"":8s} {"":8s} {"(file-backed)":>12s}')

    readers = [r for r in args.readers.split(',') if r]
    results = {}
    checks = set()
    # rounds of one run of each reader, so that a change of the machine's load (other
    # work on the shared cores) reaches every reader alike
    all_runs = {reader: [] for reader in readers}
    for _ in range(args.repeat):
        for reader in readers:
            # the file read once more just before each run: the other work on the machine
            # evicts pages between runs, which would fall on whoever runs first
            warm(path)
            all_runs[reader].append(run_child(reader, path))
    for reader in readers:
        runs = all_runs[reader]
        for r in runs:
            assert (r['n'], r['d']) == (n, d), r
            checks.add(round(r['checksum'], 3))
        best = min(runs, key=lambda r: r['seconds'])
        rss = max(r['rss_mb'] for r in runs)
        results[reader] = (best, rss)
        extra = ''
        if 'read_chunk_s' in best:
            extra = (f'  [in the library {best["read_chunk_s"]:.3f} s, '
                     f'GLib.Bytes.get_data copy {best["get_data_s"]:.3f} s]')
        rss_file = max(r['rss_file_mb'] for r in runs)
        print(f'{reader:17s} {best["seconds"]:8.3f} '
              f'{mb / best["seconds"]:8.0f} {rss:12.1f} '
              f'{str(best.get("chunk") or "-"):>10s}  '
              + ' '.join(f'{r["seconds"]:.3f}' for r in runs))
        print(f'{"":17s} {"":8s} {"":8s} {"(%.1f)" % rss_file:>12s} '
              f'{"":10s}  user {best["user_s"]:.2f} s, sys {best["sys_s"]:.2f} s, '
              f'{best["minflt"]} minor faults' + extra)
    if len(checks) > 1:
        print(f'WARNING: readers disagree on the column sum: {sorted(checks)}')
    else:
        print(f'column {COLUMN} sum agrees across readers: {checks.pop()}')
    # Side by side against tifffile (time ratio > 1: headrank faster; CPU time, user +
    # system, least of the runs, beside it: on a machine shared with other work one run's
    # wall time moves by several times; peak RSS each adds). headrank-numpy is the same job
    # as tifffile-imread (the stack into one new numpy array), headrank-numpy-out as
    # tifffile-imread-out (into an array that exists already); headrank-read-into is the
    # library's own chunked read (what the command and the C API do); headrank adds the
    # Python binding's per-chunk allocation and GLib.Bytes copy.
    cpu = {name: min(r['user_s'] + r['sys_s'] for r in all_runs[name]) for name in results}
    for peer, names in (('tifffile-imread', ('headrank-numpy', 'headrank-read-into', 'headrank',
                                             'tifffile-memmap', 'raw-readinto')),
                        ('tifffile-imread-out', ('headrank-numpy-out',))):
        if peer not in results or not any(name in results for name in names):
            continue
        t, t_rss = results[peer][0]['seconds'], results[peer][1]
        print()
        print(f'{"against " + peer:28s} {"speed ratio":>11s} {"CPU ratio":>10s}'
              f' {"peak RSS MB":>12s} {"tifffile MB":>12s}')
        for name in names:
            if name in results:
                h, h_rss = results[name][0]['seconds'], results[name][1]
                ratio = f'{cpu[peer] / cpu[name]:9.2f}×' if cpu[name] > 0 else f'{"-":>10s}'
                print(f'{name:28s} {t / h:10.2f}× {ratio} {h_rss:12.1f} {t_rss:12.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
