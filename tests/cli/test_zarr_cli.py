"""`headrank info STORE` on zarr stores (tests/data/zarr, written by zarr-python, anndata and
xarray: make_stores.py there). Run by `meson test --suite cli`."""

import json
import os

import numpy as np
import pytest

from cli_common import SOURCE_ROOT, TOOL, run

ZARR = SOURCE_ROOT / "tests" / "data" / "zarr"
STORES = ZARR / "stores"
MANIFEST = json.loads((ZARR / "manifest.json").read_text(encoding="utf-8"))

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)


def expected(store, array):
    entry = next(e for e in MANIFEST["arrays"] if e["store"] == store and e["array"] == array)
    data = np.fromfile(ZARR / "expected" / f"{entry['name']}.f32", dtype="<f4")
    return data.reshape(entry["shape"] if len(entry["shape"]) > 1 else (-1, 1))


def info_json(store):
    r = run("info", "--json", STORES / store)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return json.loads(r.stdout)


@pytest.mark.parametrize(
    "store, features, projections",
    [
        ("anndata-v2.zarr", "X", "obsm/X_projections"),
        ("anndata-v3.zarr", "X", "obsm/X_projections"),
        ("anndata-v2-projections.zarr", "obsm/X_backbone", "X"),
        ("anndata-v3-projections.zarr", "obsm/X_backbone", "X"),
        ("xarray.zarr", "features", "projections"),
    ],
)
def test_info_names_the_roles_of_vis_cy_layouts(store, features, projections):
    info = info_json(store)
    for role, array in (("features", features), ("projections", projections)):
        want = expected(store, array)
        assert info[role] == {
            "array": array,
            "samples": want.shape[0],
            "features": want.shape[1],
            "nonfinite": int((~np.isfinite(want)).sum()),
        }
        listed = next(a for a in info["arrays"] if a["path"] == array)
        assert listed["role"] == role and listed["readable"] and listed["shape"] == list(want.shape)
    layout = "xarray" if store.startswith("xarray") else "anndata"
    assert info["layout"] == layout
    assert (layout == "anndata") == any(a["role"] == "obs" for a in info["arrays"])
    assert all(a["unreadable_reason"] is None for a in info["arrays"] if a["readable"])


def test_info_counts_the_fill_value_of_missing_chunks():
    info = info_json("v2-fill-nan-missing.zarr")
    want = expected("v2-fill-nan-missing.zarr", "")
    assert info["layout"] == "array"
    assert info["features"]["nonfinite"] == int(np.isnan(want).sum()) == 8 * 6
    assert info["projections"] is None


def test_info_text_lists_arrays_and_roles():
    r = run("info", STORES / "anndata-v3-projections.zarr")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"Store:          {STORES / 'anndata-v3-projections.zarr'}"
    assert "Layout:         anndata" in lines
    assert any(line.split()[:1] == ["obsm/X_backbone"] and line.endswith("features") for line in lines)
    assert any(line.split()[:1] == ["X"] and "sharding(" in line and line.endswith("projections")
               for line in lines)
    assert "Features:       obsm/X_backbone, 30 × 16, 0 non-finite" in lines
    assert "Projections:    X, 30 × 6, 0 non-finite" in lines


@pytest.mark.parametrize(
    "store, words",
    [
        ("anndata-sparse.zarr", ["X is a sparse matrix", "csr_matrix"]),
        ("v2-lzma.zarr", ["lzma"]),
        ("v3-lz4.zarr", ["numcodecs.lz4"]),
    ],
)
def test_info_refuses_in_one_line(store, words):
    r = run("info", STORES / store)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and str(STORES / store) in r.stderr
    for w in words:
        assert w in r.stderr


def test_info_on_a_folder_that_is_no_store(tmp_path):
    r = run("info", tmp_path)
    assert r.returncode == 1
    assert r.stderr == f"headrank: {tmp_path}: not a zarr store (no zarr.json, .zgroup, .zarray or .zmetadata)\n"


def test_info_on_deeply_nested_metadata(tmp_path):
    (tmp_path / "zarr.json").write_text('{"a": ' + "[" * 100000 + "]" * 100000 + "}")
    r = run("info", tmp_path)
    assert r.returncode == 1
    assert "nested more than 256 levels deep" in r.stderr and str(tmp_path) in r.stderr


