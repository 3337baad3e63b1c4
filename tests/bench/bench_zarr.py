#!/usr/bin/env python3
"""Benchmark (issue 13 §6): read X of a 1,000,000 × 768 float32 AnnData zarr store with
headrank's zarr source, with anndata (`anndata.read_zarr(path).X`) and with zarr-python
(`zarr.open(path, mode='r')['X'][:]`).

The store is what a VisCy user has: `anndata.AnnData(X).write_zarr(path)` with anndata's
defaults, that is the zarr format anndata writes by default and zarr-python's default
codecs for it (the run prints both: with anndata 0.13 and zarr-python 3 that is zarr v3,
sharded, each inner chunk `bytes` + `zstd` level 0). It is written once by the benchmark
into the cache folder ($HEADRANK_BENCH_CACHE, else $G_TEST_BUILDDIR/bench-cache, else the
temp dir; about 2.9 GB) and read warm from the page cache.

Equal work: every reader decodes every value of X into float32.
  headrank   Headrank.ZarrSource over `X`, all rows streamed with hr_source_read_into
             (through ctypes: the library's own read, no per-chunk Python objects) into
             one reused buffer of the source's preferred chunk: memory independent of N;
             the library decodes the chunks of a row on as many threads as it may use
  headrank-one-cpu  the same, the process bound to one CPU (one decoding thread)
  anndata    anndata.read_zarr(path).X: the whole matrix in memory
  zarr       zarr.open(path, mode='r')['X'][:]: the whole matrix in memory
Each reader checks the sum of one column, so that all of them read the same numbers.

Every run is a fresh process; the readers alternate (headrank, headrank-one-cpu, anndata,
zarr, headrank, …) --repeat times, and the median of each is reported: wall time, throughput (MB of
float32 values decoded per second), CPU time, and peak RSS (VmHWM at the end minus the
RSS after the imports; the absolute peak in brackets).

anndata and zarr-python run in the Python of $HEADRANK_BENCH_PEER_PYTHON (default: the
Python running this script); without anndata and zarr there the benchmark prints why and
exits 77 (skipped). headrank runs in this script's Python, through the typelib.

  HEADRANK_BENCH_PEER_PYTHON=/path/to/venv/bin/python \\
      meson test -C build --benchmark zarr-read --verbose
  python3 tests/bench/bench_zarr.py [--n 1000000] [--d 768] [--repeat 3]
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

from bench_common import cache_dir

COLUMN = 7
READERS = ['headrank', 'headrank-one-cpu', 'anndata', 'zarr']


def status_kb(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise RuntimeError(f'no {key} in /proc/self/status')


# --------------------------------------------------------------------------
# children: one reader, one run; print one JSON line
# --------------------------------------------------------------------------

def child(reader, path):
    import resource
    if reader == 'headrank-one-cpu':
        # the library decodes a row of chunks on as many threads as the process may use
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import numpy
    if reader.startswith('headrank'):
        import ctypes
        import gi
        gi.require_version('Headrank', '1.0')
        from gi.repository import Headrank
        import bench_common
        read_into, c_pointer = bench_common.read_into('hr_source_read_into')
    elif reader == 'anndata':
        import anndata
    elif reader == 'zarr':
        import zarr
    base = status_kb('VmRSS')
    with open('/proc/self/clear_refs', 'w') as c:
        c.write('5')  # VmHWM := VmRSS
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    detail = {}

    t0 = time.perf_counter()
    if reader.startswith('headrank'):
        source = Headrank.ZarrSource.new(path, 'X')
        n, d = source.get_n_samples(), source.get_n_features()
        rows = source.get_preferred_chunk()
        buf = numpy.empty((rows, d), numpy.float32)
        got = ctypes.c_size_t(0)
        handle = c_pointer(source)
        total = 0.0
        while True:
            if not read_into(handle, buf.ctypes.data, rows, ctypes.byref(got), None, None):
                raise RuntimeError('hr_source_read_into failed')
            if got.value == 0:
                break
            total += float(buf[:got.value, COLUMN].sum(dtype=numpy.float64))
        detail['chunk_rows'] = rows
    else:
        if reader == 'anndata':
            x = anndata.read_zarr(path).X
        else:
            x = zarr.open(path, mode='r')['X'][:]
        assert isinstance(x, numpy.ndarray) and x.dtype == numpy.float32, type(x)
        n, d = x.shape
        total = float(x[:, COLUMN].sum(dtype=numpy.float64))
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    peak = status_kb('VmHWM')
    print(json.dumps(dict(reader=reader, seconds=seconds, n=n, d=d, checksum=total,
                          rss_mb=(peak - base) / 1024.0, peak_mb=peak / 1024.0,
                          cpu_s=(ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime),
                          **detail)))


# --------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------

def write_store(path, n, d):
    """In the peer's Python: AnnData(X).write_zarr with every default."""
    import anndata
    import numpy
    x = numpy.random.default_rng(20261206).standard_normal((n, d), dtype=numpy.float32)
    tmp = path + '.part'
    shutil.rmtree(tmp, ignore_errors=True)
    anndata.AnnData(x).write_zarr(tmp)
    with open(os.path.join(tmp, 'headrank-bench-complete'), 'w') as f:
        f.write(f'{n} {d}\n')
    os.replace(tmp, path)


