#!/usr/bin/env python3
"""Generate the reference fixtures of headrank's HrSpectrum (lib/measures/hr-spectrum.c).

What it makes (tests/data/spectrum/)
------------------------------------
<case>.x.f32        the N x D samples, float32, raw little-endian, row-major
<case>.mean.f64     their float64 mean (D values), numpy: x.astype(float64).mean(0)
<case>.scatter.f64  their float64 centred scatter matrix S = (x - m)^T (x - m), D x D,
                    row-major: the accumulators HrMoments hands to HrSpectrum, so that
                    the C test feeds HrSpectrum exactly these float64 values
manifest.json       for every case the references below (K = min(N, D) values each)

References, all in float64 from the float32 samples unless said otherwise:
  eigenvalues                 np.linalg.eigvalsh(S / (N - 1)), descending, first K
  singular_values             np.linalg.svd(x - m, compute_uv=False)
  uncentred_singular_values   np.linalg.svd(x, compute_uv=False)
  explained_variance[_ratio]  sklearn PCA(svd_solver='full').fit(x).explained_variance_
                              and .explained_variance_ratio_ (null where NaN)
  rank                        count of the first N - 1 centred singular values above
                              (tolerance of doc/analysis.md for float32 values and exact
                              moments: sqrt((2^-24 ||X||_F)^2 + D 2^-53 sigma_max^2)),
                              checked against the same rule on the float64 singular values
  matrix_rank                 np.linalg.matrix_rank of the float32 array, checked likewise
  rank_gap, matrix_rank_gap   how far (a factor) the nearest singular value lies from the
                              tolerance on either side; every case keeps >= 5, so that the
                              ranks are exact whatever precision computes them
  effective_rank              RankMe (Garrido et al., ICML 2023) on the uncentred singular
                              values: p = s / s.sum() + 1e-7, exp(-(p * log p).sum())
  participation_ratio         (sum lam)^2 / sum lam^2 over all D eigenvalues clipped at 0
  components                  smallest k with cumsum(explained_variance_ratio_)
                              >= f - 1e-12, for f in 0.9, 0.95, 0.99
  alpha                       alpha-ReQ: -slope of the least-squares line of log lam_i on
                              log i, i = 1 .. rank,
                              with first, last (1-based) and r_squared; null under 3 points

The tests need only the committed files; numpy, scikit-learn and torch are needed to
regenerate them, never to run the C test (the Python test compares live with numpy and
scikit-learn).

How to rerun (from the repository root)
---------------------------------------
    .venv/bin/pip install scikit-learn torch   # torch is not in tools/requirements.txt
    .venv/bin/python tests/data/spectrum/make_spectrum.py
"""
import json
import math
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

try:
    import torch
except ImportError:  # the float64 rule is then the only check of the rank
    torch = None

HERE = Path(__file__).resolve().parent
EPS32 = float(np.finfo(np.float32).eps)  # 2**-23, FLT_EPSILON
FRACTIONS = [0.9, 0.95, 0.99]
MIN_GAP = 5.0


def rotation(rng, d):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q


def case_powerlaw(rng):
    """Gaussian, power-law covariance spectrum lam_i ~ i^-1.5, random axes."""
    n, d = 1000, 128
    scales = np.arange(1, d + 1) ** -0.75
    return (rng.standard_normal((n, d)) * scales) @ rotation(rng, d).T + 0.3


def case_lowrank(rng):
    """Exactly rank 10 after centring (a gap down to float32 rounding), plus an offset
    outside the row space: uncentred rank 11."""
    n, d, r = 800, 64, 10
    w = rng.standard_normal((r, d))
    offset = rng.standard_normal(d)
    return rng.standard_normal((n, r)) @ w + 0.5 * offset


def case_short(rng):
    """N < D: centred rank N - 1, uncentred rank N."""
    return rng.standard_normal((40, 128)) + 0.1


def case_offset(rng):
    """A mean offset of 1e3: 8 strong directions, 24 weak ones. The centred matrix has
    rank 32; the offset lifts sigma_max and the tolerance of the raw matrix above the weak
    directions, whose rank is 1 + 8."""
    n, d = 500, 32
    scales = np.concatenate([np.full(8, 6.0), np.full(24, 0.01)])
    return (rng.standard_normal((n, d)) * scales) @ rotation(rng, d).T + 1e3


def case_relu(rng):
    """ReLU-clipped projections with 10 dead units (always 0): rank 54 of 64."""
    n, d = 600, 64
    h = rng.standard_normal((n, 32)) @ rng.standard_normal((32, d)) / np.sqrt(32) - 0.3
    h[:, :10] = -1.0 - np.abs(h[:, :10])
    return np.maximum(h, 0.0)


def case_d1(rng):
    """A single dimension."""
    return 2.0 * rng.standard_normal((100, 1)) + 1.0


def case_n2(rng):
    """Two samples: centred rank 1, uncentred rank 2."""
    return rng.standard_normal((2, 16))


def case_constant(rng):
    """Every sample equal: no variance (ratios NaN, centred rank 0), uncentred rank 1."""
    return np.tile(np.array([[1.0, 2.0, 3.0, 4.0]]), (10, 1))


CASES = [('powerlaw', case_powerlaw), ('lowrank', case_lowrank), ('short', case_short),
         ('offset', case_offset), ('relu', case_relu), ('d1', case_d1), ('n2', case_n2),
         ('constant', case_constant)]


