#!/usr/bin/env python3
"""Make headrank's rank sample: an embedding stack, its positive pairs, and two trained heads.

    .venv/bin/python data/make_rank_sample.py [--headrank BUILD/lib/headrank]

Writes, deterministically (fixed seeds, CPU, one thread):

- ``data/sample-embeddings.tif``: a 4096 x 64 float32 matrix (one TIFF page, as tifffile
  writes a 2-D array; ``headrank info`` reads it as layout ``matrix``, 4096 samples of 64
  features) standing in for the encoder features of 2048 cell tracks seen at two time
  points: sample 2k is a cell at time t, sample 2k+1 the same cell at t+1.
- ``data/sample-pairs.csv``: the positive pairs ``anchor,positive`` (0-based, header
  line): 2k,2k+1 for k = 0 .. 2047.
- ``data/head-viscy-v0.safetensors``: a ``viscy-v0`` head, Linear(64->192) -> ReLU ->
  Linear(192->64) (then L2 normalisation, which has no weights), keys
  ``projection.0.{weight,bias}`` and ``projection.2.{weight,bias}``.
- ``data/head-viscy-v2.safetensors``: a ``viscy-v2`` head, Linear(64->64) -> BatchNorm1d ->
  ReLU -> Linear(64->16) -> BatchNorm1d, keys ``projection.0.*``, ``projection.1.{weight,
  bias,running_mean,running_var,num_batches_tracked}``, ``projection.3.*``,
  ``projection.4.*``.

How the features are made (synthetic, documented): every cell has a latent of 32 factors.
8 "phenotype" factors carry the biology: 6 phenotype clusters (centres drawn once) plus a
within-cluster spread (0.6), both scaled by a power law (factor k has scale k^-0.5); at
t+1 a cell keeps its phenotype and drifts a little (0.15 of the scale). 24 "nuisance"
factors (illumination, focus, texture; scale 0.25 * j^-0.3) are drawn independently for
each view. The 32 factors are mapped to 64 features by one fixed random matrix with
orthonormal columns, and a small positive offset |N(0.1, 0.1)| per feature is added.
There is no noise outside the 32-dim latent: the features have a rank deficit (numerical
rank 32 of 64; 33 uncentred, the offset adds one direction), as encoder features often
do; the small noise is the nuisance part of the latent, which differs between the views.

How the heads are made (real training, nothing set by hand): both heads are trained
from PyTorch's default initialisation (seeded) with the NT-Xent loss (SimCLR's
normalised temperature-scaled cross entropy, temperature 0.1) on the (2k, 2k+1) pairs of
the stack, 600 steps of AdamW (lr 1e-3, weight decay 1e-4), 512 pairs a step. The loss
compares cosine similarities, so V0 is trained as VisCy's first head was: L2 only inside
the loss and at the output, no normalisation layer. V2's BatchNorm running statistics
are the ones PyTorch accumulates during this training (momentum 0.1); its projections
are computed in eval mode. The stack's parameters (power laws, nuisance scale, offset)
and the temperature were chosen by a small sweep so that the features' spectrum sits
between the two heads' (the sweep is not part of this script).

The measures, printed by the script (numpy, float64, on the float32 data), are those
headrank will compute: numerical rank (singular values of the centred matrix above
sigma_max * max(N, D) * eps32), numpy.linalg.matrix_rank of the uncentred float32 matrix
(numpy's default tolerance, the same formula), RankMe (p_k = sigma_k / sum sigma + 1e-7 on
the uncentred singular values, exp(-sum p log p)), the participation ratio
(sum lambda)^2 / sum lambda^2 of the covariance eigenvalues, the number of principal
components for 90/95/99 % of the variance, and the per-dimension zero fractions of the
head's ReLU output. With ``--headrank``, the script also runs ``headrank project`` with
each head (and with ``--stage`` at the ReLU) and compares its output with torch's.

Measured (this script, torch 2.13.0+cpu, numpy 2.4.6; headrank at commit e3f20e4):

    NT-Xent loss, first step -> mean of the last 20: V0 5.104 -> 0.434, V2 4.454 -> 0.861
    matrix          dims  num.rank  np.rank  RankMe  PR     n90  n95  n99
    features          64        32       33   21.91   5.52   11   19   29
    V0 projections    64        64       64   54.69  40.74   37   42   51
    V2 projections    16        16       16   15.97  15.80   14   15   16
    ReLU zero fractions: V0 (192 units) mean 0.580, 4 units always zero, min 0.053
    ReLU zero fractions: V2 (64 units) mean 0.470, 0 units always zero, min 0.341
    headrank project vs torch: V0 max |difference| 6e-08, V2 2.9e-06;
    ReLU zero fractions from ``--stage``: identical to torch's for both heads

V0's projections have more significant components than the features they come from
(every measure: numerical rank 64 > 32, RankMe, participation ratio, n90/n95/n99), the
phenomenon of VisCy issue 139. V2's projections are lower in numerical rank, RankMe and
n90/n95/n99, but NOT in participation ratio (15.8 > 5.5): its final BatchNorm and the
contrastive loss spread the variance evenly over its 16 dimensions (PR 15.8 of 16), so
its lower rank comes from the 16-dim bottleneck, not from a collapse inside it, while
the features' variance is concentrated in the phenotype factors.
"""
import argparse
import pathlib
import subprocess
import tempfile

