"""headrank analyze on a compressed stack against the same stack uncompressed (issue 15 §4).

    python3 tests/bench/bench_codecs.py [--n 200000] [--d 768] [--rounds 3] [--cache DIR]
    meson test -C build --benchmark codecs

The same N × D float32 features (rank 96 plus noise, every bit of the float32 values
used: real embeddings hardly compress) are written uncompressed and in each codec, with
the writers' defaults where they have them:

- TIFF (tifffile): ``none`` (one strip), ``deflate`` and ``lzw`` (strips of tifffile's
  default size for compressed data: 85 rows of 768 values);
- zarr v3 (zarr-python; its default chunks of 12,500 × 48): ``none`` (bytes only),
  ``zstd`` (zarr-python's default codec, level 0), ``blosc-lz4`` (numcodecs' former
  default: lz4, level 5, byte shuffle).

Each input is analysed by ``headrank analyze INPUT -o DIR`` (the default analysis: the
features' spectrum, statistics, plots and per_sample.csv; the report written to a
temporary folder in /dev/shm where there is one, so that the disk's writeback does not
time it), a fresh process under ``nice -n -10`` (when allowed; as root the benchmark also
gives its own session priority over the others': ``/proc/self/autogroup`` -10) and
/usr/bin/time: wall
time, CPU time (user + system, all threads) and peak RSS. ``--rounds`` rounds, each
running every input once in turn; the best and the median wall time are reported, with
the load average before each round.

The decoding alone: each input read a chunk of 2,048 rows at a time (as the pass reads)
through hr_source_read_into in a fresh process; its CPU time less that of the
uncompressed input of its format is the CPU the codec costs. On a machine of C cores that
BLAS also uses, decoding competes with the pass for CPU, so the compressed analysis
cannot take less than (CPU of the uncompressed analysis + CPU of decoding) / C, nor less
than the uncompressed analysis: the ratio uncompressed / compressed time cannot exceed
T_u / max(T_u, (CPU_u + CPU_decode) / C). That bound is printed beside each measured
ratio.

Not a test: no assertion on time. Inputs are written once into the cache folder
(``codecs/``, about 3.7 GB at the default size) and kept (``--clean`` removes them).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import cache_dir, headrank_tool, timed  # noqa: E402

CHUNK = 2048
TIFF = ['none', 'deflate', 'lzw']
ZARR = ['none', 'zstd', 'blosc-lz4']


def inputs(folder, n, d):
    """{label: path} of every input, written if missing (each to a temporary name first)."""
    out = {f'tiff {c}': os.path.join(folder, f'{n}x{d}-{c}.tif') for c in TIFF}
    out.update({f'zarr {c}': os.path.join(folder, f'{n}x{d}-{c}.zarr') for c in ZARR})
    if all(os.path.exists(p) for p in out.values()):
        return out
    import numpy as np
    import tifffile
    import zarr
    rng = np.random.default_rng(1504)
    mix = rng.standard_normal((96, d)).astype(np.float32)
    x = np.empty((n, d), np.float32)
    for a in range(0, n, 100_000):
        k = min(100_000, n - a)
        x[a:a + k] = rng.standard_normal((k, 96), dtype=np.float32) @ mix
        x[a:a + k] += 1e-3 * rng.standard_normal((k, d), dtype=np.float32)
    for c in TIFF:
        path = out[f'tiff {c}']
        if os.path.exists(path):
            continue
        kw = {} if c == 'none' else {'compression': {'deflate': 'zlib', 'lzw': 'lzw'}[c]}
        tifffile.imwrite(path + '.tmp', x, **kw)
        os.replace(path + '.tmp', path)
    codecs = {'none': dict(compressors=None),
              'zstd': {},  # zarr-python's default for v3: ZstdCodec(level=0)
              'blosc-lz4': dict(compressors=zarr.codecs.BloscCodec(
                  cname='lz4', clevel=5, shuffle='shuffle', typesize=4))}
    for c in ZARR:
        path = out[f'zarr {c}']
        if os.path.exists(path):
            continue
        shutil.rmtree(path + '.tmp', ignore_errors=True)
        a = zarr.create_array(store=path + '.tmp', shape=x.shape, dtype='float32',
                              **codecs[c])
        a[:] = x
        os.replace(path + '.tmp', path)
    return out


def size_on_disk(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def warm(path):
    files = [path] if os.path.isfile(path) else [
        os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs]
    for name in files:
        with open(name, 'rb', buffering=0) as f:
            while f.read(64 << 20):
                pass


def raise_priority():
    """As root on Linux, this benchmark's own session (os.setsid) given priority over the
    machine's other sessions: the scheduler weighs sessions against each other (autogroups,
    /proc/self/autogroup), so `nice` alone only orders the processes of one session.
    Returns what was done, for the output."""
    if os.geteuid() != 0 or not os.path.exists('/proc/self/autogroup'):
        return 'none'
    try:
        if os.getsid(0) != os.getpid():
            os.setsid()
        with open('/proc/self/autogroup', 'w') as f:
            f.write('-10')
        with open('/proc/self/autogroup') as f:
            return f'own session, autogroup {f.read().strip().split()[-1]}'
    except OSError as e:
        return f'none ({e.strerror})'


def nice_prefix():
    """nice -n -10 where this user may raise priority (root), else nothing."""
    try:
        r = subprocess.run(['nice', '-n', '-10', 'true'], capture_output=True)
        return ['nice', '-n', '-10'] if r.returncode == 0 and os.geteuid() == 0 else []
    except OSError:
        return []


def child_read(path):
    """In a fresh process: the whole input read CHUNK rows at a time, into one buffer."""
    import ctypes
    import numpy as np
    import gi
    gi.require_version('Headrank', '1.0')
    from gi.repository import Headrank
    from bench_common import read_into
    fn, ptr = read_into('hr_source_read_into')
    if path.endswith('.tif'):
        src = Headrank.StackReader.new(path, Headrank.StackLayout.AUTO, None)
    else:
        src = Headrank.ZarrSource.new(path, None)
    buf = np.empty((CHUNK, src.get_n_features()), np.float32)
    got = ctypes.c_size_t(0)
    total = 0
    t, c = time.perf_counter(), time.process_time()
    while True:
        if not fn(ptr(src), buf.ctypes.data, CHUNK, ctypes.byref(got), None, None):
            raise RuntimeError(f'{path}: read failed')
        if got.value == 0:
            break
        total += got.value
    print(json.dumps(dict(wall=time.perf_counter() - t, cpu=time.process_time() - c,
                          rows=total)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=int(os.environ.get('HEADRANK_BENCH_N', 200_000)))
    ap.add_argument('--d', type=int, default=768)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--cache')
    ap.add_argument('--only', help='labels to run, comma-separated (e.g. "tiff none,tiff lzw")')
    ap.add_argument('--clean', action='store_true', help='remove the inputs afterwards')
    ap.add_argument('--child-read', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_read:
        child_read(a.child_read)
        return 0

    tool = headrank_tool()
    if not tool:
        print('SKIP: no headrank command (HEADRANK_TOOL)')
        return 77
    folder = os.path.join(cache_dir(a.cache), 'codecs')
    os.makedirs(folder, exist_ok=True)
    t = time.perf_counter()
    paths = inputs(folder, a.n, a.d)
    if a.only:
        keep = [s.strip() for s in a.only.split(',')]
        paths = {k: v for k, v in paths.items() if k in keep}
    raw = a.n * a.d * 4
    priority = raise_priority()
    print(f'{a.n} × {a.d} float32 ({raw / 1e6:.0f} MB of values), inputs ready in '
          f'{time.perf_counter() - t:.0f} s; cores {os.cpu_count()}; nice: '
          f'{" ".join(nice_prefix()) or "none"}, priority: {priority}', flush=True)
    for label, path in paths.items():
        print(f'  {label:16s} {size_on_disk(path) / 1e6:8.0f} MB on disk, '
              f'{raw / size_on_disk(path):.3f} : 1', flush=True)

    if a.rounds < 1:
        return 0
    env = dict(os.environ, HEADRANK_NO_PROGRESS='1')
    shm = '/dev/shm' if os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK) else None
    runs = {label: [] for label in paths}
    reads = {label: [] for label in paths}
    loads = []
    for r in range(a.rounds):
        loads.append(os.getloadavg())
        for label, path in paths.items():
            warm(path)
            with tempfile.TemporaryDirectory(dir=shm) as tmp:
                res = timed(nice_prefix() + [tool, 'analyze', path, '-o',
                                             os.path.join(tmp, 'report')], env)
            runs[label].append(res)
            res = timed(nice_prefix() + [sys.executable, os.path.abspath(__file__),
                                         '--child-read', path], env)
            reads[label].append(json.loads(res['stdout'].strip().splitlines()[-1]))
        print(f'round {r + 1}: load average before ' + ' '.join(f'{v:.2f}' for v in loads[-1])
              + '; walls ' + ', '.join(f'{k} {runs[k][-1]["wall"]:.2f}' for k in runs),
              flush=True)
    loads.append(os.getloadavg())

    cores = os.cpu_count() or 1
    print(f'\nheadrank analyze, {a.rounds} rounds (best / median wall s; median CPU s; peak '
          f'RSS MB); decoding alone (median CPU s of reading, chunks of {CHUNK}); ratio = '
          f'uncompressed / compressed wall (best, median); bound = T_u / max(T_u, (CPU_u + '
          f'CPU_decode) / {cores}) from the medians; cores used = CPU / wall: where the '
          f'machine is shared, fewer than {cores} may be free, and the bound is lower')
    for label in paths:
        fmt = label.split()[0]
        base = f'{fmt} none'
        best = min(x['wall'] for x in runs[label])
        med = statistics.median(x['wall'] for x in runs[label])
        cpu = statistics.median(x['cpu'] for x in runs[label])
        rss = max(x['rss_mb'] for x in runs[label])
        dec = statistics.median(x['cpu'] for x in reads[label])
        line = (f'{label:16s} wall {best:6.2f} / {med:6.2f}  CPU {cpu:6.2f} (cores used '
                f'{cpu / med:4.2f})  RSS {rss:5.0f}  read CPU {dec:5.2f}')
        if base in runs and base != label:
            b_best = min(x['wall'] for x in runs[base])
            b_med = statistics.median(x['wall'] for x in runs[base])
            b_cpu = statistics.median(x['cpu'] for x in runs[base])
            extra = max(0.0, dec - statistics.median(x['cpu'] for x in reads[base]))
            bound = b_med / max(b_med, (b_cpu + extra) / cores)
            line += (f'  decode +{extra:5.2f} s  ratio {b_best / best:.2f}, {b_med / med:.2f}'
                     f'  bound {bound:.2f}')
        print(line)
    print('load average after: ' + ' '.join(f'{v:.2f}' for v in loads[-1]))
    if a.clean:
        for p in paths.values():
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    return 0


if __name__ == '__main__':
    sys.exit(main())