def rule_rank(s, n, d, tol=None, limit=None):
    """Count of s > tol (default numpy's s_max * max(N, D) * eps32) among the first
    @limit, and the factor by which the nearest value misses the tolerance (inf when there
    is none on one side)."""
    if tol is None:
        tol = s.max() * max(n, d) * EPS32 if s.size else 0.0
    s = s[:limit]
    rank = int((s > tol).sum())
    if tol == 0.0:
        return rank, tol, math.inf
    above = s[s > tol]
    below = s[s <= tol]
    gap = math.inf
    if above.size:
        gap = min(gap, above.min() / tol)
    if below.size and below.max() > 0:
        gap = min(gap, tol / below.max())
    return rank, tol, gap


def nan_to_none(values):
    return [None if not math.isfinite(v) else float(v) for v in values]


def alpha_req(lam, last):
    if last < 3:
        return None
    x = np.log(np.arange(1, last + 1, dtype=np.float64))
    y = np.log(lam[:last])
    slope, intercept = np.polyfit(x, y, 1)
    ss_res = float(((y - (intercept + slope * x)) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {'alpha': float(-slope), 'first': 1, 'last': last,
            'r_squared': 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0}


def make(name, generate, seed):
    rng = np.random.default_rng(seed)
    x32 = np.ascontiguousarray(generate(rng), dtype=np.float32)
    n, d = x32.shape
    k = min(n, d)
    x = x32.astype(np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    scatter = centred.T @ centred

    lam_all = np.linalg.eigvalsh(scatter / (n - 1))[::-1]
    lam_clipped = np.clip(lam_all, 0.0, None)
    s_centred = np.linalg.svd(centred, compute_uv=False)
    s_raw = np.linalg.svd(x, compute_uv=False)
    with np.errstate(invalid='ignore', divide='ignore'):
        pca = PCA(svd_solver='full').fit(x)

    # doc/analysis.md: the rank tolerance of float32 values with exact moments,
    # sqrt((2^-24 ||X||_F)^2 + D 2^-53 sigma_1^2), over the first N - 1 values
    tol = math.sqrt((2.0 ** -24 * np.linalg.norm(x)) ** 2 + d * 2.0 ** -53 * s_centred[0] ** 2)
    rank, tol, rank_gap = rule_rank(s_centred, n, d, tol, n - 1)
    matrix_rank, utol, matrix_rank_gap = rule_rank(s_raw, n, d)
    assert min(rank_gap, matrix_rank_gap) >= MIN_GAP, (name, rank_gap, matrix_rank_gap)
    assert int(np.linalg.matrix_rank(x32)) == matrix_rank, name
    if torch is not None:
        t = torch.from_numpy(x32)
        assert int(torch.linalg.matrix_rank(t - t.mean(dim=0))) <= rank, name

    p = s_raw / s_raw.sum() + 1e-7
    effective_rank = float(np.exp(-(p * np.log(p)).sum()))
    total = lam_clipped.sum()
    participation_ratio = float(total ** 2 / (lam_clipped ** 2).sum()) if total > 0 else None
    cumulative = np.cumsum(pca.explained_variance_ratio_)
    components = {}
    for f in FRACTIONS:
        hit = np.nonzero(cumulative >= f - 1e-12)[0]
        components[str(f)] = int(hit[0]) + 1 if hit.size else (0 if total == 0 else k)

    files = {}
    for what, array, dtype in (('x', x32, '<f4'), ('mean', mean, '<f8'),
                               ('scatter', scatter, '<f8')):
        files[what] = f'{name}.{what}.{"f32" if dtype == "<f4" else "f64"}'
        array.astype(dtype).tofile(HERE / files[what])

    return {
        'name': name, 'purpose': ' '.join(generate.__doc__.split()), 'seed': seed,
        'n_samples': n, 'dimension': d, 'n_components': k, 'files': files,
        'eigenvalues': [float(v) for v in lam_all[:k]],
        'singular_values': [float(v) for v in s_centred[:k]],
        'uncentred_singular_values': [float(v) for v in s_raw[:k]],
        'explained_variance': [float(v) for v in pca.explained_variance_],
        'explained_variance_ratio': nan_to_none(pca.explained_variance_ratio_),
        'tolerance': tol, 'uncentred_tolerance': utol,
        'rank': rank, 'matrix_rank': matrix_rank,
        'rank_gap': rank_gap if math.isfinite(rank_gap) else None,
        'matrix_rank_gap': matrix_rank_gap if math.isfinite(matrix_rank_gap) else None,
        'effective_rank': effective_rank,
        'participation_ratio': participation_ratio,
        'components': components,
        'alpha': alpha_req(lam_clipped[:k], rank),
    }


def main():
    cases = [make(name, generate, seed) for seed, (name, generate) in enumerate(CASES, 1)]
    manifest = {
        'generator': 'tests/data/spectrum/make_spectrum.py',
        'numpy': np.__version__,
        'sklearn': __import__('sklearn').__version__,
        'torch': torch.__version__ if torch is not None else None,
        'epsilon': EPS32,
        'fractions': FRACTIONS,
        'cases': cases,
    }
    with open(HERE / 'manifest.json', 'w') as f:
        json.dump(manifest, f, indent=1, allow_nan=False)
        f.write('\n')
    for c in cases:
        print(f"{c['name']:9s} N={c['n_samples']:5d} D={c['dimension']:4d} "
              f"rank={c['rank']:3d} (gap {c['rank_gap']}) matrix_rank={c['matrix_rank']:3d} "
              f"(gap {c['matrix_rank_gap']}) RankMe={c['effective_rank']:.4f} "
              f"PR={c['participation_ratio']} alpha={c['alpha'] and c['alpha']['alpha']}")


if __name__ == '__main__':
    main()
