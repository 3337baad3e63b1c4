"""Tests of `headrank analyze`, run by `meson test --suite cli`.

The environment comes from tests/meson.build (HEADRANK_TOOL, HEADRANK_DATADIR for the
bundled sample, HEADRANK_SOURCE_ROOT, HEADRANK_NO_PROGRESS). The fixtures are those of
tests/data/analysis (see make_analysis.py there); the numbers of the report are checked
against numpy, live, in float64; the head's own float32 rounding is allowed for where the
projections are compared with a float64 numpy head. Nothing here needs torch or the
typelib.

Exit statuses checked: 0 success, 1 bad input (exactly one line on standard error), 2 bad
usage, 130 interrupted (SIGINT); on every failure no output folder, no report.json and no
temporary file (*.XXXXXX) is left.
"""

import csv
import json
import os
import signal
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import cli_common
from cli_common import SOURCE_ROOT, TOOL, after_subject, base_env, subject, write_safetensors
DATA = SOURCE_ROOT / "tests" / "data" / "analysis"
SAMPLE_DIR = Path(os.environ.get("HEADRANK_DATADIR") or SOURCE_ROOT / "data")
FEATURES = DATA / "features.tif"
HEAD = DATA / "head-v2.safetensors"
EPS32 = float(np.finfo(np.float32).eps)
BN_EPS = 1e-5
REPORT_FILES = sorted(
    ["report.json", "per_sample.csv", "per_dimension.csv"]
    + [f"{n}.{e}" for n in ("explained_variance", "singular_values", "per_sample", "zero_fraction")
       for e in ("png", "svg")])

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)


def run(*args, cwd=None, timeout=120):
    return cli_common.run("analyze", *args, cwd=cwd, timeout=timeout)


def ok(p):
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p


def analyze_json(*args, cwd=None):
    p = ok(run(*args, "--json", cwd=cwd))
    return json.loads(p.stdout)


def stage(report, name):
    (s,) = [s for s in report["stages"] if s["name"] == name]
    return s


def leftovers(directory):
    """Temporary files of the writers (.NAME.headrank-XXXXXX, NAME.XXXXXX) under @directory:
    no file the report writes has a six-character extension."""
    return [f for _, _, files in os.walk(directory) for f in files
            if ".headrank-" in f or ("." in f and len(f.rsplit(".", 1)[1]) == 6)]



def read_safetensors(path, prefix="projection."):
    raw = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    body = raw[8 + length:]
    return {name[len(prefix):]: np.frombuffer(body[t["data_offsets"][0]:t["data_offsets"][1]],
                                              "<f4").reshape(t["shape"]).astype(np.float64)
            for name, t in header.items() if name != "__metadata__"}


def numpy_relu_output(t, x):
    """viscy-v2 in eval mode up to its ReLU (layer 2), float64."""
    y = x.astype(np.float64) @ t["0.weight"].T + t["0.bias"]
    y = (y - t["1.running_mean"]) / np.sqrt(t["1.running_var"] + BN_EPS) * t["1.weight"] \
        + t["1.bias"]
    return np.maximum(y, 0)


def numpy_head(t, x):
    """viscy-v2 in eval mode, float64."""
    y = numpy_relu_output(t, x) @ t["3.weight"].T + t["3.bias"]
    return (y - t["4.running_mean"]) / np.sqrt(t["4.running_var"] + BN_EPS) * t["4.weight"] \
        + t["4.bias"]


def spectrum_reference(x):
    x = np.asarray(x, np.float64)
    n, d = x.shape
    k = min(n, d)
    lam = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1], 0, None)
    sv = np.linalg.svd(x - x.mean(0), compute_uv=False)
    usv = np.linalg.svd(x, compute_uv=False)
    p = usv / usv.sum() + 1e-7
    return {"eigenvalues": lam[:k], "explained_variance_ratio": (lam / lam.sum())[:k],
            "rank": int((sv > sv[0] * max(n, d) * EPS32).sum()),
            "matrix_rank": int(np.linalg.matrix_rank(x.astype(np.float32))),
            "effective_rank": float(np.exp(-(p * np.log(p)).sum())),
            "participation_ratio": float(lam.sum() ** 2 / (lam ** 2).sum())}


def finite(x):
    return x[np.isfinite(x).all(1)]


# -- the bundled sample ----------------------------------------------------------------


def needs_sample():
    for name in ("sample-embeddings.tif", "head-viscy-v0.safetensors", "sample-pairs.csv"):
        if not (SAMPLE_DIR / name).exists():
            pytest.skip(f"the bundled sample {SAMPLE_DIR / name} does not exist")


