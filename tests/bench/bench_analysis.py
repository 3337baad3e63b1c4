#!/usr/bin/env python3
"""Benchmark: `headrank analyze` against the Python pipelines users write today.

Input: N x D float32 features (default 100,000 x 2,048; HEADRANK_BENCH_N and
HEADRANK_BENCH_D for a quicker run), low-rank-ish plus noise: R = min(384, D/4)
latent directions with standard deviations 2 k^-0.6 (k = 1..R) mixed by a
Gaussian R x D matrix with unit-norm rows, plus i.i.d. noise of standard
deviation 0.005 (less for small N: noise_std()) and a per-feature offset
uniform in [0, 0.6]; written by tifffile.imwrite with default settings.  The
head is VisCy v2, D -> D -> 128 (Linear -> BatchNorm1d -> ReLU -> Linear ->
BatchNorm1d), PyTorch's default random init, BatchNorm affine parameters
perturbed, and running statistics set to the actual mean and (unbiased)
variance of their inputs over all N samples, so that the outputs are sane;
written by safetensors.torch.save_file.  Both are cached (in
$HEADRANK_BENCH_CACHE, else $G_TEST_BUILDDIR/bench-cache, else the temp dir)
and the input is read warm from the page cache.

Equal work (issue 16).  Every column computes the same things:

  spectra   of four matrices: the features (N x D), the ReLU output (N x D, layer 2 of
            the head), the projections (N x 128) and the L2-normalised projections
            (rows / max(||row||, 1e-12), as torch.nn.functional.normalize); each spectrum
            = the centred covariance eigenvalues and the uncentred singular values, and
            the measures read from them (rank with the tolerance of doc/analysis.md,
            matrix_rank with numpy's rule sigma_max max(N, D) eps32, RankMe effective
            rank with eps 1e-7, participation ratio, components for 90/95/99 %, alpha)
  CKA       linear CKA of the ReLU output and of the projections with the features:
            ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)
  statistics of the features, the ReLU output and the projections: per-sample mean,
            std, norm, zero fraction; per-dimension mean, std, zero fraction, dead units;
            SimSiam std

Pipelines, each a fresh process started by /usr/bin/time (its wall time, user
+ system CPU time and peak RSS are the whole process's: interpreter start,
imports and reading included, as a user runs it), with
OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = MKL_NUM_THREADS = --threads (2):

  headrank      headrank analyze FILE -w W --arch viscy-v2 --json, the default
                analysis: the features, the projections (always), the ReLU output
                (layer 2: every activation layer by default since issue 16, which
                --stage 2 gave before) and the L2-normalised projections (always since
                issue 10), with CKA of every stage with a spectrum (always since issue
                10); float64 scatter matrices; JSON on standard output, no files.  The
                benchmark checks that these are the spectra it computed.  headrank has
                no option to leave the normalised spectrum or CKA out, so the peers
                compute them too.  (--stage all is NOT the same work: with the VisCy v2
                head it adds the spectra and CKA of layers 0 linear, 1 bn and 3 linear:
                seven spectra and five cross-moments.)
  headrank-all  only with --pipelines: --stage all, for information (not equal work;
                its fraction of its own floor is printed)
  headrank-none only with --pipelines: --stage none, the features and the projections
                only (the default before issue 16), for information, against its own
                floor
  headrank-f32  only with --pipelines: headrank with --precision float32-products (for
                information: the automatic choice for this N is float64; not in the goals)
  numpy         tifffile.imread; the head in torch (eval, no_grad, float32,
                torch.set_num_threads), its first three layers and then the last two
                run by hand to keep the ReLU output; per spectrum numpy.cov(x,
                rowvar=False) + numpy.linalg.eigvalsh and the float64 Gram x64.T @ x64 +
                eigvalsh (no SVD); CKA: the float64 cross-moments X^T Y in blocks of
                8,192 rows minus N mean_x mean_y^T, the scatter norms from the
                eigenvalues already computed; the statistics as numpy one-liners
  sklearn       the same reading, head, CKA and statistics; per spectrum
                sklearn.decomposition.PCA().fit(x) (explained_variance_,
                singular_values_) and numpy.linalg.svd(x, compute_uv=False) for the
                uncentred singular values (RankMe on the raw matrix, as VisCy's scripts
                do), matrix_rank from those (no third SVD by numpy.linalg.matrix_rank)

The measures read from the spectra are computed the same way in both Python
pipelines (measures() below).  The Python pipelines time their phases with
time.perf_counter and report their peak RSS after the imports (VmHWM).

The floor.  Before each round a fresh process measures the sgemm and dgemm peaks of
libopenblas.so.0 (the library headrank links, as the dynamic linker finds it) with
the same thread count, at the work's shapes: sgemm (8,192 x D)(D x D), dgemm
(D x 8,192)(8,192 x D) (best of 5; the best over the rounds is kept).  The floor is

  floor = F_head / sgemm_peak + (F_scatter + F_cka + F_eigen) / dgemm_peak
  F_head    = 2 N (D D + D 128)                      the head's two Linear layers
  F_scatter = sum over the 4 spectra of N w (w + 1)   dsyrk of the upper triangle of
              w = D, D, 128, 128                      the w x w scatter: N w (w+1) / 2
                                                      multiply-adds, 2 flops each
  F_cka     = 2 N D D + 2 D D 128                     the cross-moments headrank forms: the
                                                      ReLU's by a dgemm over the N samples,
                                                      the projections' mapped from them after
                                                      the pass (X^T Z = (X^T H) A, A the D x
                                                      128 map of the last Linear and
                                                      BatchNorm: doc/analysis.md, "CKA")
  F_eigen   = sum over the 4 spectra of (4/3) w^3    one reduction to tridiagonal form
                                                      per spectrum (its centred and
                                                      uncentred values both come from
                                                      it: doc/analysis.md, "Spectrum"),
                                                      counted as Householder
                                                      tridiagonalisation at the dgemm
                                                      peak (a lower bound); the two
                                                      O(w^2) dsterf not counted

The floor is that of the products headrank forms, not of the peers' (whose CKA of the
projections is a dgemm over the N samples, 2 N D 128 flops): a floor can only be met, not
beaten.  With --stage all, the CKA of layers 0 and 1 is mapped from the features'
scatter matrix (2 D^3 flops each) and that of layer 3 and the projections from the
ReLU's and layer 3's (2 D D 128, 2 D 128 128); --stage none accumulates the projections'
(2 N D 128).  BatchNorm, ReLU, normalisation and statistics (O(N D)), reading and
process start are not counted.  The eigenvalue problems are far from that bound in
practice: LAPACK's dsytrd (headrank's reduction, and that of numpy's eigvalsh, dsyevd)
reduces to tridiagonal form half in matrix-vector products, bound by memory.  So the same
process also times dsyevd (values only: dsytrd, then dsterf) at the spectra's orders, and
a second floor, with one dsyevd per spectrum at that time, is printed for information
(the goal is against the first).  headrank's fraction of the floor = floor / headrank's
median wall time
(and, less sensitive to a loaded machine, the CPU floor / its median CPU time, the CPU
floor from the peaks per CPU second of all threads, measured in the same calls);
also printed per run, each against the floor from the peaks of its own round (measured
just before it, under the same load).  headrank-all and headrank-none get the floor of
their own work.

Goals (issue 16, equal work): headrank >= 4x faster than sklearn, >= 1.8x faster
than numpy, peak RSS <= 300 MB, >= 85 % of the floor.  The three must agree on
rank, matrix_rank, effective rank, components, the top eigenvalues and singular
values of all four spectra, CKA and statistics; the agreement is printed.

  python3 tests/bench/bench_analysis.py [--rounds 3] [--pipelines ...]
  meson test -C build --benchmark analysis
  HEADRANK_BENCH_N=60000 HEADRANK_BENCH_D=768 meson test -C build --benchmark analysis

Needs torch, safetensors and scikit-learn (not in tools/requirements.txt: torch
for instance with .venv/bin/pip install torch==2.13.0 safetensors
scikit-learn); without them it prints why and exits 77 (skipped).
"""

