#!/usr/bin/env python3
"""Reference values of the measures the field compares heads with (issue 10, section 6).

Writes, next to this script:
  features.tif     600 x 24 float32: 6 latent directions of different scales, a common
                   offset, one dimension 40x larger than the rest (different units),
                   and small noise
  projections.tif  600 x 8 float32: a fixed nonlinear map of the features (what a head
                   would give), one dimension nearly constant
  positives.tif    600 x 8 float32: the projections of slightly perturbed features, row i
                   the positive of row i
  reference.json   the reference values, each computed by the reference code:

  viscy_effective_rank    viscy_utils.callbacks.online_eval.effective_rank (viscy-utils)
  lightly_std             lightly.utils.debug.std_of_l2_normalized (lightly)
  lidar                   stable_pretraining.callbacks.lidar.LiDAR._compute_lidar
                          (stable-pretraining 0.1.8), on float64 rows, each pair a class of
                          2 contiguous views, delta 1e-4, epsilon 1e-8
  normalized_eigenvalues  the lines of DirectCLR's spectrum.py `singular()`
                          (facebookresearch/directclr): normalize(dim=1), np.cov, np.linalg.svd
  cka                     feature_space_linear_cka of Kornblith et al.'s demo notebook
                          (google-research/representation_similarity), debiased=False
  standardized_eigenvalues  sklearn PCA().fit(StandardScaler().fit_transform(x))
                          .explained_variance_
  stable_rank             torch.linalg.matrix_norm(x, 'fro')**2 / matrix_norm(x, 2)**2
  nesum                   He & Ozay 2022: sum(eigvalsh(cov)) / max(eigvalsh(cov))
  roy_vetterli            Roy & Vetterli 2007 on numpy's singular values of the centred matrix

Packages (needed only to regenerate): numpy, torch, tifffile, scikit-learn, lightly,
viscy-utils, and stable-pretraining (installed without its dependencies; its `loguru` and
sibling callback modules are stubbed here because _compute_lidar does not use them):

  pip install torch tifffile scikit-learn lightly viscy-utils
  pip install --no-deps --target SPT stable-pretraining==0.1.8
  SPT=SPT python3 tests/data/measures/make_measures.py
"""

import importlib.util
import json
import os
import sys
import types
from pathlib import Path

import numpy as np
import tifffile
import torch
from lightly.utils.debug import std_of_l2_normalized
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from viscy_utils.callbacks.online_eval import effective_rank as viscy_effective_rank

HERE = Path(__file__).resolve().parent
N, D, P = 600, 24, 8


