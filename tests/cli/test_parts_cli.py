"""`headrank info` and `headrank project` over several files (a list, a folder, a quoted
pattern) read as one stack, as `headrank analyze` reads them: samples numbered across the
files, every file with the same number of features."""

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cli_common import run, write_safetensors


def _stack(tmp_path, n=50, d=8, nan=True):
    """A stack split into fov0.tif (20 rows), fov1.tif (deflate, 1 row) and fov2.tif (the
    rest) in a folder, with a NaN in fov2 (sample 12 of it); and the whole stack as one
    file."""
    x = np.random.default_rng(3).standard_normal((n, d)).astype(np.float32)
    if nan:
        x[33, 5] = np.nan
    cut = [0, 20, 21, n]
    folder = tmp_path / "fovs"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"fov{i}.tif", x[cut[i]:cut[i + 1]],
                         compression="zlib" if i == 1 else None)
    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, x)
    return x, cut, folder, whole


def _ways(folder):
    """The same three files as a list, as their folder, and as a pattern."""
    return [[folder / f"fov{i}.tif" for i in range(3)], [folder], [str(folder / "fov*.tif")]]


# -- info ---------------------------------------------------------------------------------


def test_info_json_lists_the_parts_and_the_total(tmp_path):
    x, cut, folder, whole = _stack(tmp_path)
    one = json.loads(run("info", whole, "--json").stdout)
    for args in _ways(folder):
        r = run("info", *args, "--json")
        assert r.returncode == 0, r.stderr
        j = json.loads(r.stdout)
        assert [Path(p["file"]).name for p in j["parts"]] == ["fov0.tif", "fov1.tif", "fov2.tif"]
        assert [p["first_sample"] for p in j["parts"]] == cut[:3]
        assert [p["samples"] for p in j["parts"]] == [20, 1, 29]
        assert [p["compression"] for p in j["parts"]] == ["none", "deflate", "none"]
        assert [p["nonfinite"] for p in j["parts"]] == [0, 0, 1]
        # the whole: as the one file says it, samples numbered across the files
        assert (j["samples"], j["features"]) == x.shape
        assert j["nonfinite"] == one["nonfinite"] == {"count": 1, "positions": [[33, 5]]}
        assert j["sample_format"] == "float32"


def test_info_text_lists_the_parts_and_the_total(tmp_path):
    _, _, folder, _ = _stack(tmp_path)
    r = run("info", folder)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Files:          3, read as one stack"
    assert lines[1] == (f"  samples 0–19 (20): {folder / 'fov0.tif'}; matrix, float32, "
                        "compression none; 0 non-finite")
    assert lines[2] == (f"  samples 20–20 (1): {folder / 'fov1.tif'}; matrix, float32, "
                        "compression deflate; 0 non-finite")
    assert lines[3].startswith("  samples 21–49 (29): ") and lines[3].endswith("; 1 non-finite")
    assert lines[4:] == ["Samples:        50", "Features:       8", "Sample format:  float32",
                         "Non-finite:     1", "  first at (sample, feature): (33, 5)"]


def test_info_files_must_agree_in_features(tmp_path):
    _, _, folder, _ = _stack(tmp_path)
    tifffile.imwrite(folder / "odd.tif", np.ones((5, 3), np.float32))
    r = run("info", folder)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "odd.tif" in r.stderr and "same number" in r.stderr
    r = run("info", str(tmp_path / "nothing*.tif"))
    assert r.returncode == 1 and "no file matches" in r.stderr


def test_info_one_file_and_a_store_are_as_before(tmp_path):
    _, _, folder, whole = _stack(tmp_path)
    assert "parts" not in json.loads(run("info", whole, "--json").stdout)
    # a folder of neither TIFF files nor zarr metadata is refused as a store
    (tmp_path / "empty").mkdir()
    r = run("info", tmp_path / "empty")
    assert r.returncode == 1 and "not a zarr store" in r.stderr


# -- project ------------------------------------------------------------------------------


@pytest.fixture
def head(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"projection.0.weight": rng.normal(0, 0.3, (5, 8)),
               "projection.0.bias": rng.normal(0, 0.1, 5),
               "projection.2.weight": rng.normal(0, 0.4, (3, 5)),
               "projection.2.bias": rng.normal(0, 0.1, 3)}
    return write_safetensors(tmp_path / "head.safetensors", tensors)


def test_project_writes_one_output_of_all_samples(tmp_path, head):
    x, _, folder, whole = _stack(tmp_path, nan=False)
    ref = tmp_path / "ref.tif"
    r = run("project", whole, "-w", head, "-o", ref)
    assert r.returncode == 0, r.stderr
    want = tifffile.imread(ref)
    assert want.shape == (50, 3)
    for k, args in enumerate(_ways(folder)):
        out = tmp_path / f"out{k}.tif"
        r = run("project", *args, "-w", head, "-o", out)
        assert r.returncode == 0, r.stderr
        got = tifffile.imread(out)
        assert got.shape == want.shape
        # row by row the same head over the same rows: only the batching differs
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_project_refuses_what_it_cannot_do_for_several_files(tmp_path, head):
    _, _, folder, _ = _stack(tmp_path)
    out = tmp_path / "p.tif"
    r = run("project", folder, "-w", head, "-o", out, "--per-pixel")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == ("headrank: --per-pixel takes one FILE (the geometry it "
                                        "writes is one file's)")
    assert not out.exists()
    # the output may not replace one of the inputs
    before = (folder / "fov1.tif").read_bytes()
    r = run("project", folder, "-w", head, "-o", folder / "fov1.tif")
    assert r.returncode == 1 and "would replace an input file" in r.stderr
    assert (folder / "fov1.tif").read_bytes() == before
    # files that disagree in their features: one line naming the odd one, nothing written
    tifffile.imwrite(folder / "odd.tif", np.ones((5, 3), np.float32))
    r = run("project", folder, "-w", head, "-o", out)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "odd.tif" in r.stderr
    assert not out.exists()


def test_project_names_the_file_of_a_nonfinite_sample(tmp_path, head):
    _, _, folder, _ = _stack(tmp_path)
    out = tmp_path / "p.tif"
    r = run("project", folder, "-w", head, "-o", out)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    # the file that holds it and the sample within that file
    assert f"{folder / 'fov2.tif'}: 1 non-finite values, the first at sample 12, feature 5" \
        in r.stderr, r.stderr
    assert not out.exists()
