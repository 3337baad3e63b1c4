#!/usr/bin/env python3
"""Generate the input fixtures of the tests of HrAnalysis and `headrank analyze`
(tests/python/test_analysis.py, tests/cli/test_analyze_cli.py).

Only inputs are stored here: the tests compute every reference themselves, live, with
numpy in float64 (eigvalsh of np.cov, np.linalg.svd, np.linalg.matrix_rank, RankMe, …), so
nothing here is a hard-coded result. numpy and tifffile are all this script needs (the
safetensors file is written by hand, by tests/safetensors_writer.py: u64 little-endian
header length, JSON header, raw little-endian data), and the tests need only the
committed files.

What it makes (tests/data/analysis/)
------------------------------------
features.tif        600 x 24 float32, layout matrix (one page): an offset of about 100 on
                    every dimension plus a rank-10 signal, 7 strong factors (scales 10 … 1)
                    and 3 weak ones (0.01, 0.007, 0.005), with no noise, so that
                    - the centred matrix has a clear numerical rank of 10 (the weakest
                      centred singular value, ~0.12, is ~7x the float32 rank tolerance
                      sigma_1 * 600 * 2^-23, ~0.018; float32 rounding of the stored values,
                      ~1e-4, lies far below it), and
                    - the uncentred matrix (numpy.linalg.matrix_rank) has a clear rank of 8
                      (the offset direction and the 7 strong factors; the large offset raises
                      the tolerance to ~0.9, well above the weak factors' ~0.2 and well below
                      the strong ones' ~25);
                    rows 17, 233 (three NaN), 401 (+inf) and 599 (-inf and NaN) hold
                    non-finite values: 4 rows, 7 values.
positives.tif       600 x 24 float32: row i is features[partner[i]], the positive of sample i
                    (partner: a fixed permutation with partner[i] != i).
positives-projections.tif
                    600 x 8 float32: row i is projections.tif's row partner[i].
pairs.csv           "anchor,positive" header, then the 600 lines i,partner[i] in order: the
                    same pairs as positives.tif, as a pair file.
triplets.csv        300 lines anchor,positive,negative (no header): i, partner[i],
                    partner[partner[i]] for the first 300 i.
head-v2.safetensors a viscy-v2 head 24 -> 32 -> 8 (Linear, BatchNorm1d with running
                    statistics, ReLU, Linear, BatchNorm1d), keys projection.0.weight …
                    projection.4.running_var, float32; BatchNorm eps is PyTorch's 1e-5.
                    Its running statistics are those of the finite features, so that about
                    half of the ReLU's inputs are negative.
projections.tif     600 x 8 float32: that head's projections in eval mode, computed by
                    numpy in float64 and rounded to float32 (projections "computed
                    elsewhere"); NaN for the rows with non-finite features.

How to rerun (from the repository root)
---------------------------------------
    .venv/bin/python tests/data/analysis/make_analysis.py
"""
import sys
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from safetensors_writer import write_safetensors  # noqa: E402

HERE = Path(__file__).resolve().parent
N, D, HIDDEN, OUT = 600, 24, 32, 8
BN_EPS = 1e-5
PREFIX = "projection."
NONFINITE = {17: [(3, np.nan)], 233: [(0, np.nan), (5, np.nan), (23, np.nan)],
             401: [(11, np.inf)], 599: [(2, -np.inf), (7, np.nan)]}


def head_forward(t, x):
    """The viscy-v2 head in eval mode, float64: Linear, BN, ReLU, Linear, BN."""
    y = x.astype(np.float64) @ t["0.weight"].astype(np.float64).T + t["0.bias"]
    y = (y - t["1.running_mean"]) / np.sqrt(t["1.running_var"] + BN_EPS) * t["1.weight"] \
        + t["1.bias"]
    y = np.maximum(y, 0.0)
    y = y @ t["3.weight"].astype(np.float64).T + t["3.bias"]
    return (y - t["4.running_mean"]) / np.sqrt(t["4.running_var"] + BN_EPS) * t["4.weight"] \
        + t["4.bias"]


