"""`headrank analyze STORE --pairs-from-tracks [--dt N]` on the AnnData stores of
tests/data/tracks (written by anndata and VisCy's EmbeddingWriter: make_tracks.py there).
Run by `meson test --suite cli`."""

import json

import numpy as np
import pytest

from cli_common import SOURCE_ROOT, TOOL, run

TRACKS = SOURCE_ROOT / "tests" / "data" / "tracks"
EXPECTED = json.loads((TRACKS / "expected.json").read_text(encoding="utf-8"))

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)


def store(name):
    return TRACKS / "stores" / f"{name}.zarr"


def analyze_json(*args):
    r = run("analyze", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", ["v2-categorical", "v3-strings", "v3-nullable", "viscy-writer"])
@pytest.mark.parametrize("dt", [1, 3])
def test_pairs_from_tracks_are_the_expected_pairs(name, dt, tmp_path):
    """The contrastive measures of --pairs-from-tracks are those of a pair file holding the
    pairs pandas computed: the same pairs, in the same order."""
    pairs = np.array(EXPECTED[name]["pairs"][str(dt)])
    csv = tmp_path / "pairs.csv"
    np.savetxt(csv, pairs, fmt="%d", delimiter=",")
    args = ["--dt", str(dt)] if dt != 1 else []
    got = analyze_json(store(name), "--pairs-from-tracks", *args)["contrastive"]
    ref = analyze_json(store(name), "--pairs", csv)["contrastive"]
    assert got["pairs"] == len(pairs)
    for key in ("alignment", "uniformity", "ntxent", "triplet", "lidar"):
        assert got[key] == ref[key], key
    assert got["pairs_source"] == {
        "origin": "tracks",
        "path": str(store(name)),
        "dt": dt,
        "columns": ["fov_name", "track_id", "t"],
        "rows": EXPECTED[name]["rows"],
        "rows_missing": sum(
            any(EXPECTED[name]["columns"][c][r] is None for c in ("fov_name", "track_id", "t"))
            for r in range(EXPECTED[name]["rows"])
        ),
    }
    assert ref["pairs_source"] == {"origin": "file", "path": str(csv)}


def test_report_and_text_say_where_the_pairs_came_from(tmp_path):
    out = tmp_path / "report"
    r = run("analyze", store("v3-nullable"), "--pairs-from-tracks", "--dt", "2", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "Pairs from tracks: dt = 2; columns fov_name, track_id, t; 4 of 26 rows without a value" in r.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["contrastive"]["pairs"] == len(EXPECTED["v3-nullable"]["pairs"]["2"])
    assert report["contrastive"]["pairs_source"]["dt"] == 2


@pytest.mark.parametrize(
    "args, words",
    [
        (["no-obs"], ["no obs table"]),
        (["v3-no-t"], ["no obs column “t”", "fov_name, track_id"]),
        (["v2-duplicate"], ["rows 4 and 26", "twice"]),
        (["v3-fractional-t"], ["“t”", "1.5"]),
        (["v2-strings", "--dt", "50"], ["no pairs", "t + 50"]),
    ],
)
def test_bad_stores_are_named(args, words, tmp_path):
    out = tmp_path / "report"
    r = run("analyze", store(args[0]), "--pairs-from-tracks", *args[1:], "-o", out)
    assert r.returncode == 1
    assert r.stdout == ""
    line = r.stderr.strip()
    assert "\n" not in line and str(store(args[0])) in line
    for w in words:
        assert w in line
    assert not out.exists()


def test_not_a_store():
    tif = SOURCE_ROOT / "data" / "sample-features.tif"
    r = run("analyze", tif, "--pairs-from-tracks", "--json")
    assert r.returncode == 1
    assert str(tif) in r.stderr and "zarr store" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--pairs-from-tracks", "--pairs", "x.csv"],
        ["--pairs-from-tracks", "--positives", "x.tif"],
        ["--dt", "2"],
        ["--pairs-from-tracks", "--dt", "0"],
        ["--pairs-from-tracks", "--dt", "-3"],
    ],
)
def test_usage_errors(args):
    r = run("analyze", store("v2-strings"), *args, "--json")
    assert r.returncode == 2, r.stderr
    assert "--help" in r.stderr


def test_help_lists_the_options():
    r = run("analyze", "--help")
    assert "--pairs-from-tracks" in r.stdout and "--dt=N" in r.stdout
