#!/usr/bin/env python3
"""Writes the stores of tests/data/zarr/stores/viscy-*.zarr with VisCy's own writer
(viscy-utils' write_embedding_dataset, which `viscy predict`'s EmbeddingWriter calls), both
ways: embedding_key="features" (X = features, obsm/X_projections) and
embedding_key="projections" (X = projections, obsm/X_backbone = features), each with a PCA
in obsm/X_pca, as a VisCy user gets them. The values are the script's own and are written
beside the stores as .f32 (row-major float32) for the tests to compare with.

Run with a Python >= 3.12 that has viscy-utils and anndata (made with /work/venvs/torch312:
viscy-utils 0.1.0, anndata 0.13.4, zarr 3.4.2):
    python tests/data/zarr/make_viscy_stores.py
"""
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from viscy_utils.callbacks.embedding_writer import write_embedding_dataset

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(20261206)
n, d_feat, d_proj = 40, 24, 8
features = rng.standard_normal((n, d_feat)).astype(np.float32)
projections = (features[:, :d_proj] * 2 + 0.5).astype(np.float32)
index = pd.DataFrame({
    "fov_name": ["/A/1/0" if i < 20 else "/B/2/1" for i in range(n)],
    "track_id": np.array([i // 4 for i in range(n)], dtype=np.int64),
    "t": np.array([i % 4 for i in range(n)], dtype=np.int64),
    "id": np.arange(n, dtype=np.int64),
    "parent_track_id": np.full(n, -1, dtype=np.int64),
    "x": rng.random(n).astype(np.float32),
    "y": rng.random(n).astype(np.float32),
})
for key in ("features", "projections"):
    store = HERE / "stores" / f"viscy-{key}.zarr"
    shutil.rmtree(store, ignore_errors=True)
    write_embedding_dataset(store, features, index, projections=projections,
                            embedding_key=key, pca_kwargs={"n_components": 4})
features.tofile(HERE / "expected" / "viscy-features.f32")
projections.tofile(HERE / "expected" / "viscy-projections.f32")
print(f"{n} samples: {d_feat} features, {d_proj} projections")