import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from statistics import median as statistics_median

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import cache_dir  # noqa: E402
from bench_read import warm  # noqa: E402

N_DEFAULT, D_DEFAULT = 100_000, 2048
OUT = 128
NOISE_STD = 0.005                        # at most: see noise_std()
DATA_FORMAT = 'bench-analysis-data-2'    # bump to rewrite the cached input
HEAD_FORMAT = 'bench-analysis-head-1'    # bump to rewrite the cached weights
EPS32 = 2.0 ** -23                       # numpy.finfo(numpy.float32).eps
RANKME_EPS = 1e-7
FRACTIONS = (0.90, 0.95, 0.99)
GOALS = {'sklearn': 4.0, 'numpy': 1.8}  # issue 16, on equal work
RSS_GOAL_MB = 300.0
FLOOR_GOAL = 0.85                        # issue 16: headrank at >= 85 % of the floor
RELU_STAGE = '2'                         # the ReLU layer's name in the viscy-v2 head
# headrank's default analysis computes the ReLU's spectrum (issue 16): the equal work
HEADRANK_STAGE_ARGS = {'headrank-all': ['--stage', 'all'], 'headrank-none': ['--stage', 'none']}
SPECTRA = ('features', 'hidden', 'projections', 'normalized')
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
TIME = '/usr/bin/time'
TIME_MARK = 'HRBENCH-TIME'


def status_mb(key):
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float('nan')


def latent_rank(d):
    return max(1, min(384, d // 4))


def noise_std(n):
    """The noise's singular values, about std (sqrt(N) + sqrt(D)). (Before 0.2 they stayed
    below numpy's tolerance sigma_max max(N, D) eps32, so that the rank was the latent rank;
    the tolerance of doc/analysis.md resolves the noise, and the rank is full.)"""
    return min(NOISE_STD, n * EPS32 / 2)


# --------------------------------------------------------------------------
# input and head, written once
# --------------------------------------------------------------------------

def write_data(path, n, d):
    import numpy
    import tifffile
    rng = numpy.random.default_rng(20261129)
    r = latent_rank(d)
    scale = (2.0 * numpy.arange(1, r + 1) ** -0.6).astype(numpy.float32)
    mix = rng.standard_normal((r, d), dtype=numpy.float32)
    mix /= numpy.linalg.norm(mix, axis=1, keepdims=True)
    offset = rng.uniform(0.0, 0.6, d).astype(numpy.float32)
    x = numpy.empty((n, d), numpy.float32)
    for i in range(0, n, 8192):
        rows = min(8192, n - i)
        z = rng.standard_normal((rows, r), dtype=numpy.float32) * scale
        x[i:i + rows] = z @ mix
        x[i:i + rows] += noise_std(n) * rng.standard_normal((rows, d), dtype=numpy.float32)
        x[i:i + rows] += offset
    tmp = path + '.part'
    tifffile.imwrite(tmp, x, description=json.dumps({'shape': [n, d],
                                                     'format': DATA_FORMAT}))
    os.replace(tmp, path)


def data_ok(path, n, d):
    import numpy
    import tifffile
    try:
        with tifffile.TiffFile(path) as tf:
            p = tf.pages[0]
            return (p.shape == (n, d) and p.dtype == numpy.float32 and
                    json.loads(p.description).get('format') == DATA_FORMAT)
    except Exception:  # noqa: BLE001 - rewrite anything unreadable
        return False


def build_model(torch, d_in, hidden, out):
    nn = torch.nn
    return nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, out), nn.BatchNorm1d(out))


def write_head(path, data, n, d, threads):
    """Random weights; BatchNorm running statistics = the actual ones over all N samples."""
    import tifffile
    import torch
    from safetensors.torch import save_file
    torch.set_num_threads(threads)
    torch.manual_seed(4012)
    model = build_model(torch, d, d, OUT)
    model.eval()
    with torch.no_grad():
        for bn in (model[1], model[4]):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
    x = torch.from_numpy(tifffile.imread(data))
    with torch.no_grad():
        for before, bn in ((model[:1], model[1]), (model[:4], model[4])):
            s = torch.zeros(bn.num_features, dtype=torch.float64)
            s2 = torch.zeros_like(s)
            for i in range(0, n, 8192):
                y = before(x[i:i + 8192]).double()
                s += y.sum(0)
                s2 += (y * y).sum(0)
            mean = s / n
            var = (s2 - n * mean * mean) / (n - 1)
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.clamp_min(0).float())
            bn.num_batches_tracked.fill_(1)
    tmp = path + '.part'
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp,
              metadata={'format': HEAD_FORMAT, 'data': os.path.basename(data)})
    os.replace(tmp, path)