def test_text_starts_with_what_it_analyses(tmp_path):
    """The first line names the input (file, or the first and last of several files) with
    N × D, and the head with where its architecture came from, or the projections, or no
    head; the tables follow."""
    n, d = tifffile.imread(FEATURES).shape
    out = str(tmp_path / "r")
    p = ok(run(FEATURES, "-w", HEAD, "-o", out))
    first = subject(p.stdout)
    assert first.startswith(
        f"Analysis of {FEATURES} ({n} samples × {d} features) through the head {HEAD}, "
        "prefix “"), first
    assert "architecture inferred" in first, first
    assert after_subject(p.stdout).split()[0] == "stage"
    first = subject(ok(run(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "-o", out)).stdout)
    assert first.endswith("architecture viscy-v2."), first
    first = subject(ok(run(FEATURES, "--projections", DATA / "projections.tif", "-o", out)).stdout)
    assert first == (f"Analysis of {FEATURES} ({n} samples × {d} features) with the "
                     f"projections of {DATA / 'projections.tif'}."), first
    first = subject(ok(run(FEATURES, FEATURES, "-o", out)).stdout)
    assert first == (f"Analysis of 2 files, {FEATURES} to {FEATURES} ({2 * n} samples × "
                     f"{d} features) without a head: the features alone."), first


def test_no_file_analyses_the_bundled_sample(tmp_path):
    """Without FILE: the sample embeddings through the v0 head with the sample pairs; the
    table, the pairs line and the verdict (v0 inflates rank), and headrank-report/ in the
    current folder."""
    needs_sample()
    p = ok(run(cwd=tmp_path))
    assert p.stderr == ""
    first, table = subject(p.stdout), after_subject(p.stdout)
    # first what it analyses: the sample and its N × D, the head and where it came from
    assert first == (
        "Analysis of sample-embeddings.tif (bundled sample: 4096 samples × 64 features) "
        "through head-viscy-v0.safetensors (bundled head, preset viscy-v0); positive "
        "pairs from sample-pairs.csv (bundled)."), first
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["stage", "samples", "dim", "rank", "m.rank"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert set(rows) == {"features", "1", "projections"}
    assert rows["features"][1:5] == ["4096", "64", "32", "33"]
    # the ReLU's spectrum by default (issue 16): where the v0 head inflates rank
    assert rows["1"][1:6] == ["(relu)", "4096", "192", "188", "188"]
    assert rows["projections"][3] == "64"  # rank 64 > 32
    assert any(line.startswith("Pairs: 2048;") for line in lines), p.stdout
    assert any(line.startswith("The head inflates rank: the projections have rank 64")
               for line in lines), p.stdout
    assert lines[-1] == "Report, tables and plots written to headrank-report"
    out = tmp_path / "headrank-report"
    assert sorted(os.listdir(out)) == REPORT_FILES
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["features"].endswith("sample-embeddings.tif")
    assert report["head"]["file"] == str(SAMPLE_DIR / "head-viscy-v0.safetensors")
    assert report["head"]["file"] in report["head"]["description"]
    assert "inflates_rank" in report["verdict"]["flags"]
    assert report["contrastive"]["pairs"] == 2048
    x = tifffile.imread(SAMPLE_DIR / "sample-embeddings.tif")
    ref = spectrum_reference(x)
    s = stage(report, "features")
    # data/README.md: rank 32; the offset adds one uncentred direction (clear gaps both)
    assert (s["rank"], s["matrix_rank"]) == (ref["rank"], ref["matrix_rank"]) == (32, 33)
    assert np.allclose(s["eigenvalues"], ref["eigenvalues"], rtol=0,
                       atol=1e-6 * ref["eigenvalues"][0])
    assert s["effective_rank"] == pytest.approx(ref["effective_rank"], rel=1e-6)


def test_json_prints_and_writes_nothing(tmp_path):
    needs_sample()
    p = ok(run("--json", cwd=tmp_path))
    report = json.loads(p.stdout)
    assert [s["name"] for s in report["stages"]] == ["features", "1", "projections"]
    assert os.listdir(tmp_path) == []
    # with -o the folder as well, and the same report in it
    p = ok(run("--json", "-o", tmp_path / "out", cwd=tmp_path))
    assert json.loads(p.stdout) == json.loads((tmp_path / "out" / "report.json").read_text())
    assert os.listdir(tmp_path) == ["out"]


def test_output_folder(tmp_path):
    needs_sample()
    out = tmp_path / "a" / "b"
    p = ok(run("-o", out, cwd=tmp_path))
    assert p.stdout.splitlines()[-1] == f"Report, tables and plots written to {out}"
    assert sorted(os.listdir(out)) == REPORT_FILES
    assert os.listdir(tmp_path) == ["a"]
    # again into the same folder: replaced, nothing left over
    ok(run("-o", out, cwd=tmp_path))
    assert sorted(os.listdir(out)) == REPORT_FILES


# -- the fixture with its head ----------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_report():
    return analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2")


def test_fixture_through_the_head(fixture_report):
    r = fixture_report
    x = tifffile.imread(FEATURES)
    assert [s["name"] for s in r["stages"]] == ["features", "2", "projections"]
    assert r["input"]["dropped_samples"] == 4 and r["input"]["nonfinite_values"] == 7
    f = stage(r, "features")
    ref = spectrum_reference(finite(x))
    assert (f["samples"], f["dimension"], f["rank"], f["matrix_rank"]) == (596, 24, 10, 8)
    assert np.allclose(f["eigenvalues"], ref["eigenvalues"], rtol=0,
                       atol=1e-6 * ref["eigenvalues"][0])
    assert np.allclose(f["explained_variance_ratio"], ref["explained_variance_ratio"], rtol=0,
                       atol=1e-7)
    assert f["effective_rank"] == pytest.approx(ref["effective_rank"], rel=1e-6)
    assert f["participation_ratio"] == pytest.approx(ref["participation_ratio"], rel=1e-6)
    # the projections: a float64 numpy head; the tool's head runs in float32
    y = numpy_head(read_safetensors(HEAD), finite(x))
    ref = spectrum_reference(y)
    p = stage(r, "projections")
    assert (p["samples"], p["dimension"], p["rank"]) == (596, 8, ref["rank"])
    assert np.allclose(p["eigenvalues"], ref["eigenvalues"], rtol=1e-3,
                       atol=1e-5 * ref["eigenvalues"][0])
    assert p["effective_rank"] == pytest.approx(ref["effective_rank"], rel=1e-4)
    # the ReLU's spectrum by default, from the same moments as a reference on its rows
    relu = numpy_relu_output(read_safetensors(HEAD), finite(x))
    ref = spectrum_reference(relu)
    s2 = stage(r, "2")
    assert s2["has_spectrum"] is True
    assert (s2["samples"], s2["dimension"], s2["rank"]) == (596, 32, ref["rank"])
    assert np.allclose(s2["eigenvalues"], ref["eigenvalues"], rtol=1e-3,
                       atol=1e-5 * ref["eigenvalues"][0])
    # its CKA with the features against numpy's on the same rows (the pass multiplies the
    # rows the two stages' moments have centred), and against the cross-moments that centre
    # their own blocks (float32 products take that path)
    xc = finite(x).astype(np.float64)
    xc -= xc.mean(0)
    rc = relu - relu.mean(0)
    cka = np.linalg.norm(xc.T @ rc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(rc.T @ rc))
    assert s2["cka_with_features"] == pytest.approx(cka, rel=1e-5)
    r32 = analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--precision",
                       "float32-products")
    assert stage(r32, "2")["cka_with_features"] == pytest.approx(cka, rel=1e-4)
    # --stage none: the features and the projections only, the ReLU's statistics
    r_none = analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--stage", "none")
    assert [(s["name"], s["has_spectrum"]) for s in r_none["stages"]] == [
        ("features", True), ("2", False), ("projections", True)]
    assert stage(r_none, "projections")["rank"] == p["rank"]
    assert r["head"]["layers"][0] == {"name": "0", "kind": "linear", "in_features": 24,
                                      "out_features": 32, "bias": True}
    assert (r["head"]["in_features"], r["head"]["out_features"]) == (24, 8)
    assert r["contrastive"] is None