def load_stable_pretraining_lidar():
    """The LiDAR callback class of stable-pretraining, its module loaded on its own."""
    root = Path(os.environ['SPT']) / 'stable_pretraining' / 'callbacks'
    loguru = types.ModuleType('loguru')
    loguru.logger = types.SimpleNamespace(info=print, warning=print)
    sys.modules['loguru'] = loguru
    pkg = types.ModuleType('spt_callbacks')
    pkg.__path__ = [str(root)]
    sys.modules['spt_callbacks'] = pkg
    for name, attrs in (('registry', {'log': None}),
                        ('queue', {'find_or_create_queue_callback': None}),
                        ('utils', {'log_header': lambda *a: None,
                                   'resolve_verbose': lambda v: bool(v)})):
        m = types.ModuleType('spt_callbacks.' + name)
        m.__dict__.update(attrs)
        sys.modules['spt_callbacks.' + name] = m
    spec = importlib.util.spec_from_file_location('spt_callbacks.lidar', root / 'lidar.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.LiDAR


def directclr_spectrum(latents):
    """DirectCLR spectrum.py, singular(): the lines after the latents are gathered."""
    z = torch.nn.functional.normalize(latents, dim=1)
    z = z.cpu().detach().numpy()
    z = np.transpose(z)
    c = np.cov(z)
    _, d, _ = np.linalg.svd(c)
    return d


def feature_space_linear_cka(features_x, features_y):
    """Kornblith et al. 2019, the demo notebook's feature_space_linear_cka (debiased=False)."""
    features_x = features_x - np.mean(features_x, 0, keepdims=True)
    features_y = features_y - np.mean(features_y, 0, keepdims=True)
    dot_product_similarity = np.linalg.norm(features_x.T.dot(features_y)) ** 2
    normalization_x = np.linalg.norm(features_x.T.dot(features_x))
    normalization_y = np.linalg.norm(features_y.T.dot(features_y))
    return dot_product_similarity / (normalization_x * normalization_y)


def head(x, w1, w2):
    return (np.tanh(x @ w1) @ w2).astype(np.float32)


def spectrum_measures(x):
    x64 = x.astype(np.float64)
    xc = x64 - x64.mean(0)
    s = np.linalg.svd(xc, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    ev = np.linalg.eigvalsh(np.cov(x64, rowvar=False))
    t = torch.from_numpy(x64)
    return {
        'viscy_effective_rank': viscy_effective_rank(x),
        'roy_vetterli': float(np.exp(-(p * np.log(p)).sum())),
        'stable_rank': float(torch.linalg.matrix_norm(t, 'fro') ** 2
                             / torch.linalg.matrix_norm(t, 2) ** 2),
        'nesum': float(ev.sum() / ev.max()),
        'standardized_eigenvalues':
            PCA().fit(StandardScaler().fit_transform(x64)).explained_variance_.tolist(),
    }


def main():
    rng = np.random.default_rng(20261206)
    latent = rng.standard_normal((N, 6)) * np.array([3.0, 2.0, 1.2, 0.7, 0.4, 0.2])
    mix = rng.standard_normal((6, D))
    x = latent @ mix + 0.05 * rng.standard_normal((N, D)) + 1.5
    x[:, 3] *= 40.0  # one dimension in other units
    x = x.astype(np.float32)
    w1 = rng.standard_normal((D, 16)) / np.sqrt(D)
    w2 = rng.standard_normal((16, P)) / 4
    w1[3] /= 40.0
    z = head(x, w1, w2)
    z[:, 5] = 0.25 + 1e-3 * z[:, 5]  # a nearly constant unit
    xp = (x + 0.05 * rng.standard_normal(x.shape) * x.std(0)).astype(np.float32)
    zp = head(xp, w1, w2)
    zp[:, 5] = 0.25 + 1e-3 * zp[:, 5]

    tifffile.imwrite(HERE / 'features.tif', x)
    tifffile.imwrite(HERE / 'projections.tif', z)
    tifffile.imwrite(HERE / 'positives.tif', zp)

    lidar_cls = load_stable_pretraining_lidar()
    lidar = lidar_cls.__new__(lidar_cls)
    lidar.n_classes, lidar.samples_per_class = N, 2
    lidar.delta, lidar.epsilon, lidar.name = 1e-4, 1e-8, 'lidar'
    views = np.stack([z, zp], axis=1).reshape(2 * N, P).astype(np.float64)
    lidar_value = lidar._compute_lidar(torch.from_numpy(views))['lidar']

    ref = {
        'n': N,
        'features': spectrum_measures(x),
        'projections': spectrum_measures(z),
        'cka': float(feature_space_linear_cka(x.astype(np.float64), z.astype(np.float64))),
        'lightly_std': float(std_of_l2_normalized(torch.from_numpy(z))),
        'normalized_eigenvalues': directclr_spectrum(torch.from_numpy(z)).tolist(),
        'lidar': float(lidar_value),
        'versions': {
            'numpy': np.__version__, 'torch': torch.__version__,
            'scikit-learn': __import__('sklearn').__version__,
            'lightly': __import__('lightly').__version__,
        },
    }
    with open(HERE / 'reference.json', 'w') as f:
        json.dump(ref, f, indent=1)
        f.write('\n')
    print(json.dumps({k: v for k, v in ref.items() if not isinstance(v, (list, dict))}))


if __name__ == '__main__':
    main()