def head_ok(path, data, d):
    try:
        with open(path, 'rb') as f:
            size = int.from_bytes(f.read(8), 'little')
            header = json.loads(f.read(size))
        meta = header.get('__metadata__', {})
        return (meta.get('format') == HEAD_FORMAT and
                meta.get('data') == os.path.basename(data) and
                os.path.getmtime(path) >= os.path.getmtime(data) and
                header['0.weight']['shape'] == [d, d] and
                header['3.weight']['shape'] == [OUT, d])
    except (OSError, ValueError, KeyError):
        return False


# --------------------------------------------------------------------------
# the Python pipelines (children)
# --------------------------------------------------------------------------

def measures(eigenvalues, centred_sv, uncentred_sv, matrix_rank, n, d):
    """The measures headrank reads from a spectrum, computed as a user would."""
    import numpy
    ev = numpy.clip(numpy.asarray(eigenvalues, numpy.float64), 0, None)
    sc = numpy.asarray(centred_sv, numpy.float64)
    su = numpy.asarray(uncentred_sv, numpy.float64)
    # the rank tolerance of doc/analysis.md for float32 values (2^-24 ||X||_F, ||X||_F from
    # the uncentred singular values) and the eigensolver (D 2^-53 sigma_1^2); headrank adds
    # its accumulation's bound, which only its pass knows, well below the noise here
    frobenius = float(numpy.sqrt((su ** 2).sum()))
    tolerance = numpy.sqrt((2.0 ** -24 * frobenius) ** 2 + d * 2.0 ** -53 * sc.max() ** 2)
    rank = int((sc[:n - 1] > tolerance).sum())
    p = su / su.sum() + RANKME_EPS
    effective_rank = float(numpy.exp(-(p * numpy.log(p)).sum()))
    pr = float(ev.sum() ** 2 / (ev ** 2).sum())
    cumulative = numpy.cumsum(ev) / ev.sum()
    components = {str(int(round(100 * f))): int(numpy.searchsorted(cumulative, f - 1e-12) + 1)
                  for f in FRACTIONS}
    last = rank
    alpha = float('nan')
    if last >= 3:
        i = numpy.arange(1, last + 1)
        alpha = float(-numpy.polyfit(numpy.log(i), numpy.log(ev[:last]), 1)[0])
    return dict(eigenvalues=ev[:8].tolist(), uncentred_singular_values=su[:8].tolist(),
                rank=rank, matrix_rank=int(matrix_rank), effective_rank=effective_rank,
                participation_ratio=pr, components=components, alpha=alpha)


def statistics(x):
    """Per-sample and per-dimension statistics, SimSiam std: numpy one-liners."""
    import numpy
    row_mean = x.mean(1)
    row_std = x.std(1)
    row_norm = numpy.linalg.norm(x, axis=1)
    zero = x == 0
    row_zero = zero.mean(1)
    dim_mean = x.mean(0)
    dim_std = x.std(0)
    dim_zero = zero.mean(0)
    del zero
    dead = int((dim_zero == 1).sum())
    simsiam = float((x / numpy.maximum(row_norm, 1e-12)[:, None]).std(0).mean())
    return dict(row_mean_mean=float(row_mean.mean()), row_std_mean=float(row_std.mean()),
                row_norm_mean=float(row_norm.mean()), row_zero_mean=float(row_zero.mean()),
                dim_mean_mean=float(dim_mean.mean()), dim_std_mean=float(dim_std.mean()),
                zero_fraction_mean=float(dim_zero.mean()),
                zero_fraction_max=float(dim_zero.max()), dead_units=dead,
                simsiam_std=simsiam)


class Phases:
    def __init__(self):
        self.times = {}
        self.t = time.perf_counter()

    def lap(self, name):
        t = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + t - self.t
        self.t = t


def spectra_sklearn(x, phases, stage):
    """PCA().fit for the centred spectrum, numpy.linalg.svd for the uncentred one; matrix_rank
    with numpy.linalg.matrix_rank's rule from those singular values (a separate
    numpy.linalg.matrix_rank(x) would be a third SVD of the same matrix: not equal work)."""
    import numpy
    from sklearn.decomposition import PCA
    n, d = x.shape
    pca = PCA().fit(x)
    phases.lap(stage + ' PCA.fit')
    su = numpy.linalg.svd(x, compute_uv=False)
    phases.lap(stage + ' svd')
    mr = int((su > su.max() * max(n, d) * numpy.finfo(x.dtype).eps).sum())
    res = measures(pca.explained_variance_, pca.singular_values_, su, mr, n, d)
    res['explained_variance_ratio_top'] = float(pca.explained_variance_ratio_[0])
    res['svd_solver'] = getattr(pca, '_fit_svd_solver', '?')
    res['scatter_frobenius'] = scatter_frobenius(pca.explained_variance_, n)
    return res


def spectra_numpy(x, phases, stage):
    import numpy
    n, d = x.shape
    cov = numpy.cov(x, rowvar=False)
    phases.lap(stage + ' cov')
    ev = numpy.clip(numpy.linalg.eigvalsh(cov)[::-1], 0, None)
    del cov
    phases.lap(stage + ' eigvalsh')
    x64 = x.astype(numpy.float64)
    gram = x64.T @ x64
    del x64
    phases.lap(stage + ' gram')
    mu = numpy.clip(numpy.linalg.eigvalsh(gram)[::-1], 0, None)
    del gram
    phases.lap(stage + ' eigvalsh')
    k = min(n, d)
    su = numpy.sqrt(mu[:k])
    mr = int((su > su.max() * max(n, d) * numpy.finfo(x.dtype).eps).sum())
    res = measures(ev[:k], numpy.sqrt((n - 1) * ev[:k]), su, mr, n, d)
    res['scatter_frobenius'] = scatter_frobenius(ev, n)
    return res


def scatter_frobenius(covariance_eigenvalues, n):
    """||Xc^T Xc||_F from the covariance's eigenvalues: (n - 1) sqrt(sum lambda^2)."""
    import numpy
    ev = numpy.asarray(covariance_eigenvalues, numpy.float64)
    return float((n - 1) * numpy.sqrt((ev * ev).sum()))


def linear_cka(x, y, frobenius_x, frobenius_y):
    """Linear CKA (Kornblith et al. 2019) of the rows of x and y, as headrank reports it:
    ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), the scatter norms from the spectra
    already computed; the cross-moments Xc^T Yc in float64, 8,192 rows at a time (one
    dgemm of 2 N Dx Dy flops in all) minus N mean_x mean_y^T."""
    import numpy
    n = x.shape[0]
    cross = numpy.zeros((x.shape[1], y.shape[1]), numpy.float64)
    sx = numpy.zeros(x.shape[1], numpy.float64)
    sy = numpy.zeros(y.shape[1], numpy.float64)
    for i in range(0, n, 8192):
        a = x[i:i + 8192].astype(numpy.float64)
        b = y[i:i + 8192].astype(numpy.float64)
        cross += a.T @ b
        sx += a.sum(0)
        sy += b.sum(0)
    cross -= numpy.outer(sx, sy) / n
    return float((cross * cross).sum() / (frobenius_x * frobenius_y))