def test_projections_option(tmp_path):
    r = analyze_json(FEATURES, "--projections", DATA / "projections.tif")
    assert r["head"] is None
    assert [s["name"] for s in r["stages"]] == ["features", "projections"]
    pr = tifffile.imread(DATA / "projections.tif")
    ref = spectrum_reference(finite(pr))
    p = stage(r, "projections")
    assert (p["samples"], p["rank"], p["matrix_rank"]) == (596, ref["rank"], ref["matrix_rank"])
    assert np.allclose(p["eigenvalues"], ref["eigenvalues"], rtol=0,
                       atol=1e-6 * ref["eigenvalues"][0])


def test_table_and_verdict_of_all_zero_projections(tmp_path):
    """Projections that are all 0 have no effective rank, participation ratio or alpha: the
    table prints "nan" (never "-nan") and the verdict "undefined"."""
    x = np.random.default_rng(31).standard_normal((300, 16)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", x)
    tifffile.imwrite(tmp_path / "zero.tif", np.zeros_like(x))
    p = cli_common.run("analyze", tmp_path / "f.tif", "-P", tmp_path / "zero.tif",
                       "-o", tmp_path / "r")
    assert p.returncode == 0, p.stderr
    row = next(line for line in p.stdout.splitlines() if line.startswith("projections"))
    assert row.split()[5:8] == ["nan", "nan", "0/0/0"], row
    assert "-nan" not in p.stdout
    assert "effective rank undefined" in p.stdout


def test_pairs_option():
    r = analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--pairs", DATA / "pairs.csv",
                     "--temperature", "0.3", "--margin", "0.4", "--pair-batch", "128")
    c = r["contrastive"]
    x = tifffile.imread(FEATURES)
    good = np.isfinite(x).all(1)
    pairs = np.loadtxt(DATA / "pairs.csv", delimiter=",", skiprows=1, dtype=int)
    keep = good[pairs[:, 0]] & good[pairs[:, 1]]
    assert (c["pairs"], c["pairs_skipped"]) == (int(keep.sum()), int((~keep).sum()))
    assert (c["batch_size"], c["temperature"], c["margin"]) == (128, 0.3, 0.4)
    assert c["explicit_negatives"] is False
    # alignment: a batch-free measure, against the float64 numpy head (float32 tolerance)
    y = np.full((600, 8), np.nan)
    y[good] = numpy_head(read_safetensors(HEAD), x[good])
    z = y / np.linalg.norm(y, axis=1, keepdims=True)
    a, b = z[pairs[keep, 0]], z[pairs[keep, 1]]
    assert c["alignment"] == pytest.approx(((a - b) ** 2).sum(1).mean(), rel=1e-4)
    assert c["positive_cosine"] == pytest.approx((a * b).sum(1).mean(), abs=1e-5)
    # the same pairs as an aligned positives stack
    r2 = analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--positives",
                      DATA / "positives.tif", "--temperature", "0.3", "--margin", "0.4",
                      "--pair-batch", "128")
    # the positives go through the head in other batches: float32 rounding of the
    # projections, ~1e-7 on the cosine scale
    # where the pairs came from differs: the file, then the positives stack
    assert c.pop("pairs_source") == {"origin": "file", "path": str(DATA / "pairs.csv")}
    assert r2["contrastive"].pop("pairs_source") == {
        "origin": "positives", "path": str(DATA / "positives.tif")}
    assert r2["contrastive"] == pytest.approx(c, rel=1e-6, abs=1e-6)


