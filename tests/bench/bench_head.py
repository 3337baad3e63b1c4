#!/usr/bin/env python3
"""Benchmark: headrank's projection head (HrHead) side by side with PyTorch.

Two VisCy v2 heads (Linear(bias) -> BatchNorm1d -> ReLU -> Linear(bias) ->
BatchNorm1d), with random weights and non-trivial running statistics (five
training-mode passes over inputs of another distribution, affine parameters
perturbed), in eval mode:

  768 -> 768 -> 128     on  50,000 samples   goal: headrank >= 1.2x PyTorch
  2048 -> 2048 -> 128   on 100,000 samples   goal: headrank >= 1.0x PyTorch
  both: achieved GFLOP/s >= 85% of the OpenBLAS sgemm peak of the same run;
        peak memory bounded by the chunk size, not by N

FLOPs of a head: 2 N (in*hidden + hidden*out).  The weights are written once
by torch (safetensors.torch.save_file of the state dict) and loaded by
Headrank.Head.new_from_file; the input is the float32 matrix TIFF that
tifffile.imwrite writes with default settings (the same file bench_read.py
uses for 100,000 x 2048), cached in $HEADRANK_BENCH_CACHE, else
$G_TEST_BUILDDIR/bench-cache, else the temp dir.

Every measurement runs in a fresh subprocess (peak RSS is its own), with
OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = MKL_NUM_THREADS = --threads (2);
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are passed on as they are and printed.
Each subprocess loads the input, warms up on a slice, then times one full
run; the parent alternates torch and headrank for --rounds rounds (5) and
keeps the best time, so that both see the same machine load.

  torch        model.eval(), torch.no_grad(), torch.set_num_threads(threads),
               model(torch.from_numpy(x)) on the whole input
  hr-forward   Headrank.Head.forward(stack, NormMode.RUNNING); the stack is
               FeatureStack.new_from_bytes(GLib.Bytes(x.tobytes()), n, d),
               timed apart ("conversion"), and the numpy input is dropped
               before the forward
  hr-project   Headrank.Head.project from a StackReader over the TIFF into a
               StackWriter (matrix TIFF): reading and writing included
  sgemm        the SYSTEM OpenBLAS that libheadrank links
               (/usr/lib/x86_64-linux-gnu/libopenblas.so.0) through ctypes:
               peak = best of 3 cblas_sgemm 4096^3, measured at the start, in
               every round and at the end, the best of all kept (so the
               fractions are conservative); and "sgemm only": the head's two
               products alone, chunk by chunk as hr_head_forward cuts them
               (hr_chunk() below copies its rule: keep the two in step),
               without bias, BatchNorm or ReLU: the floor for headrank's time

Peak memory: the heap is trimmed (malloc_trim) and /proc/self/clear_refs (5)
resets VmHWM just before the timed call; "extra peak" = VmHWM after it - VmRSS
before it, so the resident input (N x D x 4 bytes) is not counted; the output
(N x out x 4) is.  CPU/wall is the CPU time of the whole process over the
wall time of the call (about 1 on this 2-vCPU machine even with 2 threads:
other processes, and vCPUs that share one core's FP units, show there).

Outputs agree when max |hr - torch| <= 1e-5 + 1e-4 |torch| everywhere.

  python3 tests/bench/bench_head.py [--size full|small] [--rounds 5]
  meson test -C build --benchmark head-forward [--test-args=--size=small]

Needs torch and safetensors (not in tools/requirements.txt; for instance
.venv/bin/pip install torch==2.13.0 safetensors); without them it prints why
and exits 77 (skipped).
"""

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_read import cache_dir, ensure_file, warm  # noqa: E402

SYSTEM_OPENBLAS = '/usr/lib/x86_64-linux-gnu/libopenblas.so.0'
HEADS = [
    # name, in, hidden, out, N (full), goal of throughput ratio hr / torch
    ('768-768-128', 768, 768, 128, 50_000, 1.2),
    ('2048-2048-128', 2048, 2048, 128, 100_000, 1.0),
]
PEAK_GOAL = 0.85
TOL_ABS, TOL_REL = 1e-5, 1e-4
WARMUP_ROWS = 4096
HEAD_FORMAT = 'bench-head-1'   # bump to rewrite cached weights


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def status_mb(key):
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    if key == 'VmHWM':
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return float('nan')


def reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where it cannot."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def trim_heap():
    """Give freed heap memory back, so that the RSS before a call is what is in use."""
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Peak:
    """Extra peak RSS (MB) of a block over the RSS at its start, CPU time."""

    def __enter__(self):
        trim_heap()
        self.rss0 = status_mb('VmRSS')
        self.reset = reset_peak()
        if not self.reset:
            self.rss0 = status_mb('VmHWM')
        self.ru0 = resource.getrusage(resource.RUSAGE_SELF)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = (ru.ru_utime - self.ru0.ru_utime) + (ru.ru_stime - self.ru0.ru_stime)
        self.extra_mb = status_mb('VmHWM') - self.rss0
        return False

    def result(self, prefix=''):
        return {prefix + 'seconds': self.seconds, prefix + 'cpu_s': self.cpu,
                prefix + 'extra_mb': self.extra_mb, prefix + 'rss_start_mb': self.rss0}


def openblas_facts(lib):
    import ctypes
    out = {}
    for name in ('openblas_get_corename', 'openblas_get_config'):
        f = getattr(lib, name, None)
        if f is not None:
            f.restype = ctypes.c_char_p
            out[name[len('openblas_get_'):]] = f().decode()
    f = getattr(lib, 'openblas_get_num_threads', None)
    if f is not None:
        f.restype = ctypes.c_int
        out['threads'] = f()
    return out


def mapped_openblas():
    """The libopenblas files mapped into this process."""
    found = set()
    with open('/proc/self/maps') as f:
        for line in f:
            path = line.split()[-1]
            if 'openblas' in os.path.basename(path):
                found.add(os.path.realpath(path))
    return sorted(found)


def sgemm_fn(lib):
    import ctypes
    f = lib.cblas_sgemm
    f.restype = None
    f.argtypes = ([ctypes.c_int] * 6 +
                  [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                   ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int])
    return f


ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def hr_chunk(n, widths):
    """hr_head_forward's chunk in RUNNING mode (lib/head/hr-head-run.c): kept in step by hand."""
    max_width = max(widths)
    return min(n, max(256, (4 << 20) // (max_width * 4)))


def build_model(torch, d_in, hidden, out):
    nn = torch.nn
    return nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, out), nn.BatchNorm1d(out))


# --------------------------------------------------------------------------
# children: one measurement each, one JSON line on stdout
# --------------------------------------------------------------------------

def write_head(path, d_in, hidden, out):
    import torch
    from safetensors.torch import save_file
    torch.manual_seed(1000 + d_in + hidden + out)
    model = build_model(torch, d_in, hidden, out)
    model.train()
    with torch.no_grad():
        # running statistics from inputs of another distribution than the benchmark's
        for _ in range(5):
            model(torch.randn(4096, d_in) * 1.3 + 0.2)
        for bn in (model[1], model[4]):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
    tmp = path + '.part'
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp,
              metadata={'format': HEAD_FORMAT})
    os.replace(tmp, path)


def child_torch(a):
    import numpy
    import tifffile
    import torch
    from safetensors.torch import load_file
    torch.set_num_threads(a.threads)
    model = build_model(torch, a.d_in, a.hidden, a.d_out)
    model.load_state_dict(load_file(a.weights))
    model.eval()
    x = tifffile.imread(a.input)
    assert x.shape == (a.n, a.d_in) and x.dtype == numpy.float32, x.shape
    xt = torch.from_numpy(x)
    with torch.no_grad():
        model(xt[:WARMUP_ROWS])
    with Peak() as p:
        with torch.no_grad():
            y = model(xt)
    res = p.result()
    if a.save:
        numpy.save(a.save, y.numpy())
    res.update(threads=torch.get_num_threads(), torch=torch.__version__,
               hwm_mb=status_mb('VmHWM'))
    return res


def load_headrank():
    import gi
    gi.require_version('Headrank', '1.0')
    from gi.repository import GLib, Headrank
    return GLib, Headrank