def child_python(a):
    import numpy
    import tifffile
    import torch
    from safetensors.torch import load_file
    if a.child == 'sklearn':
        import sklearn.decomposition  # noqa: F401 - imported before the clock starts
    spectra = spectra_sklearn if a.child == 'sklearn' else spectra_numpy
    torch.set_num_threads(a.threads)
    rss_imports = status_mb('VmRSS')
    phases = Phases()
    t0 = phases.t
    model = build_model(torch, a.d, a.d, OUT)
    model.load_state_dict(load_file(a.weights))
    model.eval()
    x = tifffile.imread(a.input)
    assert x.shape == (a.n, a.d) and x.dtype == numpy.float32, x.shape
    phases.lap('read')
    with torch.no_grad():
        hidden = model[:3](torch.from_numpy(x))
        projections = model[3:](hidden).numpy()
        hidden = hidden.numpy()
    phases.lap('head (torch)')
    stages = {}
    for role, y in (('features', x), ('hidden', hidden), ('projections', projections)):
        stages[role] = spectra(y, phases, role)
        stages[role].update(statistics(y))
        phases.lap('statistics')
        if role != 'features':
            stages[role]['cka_with_features'] = linear_cka(
                x, y, stages['features']['scatter_frobenius'],
                stages[role]['scatter_frobenius'])
            phases.lap('CKA cross-moments')
    del hidden
    normalized = projections / numpy.maximum(numpy.linalg.norm(projections, axis=1),
                                             1e-12)[:, None]
    phases.lap('L2 normalisation')
    stages['normalized'] = spectra(normalized, phases, 'normalized projections')
    del normalized, x
    return dict(stages=stages, phases=phases.times, compute_s=time.perf_counter() - t0,
                rss_imports_mb=rss_imports, hwm_mb=status_mb('VmHWM'),
                threads=torch.get_num_threads(), torch=torch.__version__,
                numpy=numpy.__version__,
                sklearn=__import__('sklearn').__version__ if a.child == 'sklearn' else None)


def from_headrank(report):
    """The same numbers from headrank's JSON report."""
    out = {}
    for s in report['stages']:
        role = s['role'] if s['role'] in ('features', 'projections') else 'hidden'
        st = s['statistics']
        r = dict(row_mean_mean=st['per_sample']['mean']['mean'],
                 row_std_mean=st['per_sample']['std']['mean'],
                 row_norm_mean=st['per_sample']['norm']['mean'],
                 row_zero_mean=st['per_sample']['zero_fraction']['mean'],
                 dim_std_mean=st['per_dimension']['std_mean'],
                 zero_fraction_mean=st['per_dimension']['zero_fraction_mean'],
                 zero_fraction_max=st['per_dimension']['zero_fraction_max'],
                 dead_units=st['per_dimension']['dead_units'],
                 simsiam_std=st['simsiam_std'], precision=s.get('precision'))
        if s['has_spectrum']:
            r.update(eigenvalues=s['eigenvalues'][:8],
                     uncentred_singular_values=s['uncentred_singular_values'][:8],
                     rank=s['rank'], matrix_rank=s['matrix_rank'],
                     effective_rank=s['effective_rank'],
                     participation_ratio=s['participation_ratio'],
                     components=s['components'], alpha=s['alpha'],
                     rank_range=s.get('rank_range'))
        r['cka_with_features'] = s.get('cka_with_features')
        out[role] = r
        nz = s.get('normalized')
        if nz:
            out['normalized'] = dict(
                eigenvalues=nz['eigenvalues'][:8],
                uncentred_singular_values=nz['uncentred_singular_values'][:8],
                rank=nz['rank'], matrix_rank=nz['matrix_rank'],
                effective_rank=nz['effective_rank'],
                participation_ratio=nz['participation_ratio'],
                components=nz['components'], alpha=nz['alpha'])
    return out


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------

def child_env(threads):
    env = dict(os.environ)
    for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        env[k] = str(threads)
    env['HEADRANK_NO_PROGRESS'] = '1'
    return env


def timed(cmd, env, cwd):
    """Runs cmd under /usr/bin/time: (stdout, dict of wall_s, cpu_s = user + sys, user_s,
    sys_s, rss_mb (peak), ctx_inv and ctx_vol (involuntary and voluntary context
    switches))."""
    full = [TIME, '-f', TIME_MARK + ' %e %U %S %M %c %w'] + cmd
    r = subprocess.run(full, capture_output=True, text=True, env=env, cwd=cwd)
    lines = r.stderr.strip().splitlines()
    mark = [ln for ln in lines if ln.startswith(TIME_MARK)]
    if r.returncode != 0 or not mark:
        raise RuntimeError(f'{" ".join(cmd)} failed (rc {r.returncode}):\n{r.stderr.strip()}')
    wall, user, system, kb, inv, vol = mark[-1].split()[1:]
    return r.stdout, dict(wall_s=float(wall), cpu_s=float(user) + float(system),
                          user_s=float(user), sys_s=float(system), rss_mb=int(kb) / 1024.0,
                          ctx_inv=int(inv), ctx_vol=int(vol))


def headrank_tool():
    tool = os.environ.get('HEADRANK_TOOL') or shutil.which('headrank')
    return tool if tool and os.access(tool, os.X_OK) else None


def run(kind, a, tool, data, weights, tmp):
    env = child_env(a.threads)
    if kind.startswith('headrank'):
        cmd = [tool, 'analyze', data, '-w', weights, '--arch', 'viscy-v2', '--json']
        cmd += HEADRANK_STAGE_ARGS.get(kind, [])
        if kind == 'headrank-f32':
            cmd += ['--precision', 'float32-products']
        out, times = timed(cmd, env, tmp)
        report = json.loads(out)
        stages = [s['name'] for s in report['stages'] if s['has_spectrum']]
        if kind in ('headrank', 'headrank-f32') and stages != ['features', RELU_STAGE,
                                                                'projections']:
            raise RuntimeError(f'headrank analyze computed the spectra of {stages}, not '
                               f'of the features, layer {RELU_STAGE} and the projections')
        return dict(times, stages=from_headrank(report), spectra=stages,
                    report_precision=[s['precision'] for s in report['stages']])
    cmd = [sys.executable, os.path.abspath(__file__), '--child', kind, '--threads',
           str(a.threads), '--n', str(a.n), '--d', str(a.d), '--input', data,
           '--weights', weights]
    out, times = timed(cmd, env, tmp)
    res = json.loads(out.strip().splitlines()[-1])
    res.update(times)
    return res


