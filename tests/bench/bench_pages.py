#!/usr/bin/env python3
"""Benchmark: many pages. Reads stacks of N pages of 1 x 8 float32 (the pages layout, one
sample a page) with `headrank info` (which opens the file and reads every sample) and with
tifffile.imread, each in a fresh process, for N = 1,000, 2,000, 4,000 and 8,000. Linear
page access shows as times that double with N (issue 12: 0.8 / 3.1 / 13.6 / 53 s before,
when every page was reached by walking the chain of directories from the first).

  python3 tests/bench/bench_pages.py [--pages 1000,2000,4000,8000]
  meson test -C build --benchmark pages
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tifffile


def best_of(cmd, repeat=3):
    best = float('inf')
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pages', default='1000,2000,4000,8000')
    args = ap.parse_args()
    tool = os.environ.get('HEADRANK_TOOL', 'headrank')
    print(f'{"pages":>6} {"headrank info":>14} {"tifffile.imread":>16}')
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.pages.split(',')):
            path = os.path.join(tmp, f'p{n}.tif')
            a = np.random.default_rng(n).standard_normal((n, 1, 8)).astype(np.float32)
            tifffile.imwrite(path, a, photometric='minisblack', metadata=None)
            h = best_of([tool, 'info', path])
            t = best_of([sys.executable, '-c',
                         f'import tifffile; tifffile.imread({path!r})'])
            print(f'{n:>6} {h:>12.3f} s {t:>14.3f} s', flush=True)


if __name__ == '__main__':
    main()