def peer_facts():
    """In the peer's Python: versions and the defaults that decide the store's codecs."""
    import importlib.metadata as md
    import anndata
    import zarr
    out = dict(python=platform.python_version())
    for name in ('anndata', 'zarr', 'numcodecs', 'numpy'):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    for key in ('zarr_write_format', 'auto_shard_zarr_v3'):
        if hasattr(anndata.settings, key):
            out['anndata.settings.' + key] = getattr(anndata.settings, key)
    print(json.dumps(out, default=str))


def describe_codecs(path):
    """The codecs of X, read from its metadata (v3 zarr.json or v2 .zarray)."""
    v3 = os.path.join(path, 'X', 'zarr.json')
    v2 = os.path.join(path, 'X', '.zarray')
    if os.path.exists(v3):
        with open(v3) as f:
            meta = json.load(f)

        def codecs(lst):
            parts = []
            for c in lst:
                conf = c.get('configuration') or {}
                if c['name'] == 'sharding_indexed':
                    parts.append(f'sharding_indexed(inner chunks {conf["chunk_shape"]}: '
                                 f'{codecs(conf["codecs"])}; index: '
                                 f'{codecs(conf["index_codecs"])})')
                else:
                    parts.append(c['name'] + (json.dumps(conf, sort_keys=True) if conf else ''))
            return ', '.join(parts)
        return (f'zarr v3, chunks (shards) '
                f'{meta["chunk_grid"]["configuration"]["chunk_shape"]}, codecs '
                f'{codecs(meta["codecs"])}')
    with open(v2) as f:
        meta = json.load(f)
    return (f'zarr v2, chunks {meta["chunks"]}, compressor '
            f'{json.dumps(meta["compressor"], sort_keys=True)}, filters '
            f'{json.dumps(meta["filters"])}')


def store_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def warm(path):
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), 'rb', buffering=0) as f:
                while f.read(64 << 20):
                    pass


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------