def main():
    rng = np.random.default_rng(20261129)
    scales = np.array([10, 6, 4, 3, 2, 1.5, 1, 0.01, 0.007, 0.005])
    latent = rng.standard_normal((N, scales.size)) * scales
    basis, _ = np.linalg.qr(rng.standard_normal((D, scales.size)))
    offset = rng.uniform(50, 150, D)
    x = (offset + latent @ basis.T).astype(np.float32)
    for row, cells in NONFINITE.items():
        for col, v in cells:
            x[row, col] = v
    finite = np.isfinite(x).all(1)

    partner = rng.permutation(N)
    while (partner == np.arange(N)).any():
        partner = rng.permutation(N)

    # the head: weights at PyTorch's default scale; running statistics of the finite data
    t = {}
    t["0.weight"] = rng.uniform(-1, 1, (HIDDEN, D)) / np.sqrt(D)
    t["0.bias"] = rng.uniform(-1, 1, HIDDEN) / np.sqrt(D)
    h = x[finite].astype(np.float64) @ t["0.weight"].T + t["0.bias"]
    t["1.weight"] = rng.uniform(0.5, 1.5, HIDDEN)
    t["1.bias"] = rng.normal(0, 0.1, HIDDEN)
    t["1.running_mean"] = h.mean(0)
    t["1.running_var"] = h.var(0) * rng.uniform(0.8, 1.25, HIDDEN)
    t["3.weight"] = rng.uniform(-1, 1, (OUT, HIDDEN)) / np.sqrt(HIDDEN)
    t["3.bias"] = rng.uniform(-1, 1, OUT) / np.sqrt(HIDDEN)
    t = {k: v.astype(np.float32) for k, v in t.items()}
    z = np.maximum((h - t["1.running_mean"]) / np.sqrt(t["1.running_var"] + BN_EPS)
                   * t["1.weight"] + t["1.bias"], 0) @ t["3.weight"].astype(np.float64).T \
        + t["3.bias"]
    t["4.weight"] = rng.uniform(0.5, 1.5, OUT).astype(np.float32)
    t["4.bias"] = rng.normal(0, 0.1, OUT).astype(np.float32)
    t["4.running_mean"] = z.mean(0).astype(np.float32)
    t["4.running_var"] = (z.var(0) * rng.uniform(0.8, 1.25, OUT)).astype(np.float32)

    write_safetensors(HERE / "head-v2.safetensors", {PREFIX + k: v for k, v in t.items()})
    tifffile.imwrite(HERE / "features.tif", x)
    tifffile.imwrite(HERE / "positives.tif", x[partner])
    with np.errstate(invalid="ignore"):  # the non-finite rows stay NaN
        projections = head_forward(t, x).astype(np.float32)
    tifffile.imwrite(HERE / "projections.tif", projections)
    tifffile.imwrite(HERE / "positives-projections.tif", projections[partner])
    with open(HERE / "pairs.csv", "w") as f:
        f.write("anchor,positive\n")
        for i in range(N):
            f.write(f"{i},{partner[i]}\n")
    with open(HERE / "triplets.csv", "w") as f:
        for i in range(300):
            f.write(f"{i},{partner[i]},{partner[partner[i]]}\n")

    # the gaps the docstring promises
    xf = x[finite].astype(np.float64)
    eps = float(np.finfo(np.float32).eps)
    s = np.linalg.svd(xf - xf.mean(0), compute_uv=False)
    su = np.linalg.svd(xf, compute_uv=False)
    tol, tolu = s[0] * max(xf.shape) * eps, su[0] * max(xf.shape) * eps
    print(f"centred: sigma_10 {s[9]:.3g}, sigma_11 {s[10]:.3g}, tolerance {tol:.3g}")
    print(f"uncentred: sigma_8 {su[7]:.3g}, sigma_9 {su[8]:.3g}, tolerance {tolu:.3g}")
    assert s[9] > 5 * tol and s[10] < tol / 5
    assert su[7] > 5 * tolu and su[8] < tolu / 3
    assert np.linalg.matrix_rank(xf.astype(np.float32)) == 8


if __name__ == "__main__":
    main()