def test_stage_none_table_says_what_its_dash_means(tmp_path):
    """--stage none: the ReLU's row has "-" for its spectrum, and a line says why; the
    default has no "-" and no such line."""
    t = ok(run(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--stage", "none", cwd=tmp_path))
    table = after_subject(t.stdout)
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:4]}
    assert rows["2"][1:4] == ["(relu)", "596", "32"] and rows["2"][4] == "-"
    line = "(-: no spectrum: the activation layers' spectra were left out with --stage none)"
    assert line in " ".join(t.stdout.split()), t.stdout
    t = ok(run(FEATURES, "-w", HEAD, "--arch", "viscy-v2", cwd=tmp_path))
    table = after_subject(t.stdout)
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:4]}
    assert rows["2"][4] != "-"
    assert "no spectrum" not in t.stdout


def test_stage_all_gives_every_layer_a_spectrum():
    r = analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--stage", "all")
    assert [s["name"] for s in r["stages"]] == ["features", "0", "1", "2", "3", "projections"]
    assert all(s["has_spectrum"] for s in r["stages"])
    r = analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "-s", "0", "-s", "2")
    assert [(s["name"], s["has_spectrum"]) for s in r["stages"]] == [
        ("features", True), ("0", True), ("2", True), ("projections", True)]
    # a hidden linear layer of 32 on rank-10 features: rank 10
    assert stage(r, "0")["rank"] == 10


def test_batch_stats(fixture_report):
    r = analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--batch-stats")
    assert r["head"]["norm_mode"] == "batch" and r["head"]["batch_size"] == 0
    t = read_safetensors(HEAD)
    proj = stage(r, "projections")
    # training-mode BatchNorm at the end: the per-dimension std of the projections is
    # |gamma| (up to eps): std_mean is their mean
    assert proj["statistics"]["per_dimension"]["std_mean"] == pytest.approx(
        np.abs(t["4.weight"]).mean(), rel=1e-3)
    assert proj["eigenvalues"] != stage(fixture_report, "projections")["eigenvalues"]
    r = analyze_json(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--batch-stats",
                     "--batch-size", "100")
    assert r["head"]["batch_size"] == 100


@pytest.mark.parametrize("precision", ["auto", "float64", "float32-products"])
def test_precision(precision):
    """auto is float64 (float32 products never resolve what the tolerance needs); the
    eigenvalues are within the reported scatter_error_bound (a bound on the spectral norm
    of the scatter matrix's error, so by Weyl on each eigenvalue of S / (N - 1)). Forced
    float32 products raise the rank tolerance to their bound: the three weak directions
    (singular values 0.12 to 0.25) fall below it, and the rank's range still reaches the
    true 10."""
    r = analyze_json(FEATURES, "--precision", precision)
    f = stage(r, "features")
    assert f["precision"] == ("float64" if precision == "auto" else precision)
    ref = spectrum_reference(finite(tifffile.imread(FEATURES)))["eigenvalues"]
    bound = f["scatter_error_bound"] / (f["samples"] - 1)
    assert bound > 0
    err = np.abs(np.array(f["eigenvalues"]) - ref)
    assert (err <= bound + 1e-12 * ref[0]).all(), (err.max(), bound)
    if precision != "float32-products":
        assert f["rank"] == 10 and f["rank_range"] == [10, 10]
        assert bound < 1e-9 * ref[0]
    else:
        assert f["rank_tolerance_parts"]["accumulation_dominates"]
        assert f["rank_tolerance"] >= np.sqrt(f["scatter_error_bound"])
        assert f["rank"] < 10 <= f["rank_range"][1]
        assert any("float32 products raised the rank tolerance" in line
                   for line in r["verdict"]["summary"])