def run_child(python, reader, path):
    r = subprocess.run([python, os.path.abspath(__file__), '--child', reader, path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f'{reader} failed (rc {r.returncode}):\n{r.stderr.strip()}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=1_000_000)
    ap.add_argument('--d', type=int, default=768)
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--cache-dir')
    ap.add_argument('--readers', default=','.join(READERS),
                    help='comma-separated subset of ' + ','.join(READERS))
    ap.add_argument('--child', nargs=2, metavar=('READER', 'PATH'), help=argparse.SUPPRESS)
    ap.add_argument('--write', nargs=3, metavar=('PATH', 'N', 'D'), help=argparse.SUPPRESS)
    ap.add_argument('--facts', action='store_true', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    if args.write:
        write_store(args.write[0], int(args.write[1]), int(args.write[2]))
        return 0
    if args.facts:
        peer_facts()
        return 0

    peer = os.environ.get('HEADRANK_BENCH_PEER_PYTHON') or sys.executable
    probe = subprocess.run([peer, '-c', 'import anndata, zarr, numpy'],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ['not runnable'])[-1]
        print(f'SKIP: anndata and zarr-python are needed in {peer} ({last}); set '
              f'HEADRANK_BENCH_PEER_PYTHON to a Python that has them (pip install anndata '
              f'zarr, not into the project venv)')
        return 77

    n, d = args.n, args.d
    path = os.path.join(cache_dir(args.cache_dir), f'anndata-{n}x{d}-float32-defaults.zarr')
    t = time.perf_counter()
    marker = os.path.join(path, 'headrank-bench-complete')
    wrote = False
    if not (os.path.exists(marker) and open(marker).read().split() == [str(n), str(d)]):
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([peer, '-W', 'ignore', os.path.abspath(__file__), '--write', path,
                        str(n), str(d)], check=True)
        wrote = True
    facts = json.loads(subprocess.run([peer, '-W', 'ignore', os.path.abspath(__file__),
                                       '--facts'], capture_output=True, text=True,
                                      check=True).stdout)
    mb = n * d * 4 / 1e6
    on_disk = store_size(path)
    print(f'store: {path}: {n} × {d} float32 = {mb:.0f} MB of values, '
          f'{on_disk / 1e6:.0f} MB on disk ({on_disk / (n * d * 4):.3f} of raw), '
          + (f'written in {time.perf_counter() - t:.1f} s' if wrote else 'cached'))
    print(f'  X as anndata wrote it with its defaults: {describe_codecs(path)}')
    print('peer: ' + ', '.join(f'{k} {v}' for k, v in facts.items()))
    print(f'machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), '
          f'{platform.machine()}, {platform.platform()}; load average '
          + ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    warm(path)
    print(f'page cache warmed; the readers alternate, {args.repeat} runs each, median '
          f'reported; peak RSS = VmHWM at the end - RSS after the imports [absolute VmHWM]')
    print()

    readers = [r for r in args.readers.split(',') if r]
    runs = {r: [] for r in readers}
    for _ in range(args.repeat):
        for reader in readers:
            python = sys.executable if reader.startswith('headrank') else peer
            r = run_child(python, reader, path)
            assert (r['n'], r['d']) == (n, d), r
            runs[reader].append(r)

    print(f'{"reader":16s} {"median s":>9s} {"MB/s":>7s} {"CPU s":>7s} {"peak RSS MB":>18s}'
          f'  runs (s)')
    med = {}
    for reader in readers:
        rs = runs[reader]
        s = statistics.median(r['seconds'] for r in rs)
        cpu = statistics.median(r['cpu_s'] for r in rs)
        rss = statistics.median(r['rss_mb'] for r in rs)
        peak = statistics.median(r['peak_mb'] for r in rs)
        med[reader] = (s, rss)
        print(f'{reader:16s} {s:9.3f} {mb / s:7.0f} {cpu:7.2f} {rss:9.1f} [{peak:7.1f}]  '
              + ' '.join(f'{r["seconds"]:.3f}' for r in rs))
    print('load average after the runs: ' + ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    sums = [r['checksum'] for rs in runs.values() for r in rs]
    spread = max(sums) - min(sums)
    ok = spread <= 1e-9 * max(1.0, max(abs(v) for v in sums))
    print(f'column {COLUMN} sum: {sums[0]:.6f}'
          + (' (all runs agree)' if ok else f' — RUNS DISAGREE by {spread:g}'))
    for ours in (r for r in readers if r.startswith('headrank')):
        h, hrss = med[ours]
        for peer_name in readers:
            if peer_name.startswith('headrank'):
                continue
            p, prss = med[peer_name]
            print(f'{ours} / {peer_name}: throughput {p / h:.2f}×, peak RSS '
                  f'{hrss / prss:.3f}× ({hrss:.0f} MB against {prss:.0f} MB)')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
