"""headrank analyze: wide stacks, the memory bound, --standardize and the second table of
measures (issue 10, sections 4 and 6)."""

import json
import os

import numpy as np
import pytest
import tifffile

from cli_common import SOURCE_ROOT, run

CELL_FEATURES = SOURCE_ROOT / "data" / "sample-qpi-cell-features.tif"


def test_two_by_100000_runs_on_the_small_side(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 100_000)).astype(np.float32)
    tifffile.imwrite(tmp_path / "x.tif", x)
    r = run("analyze", tmp_path / "x.tif", "--json")
    assert r.returncode == 0, r.stderr
    stage = json.loads(r.stdout)["stages"][0]
    assert stage["spectrum_from"] == "gram"
    assert stage["rank"] == 1 and stage["matrix_rank"] == 2
    s = np.linalg.svd(x.astype(np.float64), compute_uv=False)
    assert np.allclose(stage["uncentred_singular_values"], s, rtol=1e-9)


def test_both_huge_is_refused_before_allocating(tmp_path):
    """100,000 × 100,000 float32 (a sparse file of 40 GB): neither the scatter matrix nor the
    rows fit the bound; the run stops at once, naming the sizes, with exit 1."""
    path = tmp_path / "huge.tif"
    m = tifffile.memmap(path, shape=(100_000, 100_000), dtype=np.float32)
    del m
    if os.stat(path).st_blocks * 512 > 1 << 26:
        pytest.skip("the file system does not keep the file sparse")
    r = run("analyze", path, "--json", "--memory-limit", "16")
    assert r.returncode == 1
    assert r.stdout == ""
    line = r.stderr.strip()
    assert "\n" not in line
    # 24·D² + 8·2048·D bytes; GLib's sizes have a no-break space before the unit
    assert "the 100000 × 100000 scatter matrix needs 225.0\u00a0GiB" in line, line
    assert "memory limit of 16.0\u00a0GiB" in line


def test_memory_limit_names_the_rows_of_a_wide_stack(tmp_path):
    x = np.ones((300, 5000), np.float32)
    tifffile.imwrite(tmp_path / "x.tif", x)
    r = run("analyze", tmp_path / "x.tif", "--json", "--memory-limit", "0.001")
    assert r.returncode == 1
    assert "keeping the 300 × 5000 samples for their Gram matrix needs" in r.stderr


def test_memory_limit_is_checked():
    r = run("analyze", CELL_FEATURES, "--json", "--memory-limit", "-1")
    assert r.returncode == 2
    assert "--memory-limit" in r.stderr


@pytest.mark.parametrize("value", ["0", "1e-12", "abc", "nan", "inf", "1e300", "2GiB", ""])
def test_memory_limit_of_nothing_is_refused(value):
    """0 bytes stand for the default in the library: a limit given as 0 (or that rounds to
    less than a byte) must be refused, not run with half the physical memory."""
    r = run("analyze", CELL_FEATURES, "--json", "--memory-limit", value)
    assert r.returncode == 2, (value, r.returncode, r.stderr)
    assert r.stdout == ""
    assert "--memory-limit takes a number of GiB, more than 0" in r.stderr


def test_memory_limit_of_a_byte_is_a_limit():
    """The smallest limit taken (a byte) stops the run: it is not the default."""
    r = run("analyze", CELL_FEATURES, "--json", "--memory-limit", "1e-9")
    assert r.returncode == 1, r.stderr
    assert "more than the memory limit of 1 byte" in r.stderr, r.stderr


def test_standardize_on_the_bundled_cell_features():
    plain = json.loads(run("analyze", CELL_FEATURES, "--json").stdout)["stages"][0]
    r = run("analyze", CELL_FEATURES, "--json", "--standardize")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    std = j["stages"][0]
    assert j["input"]["standardized"] is True
    # one channel's variance dominates the raw spectrum, not the standardised one
    assert plain["effective_rank"] < 2
    assert std["effective_rank"] > 3 * plain["effective_rank"]
    assert std["centring"].startswith("standardized")
    x = tifffile.imread(CELL_FEATURES).reshape(16, -1).T.astype(np.float64)
    xs = (x - x.mean(0)) / x.std(0)
    ref = np.linalg.eigvalsh(np.cov(xs, rowvar=False))[::-1]
    assert np.allclose(std["eigenvalues"], ref, rtol=1e-6, atol=1e-9 * ref[0])


def test_second_table_and_lidar_fit_80_columns(tmp_path):
    text = run("analyze", "--output", tmp_path / "report")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("stage") and "viscy.er" in l)
    assert lines[head].split() == ["stage", "viscy.er", "RV.er", "s.rank", "NESum", "CKA",
                                   "norm.rank", "lightly"]
    rows = lines[head + 1:head + 4]
    # every stage with a spectrum: the ReLU's too, by default since issue 16
    assert [r.split()[0] for r in rows] == ["features", "1", "projections"]
    assert all(len(l) <= 80 for l in lines[head:head + 4])
    assert any(l.startswith("LiDAR of the pairs: ") for l in lines)


def test_lidar_left_out_by_the_memory_limit_is_said(tmp_path):
    """LiDAR needs five D × D float64 matrices (40·D² bytes); when they pass the memory limit
    the library leaves it out (NaN), and the table says so instead of printing nothing."""
    rng = np.random.default_rng(0)

    def analyze(d, *extra):
        x = rng.standard_normal((30, d)).astype(np.float32)
        tifffile.imwrite(tmp_path / f"x{d}.tif", x)
        p = x + 0.1 * rng.standard_normal(x.shape).astype(np.float32)
        tifffile.imwrite(tmp_path / f"p{d}.tif", p)
        return run("analyze", tmp_path / f"x{d}.tif", "--layout", "matrix", "--positives",
                   tmp_path / f"p{d}.tif", "--memory-limit", "0.01", *extra)

    # 40 · 600² bytes = 13.7 MiB > 0.01 GiB; GLib's sizes have a no-break space before the unit
    r = analyze(600, "--output", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert ("LiDAR of the pairs: left out: its five 600 × 600 matrices need 13.7\u00a0MiB, "
            "more than the memory limit of 10.2\u00a0MiB (--memory-limit)") in r.stdout, r.stdout
    assert json.loads(analyze(600, "--json").stdout)["contrastive"]["lidar"] is None
    # 40 · 400² bytes = 6.1 MiB: the number
    r = analyze(400, "--output", tmp_path / "out2")
    assert r.returncode == 0, r.stderr
    assert "left out" not in r.stdout
    assert "LiDAR of the pairs: " in r.stdout


def test_second_table_names_stages_as_the_first(tmp_path):
    """Hidden stages carry their layer's kind in both tables ("2 (relu)"), within 80 columns."""
    r = run("analyze", "--stage", "all", "--output", tmp_path / "report")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    first = [i for i, l in enumerate(lines) if l.startswith("stage")]
    assert len(first) == 2

    def labels(start):
        out = []
        for l in lines[start + 1:]:
            if not l.strip() or l.startswith("("):
                break
            out.append(l[:14].rstrip())
        return out

    one, two = labels(first[0]), labels(first[1])
    assert one == two, (one, two)
    assert any(" (relu)" in l for l in two), two
    assert all(len(l) <= 80 for l in lines[first[1]:first[1] + 1 + len(two)])