# -- per-pixel input --------------------------------------------------------------------


def test_per_pixel_maps(tmp_path):
    features = SAMPLE_DIR / "sample-qpi-cell-features.tif"
    head = SAMPLE_DIR / "head-pixel-v2.safetensors"
    if not features.exists() or not head.exists():
        pytest.skip("the bundled per-pixel sample does not exist")
    out = tmp_path / "out"
    ok(run(features, "-w", head, "--arch", "viscy-v2", "-o", out))
    with tifffile.TiffFile(features) as t:
        shape = t.series[0].shape  # C, Y, X
    maps = ["map-projections-mean.tif", "map-projections-std.tif", "map-projections-norm.tif",
            "map-2-zero-fraction.tif"]
    assert sorted(os.listdir(out)) == sorted(REPORT_FILES + maps)
    with open(out / "per_sample.csv", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    table = np.array([[float(v) if v else np.nan for v in r] for r in rows[1:]], np.float32)
    assert table.shape[0] == shape[1] * shape[2]
    for name, column in [("map-projections-mean.tif", "projections_mean"),
                         ("map-projections-std.tif", "projections_std"),
                         ("map-projections-norm.tif", "projections_norm"),
                         ("map-2-zero-fraction.tif", "2_zero_fraction")]:
        m = tifffile.imread(out / name)
        assert m.shape == shape[1:], name
        assert m.dtype == np.float32
        assert np.array_equal(m.reshape(-1), table[:, header.index(column)], equal_nan=True), name
    zf = tifffile.imread(out / "map-2-zero-fraction.tif")
    assert ((zf >= 0) & (zf <= 1)).all()


# -- bad input --------------------------------------------------------------------------


def write_safetensors(path, tensors):
    """A float32 safetensors file, written by hand: {name: array}."""
    header, body = {}, b""
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)


def bad_cases(tmp):
    not_tiff = tmp / "not.tif"
    nan_column = tmp / "nan-column.tif"
    x = np.ones((40, 24), np.float32)
    x[:, 5] = np.nan
    tifffile.imwrite(nan_column, x)
    overflow = tmp / "overflow.safetensors"
    write_safetensors(overflow, {"0.weight": np.full((24, 24), 1e38, np.float32)})
    not_tiff.write_text("hello\n")
    narrow = tmp / "narrow.tif"
    tifffile.imwrite(narrow, np.ones((40, 16), np.float32))
    bad_pairs = tmp / "bad-pairs.csv"
    bad_pairs.write_text("0,1\n2,600\n")
    w = ("-w", HEAD, "--arch", "viscy-v2")
    return {
        "missing file": (1, [tmp / "no-such.tif"] + list(w)),
        "not a tiff": (1, [not_tiff] + list(w)),
        "missing weights": (1, [FEATURES, "-w", tmp / "no.safetensors"]),
        "width mismatch": (1, [narrow] + list(w)),
        "unknown stage": (2, [FEATURES, *w, "--stage", "7"]),
        "pair index": (1, [FEATURES, *w, "--pairs", bad_pairs]),
        "positives shape": (1, [FEATURES, *w, "--positives", narrow]),
        "weights and projections": (2, [FEATURES, *w, "--projections", DATA / "projections.tif"]),
        "pairs and positives": (2, [FEATURES, "--pairs", DATA / "pairs.csv", "--positives",
                                    DATA / "positives.tif"]),
        "precision": (2, [FEATURES, "--precision", "float16"]),
        "nonfinite policy": (2, [FEATURES, "--nonfinite", "skip"]),
        "nonfinite error": (1, [FEATURES, "--nonfinite", "error"]),
        "non-finite column": (1, [nan_column]),
        "head overflows": (1, [FEATURES, "-w", overflow, "--arch", "linear"]),
        "temperature": (2, [FEATURES, "--temperature", "0"]),
        "margin": (2, [FEATURES, "--margin", "-1"]),
        "pair batch": (2, [FEATURES, "--pair-batch", "1"]),
        "batch size without batch stats": (2, [FEATURES, *w, "--batch-size", "10"]),
        # several files are one stack (issue 13); files that disagree in D are bad input
        "two files of different widths": (1, [FEATURES, DATA / "projections.tif"]),
        "layout": (2, [FEATURES, "--layout", "rows"]),
    }


