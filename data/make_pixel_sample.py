#!/usr/bin/env python3
"""Make headrank's real-image sample: a cell crop, its per-pixel features and a trained head.

    .venv/bin/python data/make_pixel_sample.py [--headrank BUILD/lib/headrank]

Needs scikit-image (``.venv/bin/pip install scikit-image``; made with 0.26.0), torch,
numpy, tifffile and safetensors, and ``data/make_rank_sample.py`` next to it (for the
measures, the loss and the training loop). Writes, deterministically:

- ``data/sample-qpi-cell.tif``: a 192 x 192 uint8 crop (rows 279-470, columns 332-523)
  of ``skimage.data.cell()``, a quantitative phase image of a cell floating in saline
  (CC0, Paul Müller et al., Optics Express 26(8):10729-10743, 2018,
  doi:10.1364/OE.26.010729; the file ``cell.png`` ships inside the scikit-image wheel);
- ``data/sample-qpi-cell-features.tif``: its per-pixel features as ilastik computes
  them, ``skimage.feature.multiscale_basic_features`` (intensity, edges and texture at
  sigma 1, 2, 4, 8, computed on the crop): 16 float32 planes of 192 x 192 written as an
  ImageJ hyperstack (axes CYX) like ``data/sample-features.tif``, so every pixel is one
  sample of 16 features;
- ``data/head-pixel-v2.safetensors``: a ``viscy-v2`` head for those features,
  Linear(16->32) -> BatchNorm1d -> ReLU -> Linear(32->8) -> BatchNorm1d (keys
  ``projection.{0,1,3,4}.*``), trained from PyTorch's seeded default initialisation
  with NT-Xent (temperature 0.1) on pixel pairs, every pixel paired with one random
  neighbour at most 2 pixels away (Chebyshev distance), 600 steps of AdamW (lr 1e-3,
  weight decay 1e-4), 512 pairs a step; the BatchNorm running statistics are those
  accumulated by that training, the projections are computed in eval mode.

Measured (this script, torch 2.13.0+cpu, numpy 2.4.6, scikit-image 0.26.0; headrank at
commit e3f20e4); columns as in make_rank_sample.py ("features, z": the features z-scored
per plane, printed for comparison only, not written):

    NT-Xent loss, first step -> mean of the last 20: 4.566 -> 2.921
    matrix          dims  num.rank  np.rank  RankMe  PR     n90  n95  n99
    features          16         5        5    1.55   1.01    1    1    1
    features, z       16        13       13    7.48   3.40    4    5    7
    V2 projections     8         8        8    7.72   6.42    7    7    8
    ReLU zero fractions: V2 (32 units) mean 0.476, 0 units always zero, min 0.211

    headrank project vs torch (float32): max |difference| 3.8e-05; against torch in
    float64: torch float32 2.9e-05, headrank 2.3e-05 (max |projection| 8.38)

The raw features are dominated by the four smoothed-intensity planes (std ~0.27 against
~0.001 for the texture planes), so their spectrum has one large component; the head's
BatchNorm standardises, and its 8 projections have a higher rank than the raw features.
The first BatchNorm's smallest running variance is 1.6e-5 (a gain of ~200), which
magnifies float32 rounding: torch and headrank differ by 3.8e-05, more than the 1e-5 of
the embedding heads, and each is within 3e-05 of float64, so the script checks
headrank against float64 (no worse than twice torch's float32 error).
"""
import argparse
import pathlib

import numpy as np
import skimage.data
import skimage.feature
import tifffile
import torch

from make_rank_sample import (headrank_project, measures, print_measures, relu_zero_fractions,
                              save_head, train, viscy_v2)

HERE = pathlib.Path(__file__).resolve().parent
SEED = 192
CROP = (slice(279, 471), slice(332, 524))
SIGMAS = dict(sigma_min=1, sigma_max=8, num_sigma=4)
NEIGHBOURHOOD = 2


