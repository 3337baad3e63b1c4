#!/usr/bin/env python3
"""Writes the zarr stores that tests/c/test-zarr.c reads, with zarr-python, anndata and xarray.

Run with a Python that has zarr >= 3, numcodecs, anndata and xarray (made with
/work/venvs/torch312: zarr 3.4.2, numcodecs 0.17.1, anndata 0.13.4, xarray 2026.9.0):

    python tests/data/zarr/make_stores.py tests/data/zarr

Writes stores/NAME.zarr, expected/NAME.f32 (the array as numpy's astype(float32), raw
little-endian, C order) and manifest.json: one entry per array that the test reads
(store, array path inside it, shape), and per store that must be refused (store, the
word the error must contain).
"""
import json
import shutil
import sys
from pathlib import Path

import numcodecs
import numpy as np
import zarr
from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, TransposeCodec, ZstdCodec, ShardingCodec

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
stores = out / "stores"
expected = out / "expected"
shutil.rmtree(stores, ignore_errors=True)
shutil.rmtree(expected, ignore_errors=True)
stores.mkdir(parents=True)
expected.mkdir(parents=True)
rng = np.random.default_rng(13)
manifest = {"arrays": [], "refused": []}


def values(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        a = rng.standard_normal(shape) * 3
        return a.astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -(2**40)), min(info.max, 2**40)
    a = rng.integers(lo, hi, shape, dtype=np.int64 if dtype.kind == "i" else np.uint64, endpoint=True)
    # the extremes too, where the type has them
    flat = a.reshape(-1)
    flat[0] = info.max if info.max <= 2**40 else 2**40
    return a.astype(dtype)


def record(name, store, path, data):
    f32 = np.ascontiguousarray(np.asarray(data).astype("<f4"))
    (expected / f"{name}.f32").write_bytes(f32.tobytes())
    shape = list(f32.shape) if f32.ndim else [1]
    manifest["arrays"].append({"name": name, "store": store, "array": path, "shape": shape})


def plain(name, fmt, shape, chunks, dtype, write=None, **kw):
    """One array at the root of its own store."""
    data = values(shape, dtype)
    if write is not None:
        data = write(data)
    a = zarr.create_array(stores / f"{name}.zarr", shape=shape, chunks=chunks, dtype=data.dtype,
                          zarr_format=fmt, **kw)
    a[...] = data
    record(name, f"{name}.zarr", "", a[...])
    return a


# -- zarr v2: blosc with each of its compressors and shuffles, zstd, gzip, zlib, none --------
plain("v2-blosc-lz4-shuffle", 2, (37, 10), (8, 4), "<f4",
      compressors=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE))
plain("v2-blosc-zstd-bitshuffle-f8-F", 2, (29, 7), (6, 3), "<f8", order="F",
      compressors=numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE))
plain("v2-blosc-blosclz-noshuffle-i2be", 2, (21, 5), (5, 5), ">i2",
      compressors=numcodecs.Blosc(cname="blosclz", clevel=9, shuffle=numcodecs.Blosc.NOSHUFFLE))
plain("v2-blosc-zlib-u1", 2, (19, 6), (4, 4), "|u1",
      compressors=numcodecs.Blosc(cname="zlib", clevel=4, shuffle=numcodecs.Blosc.SHUFFLE))
plain("v2-zstd-f2", 2, (23, 9), (7, 9), "<f2", compressors=numcodecs.Zstd(level=1))
plain("v2-gzip-i4", 2, (17, 4), (5, 3), "<i4", compressors=numcodecs.GZip(level=6))
plain("v2-zlib-u8be", 2, (11, 3), (4, 2), ">u8", compressors=numcodecs.Zlib(level=1))
plain("v2-raw-i8", 2, (13, 5), (13, 2), "<i8", compressors=None)
plain("v2-raw-i1-u2-1d", 2, (25,), (6,), "<u2", compressors=None)
plain("v2-slash", 2, (14, 6), (4, 4), "<f4", chunk_key_encoding={"name": "v2", "separator": "/"},
      compressors=numcodecs.Zstd(level=1))