def child_peaks(a):
    """sgemm and dgemm GFLOP/s of the OpenBLAS headrank links (libopenblas.so.0, as the
    dynamic linker finds it), OPENBLAS_NUM_THREADS from the environment, at the work's
    shapes: sgemm (8,192 x D) (D x D), the head's first layer on a chunk; dgemm
    (D x 8,192) (8,192 x D), a scatter update of a D-wide stage.  Each: one call to warm
    up, then the best of 5 timings of enough calls for about 0.2 s."""
    import ctypes
    import numpy
    lib = ctypes.CDLL('libopenblas.so.0')
    rows, d = 8192, a.d
    out = {}
    for name, dtype, ctype in (('sgemm', numpy.float32, ctypes.c_float),
                               ('dgemm', numpy.float64, ctypes.c_double)):
        f = getattr(lib, 'cblas_' + name)
        f.restype = None
        f.argtypes = ([ctypes.c_int] * 6 + [ctype, ctypes.c_void_p, ctypes.c_int,
                                            ctypes.c_void_p, ctypes.c_int, ctype,
                                            ctypes.c_void_p, ctypes.c_int])
        rng = numpy.random.default_rng(1)
        x = rng.standard_normal((rows, d)).astype(dtype)
        if name == 'sgemm':
            w = rng.standard_normal((d, d)).astype(dtype)
            c = numpy.zeros((rows, d), dtype)
            args = (ROW_MAJOR, NO_TRANS, NO_TRANS, rows, d, d, 1.0, x.ctypes.data, d,
                    w.ctypes.data, d, 0.0, c.ctypes.data, d)
        else:
            c = numpy.zeros((d, d), dtype)
            args = (ROW_MAJOR, TRANS, NO_TRANS, d, d, rows, 1.0, x.ctypes.data, d,
                    x.ctypes.data, d, 1.0, c.ctypes.data, d)
        flops = 2.0 * rows * d * d
        t = time.perf_counter()
        f(*args)
        calls = max(1, int(0.2 / max(time.perf_counter() - t, 1e-6)))
        best = best_cpu = float('inf')
        for _ in range(5):
            t, t_cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                f(*args)
            best = min(best, (time.perf_counter() - t) / calls)
            best_cpu = min(best_cpu, (time.process_time() - t_cpu) / calls)
        out[name] = flops / best / 1e9
        # per CPU second of all the threads: the peak a loaded machine does not lower
        # as much (other processes take wall time, not this process's CPU time)
        out[name + '_cpu'] = flops / best_cpu / 1e9
    # LAPACK's dsyevd (eigenvalues only, lower triangle), what headrank and numpy's
    # eigvalsh call, at the spectra's orders: the eigensolver as it runs (its reduction to
    # tridiagonal form is half matrix-vector products, bound by memory, far from the dgemm
    # peak); best of 3 on a fresh copy of a covariance-like matrix
    syevd = lib.dsyevd_
    syevd.restype = None
    for order in sorted({a.d, OUT}):
        x = rng.standard_normal((2 * order, order))
        s0 = numpy.asfortranarray(x.T @ x)
        n_c, info = ctypes.c_int(order), ctypes.c_int(0)
        w = numpy.zeros(order)
        size, isize = ctypes.c_double(0), ctypes.c_int(0)

        def call(a_, work, lwork, iwork, liwork):
            syevd(b'N', b'L', ctypes.byref(n_c), a_.ctypes.data_as(ctypes.c_void_p),
                  ctypes.byref(n_c), w.ctypes.data_as(ctypes.c_void_p), work,
                  ctypes.byref(lwork), iwork, ctypes.byref(liwork), ctypes.byref(info),
                  ctypes.c_size_t(1), ctypes.c_size_t(1))
        call(s0.copy(order='F'), ctypes.byref(size), ctypes.c_int(-1), ctypes.byref(isize),
             ctypes.c_int(-1))
        work = numpy.zeros(max(1, int(size.value)))
        iwork = numpy.zeros(max(1, isize.value), numpy.int32)
        best = float('inf')
        for _ in range(3):
            a_ = s0.copy(order='F')
            t = time.perf_counter()
            call(a_, work.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(work.size),
                 iwork.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(iwork.size))
            best = min(best, time.perf_counter() - t)
        out[f'dsyevd_{order}'] = best
    get = getattr(lib, 'openblas_get_num_threads', None)
    if get is not None:
        get.restype = ctypes.c_int
        out['threads'] = get()
    core = getattr(lib, 'openblas_get_corename', None)
    if core is not None:
        core.restype = ctypes.c_char_p
        out['core'] = core().decode()
    return out


