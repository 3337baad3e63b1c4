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
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent / 'python'))
from bench_common import cache_dir  # noqa: E402

D, HIDDEN, OUT, SHARDS = 768, 768, 32, 10


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    import numpy as np
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(np.shape(array)),
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    Path(path).write_bytes(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def make_inputs(folder, n):
    import numpy as np
    import tifffile
    rng = np.random.default_rng(15)
    head = folder / 'head-viscy-v2-768.safetensors'
    if not head.exists():
        w0 = rng.standard_normal((HIDDEN, D)).astype(np.float32) / np.sqrt(D)
        w3 = rng.standard_normal((OUT, HIDDEN)).astype(np.float32) / np.sqrt(HIDDEN)
        write_safetensors(head, {
            'projection.0.weight': w0, 'projection.0.bias': np.zeros(HIDDEN),
            'projection.1.weight': np.ones(HIDDEN), 'projection.1.bias': np.zeros(HIDDEN),
            'projection.1.running_mean': np.zeros(HIDDEN),
            'projection.1.running_var': np.full(HIDDEN, 4.0),
            'projection.3.weight': w3, 'projection.3.bias': np.zeros(OUT),
            'projection.4.weight': np.ones(OUT), 'projection.4.bias': np.zeros(OUT),
            'projection.4.running_mean': np.zeros(OUT),
            'projection.4.running_var': np.ones(OUT)})
    mix = rng.standard_normal((96, D)).astype(np.float32)
    shards = []
    bounds = [n * i // SHARDS for i in range(SHARDS + 1)]
    for i in range(SHARDS):
        path = folder / f'shard-{n}-{i:02d}-strips.tif'
        shards.append(str(path))
        if path.exists():
            continue
        rows = bounds[i + 1] - bounds[i]
        x = np.empty((rows, D), np.float32)
        for a in range(0, rows, 100_000):  # rank 96 plus noise, in slices
            k = min(100_000, rows - a)
            x[a:a + k] = rng.standard_normal((k, 96), dtype=np.float32) @ mix
            x[a:a + k] += 1e-3 * rng.standard_normal((k, D), dtype=np.float32)
        # strips of 4,096 rows (tifffile's default is one strip of the whole shard, which
        # the reader would decode at once)
        tifffile.imwrite(str(path) + '.tmp', x, bigtiff=True, rowsperstrip=4096)
        os.replace(str(path) + '.tmp', path)
        del x
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


def run_single(head, shards):
    import headrank_numpy as hn
    t = time.perf_counter()
    analysis = hn.analyze(shards, weights=head, arch='viscy-v2')
    return {'seconds': time.perf_counter() - t, 'peak_rss_mb': {'process': peak_mb()},
            'ranks': ranks(analysis)}


def run_dask(head, shards):
    import distributed
    import headrank_dask as hd
    env = {'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1'}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, env=env,
                                  memory_limit=0) as cluster, distributed.Client(cluster) as c:
        c.run(lambda: None)
        t = time.perf_counter()
        analysis = hd.analyze(shards, weights=head, arch='viscy-v2', client=c)
        seconds = time.perf_counter() - t
        workers = c.run(peak_mb)
    peaks = {'client': peak_mb()}
    peaks.update({f'worker {i}': mb for i, mb in enumerate(workers.values())})
    return {'seconds': seconds, 'peak_rss_mb': peaks, 'ranks': ranks(analysis)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=int(os.environ.get('HEADRANK_BENCH_N',
                                                                    2_000_000)))
    parser.add_argument('--cache')
    parser.add_argument('--keep', action='store_true')
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
    head, shards = make_inputs(folder, args.n)
    print(f'inputs: {args.n} × {D} float32 in {SHARDS} TIFF shards '
          f'({args.n * D * 4 / 1e9:.2f} GB), {time.perf_counter() - t:.0f} s to make',
          flush=True)
    results = {}
    for name, blas in (('single', '2'), ('dask', '1')):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=blas)
        load = os.getloadavg()[0]
        r = subprocess.run([sys.executable, __file__, '--run', name, '--head', head] + shards,
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        results[name] = json.loads(r.stdout.strip().splitlines()[-1])
        results[name]['load_before'] = load
        res = results[name]
        print(f'{name}: {res["seconds"]:.1f} s, peak RSS (MB) '
              + ', '.join(f'{k} {v:.0f}' for k, v in res['peak_rss_mb'].items())
              + f', ranks {res["ranks"]}, load average before {load:.1f}', flush=True)
    s, d = results['single']['seconds'], results['dask']['seconds']
    print(f'dask / single time: {d / s:.2f}; ranks equal: '
          f'{results["single"]["ranks"] == results["dask"]["ranks"]}')
    if not args.keep:
        for p in shards:
            os.remove(p)
    return 0


if __name__ == '__main__':
    sys.exit(main())
