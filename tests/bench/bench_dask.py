"""headrank_dask on a LocalCluster against one process (issue 15 §2, §6): N × 768 float32
features in 10 TIFF shards through a VisCy v2 head (Linear 768→768, BatchNorm1d, ReLU,
Linear 768→32, BatchNorm1d; random weights with running statistics, written here as a
``viscy-v2`` safetensors file: the bundled data/head-viscy-v2.safetensors takes 64 inputs).

    python3 tests/bench/bench_dask.py [--n 2000000] [--cache DIR] [--keep]

Two runs, each a fresh Python process:

- ``single``: headrank_numpy.analyze(shards, weights=…) in one process, OpenBLAS with 2
  threads (1 process × 2 threads);
- ``dask``: headrank_dask.analyze(shards, client=…) on a distributed.LocalCluster of 2
  worker processes × 1 thread, OPENBLAS_NUM_THREADS=1 in the workers: one task per shard,
  the parts merged as a tree, the report's spectra computed on the client.

Each prints its wall time (the analysis only, the cluster started before) and the peak RSS
(VmHWM) of every process: the client and, for dask, each worker. The ranks of the two
runs are printed side by side (they must agree). Not a test: no assertion on time. The
shards (N × 768 × 4 bytes) are written once into the cache folder and removed afterwards
unless --keep.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent / 'python'))
from bench_common import cache_dir  # noqa: E402
from safetensors_writer import write_safetensors  # noqa: E402

D, HIDDEN, OUT, SHARDS = 768, 768, 32, 10
SLICE = 100_000  # rows drawn at a time


def head_tensors(rng):
    """The 768 → 768 → 32 VisCy v2 head's tensors, random weights drawn from @rng."""
    import numpy as np
    w0 = rng.standard_normal((HIDDEN, D)).astype(np.float32) / np.sqrt(D)
    w3 = rng.standard_normal((OUT, HIDDEN)).astype(np.float32) / np.sqrt(HIDDEN)
    return {
        'projection.0.weight': w0, 'projection.0.bias': np.zeros(HIDDEN),
        'projection.1.weight': np.ones(HIDDEN), 'projection.1.bias': np.zeros(HIDDEN),
        'projection.1.running_mean': np.zeros(HIDDEN),
        'projection.1.running_var': np.full(HIDDEN, 4.0),
        'projection.3.weight': w3, 'projection.3.bias': np.zeros(OUT),
        'projection.4.weight': np.ones(OUT), 'projection.4.bias': np.zeros(OUT),
        'projection.4.running_mean': np.zeros(OUT),
        'projection.4.running_var': np.ones(OUT)}


