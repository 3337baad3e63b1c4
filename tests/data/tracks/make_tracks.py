#!/usr/bin/env python3
"""Writes the AnnData stores with cell tracks that the track-pair tests read.

Run with a Python that has anndata, zarr >= 3, pandas and viscy-utils (made with
/work/venvs/torch312: anndata 0.13.4, zarr 3.4.2, pandas 3.1.1, viscy-utils 0.1.0):

    python tests/data/tracks/make_tracks.py tests/data/tracks

Writes stores/NAME.zarr and expected.json. For every store, expected.json holds the obs
columns fov_name, track_id and t as anndata reads them back (null where missing), the obs
index, and the temporal positive pairs for dt = 1, 2 and 3 as VisCy's TripletDataset builds
them (viscy_data/triplet.py: global_track_id = fov_name + "_" + track_id; an anchor is a
row whose track has a row at t + dt, `_filter_anchors`; its positive is the row of the same
global_track_id at t + dt, `_sample_positives`' merge), computed here with pandas, as
[anchor row, positive row] sorted by anchor row. Stores the pair builder must refuse carry
"error": a word the message must contain.
"""
import json
import shutil
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import zarr

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
stores = out / "stores"
shutil.rmtree(stores, ignore_errors=True)
stores.mkdir(parents=True)
rng = np.random.default_rng(13)
expected = {}


def cells():
    """Rows of (fov_name, track_id, t, parent_track_id), shuffled."""
    rows = []
    for t in range(6):
        rows.append(("A/1/0", 1, t, -1))  # divides after t = 5
    for t in (6, 7, 8):
        rows.append(("A/1/0", 4, t, 1))  # daughters: other track ids, no pair across
        rows.append(("A/1/0", 5, t, 1))
    for t in (0, 1, 3, 4):
        rows.append(("A/1/0", 2, t, -1))  # a gap at t = 2
    for t in range(4):
        rows.append(("A/1/1", 1, t, -1))  # track 1 again, in another FOV
    for t in (2, 3, 4):
        rows.append(("B/2/0", 7, t, -1))
    rows.append(("B/2/0", 8, 0, -1))  # a single cell
    rows.append(("B/2/0", 100000000007, 10, -1))  # a track id beyond float32's integers
    rows.append(("B/2/0", 100000000007, 11, -1))
    df = pd.DataFrame(rows, columns=["fov_name", "track_id", "t", "parent_track_id"])
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    df["id"] = np.arange(len(df), dtype=np.int64) * 10
    df["x"] = rng.uniform(0, 100, len(df))
    df["y"] = rng.uniform(0, 100, len(df))
    df.index = [f"cell-{i}" for i in range(len(df))]
    return df


def viscy_pairs(obs, dt):
    """VisCy's temporal positives: triplet.py's _filter_anchors and _sample_positives."""
    tracks = obs[["fov_name", "track_id", "t"]].copy().reset_index(drop=True)
    tracks["row"] = np.arange(len(tracks))
    tracks["global_track_id"] = tracks["fov_name"].astype(object).str.cat(
        tracks["track_id"].astype(str), sep="_")
    anchors = pd.concat([track[(track["t"] + dt).isin(track["t"])]
                         for (_, track) in tracks.groupby("global_track_id")])
    query = anchors[["global_track_id", "t", "row"]].rename(columns={"row": "anchor"})
    query["t"] += dt
    merged = query.merge(tracks, on=["global_track_id", "t"], how="inner")
    pairs = merged[["anchor", "row"]].sort_values("anchor").to_numpy()
    return [[int(a), int(p)] for a, p in pairs]


def column(series):
    values = []
    for v in series.tolist():
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            values.append(None)
        elif isinstance(v, (np.integer, int)):
            values.append(int(v))
        elif isinstance(v, (np.floating, float)):
            values.append(float(v))
        else:
            values.append(str(v))
    return values