def peaks(a, tmp):
    cmd = [sys.executable, os.path.abspath(__file__), '--child', 'peaks', '--d', str(a.d)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=child_env(a.threads),
                       cwd=tmp, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def spectrum_widths(d, kind='headrank'):
    """The orders of the spectra of a pipeline's work."""
    if kind == 'headrank-all':
        return (d, d, d, d, OUT, OUT, OUT)
    if kind == 'headrank-none':
        return (d, OUT, OUT)
    return (d, d, OUT, OUT)


def floor_eigensolver_seconds(work, peak, d, kind='headrank'):
    """The floor with each spectrum's reduction at dsyevd's measured time (one per spectrum:
    its dsytrd and one dsterf) instead of its flops at the dgemm peak: what is reachable."""
    return (work['head_sgemm'] / (peak['sgemm'] * 1e9) +
            (work['scatter_dsyrk'] + work['cka_dgemm']) / (peak['dgemm'] * 1e9) +
            sum(peak[f'dsyevd_{w}'] for w in spectrum_widths(d, kind)))


def floor_work(n, d, kind='headrank'):
    """The flops of a pipeline's work, by kernel (see the module's docstring).  The equal
    work: spectra of the features, the ReLU output, the projections and the L2-normalised
    projections, CKA of the ReLU output and the projections.  headrank-all adds layers 0
    (linear) and 1 (bn), D wide, and 3 (linear), 128 wide, each with a spectrum and a CKA;
    headrank-none leaves out the ReLU's spectrum and CKA.  The CKA's cross-moments as
    headrank forms them: an accumulated stage's, X^T Z over the N samples (2 N D D_z
    flops); a mapped stage's, its source's D x D_t cross-moments times the D_t x D_z map
    (2 D D_t D_z)."""
    widths = spectrum_widths(d, kind)
    # ('n', D_z): accumulated over the samples; (D_t, D_z): mapped from a D_t-wide source
    cka = {'headrank-all': ((d, d), (d, d), ('n', d), (d, OUT), (OUT, OUT)),
           'headrank-none': (('n', OUT),)}.get(kind, (('n', d), (d, OUT)))
    return dict(head_sgemm=2.0 * n * (d * d + d * OUT),
                scatter_dsyrk=sum(float(n) * w * (w + 1) for w in widths),
                cka_dgemm=sum(2.0 * (n if t == 'n' else t) * d * z for t, z in cka),
                eigen=sum(4.0 / 3.0 * w ** 3 for w in widths))


def floor_seconds(work, peak):
    return (work['head_sgemm'] / (peak['sgemm'] * 1e9) +
            (work['scatter_dsyrk'] + work['cka_dgemm'] + work['eigen']) / (peak['dgemm'] * 1e9))


def missing_modules():
    return [m for m in ('torch', 'safetensors', 'sklearn', 'numpy', 'tifffile')
            if importlib.util.find_spec(m) is None]


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def agreement(results):
    """Lines comparing every pipeline with headrank; and whether they agree."""
    ref = results['headrank']['stages']
    lines, ok = [], True
    for kind, res in results.items():
        if kind == 'headrank':
            continue
        st = res['stages']
        parts = []
        ok_before, ok = ok, True
        for stage in SPECTRA:
            if stage not in ref or stage not in st:
                ok = False
                parts.append(f'{stage}: no spectrum in ' + (kind if stage in ref else
                                                            'headrank'))
                continue
            h, p = ref[stage], st[stage]
            top = max(rel(x, y) for x, y in zip(p['eigenvalues'][:5], h['eigenvalues'][:5]))
            utop = max(rel(x, y) for x, y in zip(p['uncentred_singular_values'][:5],
                                                 h['uncentred_singular_values'][:5]))
            er = rel(p['effective_rank'], h['effective_rank'])
            # scikit-learn's PCA (solver covariance_eigh) forms X^T X in float32 for
            # float32 input: its smallest eigenvalues carry that rounding, well above the
            # rank tolerance, so its rank may miss the last direction or two (its alpha,
            # fitted up to the rank, with it); reported, not counted against agreement
            # float32 products raise the rank tolerance to their bound (doc/analysis.md):
            # where the stage has directions below it, the run's rank is the low end of
            # the range it reports, which must hold the float64 rank (its alpha, fitted up
            # to the rank, differs with it); reported, not counted against agreement
            in_range = (kind == 'headrank-f32' and p.get('rank_range') is not None and
                        p['rank_range'][0] <= h['rank'] <= p['rank_range'][1])
            rank_ok = p['rank'] == h['rank'] or in_range or (kind == 'sklearn' and
                                                             abs(p['rank'] - h['rank']) <= 2)
            same = (rank_ok and p['matrix_rank'] == h['matrix_rank'] and
                    p['components'] == h['components'] and top < 1e-3 and utop < 1e-3 and
                    er < 1e-3)
            ok &= same
            parts.append(f'{stage}: rank {p["rank"]}/{h["rank"]}'
                         + ('' if p['rank'] == h['rank'] else
                            f' (float32 products: within its rank range {p["rank_range"]}, '
                            'accepted)' if in_range else
                            ' (float32 covariance in PCA, accepted)') + ', matrix_rank '
                         f'{p["matrix_rank"]}/{h["matrix_rank"]}, effective rank '
                         f'{p["effective_rank"]:.3f}/{h["effective_rank"]:.3f}, top-5 '
                         f'eigenvalues rel err {top:.1e}, uncentred sv {utop:.1e}, '
                         f'components {"=" if p["components"] == h["components"] else "!="}, '
                         f'alpha {p["alpha"]:.4f}/{h["alpha"]:.4f}')
        cka = max((abs(st[s]['cka_with_features'] - ref[s]['cka_with_features'])
                   for s in ('hidden', 'projections')
                   if s in st and s in ref and ref[s].get('cka_with_features') is not None),
                  default=float('inf'))
        ok &= cka < 1e-6
        parts.append(f'linear CKA with the features (ReLU output, projections): max abs err '
                     f'{cka:.1e}')
        h, p = ref['hidden'], st['hidden']
        zf = abs(p['zero_fraction_mean'] - h['zero_fraction_mean'])
        stats = max(rel(st[s][k], ref[s][k]) for s in ('features', 'hidden', 'projections')
                    for k in ('row_norm_mean', 'row_std_mean', 'dim_std_mean', 'simsiam_std'))
        same = zf < 1e-6 and p['dead_units'] == h['dead_units'] and stats < 1e-4
        ok &= same
        parts.append(f'ReLU output: zero fraction {p["zero_fraction_mean"]:.6f}/'
                     f'{h["zero_fraction_mean"]:.6f}, dead units {p["dead_units"]}/'
                     f'{h["dead_units"]}; statistics (mean row norm, row std, dimension std, '
                     f'SimSiam std, every stage) max rel err {stats:.1e}')
        lines.append(f'  {kind} vs headrank ({kind} value / headrank value): '
                     + ('agree' if ok else 'DISAGREE'))
        ok &= ok_before
        lines += ['    ' + x for x in parts]
    return lines, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=1,
                    help='runs per pipeline (the median is reported)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--pipelines', default='headrank,numpy,sklearn',
                    help='comma-separated, of headrank, headrank-all, headrank-none, headrank-f32, '
                    'numpy, sklearn')
    ap.add_argument('--cache-dir')
    ap.add_argument('--child', choices=['sklearn', 'numpy', 'peaks'], help=argparse.SUPPRESS)
    ap.add_argument('--write-data', help=argparse.SUPPRESS)
    ap.add_argument('--write-head', nargs=2, help=argparse.SUPPRESS)
    ap.add_argument('--n', type=int, default=int(os.environ.get('HEADRANK_BENCH_N',
                                                                N_DEFAULT)))
    ap.add_argument('--d', type=int, default=int(os.environ.get('HEADRANK_BENCH_D',
                                                                D_DEFAULT)))
    ap.add_argument('--input', help=argparse.SUPPRESS)
    ap.add_argument('--weights', help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.write_data:
        write_data(a.write_data, a.n, a.d)
        return 0
    if a.write_head:
        write_head(a.write_head[0], a.write_head[1], a.n, a.d, a.threads)
        return 0
    if a.child == 'peaks':
        print(json.dumps(child_peaks(a)))
        return 0
    if a.child:
        print(json.dumps(child_python(a)))
        return 0

    missing = missing_modules()
    if missing:
        print(f'SKIP: {", ".join(missing)} not installed for {sys.executable} '
              f'(torch is not in tools/requirements.txt: {sys.executable} -m pip install '
              f'torch==2.13.0 safetensors scikit-learn)')
        return 77
    tool = headrank_tool()
    if tool is None:
        print('SKIP: the headrank command was not found (set HEADRANK_TOOL, as meson test does)')
        return 77
    if not os.access(TIME, os.X_OK):
        print(f'SKIP: {TIME} (GNU time) not found: it measures each process\'s peak RSS')
        return 77

    n, d = a.n, a.d
    cache = cache_dir(a.cache_dir)
    data = os.path.join(cache, f'analysis-{n}x{d}-float32-lowrank.tif')
    weights = os.path.join(cache, f'analysis-head-viscy-v2-{d}x{d}x{OUT}-{n}.safetensors')
    env = child_env(a.threads)
    me = os.path.abspath(__file__)
    t = time.perf_counter()
    if not data_ok(data, n, d):
        subprocess.run([sys.executable, me, '--write-data', data, '--n', str(n), '--d', str(d)],
                       check=True, env=env)
    if not head_ok(weights, data, d):
        subprocess.run([sys.executable, me, '--write-head', weights, data, '--n', str(n),
                        '--d', str(d), '--threads', str(a.threads)], check=True, env=env)
    prepared = time.perf_counter() - t
    warm(data)

    import numpy
    import sklearn
    import torch
    print(f'machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()} '
          f'({len(os.sched_getaffinity(0))} usable), load average '
          + ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    print(f'versions: python {platform.python_version()}, numpy {numpy.__version__}, '
          f'scikit-learn {sklearn.__version__}, torch {torch.__version__}; headrank {tool}')
    print(f'input: {data}: {n} x {d} float32 ({n * d * 4 / 1e6:.0f} MB), latent rank '
          f'{latent_rank(d)} + noise {noise_std(n):.2g} + offset; head {d} -> {d} -> {OUT} '
          f'viscy-v2 '
          f'({weights}); ' + (f'prepared in {prepared:.0f} s' if prepared > 1 else 'cached') +
          '; read warm from the page cache')
    print(f'each pipeline: a fresh process under {TIME}, OPENBLAS_NUM_THREADS='
          f'OMP_NUM_THREADS=MKL_NUM_THREADS={a.threads}, torch.set_num_threads({a.threads}); '
          f'{a.rounds} round(s), medians reported; order alternates per round; the BLAS peaks '
          f'measured in a fresh process before each round')

    kinds = [k for k in a.pipelines.split(',') if k]
    runs = {k: [] for k in kinds}
    peak_runs, loads = [], [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            peak_runs.append(peaks(a, tmp))
            for kind in (kinds if r % 2 == 0 else kinds[::-1]):
                res = run(kind, a, tool, data, weights, tmp)
                res.update(round=r, load=os.getloadavg()[0])
                runs[kind].append(res)
                loads.append(os.getloadavg()[0])
    best = {}
    for k, v in runs.items():
        b = dict(sorted(v, key=lambda x: x['wall_s'])[(len(v) - 1) // 2])
        for key in ('wall_s', 'cpu_s', 'user_s', 'sys_s', 'rss_mb', 'ctx_inv', 'ctx_vol',
                    'compute_s'):
            if key in b:
                b[key] = statistics_median([x[key] for x in v])
        best[k] = b
    peak = dict(sgemm=max(p['sgemm'] for p in peak_runs),
                dgemm=max(p['dgemm'] for p in peak_runs))
    peak_cpu = dict(sgemm=max(p['sgemm_cpu'] for p in peak_runs),
                    dgemm=max(p['dgemm_cpu'] for p in peak_runs))
    for order in sorted({d, OUT}):
        peak[f'dsyevd_{order}'] = min(p[f'dsyevd_{order}'] for p in peak_runs)
    work = floor_work(n, d)
    floor = floor_seconds(work, peak)

    print()
    print('work of every equal-work column: spectra (centred covariance eigenvalues, uncentred '
          'singular values, the measures read from them) of the features, the ReLU output, '
          'the projections and the L2-normalised projections; linear CKA of the ReLU output '
          'and of the projections with the features; per-sample and per-dimension statistics '
          'and SimSiam std of the features, the ReLU output and the projections')
    print(f'  headrank: analyze (the default: since issue 16 it computes the spectrum and CKA of '
          f'the activation layer {RELU_STAGE}, the ReLU, as --stage {RELU_STAGE} did; '
          f'--stage all would add the spectra and CKA of the other layers: 0 linear, 1 bn, '
          f'3 linear)')
    print('  numpy: numpy.cov + eigvalsh and the float64 Gram + eigvalsh per spectrum; '
          'CKA cross-moments in float64')
    print('  sklearn: PCA().fit + numpy.linalg.svd(compute_uv=False) per spectrum (matrix_rank '
          'from those values); CKA as numpy')
    if 'headrank-all' in best:
        print('  headrank-all: analyze --stage all, for information (NOT equal work: 7 '
              'spectra and 5 CKA cross-moments; its own floor below)')
    if 'headrank-none' in best:
        print('  headrank-none: analyze --stage none, for information (NOT equal work: the '
              'features and the projections only, the default before issue 16; its own floor '
              'below)')
    print()
    print(f'{"pipeline":13s} {"wall s":>7s} {"CPU s":>7s} {"user s":>7s} {"sys s":>6s} '
          f'{"inv.cs":>7s} {"peak RSS MB":>11s} {"compute s":>9s} {"RSS after imports":>17s}'
          f'  runs (wall s)')
    for kind, b in best.items():
        compute = f'{b["compute_s"]:9.1f}' if 'compute_s' in b else f'{"-":>9s}'
        imports = f'{b["rss_imports_mb"]:17.0f}' if 'rss_imports_mb' in b else f'{"-":>17s}'
        print(f'{kind:13s} {b["wall_s"]:7.2f} {b["cpu_s"]:7.1f} {b["user_s"]:7.1f} '
              f'{b["sys_s"]:6.1f} {b["ctx_inv"]:7.0f} {b["rss_mb"]:11.0f} {compute} '
              f'{imports}  ' + ' '.join(f'{x["wall_s"]:.2f}' for x in runs[kind]))
    print('(medians over the rounds; wall, CPU = user + system, user, system, involuntary '
          'context switches (inv.cs: preempted, a sign of a loaded machine or of spinning '
          'threads) and peak RSS: the whole process, from /usr/bin/time; compute: the Python '
          'pipeline from loading the head to its last statistic, imports excluded)')
    for kind in ('sklearn', 'numpy'):
        if kind in best:
            print(f'  {kind} phases (s, median run): ' + ', '.join(
                f'{k} {v:.2f}' for k, v in best[kind]['phases'].items()))
    if 'sklearn' in best:
        print(f'  sklearn PCA solver chosen: ' + ', '.join(
            f'{k} {v["svd_solver"]}' for k, v in best['sklearn']['stages'].items()))
    if 'headrank' in best:
        print(f'  headrank scatter precision per stage: '
              + ', '.join(best['headrank']['report_precision']))

    print()
    print('BLAS peaks (libopenblas.so.0, ' + ', '.join(
        f'{p.get("core", "?")} {p.get("threads", "?")} threads: sgemm {p["sgemm"]:.1f}, '
        f'dgemm {p["dgemm"]:.1f}' for p in peak_runs) + ' GFLOP/s; the best of each kept)')
    print(f'floor = head {work["head_sgemm"] / 1e9:.1f} GFLOP / sgemm {peak["sgemm"]:.1f} '
          f'GFLOP/s + (scatter {work["scatter_dsyrk"] / 1e9:.1f} + CKA cross-moments '
          f'{work["cka_dgemm"] / 1e9:.1f} + eigenvalues {work["eigen"] / 1e9:.2f}) GFLOP / dgemm '
          f'{peak["dgemm"]:.1f} GFLOP/s = {floor:.2f} s')
    ok = True
    for kind in best:
        if not kind.startswith('headrank'):
            continue
        kwork = floor_work(n, d, kind)
        kfloor = floor_seconds(kwork, peak)
        fraction = kfloor / best[kind]['wall_s']
        # each run against the floor from the peaks of its own round (the same load)
        per_run = [floor_seconds(kwork, peak_runs[x['round']]) / x['wall_s'] for x in runs[kind]]
        extra = '' if kind in ('headrank', 'headrank-f32') else (
            f' (its floor: scatter {kwork["scatter_dsyrk"] / 1e9:.1f} + CKA '
            f'{kwork["cka_dgemm"] / 1e9:.1f} GFLOP at the dgemm peak)')
        # the CPU time the floor's work takes at the peaks per CPU second, over the CPU time
        # used: less sensitive to other processes than the wall time (not to their share of
        # the caches and memory bandwidth)
        cpu_floor = floor_seconds(kwork, peak_cpu)
        cpu_fraction = cpu_floor / best[kind]['cpu_s']
        print(f'{kind} at {100 * fraction:.0f} % of its floor ({kfloor:.2f} s / '
              f'{best[kind]["wall_s"]:.2f} s), goal >= {100 * FLOOR_GOAL:.0f} %'
              + ('' if fraction >= FLOOR_GOAL else ' (missed)')
              + f'; CPU: {100 * cpu_fraction:.0f} % ({cpu_floor:.2f} CPU s at the peaks per CPU '
              f'second, sgemm {peak_cpu["sgemm"]:.1f}, dgemm {peak_cpu["dgemm"]:.1f} GFLOP/s, / '
              f'{best[kind]["cpu_s"]:.2f} CPU s used)' + extra)
        print(f'  per run, against its own round\'s peaks: '
              + ' '.join(f'{100 * f:.0f} % (load {x["load"]:.1f})'
                         for f, x in zip(per_run, runs[kind])))
        efloor = floor_eigensolver_seconds(kwork, peak, d, kind)
        e_run = [floor_eigensolver_seconds(kwork, peak_runs[x['round']], d, kind) / x['wall_s']
                 for x in runs[kind]]
        print(f'  with the eigensolver at its measured time (1 dsyevd per spectrum, best: '
              + ', '.join(f'order {w} {peak[f"dsyevd_{w}"]:.3f} s' for w in sorted({d, OUT}))
              + f'; not the goal\'s floor): floor {efloor:.2f} s, '
              f'{100 * efloor / best[kind]["wall_s"]:.0f} %; per run '
              + ' '.join(f'{100 * f:.0f} %' for f in e_run))
    if 'headrank' in best:
        h = best['headrank']
        print()
        print(f'{"peer":13s} {"time ratio":>10s} {"goal":>5s} {"CPU ratio":>9s} '
              f'{"compute ratio":>13s} {"peer peak MB":>12s} {"headrank peak MB":>16s}')
        for kind in ('sklearn', 'numpy', 'headrank-f32', 'headrank-all', 'headrank-none'):
            if kind not in best:
                continue
            b = best[kind]
            ratio = b['wall_s'] / h['wall_s']
            goal = GOALS.get(kind)
            mark = '' if goal is None or ratio >= goal else '!'
            compute = (f'{b["compute_s"] / h["wall_s"]:12.2f}x' if 'compute_s' in b
                       else f'{"-":>13s}')
            print(f'{kind:13s} {ratio:9.2f}x {f"{goal:.1f}x" if goal else "-":>5s}{mark:1s}'
                  f'{b["cpu_s"] / h["cpu_s"]:8.2f}x {compute} {b["rss_mb"]:12.0f} '
                  f'{h["rss_mb"]:16.0f}')
        print(f'headrank peak RSS {h["rss_mb"]:.0f} MB, goal <= {RSS_GOAL_MB:.0f} MB'
              + ('' if h['rss_mb'] <= RSS_GOAL_MB else ' (missed)'))
        print('(ratios: peer / headrank medians; "!": goal missed; compute ratio: the peer\'s '
              'compute time, imports and interpreter start excluded, over headrank\'s whole '
              'run)')
        print()
        lines, ok = agreement({k: v for k, v in best.items()
                               if k not in ('headrank-all', 'headrank-none')})
        print('agreement with headrank:')
        for line in lines:
            print(line)
    print('load average (1 min) before and after each run: ' +
          ' '.join(f'{v:.1f}' for v in loads))
    print(f'load average now ' + ' '.join(f'{v:.2f}' for v in os.getloadavg()) +
          ' (other processes on the machine compete with the benchmark above 0)')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