import numpy as np
import tifffile
import torch
from safetensors.torch import save_file
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
SEED = 139
N_TRACKS = 2048
N_FEATURES = 64
N_PHENOTYPE = 8
N_NUISANCE = 24
N_CLUSTERS = 6
EPS32 = float(np.finfo(np.float32).eps)


def make_features(rng):
    """Returns the 2N x F float32 stack: rows 2k and 2k+1 are two views of track k."""
    scale = np.arange(1, N_PHENOTYPE + 1) ** -0.5
    centres = rng.normal(0, 1.0, (N_CLUSTERS, N_PHENOTYPE)) * scale
    labels = rng.integers(0, N_CLUSTERS, N_TRACKS)
    phenotype_t = centres[labels] + rng.normal(0, 0.6, (N_TRACKS, N_PHENOTYPE)) * scale
    phenotype_t1 = phenotype_t + rng.normal(0, 0.15, (N_TRACKS, N_PHENOTYPE)) * scale
    nuisance_scale = 0.25 * np.arange(1, N_NUISANCE + 1) ** -0.3
    nuisance_t = rng.normal(0, 1.0, (N_TRACKS, N_NUISANCE)) * nuisance_scale
    nuisance_t1 = rng.normal(0, 1.0, (N_TRACKS, N_NUISANCE)) * nuisance_scale
    # orthonormal columns: the features' spectrum is the latent's
    mapping, _ = np.linalg.qr(rng.normal(0, 1.0, (N_FEATURES, N_PHENOTYPE + N_NUISANCE)))
    offset = np.abs(rng.normal(0.1, 0.1, N_FEATURES))
    latent = np.empty((2 * N_TRACKS, N_PHENOTYPE + N_NUISANCE))
    latent[0::2] = np.hstack([phenotype_t, nuisance_t])
    latent[1::2] = np.hstack([phenotype_t1, nuisance_t1])
    return (latent @ mapping.T + offset).astype(np.float32)


class Head(nn.Module):
    def __init__(self, projection):
        super().__init__()
        self.projection = projection

    def forward(self, x):
        return self.projection(x)


def viscy_v0(n_in, n_out):
    return Head(nn.Sequential(nn.Linear(n_in, 3 * n_out), nn.ReLU(), nn.Linear(3 * n_out, n_out)))


def viscy_v2(n_in, n_hidden, n_out):
    return Head(nn.Sequential(nn.Linear(n_in, n_hidden), nn.BatchNorm1d(n_hidden), nn.ReLU(),
                              nn.Linear(n_hidden, n_out), nn.BatchNorm1d(n_out)))


def nt_xent(a, b, temperature):
    """NT-Xent (SimCLR) on a batch of positive pairs (a_i, b_i); the other 2B-2 are negatives."""
    z = nn.functional.normalize(torch.cat([a, b]), dim=1)
    similarity = z @ z.T / temperature
    n = a.shape[0]
    similarity.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return nn.functional.cross_entropy(similarity, target)


