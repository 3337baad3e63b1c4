#!/usr/bin/env python3
"""Benchmark (issue 13 §6): a 100,000 × 768 float32 numpy array analysed from Python
through the memory source (headrank_numpy.source_from_numpy: no copy), against the same
stack analysed from a TIFF file (Headrank.StackReader).

Each run is a fresh subprocess; the array is made (or read) before the clock starts,
then the analysis (features only: mean, D × D scatter matrix, spectrum, per-sample
statistics) runs. Reported: the best wall time of --repeat runs of each, their ratio
(file time / memory time: at least 0.95 is the goal), and the peak RSS the analysis adds
over the RSS before it (VmHWM reset through /proc/self/clear_refs), in units of the
array (307 MB): a copy of the array would show as ≥ 1.

  python3 tests/bench/bench_memory_source.py [--n 100000] [--d 768] [--repeat 3]
  meson test -C build --benchmark memory-source
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])

CHILD = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import gi
gi.require_version('Headrank', '1.0')
from gi.repository import Headrank
import headrank_numpy as hn

def status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

kind, path, n, d = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
if kind == 'memory':
    x = np.fromfile(path + '.f32', np.float32).reshape(n, d)
    source = hn.source_from_numpy(x)
else:
    source = Headrank.StackReader.new(path, Headrank.StackLayout.AUTO, None)
base = status('VmRSS')
with open('/proc/self/clear_refs', 'w') as c:
    c.write('5')
t = time.perf_counter()
analysis = Headrank.Analysis.new_for_source(source)
analysis.run(None, None, None)
seconds = time.perf_counter() - t
top = analysis.get_stage(0).get_spectrum().get_eigenvalues()[0]
print(json.dumps({'seconds': seconds, 'extra_peak': status('VmHWM') - base, 'top': top}))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=100_000)
    ap.add_argument('--d', type=int, default=768)
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    import tifffile

    with tempfile.TemporaryDirectory(prefix='hr-bench-memory-') as tmp:
        path = os.path.join(tmp, 'x.tif')
        x = np.random.default_rng(0).standard_normal((args.n, args.d), dtype=np.float32)
        tifffile.imwrite(path, x)
        x.tofile(path + '.f32')
        size = x.nbytes
        del x
        results = {}
        for kind in ('file', 'memory') * args.repeat:
            out = subprocess.run([sys.executable, '-c', CHILD, str(ROOT / 'python'), kind, path,
                                  str(args.n), str(args.d)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            best = results.get(kind)
            if best is None or r['seconds'] < best['seconds']:
                results[kind] = r
        assert abs(results['file']['top'] - results['memory']['top']) <= 1e-9 * results['file']['top']
        ratio = results['file']['seconds'] / results['memory']['seconds']
        for kind in ('file', 'memory'):
            r = results[kind]
            print(f"{kind:7s} {r['seconds']:8.3f} s   extra peak RSS "
                  f"{r['extra_peak'] / 1e6:8.1f} MB = {r['extra_peak'] / size:.3f} × the array")
        print(f'speed of the memory source relative to the file: {ratio:.3f} (goal ≥ 0.95): '
              + ('met' if ratio >= 0.95 else 'NOT met'))
        print(f'array: {args.n} × {args.d} float32, {size / 1e6:.0f} MB')


if __name__ == '__main__':
    main()
