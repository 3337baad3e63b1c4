"""headrank merge of many parts at D = 768 (issue 15 §6: the merge tree's cost for the
estimate of doc/scale.md).

    python3 tests/bench/bench_merge.py [--parts 100] [--rows 1000] [--cache DIR]
    meson test -C build --benchmark merge

Writes a stack of parts × rows float32 features (768 wide, rank 96 plus noise, as
bench_dask.py's shards) and cuts it into --parts parts of --rows samples each
(``Headrank.RangeSource``), each analysed through bench_dask.py's VisCy v2 head (Linear
768→768, BatchNorm1d, ReLU, Linear 768→32, BatchNorm1d) into a part file
(``Headrank.Analysis.write_part``, as ``headrank analyze --partial`` writes it). Then, each a
fresh process under /usr/bin/time (wall, CPU, peak RSS):

- ``headrank merge PART… -w HEAD --arch viscy-v2 --per-sample none -o DIR``: all parts at
  once into the report (the last level of a merge tree, with the spectra);
- ``Headrank.Analysis.merge_parts`` of two parts, repeated: one inner node of a tree (the
  moments merged, nothing computed), the time per merge.

With --no-tables the parts are made without per-sample tables (``headrank analyze
--partial PART --per-sample none``).

Prints the size of a part (its fixed moments and its per-sample bytes), the times and the
load average. Not a test: no assertion on time.
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # tests/: safetensors_writer
from bench_common import cache_dir, headrank_tool, timed  # noqa: E402
from bench_dask import D, head_tensors  # noqa: E402
from safetensors_writer import write_safetensors  # noqa: E402



def make_parts(folder, n_parts, rows, tables=True):
    import numpy as np
    import tifffile
    import gi
    gi.require_version('Headrank', '1.0')
    from gi.repository import Headrank
    head = os.path.join(folder, 'head-viscy-v2-768.safetensors')
    stack = os.path.join(folder, f'stack-{n_parts * rows}.tif')
    kind = '' if tables else '-no-tables'
    parts = [os.path.join(folder, f'part-{rows}{kind}-{i:04d}.hrpart') for i in range(n_parts)]
    if all(os.path.exists(p) for p in parts) and os.path.exists(head):
        return head, parts
    rng = np.random.default_rng(15)
    write_safetensors(head, head_tensors(rng))
    n = n_parts * rows
    mix = rng.standard_normal((96, D)).astype(np.float32)
    x = rng.standard_normal((n, 96), dtype=np.float32) @ mix
    x += 1e-3 * rng.standard_normal((n, D), dtype=np.float32)
    tifffile.imwrite(stack, x)
    del x
    h = Headrank.Head.new_from_file(head, 'viscy-v2', None)
    for i, path in enumerate(parts):
        rows_i = Headrank.RangeSource.new(
            Headrank.StackReader.new(stack, Headrank.StackLayout.AUTO, None), i * rows, rows)
        analysis = Headrank.Analysis.new_for_source(rows_i)
        analysis.set_head(h)
        if not tables:
            analysis.set_per_sample_format(Headrank.PerSampleFormat.NONE)
        analysis.write_part(path, None, None)
    os.remove(stack)
    return head, parts


def child_pairwise(parts, repeat):
    """In a fresh process: merge_parts of the first two parts, @repeat times."""
    import gi
    gi.require_version('Headrank', '1.0')
    from gi.repository import GLib, Headrank
    a, b = (GLib.Bytes.new(open(p, 'rb').read()) for p in parts[:2])
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        merged = Headrank.Analysis.merge_parts([a, b], None)
    print(json.dumps(dict(wall=(time.perf_counter() - t) / repeat,
                          cpu=(time.process_time() - c) / repeat,
                          merged_bytes=merged.get_size())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--parts', type=int, default=100)
    ap.add_argument('--rows', type=int, default=1000)
    ap.add_argument('--cache')
    ap.add_argument('--no-tables', action='store_true',
                    help='parts without per-sample tables (analyze --per-sample none)')
    ap.add_argument('--clean', action='store_true', help='remove the parts afterwards')
    ap.add_argument('--child-pairwise', nargs='+', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_pairwise:
        child_pairwise(a.child_pairwise, 20)
        return 0
    tool = headrank_tool()
    if not tool:
        print('SKIP: no headrank command (HEADRANK_TOOL)')
        return 77
    folder = os.path.join(cache_dir(a.cache), 'merge')
    os.makedirs(folder, exist_ok=True)
    t = time.perf_counter()
    head, parts = make_parts(folder, a.parts, a.rows, not a.no_tables)
    size = os.path.getsize(parts[0])
    # 16 bytes a sample and stage, three stages
    per_sample = 0 if a.no_tables else 16 * 3 * a.rows
    print(f'{a.parts} parts of {a.rows} samples × {D} through a 768 → 768 → 32 VisCy v2 head, '
          f'made in {time.perf_counter() - t:.0f} s; a part: {size:,} bytes '
          f'({size - per_sample:,} of moments, counts and names; '
          + ('no per-sample tables)' if a.no_tables else
             f'{per_sample:,} of per-sample tables: 48 bytes a sample)'), flush=True)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(dir='/dev/shm' if os.path.isdir('/dev/shm') else None) as d:
        res = timed([tool, 'merge'] + parts + ['-w', head, '--arch', 'viscy-v2',
                                               '--per-sample', 'none', '-o',
                                               os.path.join(d, 'report')])
    print(f'headrank merge of {a.parts} parts: {res["wall"]:.2f} s wall, {res["cpu"]:.2f} s '
          f'CPU, peak RSS {res["rss_mb"]:.0f} MB (load average before {load[0]:.2f})',
          flush=True)
    load = os.getloadavg()
    res = timed([sys.executable, os.path.abspath(__file__), '--child-pairwise'] + parts[:2])
    pair = json.loads(res['stdout'].strip().splitlines()[-1])
    print(f'Headrank.Analysis.merge_parts of 2 parts: {pair["wall"] * 1e3:.1f} ms wall, '
          f'{pair["cpu"] * 1e3:.1f} ms CPU a merge (mean of 20), merged part '
          f'{pair["merged_bytes"]:,} bytes; process peak RSS {res["rss_mb"]:.0f} MB (load '
          f'average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f})')
    if a.clean:
        for p in glob.glob(os.path.join(folder, 'part-*.hrpart')):
            os.remove(p)
    return 0


if __name__ == '__main__':
    sys.exit(main())