def train(head, features, pairs, seed, steps=600, batch=512, temperature=0.1):
    """Trains HEAD in place with NT-Xent on PAIRS of FEATURES; returns the first and last loss."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(features)
    optimiser = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    head.train()
    losses = []
    for _ in range(steps):
        chosen = pairs[torch.randperm(len(pairs), generator=generator)[:batch]]
        loss = nt_xent(head(x[chosen[:, 0]]), head(x[chosen[:, 1]]), temperature)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    head.eval()
    return losses[0], float(np.mean(losses[-20:]))


def measures(matrix):
    """The rank measures of a float32 N x D matrix, computed in float64."""
    x = matrix.astype(np.float64)
    n, d = x.shape
    centred = x - x.mean(axis=0)
    sigma_centred = np.linalg.svd(centred, compute_uv=False)
    numerical_rank = int((sigma_centred > sigma_centred.max() * max(n, d) * EPS32).sum())
    numpy_rank = int(np.linalg.matrix_rank(matrix))  # uncentred, float32, numpy's tolerance
    sigma = np.linalg.svd(x, compute_uv=False)
    p = sigma / sigma.sum() + 1e-7
    rankme = float(np.exp(-(p * np.log(p)).sum()))
    eigenvalues = sigma_centred**2 / (n - 1)  # covariance eigenvalues, ddof 1
    participation_ratio = float(eigenvalues.sum() ** 2 / (eigenvalues**2).sum())
    explained = np.cumsum(eigenvalues) / eigenvalues.sum()
    components = {t: int(np.searchsorted(explained, t / 100) + 1) for t in (90, 95, 99)}
    return dict(dims=d, numerical_rank=numerical_rank, numpy_rank=numpy_rank, rankme=rankme,
                participation_ratio=participation_ratio, components=components)


def print_measures(rows):
    print(f"    {'matrix':<15} dims  num.rank  np.rank  RankMe  PR     n90  n95  n99")
    for name, m in rows:
        c = m["components"]
        print(f"    {name:<15} {m['dims']:>4}  {m['numerical_rank']:>8} {m['numpy_rank']:>8}"
              f"  {m['rankme']:>6.2f} {m['participation_ratio']:>6.2f}"
              f"  {c[90]:>3}  {c[95]:>3}  {c[99]:>3}")


def relu_zero_fractions(head, relu_index, x):
    with torch.no_grad():
        hidden = head.projection[: relu_index + 1](torch.from_numpy(x)).numpy()
    return (hidden == 0).mean(axis=0)


def save_head(head, path):
    state = {k: v.detach().contiguous().clone() for k, v in head.state_dict().items()}
    save_file(state, str(path))


def headrank_project(headrank, weights, arch, stack, stage=None):
    """Runs ``headrank project`` (with ``--stage`` if given) and returns what it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "projections.tif"
        command = [headrank, "project", str(stack), "-w", str(weights), "--arch", arch,
                   "-o", str(out)]
        if stage is not None:
            command += ["--stage", stage]
        subprocess.run(command, check=True)
        return tifffile.imread(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headrank", help="a built headrank command, to compare its projections")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)
    features = make_features(rng)
    pairs = np.stack([np.arange(0, 2 * N_TRACKS, 2), np.arange(1, 2 * N_TRACKS, 2)], axis=1)

    torch.manual_seed(SEED)
    v0 = viscy_v0(N_FEATURES, 64)
    v0_loss = train(v0, features, torch.from_numpy(pairs), SEED)
    torch.manual_seed(SEED + 1)
    v2 = viscy_v2(N_FEATURES, 64, 16)
    v2_loss = train(v2, features, torch.from_numpy(pairs), SEED + 1)
    print(f"NT-Xent loss, first step -> mean of the last 20: V0 {v0_loss[0]:.3f} -> "
          f"{v0_loss[1]:.3f}, V2 {v2_loss[0]:.3f} -> {v2_loss[1]:.3f}")

    x = torch.from_numpy(features)
    with torch.no_grad():
        v0_projections = nn.functional.normalize(v0(x), dim=1).numpy()  # the preset's l2
        v2_projections = v2(x).numpy()  # eval mode: BatchNorm by its running statistics

    stack_path = HERE / "sample-embeddings.tif"
    tifffile.imwrite(stack_path, features, software=None, datetime=None)
    with open(HERE / "sample-pairs.csv", "w") as f:
        f.write("anchor,positive\n")
        for a, b in pairs:
            f.write(f"{a},{b}\n")
    save_head(v0, HERE / "head-viscy-v0.safetensors")
    save_head(v2, HERE / "head-viscy-v2.safetensors")

    assert np.array_equal(tifffile.imread(stack_path), features)
    print_measures([("features", measures(features)),
                    ("V0 projections", measures(v0_projections)),
                    ("V2 projections", measures(v2_projections))])
    for name, head, relu_index in (("V0", v0, 1), ("V2", v2, 2)):
        zeros = relu_zero_fractions(head, relu_index, features)
        print(f"    ReLU zero fractions: {name} ({zeros.size} units) mean {zeros.mean():.3f}, "
              f"{int((zeros == 1).sum())} units always zero, "
              f"min {zeros.min():.3f}, max {zeros.max():.3f}")

    if args.headrank:
        for name, path, arch, head, relu_index, reference in (
                ("V0", HERE / "head-viscy-v0.safetensors", "viscy-v0", v0, 1, v0_projections),
                ("V2", HERE / "head-viscy-v2.safetensors", "viscy-v2", v2, 2, v2_projections)):
            projections = headrank_project(args.headrank, path, arch, stack_path)
            assert projections.shape == reference.shape, (projections.shape, reference.shape)
            difference = float(np.abs(projections.astype(np.float64) - reference).max())
            hidden = headrank_project(args.headrank, path, arch, stack_path, str(relu_index))
            zeros = (hidden == 0).mean(axis=0)
            zeros_difference = float(np.abs(zeros - relu_zero_fractions(head, relu_index,
                                                                         features)).max())
            print(f"    headrank project vs torch, {name}: projections max |difference| "
                  f"{difference:.2g}; ReLU zero fractions (--stage {relu_index}) max "
                  f"|difference| {zeros_difference:.2g}")
            assert difference <= 1e-5, difference

if __name__ == "__main__":
    main()
