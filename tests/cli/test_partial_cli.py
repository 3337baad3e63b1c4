"""`headrank analyze --partial PART` and `headrank merge PART… -o DIR` (doc/partial.md): a
stack cut into three files (a one-sample file among them) analysed in parts through a VisCy
v2 head and merged gives the report of one `analyze` of the whole stack (the same ranks,
verdict and statistics; the per-sample table with the samples numbered across the parts);
usage errors exit 2, parts that are damaged or made with another head exit 1 with one line,
and no report is written."""

import csv
import gzip
import json

import numpy as np
import pytest
import tifffile

from cli_common import SOURCE_ROOT, run, subject

HEAD = SOURCE_ROOT / "data" / "head-viscy-v2.safetensors"
BOUND_KEYS = {"scatter_error_bound", "rank_tolerance", "scatter_error", "noise_floor"}


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("partial")
    rng = np.random.default_rng(15)
    x = (rng.standard_normal((3000, 64)) @ rng.standard_normal((64, 64))).astype(np.float32)
    x[1234, 7] = np.nan
    cuts = [0, 1, 1200, 3000]
    files = []
    for i in range(3):
        files.append(tmp / f"p{i}.tif")
        tifffile.imwrite(files[-1], x[cuts[i]:cuts[i + 1]])
    tifffile.imwrite(tmp / "all.tif", x)
    parts = []
    for f in files:
        parts.append(f.with_suffix(".part"))
        p = run("analyze", f, "--weights", HEAD, "--partial", parts[-1])
        assert p.returncode == 0, p.stderr
        assert "Wrote the part" in p.stdout and str(parts[-1]) in p.stdout
    single = tmp / "single"
    assert run("analyze", tmp / "all.tif", "--weights", HEAD, "-o", single).returncode == 0
    return tmp, parts, single


