#!/usr/bin/env python3
"""Reference fixtures for HrMoments (lib/measures/hr-moments.c), made with numpy in float64.

    cd tests/data/moments && ../../../.venv/bin/python make_moments.py

Each case is a raw little-endian float32 matrix `<name>.f32` (n_rows × dimension,
row-major); `manifest.json` holds, for the finite rows converted to float64, numpy's mean,
per-dimension std (ddof 0), fraction of exact zeros, dead dimensions, SimSiam std (the mean
over dimensions of the std of x / max(‖x‖₂, 1e-12)) and counts; the centred scatter matrix
Σ (x − mean)(x − mean)ᵀ is in `<name>.scatter.f64` (D × D little-endian float64) and the
per-row mean, std (ddof 0) and L2 norm of every row (NaN for rows with NaN or Inf) in
`<name>.per-sample.f64` (n_rows × 3). The manifest also has a table of (N, D) pairs with the
precision HR_PRECISION_AUTO must choose by the rule γ·D ≤ (max(N, D)·ε)²/100, with
γ = (b+2)·u/(1 − (b+2)·u), b = 64, u = 2⁻²⁴, ε = 2⁻²³.
"""
import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def case_small(rng, n, d, scale=1.0):
    return (rng.standard_normal((n, d)) * scale).astype(np.float32)


def case_offset(rng, n, d):
    """A large common offset (1e4, different per dimension) plus a small variation:
    centring on the running mean is what keeps this exact."""
    offset = 1e4 * (1.0 + np.arange(d) / d)
    x = offset + rng.standard_normal((n, d)) * np.linspace(0.01, 3.0, d)
    return x.astype(np.float32)


def case_rank_deficient(rng, n, d, rank):
    """Rank `rank` plus an offset, rounded to float32 (so only nearly rank-deficient)."""
    a = rng.standard_normal((n, rank))
    b = rng.standard_normal((rank, d))
    return (a @ b + 50.0).astype(np.float32)


def case_nonfinite(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32) * 2 + 1
    x[3, 5] = np.nan
    x[10, :4] = np.inf
    x[11, 0] = -np.inf
    x[11, 9] = np.nan
    x[n - 1, d - 1] = np.nan
    x[40, 7] = 0.0  # a zero in a row that stays
    x[41, 7] = -0.0
    return x


def case_relu(rng, n, d):
    """ReLU-like: many exact zeros, one dimension always 0 (dead), -0.0 in places."""
    x = np.maximum(rng.standard_normal((n, d)) - 0.5, 0.0).astype(np.float32)
    x[:, 3] = 0.0
    x[::7, 10] = -0.0
    x[:, 20] = np.where(rng.random(n) < 0.99, 0.0, 1.0)
    return x


def case_collapsed(rng, n, d):
    row = rng.standard_normal(d).astype(np.float32) * 3
    return np.tile(row, (n, 1))


def reference(x):
    finite = np.isfinite(x).all(axis=1)
    x64 = x[finite].astype(np.float64)
    n, d = x64.shape
    mean = x64.mean(axis=0) if n else np.zeros(d)
    y = x64 - mean
    scatter = y.T @ y
    std = x64.std(axis=0)
    zero_fraction = (x64 == 0).mean(axis=0)
    n_dead = int(((x64 == 0).all(axis=0)).sum()) if n else 0
    norm = np.linalg.norm(x64, axis=1)
    z = x64 / np.maximum(norm, 1e-12)[:, None]
    simsiam = float(z.std(axis=0).mean())
    per = np.full((x.shape[0], 3), np.nan)
    xf = x[finite].astype(np.float64)
    per[finite, 0] = xf.mean(axis=1)
    per[finite, 1] = xf.std(axis=1)
    per[finite, 2] = np.linalg.norm(xf, axis=1)
    return {
        'n_samples': int(n),
        'n_dropped': int((~finite).sum()),
        'n_nonfinite': int((~np.isfinite(x)).sum()),
        'mean': mean.tolist(),
        'std': std.tolist(),
        'zero_fraction': zero_fraction.tolist(),
        'n_dead': n_dead,
        'simsiam_std': simsiam,
        'trace': float(np.trace(scatter)),
    }, scatter, per


def auto_table():
    u, eps, b = 2.0 ** -24, 2.0 ** -23, 64
    gamma = (b + 2) * u / (1 - (b + 2) * u)

    def safe(n, d):
        m = float(max(n, d))
        return gamma * d <= (m * eps) ** 2 / 100.0

    rows = []
    for d in (1, 3, 64, 128, 130, 512, 2048):
        threshold = math.ceil(math.sqrt(100.0 * gamma * d) / eps)
        for n in (0, 1, 100_000, threshold - 1, threshold, threshold + 1, 10 * threshold):
            rows.append({'n': n, 'd': d, 'float32': safe(n, d)})
    return rows


def main():
    rng = np.random.default_rng(20261129)
    cases = [
        ('n1-d3', case_small(rng, 1, 3)),
        ('n2-d1', case_small(rng, 2, 1)),
        ('n7-d3', case_small(rng, 7, 3, scale=1e-3)),
        ('offset-n500-d64', case_offset(rng, 500, 64)),
        ('rankdef-n500-d130', case_rank_deficient(rng, 500, 130, 5)),
        ('nonfinite-n500-d64', case_nonfinite(rng, 500, 64)),
        ('relu-n3000-d64', case_relu(rng, 3000, 64)),
        ('collapsed-n500-d3', case_collapsed(rng, 500, 3)),
        ('tiny-n300-d3', case_small(rng, 300, 3, scale=1e-30)),
    ]
    entries = []
    for name, x in cases:
        x = np.ascontiguousarray(x, dtype='<f4')
        ref, scatter, per = reference(x)
        x.tofile(HERE / f'{name}.f32')
        scatter.astype('<f8').tofile(HERE / f'{name}.scatter.f64')
        per.astype('<f8').tofile(HERE / f'{name}.per-sample.f64')
        entries.append({'name': name, 'n_rows': x.shape[0], 'dimension': x.shape[1], **ref})
    with open(HERE / 'manifest.json', 'w') as f:
        json.dump({'cases': entries, 'auto': auto_table()}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