def record(name, error=None, columns=("fov_name", "track_id", "t")):
    path = stores / f"{name}.zarr"
    back = ad.read_zarr(path)
    entry = {"rows": int(back.n_obs), "index": column(back.obs.index.to_series())}
    entry["columns"] = {c: column(back.obs[c]) for c in columns if c in back.obs}
    entry["encodings"] = {}
    root = zarr.open_group(path, mode="r")
    for c in back.obs.columns:
        node = root["obs"][c]
        entry["encodings"][c] = node.attrs.get("encoding-type")
    entry["format"] = root.metadata.zarr_format
    if error is None:
        entry["pairs"] = {str(dt): viscy_pairs(back.obs, dt) for dt in (1, 2, 3)}
    else:
        entry["error"] = error
    expected[name] = entry


def write(name, obs, fmt, plain=False, chunks=None):
    """An AnnData store; with @plain, obs written as it is (no strings made categorical)."""
    path = stores / f"{name}.zarr"
    ad.settings.zarr_write_format = fmt
    x = rng.standard_normal((len(obs), 8)).astype(np.float32)
    a = ad.AnnData(X=x, obs=obs)
    a.write_zarr(path)
    if plain or chunks is not None:
        group = zarr.open_group(path, mode="a", zarr_format=fmt, use_consolidated=False)
        del group["obs"]
        kwargs = {"chunks": (chunks,)} if chunks is not None else {}
        if fmt == 3 and chunks is not None:
            kwargs["shards"] = (2 * chunks,)
        ad.io.write_elem(group, "obs", obs, dataset_kwargs=kwargs)
        zarr.consolidate_metadata(path, zarr_format=fmt)


base = cells()
for fmt in (2, 3):
    # strings made categorical, as anndata writes by default and VisCy's writer produces
    write(f"v{fmt}-categorical", base, fmt)
    record(f"v{fmt}-categorical")
    # plain string column (object, vlen-utf8), several chunks (shards in v3), float t
    obs = base.copy()
    obs["fov_name"] = obs["fov_name"].astype(object)
    obs["t"] = obs["t"].astype(np.float64)
    write(f"v{fmt}-strings", obs, fmt, plain=True, chunks=8)
    record(f"v{fmt}-strings")
    # nullable strings and a nullable integer t, with missing values
    obs = base.copy()
    obs["fov_name"] = pd.array(obs["fov_name"], dtype="string")
    obs.loc[obs.index[[3, 17]], "fov_name"] = pd.NA
    obs["t"] = pd.array(obs["t"], dtype="Int64")
    obs.loc[obs.index[[5, 20]], "t"] = pd.NA
    obs["track_id"] = obs["track_id"].astype(np.int32)
    write(f"v{fmt}-nullable", obs, fmt, plain=True)
    record(f"v{fmt}-nullable")

# a (fov_name, track_id, t) twice: refused
dup = base.copy()
dup = pd.concat([dup, dup.iloc[[4]]])
dup.index = [f"cell-{i}" for i in range(len(dup))]
write("v2-duplicate", dup, 2)
record("v2-duplicate", error="twice")
# no t column: refused, naming it
write("v3-no-t", base.drop(columns=["t"]), 3)
record("v3-no-t", error="“t”")
# t with a fraction: refused
frac = base.copy()
frac["t"] = frac["t"].astype(np.float64)
frac.loc[frac.index[2], "t"] = 1.5
write("v3-fractional-t", frac, 3, plain=True)
record("v3-fractional-t", error="1.5")

# VisCy's own writer (viscy-utils callbacks/embedding_writer.py), with its obs columns
from viscy_utils.callbacks.embedding_writer import write_embedding_dataset  # noqa: E402

index = base[["fov_name", "track_id", "t", "id", "parent_track_id"]].copy().reset_index(drop=True)
index["fov_name"] = "/" + index["fov_name"]  # as iohub names positions; the writer strips it
index["parent_id"] = -1
index["z"] = 0
index["y"] = base["y"].to_numpy()
index["x"] = base["x"].to_numpy()
ad.settings.zarr_write_format = 3
write_embedding_dataset(stores / "viscy-writer.zarr",
                        rng.standard_normal((len(index), 16)).astype(np.float32), index,
                        projections=rng.standard_normal((len(index), 8)).astype(np.float32))
record("viscy-writer")

# not AnnData: a zarr array with no obs
zarr.create_array(stores / "no-obs.zarr", shape=(4, 3), dtype="f4", zarr_format=3)[:] = 1
expected["no-obs"] = {"error": "obs"}

(out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