def with_holes(data):
    # rows 8..15 stay at the fill value: their chunks are never written
    data = data.copy()
    data[8:16] = np.nan
    return data


a = plain("v2-fill-nan-missing", 2, (24, 6), (8, 3), "<f4", write=with_holes, fill_value=np.nan,
          compressors=numcodecs.Zstd(level=1))


def with_zeros(data):
    data = data.copy()
    data[0:5] = 7
    return data


plain("v2-fill-7-missing", 2, (15, 4), (5, 4), "<i4", write=with_zeros, fill_value=7,
      compressors=numcodecs.Blosc(cname="lz4"))

# -- zarr v3: bytes + zstd (zarr-python's default), gzip, blosc, transpose, big-endian ------
plain("v3-default-f4", 3, (41, 12), (10, 5), "float32")
plain("v3-gzip-f8be", 3, (18, 5), (4, 5), "float64",
      serializer=BytesCodec(endian="big"), compressors=[GzipCodec(level=5)])
plain("v3-blosc-bitshuffle-f4", 3, (33, 8), (8, 8), "float32",
      compressors=[BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")])
plain("v3-blosc-lz4-i2", 3, (20, 6), (6, 4), "int16",
      compressors=[BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")])
plain("v3-transpose-f4", 3, (16, 7), (5, 3), "float32",
      filters=[TransposeCodec(order=(1, 0))], compressors=[ZstdCodec(level=2)])
plain("v3-raw-u4", 3, (9, 3), (4, 2), "uint32", compressors=None)
plain("v3-f2", 3, (10, 4), (3, 4), "float16")
plain("v3-dot-separator", 3, (10, 4), (3, 2), "float32",
      chunk_key_encoding={"name": "default", "separator": "."})
plain("v3-fill-nan-missing", 3, (24, 6), (8, 3), "float32", write=with_holes, fill_value=np.nan)
plain("v3-fill-7-missing", 3, (15, 4), (5, 4), "int32", write=with_zeros, fill_value=7)

# -- sharding (anndata's default for zarr v3): a missing shard, a missing inner chunk, index
# at the end (default) and at the start, crc32c on the inner chunks --------------------------
def with_hole_rows(data):
    data = data.copy()
    data[0:4] = 0  # inner chunk (0, 0) never written
    data[16:24] = 0  # shard row 2 never written
    return data


plain("v3-sharding", 3, (27, 10), (8, 6), "float32", shards=(8, 6), write=with_hole_rows)
plain("v3-sharding-inner", 3, (27, 10), (4, 3), "float32", shards=(8, 6), write=with_hole_rows)
plain("v3-sharding-start-crc", 3, (20, 7), (8, 7), "float32",
      serializer=ShardingCodec(chunk_shape=(2, 7), codecs=[BytesCodec(), ZstdCodec(level=1),
                                                           zarr.codecs.Crc32cCodec()],
                               index_location="start"), compressors=None)

# -- refused: codecs headrank does not have, a filter in v2, string arrays --------------------
z = zarr.create_array(stores / "v3-lz4.zarr", shape=(8, 2), chunks=(4, 2), dtype="float32",
                      zarr_format=3, compressors=[zarr.codecs.numcodecs.LZ4()])
z[...] = values((8, 2), "float32")
manifest["refused"].append({"store": "v3-lz4.zarr", "array": "", "word": "numcodecs.lz4"})
z = zarr.create_array(stores / "v2-delta-filter.zarr", shape=(8, 2), chunks=(4, 2), dtype="<i4",
                      zarr_format=2, filters=[numcodecs.Delta(dtype="<i4")], compressors=None)
z[...] = values((8, 2), "<i4")
manifest["refused"].append({"store": "v2-delta-filter.zarr", "array": "", "word": "delta"})
z = zarr.create_array(stores / "v2-lzma.zarr", shape=(8, 2), chunks=(4, 2), dtype="<f4",
                      zarr_format=2, compressors=numcodecs.LZMA())
z[...] = values((8, 2), "<f4")
manifest["refused"].append({"store": "v2-lzma.zarr", "array": "", "word": "lzma"})

# -- groups with consolidated metadata (v2 .zmetadata, v3 consolidated_metadata) -------------
for fmt in (2, 3):
    name = f"v{fmt}-consolidated"
    g = zarr.open_group(stores / f"{name}.zarr", mode="w", zarr_format=fmt)
    sub = g.create_group("inner")
    d1 = values((12, 5), "float32")
    d2 = values((12, 3), "float64")
    a1 = sub.create_array("a", shape=d1.shape, chunks=(5, 5), dtype=d1.dtype)
    a1[...] = d1
    a2 = g.create_array("b", shape=d2.shape, chunks=(4, 2), dtype=d2.dtype)
    a2[...] = d2
    zarr.consolidate_metadata(stores / f"{name}.zarr", zarr_format=fmt)
    record(f"{name}-a", f"{name}.zarr", "inner/a", d1)
    record(f"{name}-b", f"{name}.zarr", "b", d2)

# -- AnnData (both of VisCy's layouts) and xarray -------------------------------------------
import anndata as ad  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

n, d_feat, d_proj = 30, 16, 6
feat = values((n, d_feat), "float32")
proj = values((n, d_proj), "float32")
obs = pd.DataFrame({
    "fov_name": pd.Categorical(["/A/1/0" if i < 17 else "/B/2/1" for i in range(n)]),
    "track_id": np.array([i // 5 for i in range(n)], dtype=np.int64),
    "t": np.array([i % 5 for i in range(n)], dtype=np.int64),
    "id": np.arange(n, dtype=np.int64),
    "parent_track_id": np.full(n, -1, dtype=np.int64),
    "x": rng.random(n).astype(np.float32),
    "y": rng.random(n).astype(np.float32),
    "label": np.array([f"cell-{i}" for i in range(n)], dtype=object),
}, index=[str(i) for i in range(n)])
for fmt in (2, 3):
    ad.settings.zarr_write_format = fmt
    name = f"anndata-v{fmt}"
    ad.AnnData(X=feat, obs=obs, obsm={"X_projections": proj}).write_zarr(stores / f"{name}.zarr")
    record(f"{name}-X", f"{name}.zarr", "X", feat)
    record(f"{name}-proj", f"{name}.zarr", "obsm/X_projections", proj)
    record(f"{name}-track", f"{name}.zarr", "obs/track_id", obs["track_id"].to_numpy())
    name = f"anndata-v{fmt}-projections"
    ad.AnnData(X=proj, obs=obs, obsm={"X_backbone": feat}).write_zarr(stores / f"{name}.zarr")
    record(f"{name}-X", f"{name}.zarr", "X", proj)
    record(f"{name}-backbone", f"{name}.zarr", "obsm/X_backbone", feat)
ad.settings.zarr_write_format = 2
import scipy.sparse as sp  # noqa: E402
ad.AnnData(X=sp.csr_matrix(feat), obs=obs).write_zarr(stores / "anndata-sparse.zarr")
manifest["refused"].append({"store": "anndata-sparse.zarr", "array": "X", "word": "csr_matrix"})

ds = xr.Dataset({
    "features": (("sample", "features"), feat),
    "projections": (("sample", "projections"), proj),
}, coords={"fov_name": ("sample", np.asarray(obs["fov_name"]).astype(str)),
           "track_id": ("sample", obs["track_id"].to_numpy()),
           "t": ("sample", obs["t"].to_numpy())})
ds.to_zarr(stores / "xarray.zarr", zarr_format=2, consolidated=True)
record("xarray-features", "xarray.zarr", "features", feat)
record("xarray-projections", "xarray.zarr", "projections", proj)

(out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
print(f"{len(manifest['arrays'])} arrays, {len(manifest['refused'])} refused stores")
