#!/usr/bin/env python3
"""Generate the reference fixtures for headrank's HrContrastive.

What it makes
-------------
tests/data/contrastive/<case>-anchors.f32    P x D float32, raw little-endian, row-major
tests/data/contrastive/<case>-positives.f32  P x D float32, row i the positive of anchor i
tests/data/contrastive/<case>-negatives.f32  P x D float32 (only cases with explicit
                                             negatives)
tests/data/contrastive/manifest.json         the cases, their parameters and the measures
                                             computed by torch and pytorch-metric-learning

The references are computed by the libraries themselves, in float64 on the float32
inputs (what HrContrastive claims: float64 accumulation over float32 inputs), per batch
exactly as lib/measures/hr-contrastive.c documents it:

- batches: consecutive runs of B pairs, the last one shorter; a last batch of a single
  pair is merged into the batch before it.
- alignment: Wang & Isola's ``align_loss(x, y, alpha=2)`` on ``F.normalize`` rows, over
  all pairs.
- uniformity: Wang & Isola's ``uniform_loss(x, t=2)`` on ``F.normalize`` rows of each
  batch, (u(anchors) + u(positives)) / 2, averaged over batches weighted by the number of
  distinct-sample pairs m(m - 1)/2 of each batch.
- NT-Xent: ``pytorch_metric_learning.losses.NTXentLoss(temperature)`` on
  ``torch.cat([a, p])`` with labels ``torch.cat([arange(m), arange(m)])`` for each batch,
  averaged weighted by the batch's 2m positive pairs; pml's ``small_val`` is float32's tiny
  in float64 too (see below), as for float32 projections.
- triplet: ``torch.nn.TripletMarginLoss(margin, p=2, eps=1e-6, reduction='none')`` on the
  raw rows of each batch, the mean over all triplets; the negative of pair i is the explicit
  negative row, or the positive of pair (i + 1) mod m of its batch.
- positive cosine: the mean over pairs of the dot product of the normalised rows.
- negative cosine: the mean of pml's ``CosineSimilarity`` matrix of each batch over the
  entries whose labels differ, weighted by their number 2m(2m - 2).

The same computation in float32 (what a training run logs) is stored as "torch_float32",
for information; the tests compare with the float64 values.

How to rerun (from the repository root)
---------------------------------------
    .venv/bin/pip install pytorch-metric-learning   # not in tools/requirements.txt
    .venv/bin/python tests/data/contrastive/make_contrastive.py

Deterministic (numpy seed 20260 + case index). torch 2.13 CPU, pytorch-metric-learning 2.9.
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import pytorch_metric_learning
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.losses import NTXentLoss
from pytorch_metric_learning.utils import common_functions as pml_common

# pml adds small_val(dtype) = torch.finfo(dtype).tiny to each ratio before the log, which caps
# a pair's loss at -log(tiny). The projections are float32, so HrContrastive uses float32's
# tiny (FLT_MIN, cap 87.34) while accumulating in float64; the float64 reference does the same.
_pml_small_val = pml_common.small_val
pml_common.small_val = lambda dtype: _pml_small_val(torch.float32)

OUT = Path(__file__).resolve().parent

# id, P, D, B, temperature, margin, explicit negatives, kind
CASES = [
    ('p2-d8-b2', 2, 8, 2, 0.07, 0.5, False, 'normal'),
    ('p2-d1-b4-neg', 2, 1, 4, 0.5, 1.0, True, 'normal'),
    ('p3-d8-b2-merged', 3, 8, 2, 0.2, 1.0, False, 'normal'),
    ('p3-d32-b2-neg', 3, 32, 2, 0.07, 0.5, True, 'normal'),
    ('p10-d8-b4', 10, 8, 4, 0.07, 0.5, False, 'normal'),
    ('p10-d1-b4-neg', 10, 1, 4, 0.2, 1.0, True, 'normal'),
    ('p10-d32-b64', 10, 32, 64, 0.5, 1.0, False, 'normal'),
    ('p10-d32-b4-near-duplicates', 10, 32, 4, 0.07, 0.5, False, 'near-duplicates'),
    ('p10-d8-b4-zero-rows-neg', 10, 8, 4, 0.2, 1.0, True, 'zero-rows'),
    ('p10-d8-b2-scaled-neg', 10, 8, 2, 0.5, 1.0, True, 'scaled'),
    ('p257-d32-b64-merged', 257, 32, 64, 0.07, 1.0, False, 'normal'),
    ('p257-d8-b256-merged-neg', 257, 8, 256, 0.2, 0.5, True, 'normal'),
    ('p257-d32-b4-neg', 257, 32, 4, 0.5, 1.0, True, 'normal'),
    # logits up to 1000: overflows in exp without pml's max-subtraction
    ('p10-d8-b4-tau0.001', 10, 8, 4, 0.001, 0.5, False, 'normal'),
]


def batches(n_pairs, batch_size):
    """(first, m) of each batch, as lib/measures/hr-contrastive.c cuts them."""
    out, first = [], 0
    while first < n_pairs:
        m = min(batch_size, n_pairs - first)
        if n_pairs - first - m == 1:
            m += 1
        out.append((first, m))
        first += m
    return out


def align_loss(x, y, alpha=2):
    # Wang & Isola (2020), verbatim.
    return (x - y).norm(p=2, dim=1).pow(alpha).mean()


def uniform_loss(x, t=2):
    # Wang & Isola (2020), verbatim.
    return torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log()


def make_inputs(rng, n, d, kind, negatives):
    # Rows of norm about 0.4, so that raw distances are of the order of the margins and the
    # triplet losses are neither all zero nor all positive; the cosines do not depend on it.
    s = 0.4 / np.sqrt(d)
    a = (s * rng.standard_normal((n, d))).astype(np.float32)
    p = (a + 0.7 * s * rng.standard_normal((n, d))).astype(np.float32)
    neg = (s * rng.standard_normal((n, d))).astype(np.float32) if negatives else None
    if kind == 'near-duplicates':
        # anchors 1..3 within 1e-6 (relative) of anchor 0; positives within 1e-4 of their
        # anchors, positive 5 equal to its anchor
        for i in (1, 2, 3):
            a[i] = (a[0] + 1e-6 * s * rng.standard_normal(d)).astype(np.float32)
        p = (a + 1e-4 * s * rng.standard_normal((n, d))).astype(np.float32)
        p[5] = a[5]
    elif kind == 'zero-rows':
        a[3] = 0.0
        p[7] = 0.0
        neg[2] = 0.0
    elif kind == 'scaled':
        # large raw values; negatives nearer to their anchors than the positives are
        a = (40.0 * rng.standard_normal((n, d))).astype(np.float32)
        p = (a + 30.0 * rng.standard_normal((n, d))).astype(np.float32)
        neg = (a + 25.0 * rng.standard_normal((n, d))).astype(np.float32)
    return a, p, neg


def measures(a, p, neg, batch_size, temperature, margin, dtype):
    a = torch.from_numpy(a).to(dtype)
    p = torch.from_numpy(p).to(dtype)
    neg = torch.from_numpy(neg).to(dtype) if neg is not None else None
    na, np_ = F.normalize(a, p=2, dim=1), F.normalize(p, p=2, dim=1)
    ntxent = NTXentLoss(temperature=temperature)
    triplet = torch.nn.TripletMarginLoss(margin=margin, p=2, eps=1e-6, reduction='none')
    cosine = CosineSimilarity()

    u_sum = u_w = nt_sum = nt_w = neg_cos_sum = neg_cos_n = 0.0
    triplet_losses = []
    for first, m in batches(a.shape[0], batch_size):
        ab, pb = a[first:first + m], p[first:first + m]
        nab, npb = na[first:first + m], np_[first:first + m]
        w = m * (m - 1) / 2
        u = (uniform_loss(nab).item() + uniform_loss(npb).item()) / 2
        u_sum += w * u
        u_w += w
        z = torch.cat([ab, pb])
        labels = torch.cat([torch.arange(m), torch.arange(m)])
        nt_sum += 2 * m * ntxent(z, labels).item()
        nt_w += 2 * m
        sim = cosine(z)
        differ = labels[:, None] != labels[None, :]
        neg_cos_sum += sim[differ].sum().item()
        neg_cos_n += int(differ.sum())
        nb = neg[first:first + m] if neg is not None else torch.roll(pb, -1, dims=0)
        triplet_losses.append(triplet(ab, pb, nb))
    return {
        'alignment': align_loss(na, np_).item(),
        'uniformity': u_sum / u_w,
        'ntxent': nt_sum / nt_w,
        'triplet': torch.cat(triplet_losses).mean().item(),
        'positive_cosine': (na * np_).sum(dim=1).mean().item(),
        'negative_cosine': neg_cos_sum / neg_cos_n,
    }


def main():
    torch.set_num_threads(1)
    manifest = {
        'generator': 'tests/data/contrastive/make_contrastive.py',
        'torch': torch.__version__,
        'pytorch_metric_learning': pytorch_metric_learning.__version__,
        'tolerance': {'rel': 1e-6, 'abs': 1e-7},
        'cases': [],
    }
    worst, worst_at = 0.0, ''
    for index, (cid, n, d, b, tau, margin, negatives, kind) in enumerate(CASES):
        rng = np.random.default_rng(20260 + index)
        a, p, neg = make_inputs(rng, n, d, kind, negatives)
        files = {'anchors': f'{cid}-anchors.f32', 'positives': f'{cid}-positives.f32'}
        a.astype('<f4').tofile(OUT / files['anchors'])
        p.astype('<f4').tofile(OUT / files['positives'])
        if neg is not None:
            files['negatives'] = f'{cid}-negatives.f32'
            neg.astype('<f4').tofile(OUT / files['negatives'])
        ref = measures(a, p, neg, b, tau, margin, torch.float64)
        f32 = measures(a, p, neg, b, tau, margin, torch.float32)
        for k in ref:
            rel = abs(f32[k] - ref[k]) / max(abs(ref[k]), 1e-7)
            if rel > worst and abs(ref[k]) > 1e-3:
                worst, worst_at = rel, f'{cid} {k}'
        print(cid, ' '.join(f'{k}={v:.6g}' for k, v in ref.items()))
        manifest['cases'].append({
            'id': cid, 'n_pairs': n, 'dimension': d, 'batch_size': b,
            'temperature': tau, 'margin': margin, 'kind': kind,
            'batches': [m for _, m in batches(n, b)],
            'files': files, 'expected': ref, 'torch_float32': f32,
        })
    (OUT / 'manifest.json').write_text(json.dumps(manifest, indent=1) + '\n')
    print(f'{len(CASES)} cases; largest relative float32 - float64 difference of a '
          f'measure above 1e-3: {worst:.3g} '
          f'({worst_at})')


if __name__ == '__main__':
    main()
