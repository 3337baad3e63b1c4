"""The cost of headrank_lightning per validation epoch against VisCy's OnlineEvalCallback
effective rank, on the same embeddings (the model's forward, which both make, is left out).

headrank: every batch's features and projections into PartAccumulator.add (a part per batch,
merged as a binary tree), then part(), the merge of the ranks' parts (one rank here) and
metrics(): rank, effective ranks, VisCy's effective rank, CKA, normalised-row rank.
VisCy: what its callback does with the same batches: torch.cat of the batches' features,
then viscy_utils.callbacks.online_eval.effective_rank (an SVD of the N × D features), the
one measure. onepass: headrank's one analysis of all the embeddings at once (no parts), for
the cost of the parts. Peak RSS: the process's peak during the measured part (VmHWM reset after the embeddings
are made), beside its RSS before it (the embeddings and the imports); a fresh process each.

    python bench_lightning.py [--n 20000] [--d 768] [--p 128] [--batch 256] [--repeats 3]

Needs torch and viscy-utils for the VisCy side (skipped, saying why, without them)."""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def embeddings(n, d, p, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size=(n, d), dtype=np.float32)
    x *= np.linspace(0.05, 3, d, dtype=np.float32)
    z = x[:, :p] @ (rng.standard_normal(size=(p, p), dtype=np.float32) / np.float32(np.sqrt(p)))
    return x, z


def _rss(field):
    """VmRSS or VmHWM (the peak) of this process in MB, from /proc/self/status."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    return float('nan')


def _reset_peak():
    """Resets VmHWM to the current RSS (Linux ≥ 4.0), so that the peak is the measured part's."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def run(which, n, d, p, batch):
    x, z = embeddings(n, d, p)
    batches = [(x[i:i + batch], z[i:i + batch]) for i in range(0, n, batch)]
    sys.path.insert(0, str(ROOT / 'python'))
    if which == 'viscy':  # the imports before the measured part, as in a training process
        import torch  # noqa: F401
        from viscy_utils.callbacks.online_eval import effective_rank  # noqa: F401
    else:
        import headrank_lightning  # noqa: F401
        import headrank_numpy  # noqa: F401
    base_rss = _rss('VmRSS')
    _reset_peak()
    start = time.perf_counter()
    if which == 'onepass':
        sys.path.insert(0, str(ROOT / 'python'))
        import headrank_lightning as hl
        import headrank_numpy as hn
        start = time.perf_counter()
        values = hl.metrics(hn.analyze(x, projections=z))
        result = {'effective_rank': values['headrank/features/viscy_effective_rank'],
                  'measures': len(values)}
    elif which == 'headrank':
        sys.path.insert(0, str(ROOT / 'python'))
        import headrank_lightning as hl
        start = time.perf_counter()
        acc = hl.PartAccumulator()
        for f, q in batches:
            acc.add(f, q)
        added = time.perf_counter()
        values = hl.metrics(hl.reduce_parts(acc.part(), lambda b: [b]))
        result = {'effective_rank': values['headrank/features/viscy_effective_rank'],
                  'per_batch_s': (added - start) / len(batches), 'measures': len(values)}
    else:
        import torch
        from viscy_utils.callbacks.online_eval import effective_rank
        start = time.perf_counter()
        kept = [torch.from_numpy(f) for f, _ in batches]  # the callback's list of batches
        features = torch.cat(kept).numpy()
        result = {'effective_rank': effective_rank(features), 'measures': 1}
    result['seconds'] = time.perf_counter() - start
    result['peak_rss_mb'] = _rss('VmHWM')
    result['base_rss_mb'] = base_rss
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=20000)
    ap.add_argument('--d', type=int, default=768)
    ap.add_argument('--p', type=int, default=128)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--one', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run(a.one, a.n, a.d, a.p, a.batch)))
        return
    try:
        import torch  # noqa: F401
        import viscy_utils  # noqa: F401
        sides = ['headrank', 'onepass', 'viscy']
    except ImportError as e:
        print(f'VisCy side skipped: {e}')
        sides = ['headrank', 'onepass']
    print(f'N = {a.n}, D = {a.d}, P = {a.p}, batches of {a.batch}; load average '
          f'{os.getloadavg()[0]:.2f}; best of {a.repeats} fresh processes')
    for side in sides:
        runs = []
        for _ in range(a.repeats):
            out = subprocess.run([sys.executable, __file__, '--one', side, '--n', str(a.n),
                                  '--d', str(a.d), '--p', str(a.p), '--batch', str(a.batch)],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda r: r['seconds'])
        extra = f", {best['per_batch_s'] * 1e3:.1f} ms a batch" if 'per_batch_s' in best else ''
        print(f"{side:9s} {best['seconds']:.3f} s per epoch{extra}, peak RSS "
              f"{best['peak_rss_mb']:.0f} MB (RSS {best['base_rss_mb']:.0f} MB before), {best['measures']} measures, VisCy's effective "
              f"rank of the features {best['effective_rank']:.6f}")
    print(f'load average after: {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
