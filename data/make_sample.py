#!/usr/bin/env python3
"""Make headrank's bundled sample: a synthetic cell image and its per-pixel feature stack.

    .venv/bin/python data/make_sample.py

Writes, deterministically (fixed seed):

- ``data/sample-cells.tif``: a 128 x 128 uint16 fluorescence-like image of a dozen cells
  (blurred ellipses with brighter nuclei, on a noisy background);
- ``data/sample-features.tif``: its per-pixel feature stack, as ilastik or Weka would
  compute one: 12 float32 feature planes of 128 x 128 (Gaussian smoothing at four
  scales, gradient magnitude, Laplacian of Gaussian and difference of Gaussians at two
  scales each, and the two Hessian eigenvalues at one scale), stored as an ImageJ
  hyperstack (12 channels), so that every pixel is one sample of 12 features.

Only numpy and tifffile are needed: the filters are separable convolutions written here.
"""
import pathlib

import numpy as np
import tifffile

HERE = pathlib.Path(__file__).resolve().parent
SIZE = 128


def gaussian_kernel(sigma, order=0):
    radius = int(4 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    if order == 1:
        g = -x / sigma**2 * g
    elif order == 2:
        g = (x**2 / sigma**4 - 1 / sigma**2) * g
    return g


def convolve_axis(image, kernel, axis):
    pad = len(kernel) // 2
    padded = np.pad(image, [(pad, pad) if a == axis else (0, 0) for a in range(2)], mode="reflect")
    out = np.zeros_like(image)
    for i, k in enumerate(kernel):
        sl = [slice(None)] * 2
        sl[axis] = slice(i, i + image.shape[axis])
        out += k * padded[tuple(sl)]
    return out


def gaussian(image, sigma, order=(0, 0)):
    out = convolve_axis(image, gaussian_kernel(sigma, order[0]), 0)
    return convolve_axis(out, gaussian_kernel(sigma, order[1]), 1)


def make_cells(rng):
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    image = np.zeros((SIZE, SIZE))
    for _ in range(12):
        cy, cx = rng.uniform(12, SIZE - 12, size=2)
        a, b = rng.uniform(7, 14), rng.uniform(5, 10)
        theta = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
        v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
        cell = (u / a) ** 2 + (v / b) ** 2 <= 1
        nucleus = (u / (0.45 * a)) ** 2 + (v / (0.45 * b)) ** 2 <= 1
        image += rng.uniform(600, 1200) * cell + rng.uniform(800, 1600) * nucleus
    image = gaussian(image, 1.5) + 200
    image = rng.poisson(image).astype(np.float64) + rng.normal(0, 20, image.shape)
    return np.clip(image, 0, 65535).astype(np.uint16)


def features(image):
    x = image.astype(np.float64)
    planes = []
    for sigma in (1.0, 2.0, 4.0):
        planes.append(gaussian(x, sigma))
    for sigma in (1.0, 3.0):
        gy = gaussian(x, sigma, (1, 0))
        gx = gaussian(x, sigma, (0, 1))
        planes.append(np.hypot(gx, gy))
    for sigma in (1.0, 3.0):
        planes.append(gaussian(x, sigma, (2, 0)) + gaussian(x, sigma, (0, 2)))
    planes.append(gaussian(x, 1.0) - gaussian(x, 2.0))
    planes.append(gaussian(x, 2.0) - gaussian(x, 4.0))
    hyy = gaussian(x, 2.0, (2, 0))
    hxx = gaussian(x, 2.0, (0, 2))
    hxy = gaussian(x, 2.0, (1, 1))
    root = np.sqrt(((hxx - hyy) / 2) ** 2 + hxy**2)
    planes.append((hxx + hyy) / 2 + root)
    planes.append((hxx + hyy) / 2 - root)
    planes.append(gaussian(x, 8.0))
    return np.stack(planes).astype(np.float32)


def main():
    rng = np.random.default_rng(139)
    image = make_cells(rng)
    stack = features(image)
    assert stack.shape == (12, SIZE, SIZE) and np.isfinite(stack).all()
    tifffile.imwrite(HERE / "sample-cells.tif", image, software=None, datetime=None)
    tifffile.imwrite(HERE / "sample-features.tif", stack, imagej=True,
                     metadata={"axes": "CYX"}, software=None, datetime=None)
    print(f"sample-cells.tif {image.shape} {image.dtype}; "
          f"sample-features.tif {stack.shape} {stack.dtype}")


if __name__ == "__main__":
    main()