def neighbour_pairs(rng, height, width):
    """Pairs every pixel (row-major index) with one random neighbour inside the image."""
    yy, xx = np.mgrid[0:height, 0:width]
    dy = rng.integers(-NEIGHBOURHOOD, NEIGHBOURHOOD + 1, yy.shape)
    dx = rng.integers(-NEIGHBOURHOOD, NEIGHBOURHOOD + 1, yy.shape)
    dy[(dy == 0) & (dx == 0)] = 1  # a pixel is not its own neighbour
    ny = np.clip(yy + dy, 0, height - 1)
    nx = np.clip(xx + dx, 0, width - 1)
    anchor = (yy * width + xx).ravel()
    positive = (ny * width + nx).ravel()
    keep = anchor != positive  # clipping at the border can land on the pixel itself
    return np.stack([anchor[keep], positive[keep]], axis=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headrank", help="a built headrank command, to compare its projections")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    image = skimage.data.cell()
    assert image.shape == (660, 550) and image.dtype == np.uint8, (image.shape, image.dtype)
    crop = np.ascontiguousarray(image[CROP])
    planes = skimage.feature.multiscale_basic_features(crop, intensity=True, edges=True,
                                                       texture=True, **SIGMAS)
    stack = np.ascontiguousarray(np.moveaxis(planes, -1, 0).astype(np.float32))  # C, Y, X
    n_channels, height, width = stack.shape
    assert np.isfinite(stack).all()

    crop_path = HERE / "sample-qpi-cell.tif"
    stack_path = HERE / "sample-qpi-cell-features.tif"
    tifffile.imwrite(crop_path, crop, software=None, datetime=None)
    tifffile.imwrite(stack_path, stack, imagej=True, metadata={"axes": "CYX"}, software=None,
                     datetime=None)
    print(f"sample-qpi-cell.tif {crop.shape} {crop.dtype}; "
          f"sample-qpi-cell-features.tif {stack.shape} {stack.dtype}")

    features = np.ascontiguousarray(stack.reshape(n_channels, -1).T)  # pixels row-major
    pairs = neighbour_pairs(np.random.default_rng(SEED), height, width)
    torch.manual_seed(SEED)
    head = viscy_v2(n_channels, 32, 8)
    loss = train(head, features, torch.from_numpy(pairs), SEED)
    print(f"NT-Xent loss, first step -> mean of the last 20: {loss[0]:.3f} -> {loss[1]:.3f}")
    with torch.no_grad():
        projections = head(torch.from_numpy(features)).numpy()
    head_path = HERE / "head-pixel-v2.safetensors"
    save_head(head, head_path)

    # the raw features' spectrum is dominated by the four intensity planes (std ~0.27 against
    # ~0.001 for the texture planes); the z-scored row is for comparison only
    standardised = ((features - features.mean(axis=0)) / features.std(axis=0)).astype(np.float32)
    print_measures([("features", measures(features)), ("features, z", measures(standardised)),
                    ("V2 projections", measures(projections))])
    zeros = relu_zero_fractions(head, 2, features)
    print(f"    ReLU zero fractions: V2 ({zeros.size} units) mean {zeros.mean():.3f}, "
          f"{int((zeros == 1).sum())} units always zero, "
          f"min {zeros.min():.3f}, max {zeros.max():.3f}")

    if args.headrank:
        theirs = headrank_project(args.headrank, head_path, "viscy-v2", stack_path)
        assert theirs.shape == projections.shape, (theirs.shape, projections.shape)
        difference = float(np.abs(theirs.astype(np.float64) - projections).max())
        # The first BatchNorm divides by sqrt(running_var + eps) >= ~0.005 (the texture planes
        # are small), which magnifies float32 rounding: judge both against float64.
        with torch.no_grad():
            exact = head.double()(torch.from_numpy(features).double()).numpy()
        torch_error = float(np.abs(projections - exact).max())
        headrank_error = float(np.abs(theirs - exact).max())
        print(f"    headrank project vs torch: projections max |difference| {difference:.2g}; "
              f"against torch in float64: torch float32 {torch_error:.2g}, "
              f"headrank {headrank_error:.2g} (max |projection| {np.abs(exact).max():.2f})")
        assert headrank_error <= max(2 * torch_error, 1e-5), (headrank_error, torch_error)

if __name__ == "__main__":
    main()