def make_inputs(folder, n, min_free_gb=12):
    import numpy as np
    import tifffile
    rng = np.random.default_rng(15)
    head = folder / 'head-viscy-v2-768.safetensors'
    # drawn whether or not the head exists, so that the shards are the same either way
    tensors = head_tensors(rng)
    if not head.exists():
        write_safetensors(head, tensors)
    mix = rng.standard_normal((96, D)).astype(np.float32)
    shards = []
    bounds = [n * i // SHARDS for i in range(SHARDS + 1)]
    paths = [folder / f'shard-{n}-{i:02d}-strips.tif' for i in range(SHARDS)]
    last_missing = max([i for i, p in enumerate(paths) if not p.exists()], default=-1)
    for i, path in enumerate(paths):
        shards.append(str(path))
        rows = bounds[i + 1] - bounds[i]
        if i > last_missing:
            continue
        if path.exists():
            for _ in range(0, rows, SLICE):  # the same draws, to make the next shard
                k = min(SLICE, rows - _)
                rng.standard_normal((k, 96), dtype=np.float32)
                rng.standard_normal((k, D), dtype=np.float32)
            continue
        free = shutil.disk_usage(folder).free
        if free - rows * D * 4 < min_free_gb * 1e9:
            raise SystemExit(f'{folder}: {free / 1e9:.1f} GB free; a shard of '
                             f'{rows * D * 4 / 1e9:.1f} GB would leave less than '
                             f'{min_free_gb} GB')

        def strips():
            # rank 96 plus noise, drawn in slices of 100,000 rows, written in strips of
            # 4,096 rows (tifffile's default is one strip of the whole shard, which the
            # reader would decode at once), so that a shard is never whole in memory
            carry = np.empty((0, D), np.float32)
            for a in range(0, rows, SLICE):
                k = min(SLICE, rows - a)
                x = rng.standard_normal((k, 96), dtype=np.float32) @ mix
                x += 1e-3 * rng.standard_normal((k, D), dtype=np.float32)
                x = np.concatenate([carry, x]) if len(carry) else x
                whole = len(x) - len(x) % 4096 if a + k < rows else len(x)
                for b in range(0, whole, 4096):
                    yield x[b:b + 4096].tobytes()
                carry = x[whole:]

        tifffile.imwrite(str(path) + '.tmp', strips(), shape=(rows, D), dtype=np.float32,
                         bigtiff=True, rowsperstrip=4096)
        os.replace(str(path) + '.tmp', path)
    return str(head), shards


def ranks(analysis):
    import headrank_numpy as hn
    return {s['name']: s['rank'] for s in hn.report(analysis)['stages'] if s['has_spectrum']}


def peak_mb():
    """The peak RSS of this process (VmHWM, in MB): not ru_maxrss, which Linux keeps
    across fork and exec (a process started from a large one reports the large one's)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds():
    """The CPU time of this process so far (user + system, all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_single(head, shards):
    import headrank_numpy as hn
    t, c = time.perf_counter(), cpu_seconds()
    analysis = hn.analyze(shards, weights=head, arch='viscy-v2')
    return {'seconds': time.perf_counter() - t, 'cpu_seconds': {'process': cpu_seconds() - c},
            'peak_rss_mb': {'process': peak_mb()}, 'ranks': ranks(analysis)}


def run_dask(head, shards):
    import distributed
    import headrank_dask as hd
    env = {'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1'}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, env=env,
                                  memory_limit=0) as cluster, distributed.Client(cluster) as c:
        before = c.run(cpu_seconds)
        t, client_cpu = time.perf_counter(), cpu_seconds()
        analysis = hd.analyze(shards, weights=head, arch='viscy-v2', client=c)
        seconds = time.perf_counter() - t
        client_cpu = cpu_seconds() - client_cpu
        after = c.run(cpu_seconds)
        workers = c.run(peak_mb)
    peaks = {'client': peak_mb()}
    peaks.update({f'worker {i}': mb for i, mb in enumerate(workers.values())})
    cpu = {'client': client_cpu}
    cpu.update({f'worker {i}': after[w] - before[w] for i, w in enumerate(after)})
    return {'seconds': seconds, 'cpu_seconds': cpu, 'peak_rss_mb': peaks,
            'ranks': ranks(analysis)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=int(os.environ.get('HEADRANK_BENCH_N',
                                                                    2_000_000)))
    parser.add_argument('--cache')
    parser.add_argument('--keep', action='store_true')
    parser.add_argument('--runs', default='single,dask',
                        help='which runs, comma-separated (default single,dask)')
    parser.add_argument('--make-only', action='store_true',
                        help='write the shards (kept) and stop')
    parser.add_argument('--min-free-gb', type=float, default=12,
                        help='refuse to write a shard that leaves less free (default 12)')
    parser.add_argument('--run', choices=['single', 'dask'], help=argparse.SUPPRESS)
    parser.add_argument('--head', help=argparse.SUPPRESS)
    parser.add_argument('shards', nargs='*', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        fn = run_single if args.run == 'single' else run_dask
        print(json.dumps(fn(args.head, args.shards)))
        return 0

    folder = Path(cache_dir(args.cache)) / 'dask'
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    head, shards = make_inputs(folder, args.n, args.min_free_gb)
    print(f'inputs: {args.n} × {D} float32 in {SHARDS} TIFF shards '
          f'({args.n * D * 4 / 1e9:.2f} GB), {time.perf_counter() - t:.0f} s to make',
          flush=True)
    if args.make_only:
        return 0
    results = {}
    for name, blas in (('single', '2'), ('dask', '1')):
        if name not in args.runs.split(','):
            continue
        env = dict(os.environ, OPENBLAS_NUM_THREADS=blas)
        load = os.getloadavg()[0]
        r = subprocess.run([sys.executable, __file__, '--run', name, '--head', head] + shards,
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        results[name] = json.loads(r.stdout.strip().splitlines()[-1])
        results[name]['load_before'] = load
        results[name]['load_after'] = os.getloadavg()[0]
        res = results[name]
        print(f'{name}: {res["seconds"]:.1f} s, CPU (s) '
              + ', '.join(f'{k} {v:.1f}' for k, v in res['cpu_seconds'].items())
              + ', peak RSS (MB) '
              + ', '.join(f'{k} {v:.0f}' for k, v in res['peak_rss_mb'].items())
              + f', ranks {res["ranks"]}, load average before {load:.1f}, after '
              f'{res["load_after"]:.1f}', flush=True)
    if len(results) < 2:
        return 0
    s, d = results['single']['seconds'], results['dask']['seconds']
    print(f'dask / single time: {d / s:.2f}; ranks equal: '
          f'{results["single"]["ranks"] == results["dask"]["ranks"]}')
    if not args.keep:
        for p in shards:
            os.remove(p)
    return 0


if __name__ == '__main__':
    sys.exit(main())
