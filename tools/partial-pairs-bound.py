#!/usr/bin/env python3
"""The contrastive measures of merged parts against one pass (doc/partial.md, "Pairs in
parts"): N samples of features and projections, each sample the anchor of a pair whose
positive is its neighbour (2k and 2k + 1), cut into M parts at multiples of the pair batch,
each analysed with run_part() from its first sample, the parts merged as a binary tree; for
each measure |merged − one pass| and the documented bound 2·γ_(K−1)·T (K the terms of its
sum: pairs, or batches for the in-batch measures; T the largest term per unit of weight).

Usage: GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
       tools/partial-pairs-bound.py [N] [PARTS…]      (default 1000000 and 10 100 1000)
"""
import sys
import time
from pathlib import Path

import numpy as np

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'python'))
import headrank_numpy as hn  # noqa: E402

U = 2.0 ** -53
BATCH = 256
# the largest term per unit weight: ‖â − p̂‖² ≤ 4, |cos| ≤ 1, −u_b ≤ 8 (t = 2, d² ≤ 4),
# ℓ ≤ −log FLT_MIN ≈ 87.34; the triplet's terms are ≥ 0 (T = its value)
TERMS = {'alignment': 4.0, 'positive_cosine': 1.0, 'uniformity': 8.0, 'ntxent': 87.4,
         'negative_cosine': 1.0, 'triplet': None, 'lidar': None}
IN_BATCH = {'uniformity', 'ntxent', 'negative_cosine'}


def gamma(k):
    return k * U / (1 - k * U)


def analysis(x, z, pairs, first, n):
    a = Headrank.Analysis.new_for_source(hn.source_from_numpy(x[first:first + n]))
    a.set_projections_source(hn.source_from_numpy(z[first:first + n]))
    a.set_pairs(pairs)
    a.set_first_sample(first)
    a.set_contrastive_parameters(BATCH, 0.2, 0.5)
    return a


def contrastive(a):
    c = a.get_contrastive()
    return {'alignment': c.get_alignment(), 'uniformity': c.get_uniformity(),
            'ntxent': c.get_ntxent(), 'triplet': c.get_triplet(),
            'positive_cosine': c.get_positive_cosine(),
            'negative_cosine': c.get_negative_cosine(), 'lidar': a.get_lidar()}


def tree(parts):
    while len(parts) > 1:
        parts = [Headrank.Analysis.merge_parts(parts[i:i + 2], None) if i + 1 < len(parts)
                 else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    counts = [int(a) for a in sys.argv[2:]] or [10, 100, 1000]
    rng = np.random.default_rng(15)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    z = (rng.normal(size=(n, 32)) * np.linspace(0.2, 3, 32)).astype(np.float32)
    idx = np.arange(n, dtype=np.uint64)
    pairs = Headrank.Pairs.new_from_bytes(
        GLib.Bytes.new(np.stack([idx, idx ^ np.uint64(1)], 1).tobytes()), 2)
    t0 = time.perf_counter()
    single = analysis(x, z, pairs, 0, n)
    assert single.run(None, None, None)
    one = contrastive(single)
    print(f'# {n} pairs, batch {BATCH}, one pass {time.perf_counter() - t0:.1f} s')
    k_pairs, k_batches = n - 1, n // BATCH - 1
    print('| measure | one pass | bound | ' + ' | '.join(f'{m} parts' for m in counts) + ' |')
    rows = {k: [] for k in one}
    for m in counts:
        cuts = [round(i * n / m / BATCH) * BATCH for i in range(m)] + [n]
        parts = [analysis(x, z, pairs, a, b - a).run_part(None, None, None)
                 for a, b in zip(cuts, cuts[1:])]
        merged = contrastive(Headrank.Analysis.new_from_parts([tree(parts)], None, None))
        for k in one:
            rows[k].append(abs(merged[k] - one[k]))
    for k, v in one.items():
        t = TERMS[k]
        k_terms = k_batches if k in IN_BATCH else k_pairs
        bound = (f'{2 * gamma(k_terms) * (t if t is not None else abs(v)):.1e}'
                 if k != 'lidar' else '—')
        print(f'| {k} | {v:.6g} | {bound} | ' + ' | '.join(f'{d:.1e}' for d in rows[k]) + ' |')


if __name__ == '__main__':
    main()