def test_layout_does_not_apply_to_a_store():
    r = run("info", "--layout", "matrix", STORES / "xarray.zarr")
    assert r.returncode == 2
    assert "--layout applies to TIFF files, not to zarr stores" in r.stderr


# -- analyze STORE ------------------------------------------------------------------------


def analyze_json(*args):
    r = run("analyze", *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def write_tiff(path, data):
    import tifffile

    tifffile.imwrite(path, np.ascontiguousarray(data, dtype="<f4"))
    return path


@pytest.mark.parametrize(
    "store, features, projections",
    [
        ("anndata-v2.zarr", "X", "obsm/X_projections"),
        ("anndata-v3-projections.zarr", "obsm/X_backbone", "X"),
        ("xarray.zarr", "features", "projections"),
    ],
)
def test_analyze_store_by_layout_equals_the_same_arrays_as_tiff(tmp_path, store, features, projections):
    report = analyze_json(STORES / store)
    assert report["input"]["features"] == str(STORES / store / features)
    assert report["input"]["projections"] == str(STORES / store / projections)
    f = write_tiff(tmp_path / "f.tif", expected(store, features))
    p = write_tiff(tmp_path / "p.tif", expected(store, projections))
    tiff = analyze_json(f, "--projections", p)
    assert report["stages"] == tiff["stages"]
    assert report["verdict"] == tiff["verdict"]


def test_analyze_store_with_chosen_arrays(tmp_path):
    # the projections analysed as features and the other way round
    report = analyze_json(STORES / "xarray.zarr", "--features", "projections", "--projections",
                          "features")
    f = write_tiff(tmp_path / "f.tif", expected("xarray.zarr", "projections"))
    p = write_tiff(tmp_path / "p.tif", expected("xarray.zarr", "features"))
    assert report["stages"] == analyze_json(f, "--projections", p)["stages"]


def test_analyze_store_with_a_head(tmp_path):
    import zarr

    rng = np.random.default_rng(7)
    data = rng.standard_normal((40, 48)).astype(np.float32)
    z = zarr.create_array(tmp_path / "emb.zarr", shape=data.shape, chunks=(6, 16), shards=(12, 48),
                          dtype="float32", zarr_format=3)
    z[...] = data
    weights = SOURCE_ROOT / "tests" / "data" / "heads" / "viscy-v2-lightning.safetensors"
    report = analyze_json(tmp_path / "emb.zarr", "-w", weights)
    tiff = analyze_json(write_tiff(tmp_path / "emb.tif", data), "-w", weights)
    assert report["head"] == tiff["head"]
    assert report["stages"] == tiff["stages"]
    assert len(report["stages"]) > 2


@pytest.mark.parametrize(
    "args, status, words",
    [
        (["anndata-sparse.zarr"], 1, ["csr_matrix"]),
        (["v2-consolidated.zarr"], 1, ["no array of the store holds features", "--features"]),
        (["v2-consolidated.zarr", "--features", "nope"], 1, ["no array “nope” in the store"]),
        (["xarray.zarr", "--projections", "fov_name"], 1, ["fov_name", "is not a number"]),
    ],
)
def test_analyze_store_refusals(tmp_path, args, status, words):
    r = run("analyze", STORES / args[0], *args[1:], "-o", tmp_path / "out")
    assert r.returncode == status
    assert r.stderr.count("\n") == 1
    for w in words:
        assert w in r.stderr
    assert not (tmp_path / "out").exists()


def test_features_option_needs_a_store(tmp_path):
    r = run("analyze", SOURCE_ROOT / "data" / "sample-features.tif", "--features", "X", "-o",
            tmp_path / "out")
    assert r.returncode == 2
    assert "--features names an array of a zarr store" in r.stderr


# -- project STORE, and stores as parts of one stack --------------------------------------


def _emb_store(path, data):
    import zarr

    z = zarr.create_array(path, shape=data.shape, chunks=(6, 16), shards=(12, 48),
                          dtype="float32", zarr_format=3)
    z[...] = data
    return path


def test_project_store_equals_project_of_the_same_tiff(tmp_path):
    import tifffile

    data = np.random.default_rng(8).standard_normal((40, 48)).astype(np.float32)
    store = _emb_store(tmp_path / "emb.zarr", data)
    tif = write_tiff(tmp_path / "emb.tif", data)
    weights = SOURCE_ROOT / "tests" / "data" / "heads" / "viscy-v2-lightning.safetensors"
    for inputs, out in (([store], "s.tif"), ([tif], "t.tif"), ([tif, store], "ts.tif")):
        r = run("project", *inputs, "-w", weights, "-o", tmp_path / out)
        assert r.returncode == 0, r.stderr
    s, t, ts = (tifffile.imread(tmp_path / n) for n in ("s.tif", "t.tif", "ts.tif"))
    assert s.shape[0] == 40 and np.array_equal(s, t)
    # two files as one stack: the rows of each, one after the other (the head's float32
    # products may round differently in another batch)
    np.testing.assert_allclose(ts, np.concatenate([t, s]), rtol=0, atol=1e-5)
    # the output may not replace an input, nor a file of a folder read as one stack
    import shutil

    (tmp_path / "parts").mkdir()
    for n in ("1.tif", "2.tif"):
        shutil.copy(tif, tmp_path / "parts" / n)
    before = (tmp_path / "parts" / "2.tif").read_bytes()
    for args in ([tif, store, "-o", tif], [tmp_path / "parts", "-o", tmp_path / "parts" / "2.tif"]):
        r = run("project", *args, "-w", weights)
        assert r.returncode == 1 and "would replace an input file" in r.stderr, r.stderr
    assert (tmp_path / "parts" / "2.tif").read_bytes() == before


def test_analyze_several_stores_and_a_folder_of_stores(tmp_path):
    a = expected("anndata-v2.zarr", "X")
    b = expected("anndata-v3-projections.zarr", "obsm/X_backbone")
    folder = tmp_path / "fovs"
    folder.mkdir()
    import shutil

    shutil.copytree(STORES / "anndata-v2.zarr", folder / "1.zarr")
    shutil.copytree(STORES / "anndata-v3-projections.zarr", folder / "2.zarr")
    # the projections of each store, as one stack too (as "analyze STORE" reads them)
    pa = expected("anndata-v2.zarr", "obsm/X_projections")
    pb = expected("anndata-v3-projections.zarr", "X")
    tiff = analyze_json(write_tiff(tmp_path / "ab.tif", np.concatenate([a, b])), "--projections",
                        write_tiff(tmp_path / "pab.tif", np.concatenate([pa, pb])))
    assert [s["role"] for s in tiff["stages"]] == ["features", "projections"]
    for args in ([folder / "1.zarr", folder / "2.zarr"], [folder]):
        report = analyze_json(*args)
        parts = report["input"]["parts"]
        assert [p["features"] for p in parts] == [str(folder / "1.zarr" / "X"),
                                                  str(folder / "2.zarr" / "obsm" / "X_backbone")]
        assert [p["samples"] for p in parts] == [a.shape[0], b.shape[0]]
        assert [s["role"] for s in report["stages"]] == ["features", "projections"]
        for mine, want in zip(report["stages"], tiff["stages"]):
            top = want["eigenvalues"][0]
            np.testing.assert_allclose(mine["eigenvalues"], want["eigenvalues"], rtol=1e-10,
                                       atol=1e-12 * top)
    # a TIFF among the parts: the features alone, as for a store without projections
    mixed = analyze_json(folder / "1.zarr", tmp_path / "ab.tif")
    assert [s["role"] for s in mixed["stages"]] == ["features"]


def test_info_on_a_folder_of_stores(tmp_path):
    import shutil

    folder = tmp_path / "fovs"
    folder.mkdir()
    shutil.copytree(STORES / "anndata-v2.zarr", folder / "1.zarr")
    shutil.copytree(STORES / "xarray.zarr", folder / "2.zarr")
    r = run("info", "--json", folder)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    want = [expected("anndata-v2.zarr", "X"), expected("xarray.zarr", "features")]
    assert info["samples"] == sum(w.shape[0] for w in want)
    assert [p["samples"] for p in info["parts"]] == [w.shape[0] for w in want]