def compare(a, b, path=""):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            if path == "/input" and k == "features":
                continue
            compare(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            compare(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        if path.rsplit("/", 1)[-1] in BOUND_KEYS:
            assert 0 <= b <= 2 * a, (path, a, b)
        else:
            assert b == pytest.approx(a, rel=1e-6, abs=1e-9), path
    else:
        assert a == b, (path, a, b)


def test_merge_is_one_pass(stacks):
    tmp, parts, single = stacks
    out = tmp / "merged"
    p = run("merge", *parts, "--weights", HEAD, "-o", out)
    assert p.returncode == 0, p.stderr
    assert f"written to {out}" in p.stdout
    # first what was analysed, as analyze says it: the parts' files, N × D, the head
    names = ", ".join(str(f.with_suffix(".tif")) for f in parts)
    assert subject(p.stdout).startswith(
        f"Analysis of {names} (3000 samples × 64 features) through the head {HEAD}, "), p.stdout
    a = json.loads((single / "report.json").read_text())
    b = json.loads((out / "report.json").read_text())
    assert b["input"]["features"] == ", ".join(str(f.with_suffix(".tif")) for f in parts)
    compare(a, b)
    with open(single / "per_sample.csv") as f1, open(out / "per_sample.csv") as f2:
        r1, r2 = list(csv.reader(f1)), list(csv.reader(f2))
    assert len(r1) == len(r2) == 3001 and r1[0] == r2[0]
    for u, v in zip(r1[1:], r2[1:]):
        assert u[0] == v[0]  # the global sample numbers
        # the features' statistics exactly; the head's float32 outputs may round otherwise
        # in a batch of other rows
        assert u[1:4] == v[1:4]
        np.testing.assert_allclose(np.array([c or "nan" for c in v[4:]], float),
                                   np.array([c or "nan" for c in u[4:]], float),
                                   rtol=1e-5, atol=1e-5)
    gz = tmp / "merged-gz"
    p = run("merge", *parts, "--weights", HEAD, "--per-sample", "csv.gz", "-o", gz)
    assert p.returncode == 0, p.stderr
    with gzip.open(gz / "per_sample.csv.gz", "rt") as f:
        assert list(csv.reader(f)) == r2
    p = run("merge", *parts, "--weights", HEAD, "--json")
    assert p.returncode == 0, p.stderr
    compare(a, json.loads(p.stdout))


def test_usage_errors(stacks):
    tmp, parts, _ = stacks
    for args in (["analyze", tmp / "p0.tif", "--partial", tmp / "x.part", "-o", tmp / "o"],
                 ["analyze", tmp / "p0.tif", "--partial", tmp / "x.part", "--json"],
                 ["analyze", tmp / "p0.tif", "--first-sample", "3", "-o", tmp / "o"],
                 ["analyze", tmp / "p0.tif", "--partial", tmp / "x.part", "--first-sample", "-1"],
                 ["merge"],
                 ["merge", parts[0], "--batch-stats"],
                 ["merge", parts[0], "--per-sample", "parquet"],
                 ["analyze", tmp / "p0.tif", "--partial", tmp / "x.part", "--per-sample", "csv"]):
        p = run(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert not (tmp / "x.part").exists()


def test_refused_parts(stacks):
    tmp, parts, _ = stacks
    out = tmp / "refused"
    cut = tmp / "cut.part"
    cut.write_bytes(parts[1].read_bytes()[:1000])
    other = tmp / "other.safetensors"
    other.write_bytes((SOURCE_ROOT / "data" / "head-viscy-v0.safetensors").read_bytes())
    cases = [
        ([parts[0], cut, "--weights", HEAD], "cut.part: the part says it holds"),
        ([parts[0], parts[1]], "the parts were made with a head"),
        ([parts[0], parts[1], "--weights", other], "the head given is not the one"),
        ([tmp / "missing.part", "--weights", HEAD], "missing.part"),
        ([tmp / "p0.tif", "--weights", HEAD], "not a part of headrank"),
    ]
    for args, message in cases:
        p = run("merge", *args, "-o", out)
        assert p.returncode == 1, (args, p.stderr)
        assert len(p.stderr.splitlines()) == 1 and message in p.stderr, p.stderr
        assert not out.exists()


# -- pairs and per-sample tables in parts ----------------------------------------------------


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """Features and projections of 1,500 samples cut into three files at 512 and 1,024
    (multiples of --pair-batch 128), with a pair file in global numbering whose pairs lie
    within the files (anchors in order, positives and negatives of the same file; sample
    1,400 holds a NaN)."""
    tmp = tmp_path_factory.mktemp("paired")
    rng = np.random.default_rng(151)
    x = rng.standard_normal((1500, 24)).astype(np.float32)
    z = np.tanh(x[:, :8] @ rng.standard_normal((8, 8))).astype(np.float32)
    x[1400, 3] = np.nan
    cuts = [0, 512, 1024, 1500]
    rows = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        for i in range(a, b):
            rows.append((i, rng.integers(a, b), rng.integers(a, b)))
    (tmp / "pairs.csv").write_text("anchor,positive,negative\n"
                                   + "".join(f"{a},{p},{n}\n" for a, p, n in rows))
    tifffile.imwrite(tmp / "x.tif", x)
    tifffile.imwrite(tmp / "z.tif", z)
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        tifffile.imwrite(tmp / f"x{i}.tif", x[a:b])
        tifffile.imwrite(tmp / f"z{i}.tif", z[a:b])
    return tmp, cuts


def _parts(tmp, cuts, *extra, name="p"):
    parts = []
    for i, first in enumerate(cuts[:-1]):
        parts.append(tmp / f"{name}{i}.part")
        p = run("analyze", tmp / f"x{i}.tif", "-P", tmp / f"z{i}.tif", "--pairs",
                tmp / "pairs.csv", "--pair-batch", "128", "--first-sample", str(first),
                "--partial", parts[-1], *extra)
        assert p.returncode == 0, p.stderr
    return parts


def test_merge_with_pairs_is_one_pass(paired):
    tmp, cuts = paired
    parts = _parts(tmp, cuts)
    single = run("analyze", tmp / "x.tif", "-P", tmp / "z.tif", "--pairs", tmp / "pairs.csv",
                 "--pair-batch", "128", "--json")
    assert single.returncode == 0, single.stderr
    merged = run("merge", *parts, "--json")
    assert merged.returncode == 0, merged.stderr
    a, b = json.loads(single.stdout), json.loads(merged.stdout)
    assert a["contrastive"]["pairs"] + a["contrastive"]["pairs_skipped"] == 1500
    assert a["contrastive"]["pairs_skipped"] >= 1
    assert b["input"]["projections"] == ", ".join(str(tmp / f"z{i}.tif") for i in range(3))
    b["input"]["projections"] = a["input"]["projections"]
    compare(a, b)
    for key in ("alignment", "uniformity", "ntxent", "triplet", "positive_cosine",
                "negative_cosine", "lidar"):
        assert b["contrastive"][key] == pytest.approx(a["contrastive"][key], rel=1e-12), key
    # a part merged twice, or parts out of order: refused, naming the samples
    p = run("merge", parts[0], parts[2], parts[1], "-o", tmp / "wrong")
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
    assert "starts at sample 1024, not at sample 512" in p.stderr
    # a part missing at the end: its pairs have no part
    p = run("merge", parts[0], parts[1], "-o", tmp / "wrong")
    assert p.returncode == 1 and "476 of the 1500 pairs have their anchor in none" in p.stderr
    assert not (tmp / "wrong").exists()


def test_spanning_pair_is_refused(paired):
    tmp, cuts = paired
    part = tmp / "span.part"
    # the second file said to start at 500: pair 500's positive lies in the first file
    p = run("analyze", tmp / "x1.tif", "-P", tmp / "z1.tif", "--pairs", tmp / "pairs.csv",
            "--first-sample", "500", "--partial", part)
    assert p.returncode == 1, p.stderr
    assert len(p.stderr.splitlines()) == 1 and "spans parts" in p.stderr, p.stderr
    assert "pair 500 (anchor 500" in p.stderr
    assert not part.exists()


def test_parts_without_tables(paired):
    tmp, cuts = paired
    bare = _parts(tmp, cuts, "--per-sample", "none", name="bare")
    full = _parts(tmp, cuts, name="full")
    assert bare[0].stat().st_size < full[0].stat().st_size - 512 * 2 * 16 + 1
    out = tmp / "bare-report"
    p = run("merge", *bare, "-o", out)
    assert p.returncode == 0, p.stderr
    assert "no per-sample statistics" in p.stdout
    assert not (out / "per_sample.csv").exists() and not (out / "per_sample.png").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["outputs"]["per_sample"] == {"format": "none", "file": None, "rows": 1500,
                                               "statistics_held": False}
    assert all(s["statistics"]["per_sample"] is None for s in report["stages"])
    one = json.loads(run("merge", *full, "--json").stdout)
    assert one["outputs"]["per_sample"]["statistics_held"] is True
    assert [s["rank"] for s in report["stages"]] == [s["rank"] for s in one["stages"]]
    p = run("merge", bare[0], full[1], bare[2], "-o", tmp / "mixed")
    assert p.returncode == 1 and "per-sample tables" in p.stderr, p.stderr
    assert not (tmp / "mixed").exists()