def child_hr_forward(a):
    import ctypes
    import numpy
    import tifffile
    GLib, Headrank = load_headrank()
    head = Headrank.Head.new_from_file(a.weights, 'viscy-v2', None, None)
    assert head.get_in_features() == a.d_in and head.get_out_features() == a.d_out
    x = tifffile.imread(a.input)
    assert x.shape == (a.n, a.d_in) and x.dtype == numpy.float32, x.shape
    w = x[:WARMUP_ROWS]
    small = Headrank.FeatureStack.new_from_bytes(GLib.Bytes.new(w.tobytes()), len(w), a.d_in)
    with Peak() as conv:
        stack = Headrank.FeatureStack.new_from_bytes(GLib.Bytes.new(x.tobytes()), a.n, a.d_in)
    del x, w
    head.forward(small, Headrank.NormMode.RUNNING, None)
    with Peak() as p:
        y = head.forward(stack, Headrank.NormMode.RUNNING, None)
    res = p.result()
    res.update(conv.result('conv_'))
    assert (y.get_n_samples(), y.get_n_features()) == (a.n, a.d_out)
    if a.save:
        numpy.save(a.save, numpy.frombuffer(y.get_data().get_data(), numpy.float32)
                   .reshape(a.n, a.d_out))
    mapped = mapped_openblas()
    res['openblas_mapped'] = mapped
    if mapped:
        res.update(openblas_facts(ctypes.CDLL(mapped[0])))
    res['hwm_mb'] = status_mb('VmHWM')
    return res


def child_hr_project(a):
    GLib, Headrank = load_headrank()
    head = Headrank.Head.new_from_file(a.weights, 'viscy-v2', None, None)
    reader = Headrank.StackReader.new(a.input, Headrank.StackLayout.AUTO, None)
    assert (reader.get_n_samples(), reader.get_n_features()) == (a.n, a.d_in)
    writer = Headrank.StackWriter.new(a.save, Headrank.StackLayout.MATRIX, a.n, a.d_out, None)
    with Peak() as p:
        ok = head.project(reader, writer, Headrank.NormMode.RUNNING, 0, -1, None, None, None)
    assert ok
    res = p.result()
    res.update(chunk=reader.get_preferred_chunk(), hwm_mb=status_mb('VmHWM'))
    return res


def child_sgemm(a):
    """Peak of the system OpenBLAS; with --head, the head's products alone."""
    import ctypes
    import numpy
    lib = ctypes.CDLL(SYSTEM_OPENBLAS)
    sgemm = sgemm_fn(lib)
    res = dict(openblas_facts(lib), path=os.path.realpath(SYSTEM_OPENBLAS))
    if a.d_in == 0:
        n = a.n
        rng = numpy.random.default_rng(1)
        A = rng.standard_normal((n, n), dtype=numpy.float32)
        B = rng.standard_normal((n, n), dtype=numpy.float32)
        C = numpy.empty((n, n), numpy.float32)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, n, n, n, 1.0, A.ctypes.data, n,
                  B.ctypes.data, n, 0.0, C.ctypes.data, n)
            times.append(time.perf_counter() - t)
        res.update(times=times, gflops=2.0 * n ** 3 / min(times) / 1e9)
        return res
    import tifffile
    x = tifffile.imread(a.input)
    rng = numpy.random.default_rng(2)
    W1 = rng.standard_normal((a.hidden, a.d_in), dtype=numpy.float32) * 0.03
    W2 = rng.standard_normal((a.d_out, a.hidden), dtype=numpy.float32) * 0.03
    chunk = a.chunk or hr_chunk(a.n, [a.d_in, a.hidden, a.d_out])
    H = numpy.empty((chunk, a.hidden), numpy.float32)
    Y = numpy.empty((chunk, a.d_out), numpy.float32)

    def run(rows):
        for first in range(0, rows, chunk):
            c = min(chunk, rows - first)
            sgemm(ROW_MAJOR, NO_TRANS, TRANS, c, a.hidden, a.d_in, 1.0,
                  x[first:].ctypes.data, a.d_in, W1.ctypes.data, a.d_in, 0.0,
                  H.ctypes.data, a.hidden)
            sgemm(ROW_MAJOR, NO_TRANS, TRANS, c, a.d_out, a.hidden, 1.0,
                  H.ctypes.data, a.hidden, W2.ctypes.data, a.hidden, 0.0,
                  Y.ctypes.data, a.d_out)

    run(min(a.n, WARMUP_ROWS))
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        run(a.n)
        times.append(time.perf_counter() - t)
    res.update(times=times, seconds=min(times), chunk=chunk)
    return res