BAD_CASES = ["missing file", "not a tiff", "missing weights", "width mismatch", "unknown stage",
             "pair index", "positives shape", "weights and projections", "pairs and positives",
             "precision", "nonfinite policy", "nonfinite error", "non-finite column",
             "head overflows", "temperature", "margin", "pair batch",
             "batch size without batch stats", "two files of different widths", "layout"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_leaves_nothing(case, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    cases = bad_cases(inputs)
    assert sorted(cases) == sorted(BAD_CASES)
    code, args = cases[case]
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    p = run(*args, "-o", out, cwd=work)
    assert p.returncode == code, (case, p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert lines and lines[0].startswith("headrank: "), p.stderr
    if code == 1:
        assert len(lines) == 1, p.stderr
    assert os.listdir(work) == [], (case, os.listdir(work))
    assert leftovers(tmp_path) == []
    # and the default folder is not made either
    p = run(*args, cwd=work)
    assert p.returncode == code
    assert os.listdir(work) == []


def test_output_that_is_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me\n")
    p = run(FEATURES, "-o", target, cwd=tmp_path)
    assert p.returncode == 1
    assert len(p.stderr.splitlines()) == 1 and str(target) in p.stderr
    assert target.read_text() == "keep me\n"
    assert sorted(os.listdir(tmp_path)) == ["taken"]


def test_error_messages_name_the_problem(tmp_path):
    p = run(tmp_path / "no-such.tif", cwd=tmp_path)
    assert str(tmp_path / "no-such.tif") in p.stderr
    narrow = tmp_path / "narrow.tif"
    tifffile.imwrite(narrow, np.ones((40, 16), np.float32))
    p = run(narrow, "-w", HEAD, "--arch", "viscy-v2", "--json")
    assert p.returncode == 1
    assert str(narrow) in p.stderr and "16" in p.stderr and "24" in p.stderr
    p = run(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--stage", "7", "--json")
    assert "7" in p.stderr
    bad = tmp_path / "pairs.csv"
    bad.write_text("0,1\n2,600\n")
    p = run(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--pairs", bad, "--json")
    assert str(bad) in p.stderr and "600" in p.stderr
    # issue 12: a message about the pairs names the pair file, not the stack
    one = tmp_path / "one-pair.csv"
    one.write_text("0,1\n")
    p = run(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--pairs", one, "--json")
    assert p.returncode == 1, p.stderr
    assert p.stderr.startswith(f"headrank: {one}: ") and "at least two pairs" in p.stderr, p.stderr
    # "+0" is 0, not "outside the samples"
    plus = tmp_path / "plus.csv"
    plus.write_text("+0,+1\n2,3\n")
    assert run(FEATURES, "-w", HEAD, "--arch", "viscy-v2", "--pairs", plus, "--json").returncode == 0


# -- interruption -----------------------------------------------------------------------


def test_sigint_stops_the_run_and_writes_nothing(tmp_path):
    """A 200 000 × 64 stack through the bundled 64 → 192 → 64 head with every layer's
    spectrum runs for ~2.5 s (idle machine); SIGINT after 0.5 s cancels it at the next
    progress update: exit 130, one line, no report and no temporary file."""
    head = SAMPLE_DIR / "head-viscy-v0.safetensors"
    if not head.exists():
        pytest.skip(f"{head} does not exist")
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, np.random.default_rng(3).standard_normal((200_000, 64),
                                                                   dtype=np.float32))
    out = tmp_path / "out"
    proc = subprocess.Popen([TOOL, "analyze", str(big), "-w", str(head), "--arch", "viscy-v0",
                             "--stage", "all", "-o", str(out)],
                            env=base_env(), cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8")
    time.sleep(0.5)
    assert proc.poll() is None, "the run ended before the signal"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    # Generous: SIGINT is noticed at the next progress update, which the head's stream
    # gives after every chunk of at most 2,048 rows (a few milliseconds of work).
    assert time.monotonic() - t0 < 10.0
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert stdout == ""
    assert stderr.splitlines() == ["headrank: interrupted"]
    assert not (out / "report.json").exists()
    assert not out.exists() or os.listdir(out) == []
    assert leftovers(tmp_path) == []


def test_nonfinite_messages(tmp_path):
    """The messages of issue 10 §5, as a user reads them."""
    x = np.random.default_rng(3).standard_normal((300, 64)).astype(np.float32)
    x[:, 7] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", x)
    p = run(tmp_path / "nan.tif", "-o", tmp_path / "out")
    assert p.returncode == 1
    assert "1 feature column (7) is NaN or infinite in all 300 samples (300 non-finite values " \
        "in all)" in p.stderr
    p = run(FEATURES, "--nonfinite", "error", "-o", tmp_path / "out2")
    assert p.returncode == 1
    assert "non-finite policy “error”" in p.stderr
    r = analyze_json(FEATURES)
    assert "4 samples of 600 held NaN or infinite values (7 values) and were left out " \
        "(non-finite policy “drop”, the default)." in r["verdict"]["summary"]


def test_project_refuses_overflow(tmp_path):
    """A head whose outputs overflow: project fails naming the layer and the count, and
    writes nothing (it wrote 19,200 inf values and exited 0)."""
    x = np.random.default_rng(4).standard_normal((300, 64)).astype(np.float32)
    tifffile.imwrite(tmp_path / "in.tif", x)
    write_safetensors(tmp_path / "w.safetensors",
                      {"0.weight": np.full((64, 64), 1e38, np.float32)})
    out = tmp_path / "out.tif"
    p = cli_common.run("project", tmp_path / "in.tif", "-w", tmp_path / "w.safetensors",
                       "--arch", "linear", "-o", out)
    assert p.returncode == 1, p.stderr
    assert "layer 0 (linear) computes" in p.stderr
    assert "NaN or infinite values from finite inputs" in p.stderr
    assert not out.exists()


def overflowing_v2_head(path, rng, d=64, hidden=64, out=16):
    """A VisCy v2 head (Linear → BN → ReLU → Linear → BN) whose first Linear overflows in
    output 0 for inputs in [2, 3): every product 3e38 · x does, so layer 0 computes exactly
    one infinite value per sample in any order of summation. Channel 0 of the BatchNorm has
    scale 1, so the BatchNorm folded into the Linear overflows there too."""
    w0 = rng.standard_normal((hidden, d)).astype(np.float32) / np.sqrt(d)
    w0[0] = 3e38
    var1 = rng.uniform(0.5, 2.0, hidden).astype(np.float32)
    var1[0] = 1.0
    gamma1 = rng.uniform(0.5, 2.0, hidden).astype(np.float32)
    gamma1[0] = 1.0
    write_safetensors(path, {
        "0.weight": w0, "0.bias": np.zeros(hidden, np.float32),
        "1.weight": gamma1, "1.bias": np.zeros(hidden, np.float32),
        "1.running_mean": np.zeros(hidden, np.float32), "1.running_var": var1,
        "3.weight": rng.standard_normal((out, hidden)).astype(np.float32) / np.sqrt(hidden),
        "3.bias": np.zeros(out, np.float32),
        "4.weight": np.ones(out, np.float32), "4.bias": np.zeros(out, np.float32),
        "4.running_mean": np.zeros(out, np.float32), "4.running_var": np.ones(out, np.float32)})
    return path


def test_overflow_names_the_layer_in_a_fused_group(tmp_path):
    """The Linear, its folded BatchNorm and the ReLU run as one group: the error names the
    layer that first computes non-finite values, with its own count — layer 0 (linear), one
    per sample — not the ReLU that ends the group (it said 'layer 2 (relu) computes 55694
    …' for the VisCy v2 head with weights × 3e38)."""
    rng = np.random.default_rng(11)
    x = rng.uniform(2.0, 3.0, (300, 64)).astype(np.float32)
    tifffile.imwrite(tmp_path / "in.tif", x)
    head = overflowing_v2_head(tmp_path / "w.safetensors", rng)
    out = tmp_path / "out.tif"
    p = cli_common.run("project", tmp_path / "in.tif", "-w", head, "--arch", "viscy-v2",
                       "-o", out)
    assert p.returncode == 1, p.stderr
    assert "layer 0 (linear) computes 300 NaN or infinite values from finite inputs, in a " \
        "batch of 300 samples" in p.stderr, p.stderr
    assert not out.exists()
    p = cli_common.run("analyze", tmp_path / "in.tif", "-w", head, "--arch", "viscy-v2",
                       "-o", tmp_path / "report")
    assert p.returncode == 1, p.stderr
    assert "layer 0 (linear) computes 300 NaN or infinite values" in p.stderr, p.stderr
    assert not (tmp_path / "report").exists()


def test_project_counts_nonfinite_inputs(tmp_path):
    """project on a stack with NaN in some rows gives the count of non-finite values, like
    the analysis and an in-memory stack, over the whole stack (here 3 chunks of rows), not
    only 'non-finite values, the first at …'."""
    x = np.random.default_rng(12).standard_normal((5000, 64)).astype(np.float32)
    x[[3, 10, 11], 2] = np.nan
    x[10, 5] = np.inf
    x[4900, 0] = -np.inf
    tifffile.imwrite(tmp_path / "nanrows.tif", x)
    out = tmp_path / "out.tif"
    p = cli_common.run("project", tmp_path / "nanrows.tif", "-w", SAMPLE_DIR /
                       "head-viscy-v2.safetensors", "--arch", "viscy-v2", "-o", out)
    assert p.returncode == 1, p.stderr
    assert f"{tmp_path / 'nanrows.tif'}: 5 non-finite values, the first at sample 3, " \
        "feature 2" in p.stderr, p.stderr
    assert not out.exists()


@pytest.mark.parametrize("dtype, spacing", [(np.float32, 2.0 ** -149), (np.float16, 2.0 ** -24)])
def test_value_error_has_the_subnormal_floor(tmp_path, dtype, spacing):
    """Values near the format's smallest numbers are rounded absolutely, by up to half the
    subnormal spacing each: e ≥ √(N·D)·spacing/2 (it was u·‖X‖_F alone, 3.5e-48 for float32
    values around 1e-42)."""
    n, d = 400, 6
    k = np.random.default_rng(13).integers(-500, 501, (n, d))
    x = (k * spacing).astype(dtype)
    tifffile.imwrite(tmp_path / "tiny.tif", x)
    s = stage(analyze_json(tmp_path / "tiny.tif"), "features")
    e = s["rank_tolerance_parts"]["value_error"]
    floor = np.sqrt(n * d) * spacing / 2
    assert floor <= e <= 1.01 * floor + 1e-3 * np.linalg.norm(x.astype(np.float64)), (e, floor)
    assert s["rank"] == d

# -- several files as one stack -------------------------------------------------------------


def _split_features(tmp_path):
    x = tifffile.imread(FEATURES).astype(np.float32)
    cut = [0, x.shape[0] // 3, x.shape[0] // 2, x.shape[0]]
    folder = tmp_path / "fovs"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"fov{i}.tif", x[cut[i]:cut[i + 1]])
    return x, cut, folder


def test_analyze_several_files_folder_and_pattern(tmp_path):
    x, cut, folder = _split_features(tmp_path)
    whole = json.loads(cli_common.run("analyze", FEATURES, "--json").stdout)
    files = [folder / f"fov{i}.tif" for i in range(3)]
    for args in (files, [folder], [str(folder / "fov*.tif")]):
        r = cli_common.run("analyze", *args, "--json")
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        parts = report["input"]["parts"]
        assert [Path(p["features"]).name for p in parts] == ["fov0.tif", "fov1.tif", "fov2.tif"]
        assert [p["first_sample"] for p in parts] == cut[:3]
        assert [p["samples"] for p in parts] == [cut[i + 1] - cut[i] for i in range(3)]
        assert report["input"]["samples"] == x.shape[0]
        # the same numbers as the one file, up to the rounding of the accumulation (the
        # chunks differ): relative to the largest eigenvalue for the ones at noise level
        top = whole["stages"][0]["eigenvalues"][0]
        np.testing.assert_allclose(report["stages"][0]["eigenvalues"],
                                   whole["stages"][0]["eigenvalues"], rtol=1e-10,
                                   atol=1e-12 * top)


def test_analyze_files_must_agree_in_features(tmp_path):
    _, _, folder = _split_features(tmp_path)
    tifffile.imwrite(folder / "odd.tif", np.ones((5, 3), np.float32))
    out = tmp_path / "report"
    r = cli_common.run("analyze", folder, "-o", out)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "odd.tif" in r.stderr and "same number" in r.stderr
    assert not out.exists()
    r = cli_common.run("analyze", str(tmp_path / "nothing*.tif"), "-o", out)
    assert r.returncode == 1 and "no file matches" in r.stderr
    assert not out.exists()


def test_analyze_files_nonfinite_named_by_file(tmp_path):
    a = np.random.default_rng(1).standard_normal((40, 6)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((30, 6)).astype(np.float32)
    b[12, 4] = np.nan
    tifffile.imwrite(tmp_path / "a.tif", a)
    tifffile.imwrite(tmp_path / "b.tif", b)
    r = cli_common.run("analyze", tmp_path / "a.tif", tmp_path / "b.tif", "--nonfinite", "error",
                       "--json")
    assert r.returncode == 1
    # the file that holds it and the sample within that file
    assert "b.tif: sample 12, feature 4" in r.stderr, r.stderr
    r = cli_common.run("analyze", tmp_path / "a.tif", tmp_path / "b.tif", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["input"]["dropped_samples"] == 1


def test_analyze_projections_from_a_folder(tmp_path):
    x = tifffile.imread(FEATURES).astype(np.float32)
    p = tifffile.imread(DATA / "projections.tif").astype(np.float32)
    cut = x.shape[0] // 2
    for name, a in (("features", x), ("projections", p)):
        (tmp_path / name).mkdir()
        tifffile.imwrite(tmp_path / name / "1.tif", a[:cut])
        tifffile.imwrite(tmp_path / name / "2.tif", a[cut:])
    whole = json.loads(cli_common.run("analyze", FEATURES, "--projections",
                                      DATA / "projections.tif", "--json").stdout)
    r = cli_common.run("analyze", tmp_path / "features", "--projections",
                       str(tmp_path / "projections" / "*.tif"), "--json")
    assert r.returncode == 0, r.stderr
    split = json.loads(r.stdout)
    assert len(split["stages"]) == len(whole["stages"]) == 2
    for a, b in zip(split["stages"], whole["stages"]):
        assert a["name"] == b["name"]
        top = b["eigenvalues"][0]
        np.testing.assert_allclose(a["eigenvalues"], b["eigenvalues"], rtol=1e-10,
                                   atol=1e-12 * top)