CHILDREN = {'torch': child_torch, 'hr-forward': child_hr_forward,
            'hr-project': child_hr_project, 'sgemm': child_sgemm}


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------

def child_env(threads):
    env = dict(os.environ)
    for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        env[k] = str(threads)
    return env


def run_child(kind, threads, **kw):
    args = [sys.executable, os.path.abspath(__file__), '--child', kind,
            '--threads', str(threads)]
    for k, v in kw.items():
        args += ['--' + k.replace('_', '-'), str(v)]
    r = subprocess.run(args, capture_output=True, text=True, env=child_env(threads))
    if r.returncode != 0:
        raise RuntimeError(f'{kind} failed (rc {r.returncode}):\n{r.stderr.strip()}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def ensure_head(path, d_in, hidden, out):
    if os.path.exists(path):
        try:
            with open(path, 'rb') as f:
                size = int.from_bytes(f.read(8), 'little')
                header = json.loads(f.read(size))
            if (header.get('__metadata__', {}).get('format') == HEAD_FORMAT and
                    header['0.weight']['shape'] == [hidden, d_in] and
                    header['3.weight']['shape'] == [out, hidden]):
                return False
        except (OSError, ValueError, KeyError):
            pass
    subprocess.run([sys.executable, os.path.abspath(__file__), '--write-head', path,
                    str(d_in), str(hidden), str(out)], check=True)
    return True


def missing_modules():
    return [m for m in ('torch', 'safetensors', 'numpy', 'tifffile', 'gi')
            if importlib.util.find_spec(m) is None]


def compare(ref, got):
    """max |got - ref|, and the worst (|got - ref| - tolerance)."""
    import numpy
    diff = numpy.abs(got.astype(numpy.float64) - ref.astype(numpy.float64))
    excess = diff - (TOL_ABS + TOL_REL * numpy.abs(ref.astype(numpy.float64)))
    return float(diff.max()), float(excess.max()), int((excess > 0).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', choices=['full', 'small'], default='full',
                    help='small: N / 10')
    ap.add_argument('--rounds', type=int, default=5,
                    help='subprocesses per implementation (best time kept)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--heads', default=','.join(h[0] for h in HEADS))
    ap.add_argument('--no-project', action='store_true')
    ap.add_argument('--cache-dir')
    # children
    ap.add_argument('--child', choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument('--write-head', nargs=4, help=argparse.SUPPRESS)
    for k in ('n', 'd-in', 'hidden', 'd-out', 'chunk'):
        ap.add_argument('--' + k, type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument('--repeat', type=int, default=3, help=argparse.SUPPRESS)
    for k in ('weights', 'input', 'save'):
        ap.add_argument('--' + k, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.write_head:
        write_head(a.write_head[0], *map(int, a.write_head[1:]))
        return 0
    if a.child:
        print(json.dumps(CHILDREN[a.child](a)))
        return 0

    missing = missing_modules()
    if missing:
        print(f'SKIP: {", ".join(missing)} not installed for {sys.executable} '
              f'(torch is not in tools/requirements.txt: '
              f'{sys.executable} -m pip install torch==2.13.0 safetensors)')
        return 77
    if not os.path.exists(SYSTEM_OPENBLAS):
        print(f'SKIP: {SYSTEM_OPENBLAS} not found')
        return 77

    import numpy
    cache = cache_dir(a.cache_dir)
    threads = a.threads
    print(f'machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()} '
          f'({len(os.sched_getaffinity(0))} usable), load average '
          + ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    print('environment: ' + ', '.join(
        f'{k}={os.environ.get(k, "(unset)")}' for k in
        ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')) +
        f'; children get OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS={threads}')

    peaks = [run_child('sgemm', threads, n=4096)]
    facts = peaks[0]
    print(f'system OpenBLAS: {facts["path"]}: {facts.get("config", "?")}, core '
          f'{facts.get("corename", "?")}, {facts.get("threads", "?")} threads')
    print(f'{a.rounds} rounds per head, each: sgemm peak, torch, headrank (order alternating); '
          f'best time of each kept; the input is read warm from the page cache')

    results = []
    for name, d_in, hidden, d_out, n_full, goal in HEADS:
        if name not in a.heads.split(','):
            continue
        n = n_full if a.size == 'full' else n_full // 10
        flop = 2.0 * n * (d_in * hidden + hidden * d_out)
        weights = os.path.join(cache, f'head-viscy-v2-{d_in}x{hidden}x{d_out}.safetensors')
        ensure_head(weights, d_in, hidden, d_out)
        path = os.path.join(cache, f'matrix-{n}x{d_in}-float32-tifffile-default.tif')
        ensure_file(path, n, d_in)
        warm(path)
        common = dict(n=n, d_in=d_in, hidden=hidden, d_out=d_out, weights=weights, input=path)
        runs = {'torch': [], 'hr-forward': []}
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            saved = {}
            round_peaks = []
            for r in range(a.rounds):
                peaks.append(run_child('sgemm', threads, n=4096))
                round_peaks.append(peaks[-1]['gflops'])
                order = ['torch', 'hr-forward'] if r % 2 == 0 else ['hr-forward', 'torch']
                for kind in order:
                    save = os.path.join(tmp, f'{kind}.npy') if r == 0 else None
                    kw = dict(common, save=save) if save else common
                    runs[kind].append(run_child(kind, threads, **kw))
                    if save:
                        saved[kind] = save
            if not a.no_project:
                out_tif = os.path.join(tmp, 'projected.tif')
                runs['hr-project'] = [run_child('hr-project', threads, save=out_tif, **common)
                                      for _ in range(min(a.rounds, 3))]
            runs['sgemm-only'] = [run_child('sgemm', threads, repeat=a.rounds, **common)]

            ref = numpy.load(saved['torch'])
            got = numpy.load(saved['hr-forward'])
            checks = [('hr-forward vs torch', *compare(ref, got))]
            if not a.no_project:
                import tifffile
                proj = tifffile.imread(out_tif)
                checks.append(('hr-project vs torch', *compare(ref, proj)))
                checks.append(('hr-project vs hr-forward',
                               float(numpy.abs(proj - got).max()), 0.0,
                               int((proj != got).sum())))
            del ref, got
        results.append(dict(name=name, n=n, d_in=d_in, hidden=hidden, d_out=d_out, flop=flop,
                            goal=goal, path=path, runs=runs, checks=checks,
                            round_peaks=round_peaks))

    peaks.append(run_child('sgemm', threads, n=4096))
    peak_values = [p['gflops'] for p in peaks]
    peak = max(peak_values)
    print(f'sgemm peak, system OpenBLAS, cblas_sgemm 4096^3, {threads} threads, best of 3 '
          f'per measurement: {peak:.1f} GFLOP/s (the best of {len(peaks)} measurements over '
          f'the run: ' + ' '.join(f'{v:.0f}' for v in peak_values) + ')')
    print(f'load average now ' + ' '.join(f'{v:.2f}' for v in os.getloadavg()) +
          ' (other processes on the machine compete with the benchmark above 0)')

    labels = {'torch': 'torch (eval, no_grad)', 'hr-forward': 'headrank Head.forward',
              'hr-project': 'headrank Head.project TIFF', 'sgemm-only':
              'sgemm only, hr chunks'}
    best = {}
    for res in results:
        n, flop, runs = res['n'], res['flop'], res['runs']
        print()
        print(f'== head {res["d_in"]} -> {res["hidden"]} -> {res["d_out"]} (viscy-v2, eval), '
              f'N = {n}, {flop / 1e9:.1f} GFLOP; input {n * res["d_in"] * 4 / 1e6:.0f} MB '
              f'({res["path"]}), output {n * res["d_out"] * 4 / 1e6:.1f} MB; hr chunk '
              f'{hr_chunk(n, [res["d_in"], res["hidden"], res["d_out"]])} rows')
        hr0 = runs['hr-forward'][0]
        print(f'  hr maps {", ".join(hr0.get("openblas_mapped", [])) or "?"} (core '
              f'{hr0.get("corename", "?")}, {hr0.get("threads", "?")} threads); torch '
              f'{runs["torch"][0]["torch"]}, {runs["torch"][0]["threads"]} threads')
        print(f'  {"":28s} {"best s":>7s} {"kSamp/s":>8s} {"GFLOP/s":>8s} {"%peak":>6s} '
              f'{"CPU/wall":>8s} {"extra peak MB":>13s} {"RSS before":>10s}  runs (s)')
        for kind, rs in runs.items():
            if kind == 'sgemm-only':
                times = rs[0]['times']
                cpu = extra = rss0 = float('nan')
            else:
                b = min(rs, key=lambda x: x['seconds'])
                times = [x['seconds'] for x in rs]
                cpu = b['cpu_s'] / b['seconds']
                extra = max(x['extra_mb'] for x in rs)
                rss0 = b['rss_start_mb']
            s = min(times)
            best[res['name'], kind] = s
            gf = flop / s / 1e9
            print(f'  {labels[kind]:28s} {s:7.3f} {n / s / 1e3:8.1f} {gf:8.1f} '
                  f'{100 * gf / peak:5.1f}% {cpu:8.2f} {extra:13.1f} {rss0:10.0f}  '
                  + ' '.join(f'{t:.3f}' for t in times))
        conv = min(x['conv_seconds'] for x in runs['hr-forward'])
        conv_mb = max(x['conv_extra_mb'] for x in runs['hr-forward'])
        print(f'  conversion numpy -> GLib.Bytes -> FeatureStack (not timed above): '
              f'{conv:.3f} s, extra peak {conv_mb:.0f} MB')
        if 'hr-project' in runs:
            print(f'  Head.project: reader chunk {runs["hr-project"][0]["chunk"]} rows; reads '
                  f'{n * res["d_in"] * 4 / 1e6:.0f} MB + writes {n * res["d_out"] * 4 / 1e6:.1f}'
                  f' MB; extra peak bounded by the chunk')
        for label, dmax, excess, bad in res['checks']:
            if 'vs torch' in label:
                print(f'  {label}: max |diff| {dmax:.3g}, {bad} values beyond '
                      f'1e-5 + 1e-4|ref|: ' + ('ok' if excess <= 0 else 'MISMATCH'))
            else:
                print(f'  {label}: max |diff| {dmax:.3g} ({bad} values differ)')

    def median(values):
        values = sorted(values)
        return values[len(values) // 2]

    print()
    print(f'{"head":15s} {"N":>7s} {"hr/torch":>9s} {"goal":>6s} {"hr %peak":>9s} '
          f'{"torch %peak":>11s} {"goal":>6s} {"hr extra MB":>11s} {"torch extra MB":>14s}'
          f'   per round (median): {"hr/torch":>8s} {"hr %peak":>8s}')
    for res in results:
        name, flop, runs, goal = res['name'], res['flop'], res['runs'], res['goal']
        ratio = best[name, 'torch'] / best[name, 'hr-forward']
        hp = flop / best[name, 'hr-forward'] / 1e9 / peak
        tp = flop / best[name, 'torch'] / 1e9 / peak
        hx = max(x['extra_mb'] for x in runs['hr-forward'])
        tx = max(x['extra_mb'] for x in runs['torch'])
        # each round's torch and headrank ran next to each other, right after that round's
        # sgemm peak: robust to the machine's load changing during the run
        r_ratio = median(t['seconds'] / h['seconds']
                         for t, h in zip(runs['torch'], runs['hr-forward']))
        r_peak = median(flop / h['seconds'] / 1e9 / p
                        for h, p in zip(runs['hr-forward'], res['round_peaks']))
        print(f'{name:15s} {res["n"]:7d} {ratio:8.2f}x {goal:5.1f}x{"" if ratio >= goal else "!"} '
              f'{100 * hp:8.1f}% {100 * tp:10.1f}% {100 * PEAK_GOAL:5.0f}%'
              f'{"" if hp >= PEAK_GOAL else "!"} {hx:11.1f} {tx:14.1f}'
              f'   {"":19s} {r_ratio:7.2f}x {100 * r_peak:7.1f}%')
    print('("!": goal missed, from the best times and the best peak; extra MB = peak RSS '
          'during the call over the RSS before it, output included; per round: torch and '
          'headrank of the same round, headrank against that round\'s sgemm peak)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
