"""headrank compare (issue 14, §5), run by `meson test --suite cli`.

Reports made here with the bundled sample and the two bundled heads (data/head-viscy-v0,
v2); their comparison's numbers must be the reports' own; reports that do not agree are
refused or warned about; hostile report.json files get a one-line error; the outputs are
written whole.
"""

import csv
import json
import math
import os

import pytest

from cli_common import SOURCE_ROOT, TOOL, base_env, run

DATA = SOURCE_ROOT / "data"
FEATURES = DATA / "sample-embeddings.tif"

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)

MEASURES = ["rank", "rank_range", "effective_rank", "participation_ratio", "components", "alpha",
            "viscy_effective_rank", "roy_vetterli_effective_rank", "stable_rank", "nesum",
            "cka_with_features", "lightly_std", "dimension", "role", "name", "has_spectrum"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    made = {}
    for name, head, arch, extra in (("v0", "head-viscy-v0.safetensors", "viscy-v0", []),
                                    ("v2", "head-viscy-v2.safetensors", "viscy-v2",
                                     ["--stage", "all"])):
        p = run("analyze", FEATURES, "-w", DATA / head, "--arch", arch, "--pairs",
                DATA / "sample-pairs.csv", "-o", tmp / name, *extra)
        assert p.returncode == 0, p.stderr
        made[name] = tmp / name
    return tmp, made


def test_numbers_are_the_reports_own(reports):
    tmp, made = reports
    p = run("compare", made["v0"], made["v2"] / "report.json", "--json")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    cmp = json.loads(p.stdout)
    assert cmp["compare_format"] == 1 and cmp["warnings"] == []
    assert [r["label"] for r in cmp["reports"]] == ["v0", "v2"]
    for name, entry in zip(("v0", "v2"), cmp["reports"]):
        report = json.loads((made[name] / "report.json").read_text())
        assert entry["samples"] == report["input"]["samples"] == 4096
        assert entry["head"]["spec"] == report["head"]["architecture"]["spec"]
        assert len(entry["stages"]) == len(report["stages"])
        for mine, theirs in zip(entry["stages"], report["stages"]):
            for key in MEASURES:
                if theirs.get("has_spectrum") or key in ("dimension", "role", "name",
                                                         "has_spectrum", "cka_with_features",
                                                         "lightly_std"):
                    assert mine[key] == theirs.get(key), (name, mine["name"], key)
        assert entry["contrastive"]["alignment"] == report["contrastive"]["alignment"]
        assert entry["contrastive"]["lidar"] == report["contrastive"]["lidar"]
        assert entry["verdict_flags"] == report["verdict"]["flags"]
    # the heads' known difference: v0 inflates the rank (32 -> 64), v2 projects to 16
    proj = {r["label"]: [s for s in r["stages"] if s["role"] == "projections"][0]
            for r in cmp["reports"]}
    assert proj["v0"]["rank"] == 64 and proj["v2"]["rank"] == 16


def test_table_fits_and_shows_each_report(reports):
    tmp, made = reports
    for width in (80, 60):
        p = run("compare", made["v0"], made["v2"], env=base_env(COLUMNS=str(width)))
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert max(len(line) for line in lines) <= width
        rows = [line.split() for line in lines if line.split()[:1] in (["v0"], ["v2"])]
        assert rows[0][:5] == ["v0", "32", "21.91", "64", "64"], rows
        assert rows[1][:5] == ["v2", "32", "21.91", "16", "16"], rows
    # German
    p = run("compare", made["v0"], made["v2"], env=base_env(LANGUAGE="de", COLUMNS="80"))
    assert p.returncode == 0
    assert max(len(line) for line in p.stdout.splitlines()) <= 80


def test_output_folder(reports):
    tmp, made = reports
    out = tmp / "cmp"
    p = run("compare", made["v0"], made["v2"], "-o", out)
    assert p.returncode == 0, p.stderr
    names = sorted(os.listdir(out))
    assert names == ["compare.csv", "compare.json", "compare_explained_variance.png",
                     "compare_explained_variance.svg", "compare_rank.png", "compare_rank.svg"]
    assert (out / "compare_rank.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (out / "compare_rank.svg").read_bytes()[:400]
    cmp = json.loads((out / "compare.json").read_text())
    with open(out / "compare.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(r["stages"]) for r in cmp["reports"])
    for row in rows:
        entry = [r for r in cmp["reports"] if r["label"] == row["report"]][0]
        stage = [s for s in entry["stages"] if s["name"] == row["stage"]][0]
        if stage["has_spectrum"]:
            assert int(row["rank"]) == stage["rank"]
            assert float(row["effective_rank"]) == stage["effective_rank"]
            assert [int(row["rank_low"]), int(row["rank_high"])] == stage["rank_range"]
        else:
            assert row["rank"] == "" and row["effective_rank"] == ""
    # a second run replaces the files, leaves nothing temporary
    assert run("compare", made["v2"], made["v0"], "-o", out).returncode == 0
    assert sorted(os.listdir(out)) == names
    assert [r["label"] for r in json.loads((out / "compare.json").read_text())["reports"]] == [
        "v2", "v0"]


def edited(made, tmp, name, change):
    report = json.loads((made["v2"] / "report.json").read_text())
    change(report)
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(report))
    return path


def test_reports_that_do_not_agree(reports):
    tmp, made = reports
    other_shape = edited(made, tmp, "n10", lambda r: r["input"].update(samples=10))
    p = run("compare", made["v0"], other_shape)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "different features" in p.stderr
    assert "4096 × 64 and 10 × 64" in p.stderr
    old = edited(made, tmp, "old", lambda r: r.update(report_format=1))
    p = run("compare", made["v0"], old)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "report format 1" in p.stderr
    other_file = edited(made, tmp, "other", lambda r: r["input"].update(features="/x/other.tif"))
    p = run("compare", made["v0"], other_file, "--json")
    assert p.returncode == 0
    assert "warning" in p.stderr and "/x/other.tif" in p.stderr
    assert json.loads(p.stdout)["warnings"]

    def change_features(r):
        r["stages"][0]["effective_rank"] += 1.0

    changed = edited(made, tmp, "changed", change_features)
    p = run("compare", made["v0"], changed, "--json")
    assert p.returncode == 0 and "warning" in p.stderr


HOSTILE = {
    "empty": b"",
    "not json": b"not json",
    "deep": b"[" * 100000,
    "two objects": b"{}{}",
    "array": b"[1, 2]",
    "comment": b'{"report_format": 2 /* x */}',
    "no format": b"{}",
    "format string": b'{"report_format": "2"}',
    "no input": b'{"report_format": 2, "stages": []}',
    "no stages": b'{"report_format": 2, "input": {"samples": 5, "features_dimension": 3}}',
    "stages not list": (b'{"report_format": 2, "input": {"samples": 5, "features_dimension": 3},'
                        b' "stages": {}}'),
    "stage garbage": (b'{"report_format": 2, "input": {"samples": 5, "features_dimension": 3},'
                      b' "stages": [7]}'),
    "nul": b'{"report_format": 2\x00}',
    "invalid utf8": b'{"report_format": 2, "x": "\xff\xfe"}',
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_report_json(reports, tmp_path, case):
    tmp, made = reports
    path = tmp_path / "report.json"
    path.write_bytes(HOSTILE[case])
    p = run("compare", made["v0"], tmp_path)
    assert p.returncode == 1, (case, p.stdout, p.stderr)
    assert p.stderr.startswith("headrank: ") and p.stderr.count("\n") == 1, p.stderr
    assert "report.json" in p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("member,value", [
    ("rank", -1), ("rank", 10**6), ("rank", "64"), ("rank_range", [1]), ("rank_range", [40, 2]),
    ("effective_rank", "x"), ("components", None), ("cumulative_explained_variance", ["a"]),
    ("dimension", 0), ("has_spectrum", 1), ("name", 5),
])
def test_wrong_members_name_the_member(reports, tmp_path, member, value):
    tmp, made = reports
    report = json.loads((made["v2"] / "report.json").read_text())
    report["stages"][-1][member] = value
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    p = run("compare", made["v0"], path)
    assert p.returncode == 1, (member, value)
    assert p.stderr.count("\n") == 1 and f"stages[{len(report['stages']) - 1}]." in p.stderr


def test_usage(reports):
    tmp, made = reports
    p = run("compare")
    assert p.returncode == 2
    p = run("compare", "--bogus", made["v0"])
    assert p.returncode == 2
    p = run("compare", tmp / "missing")
    assert p.returncode == 1 and p.stderr.count("\n") == 1
    (tmp / "afile").write_text("x")
    p = run("compare", made["v0"], "-o", tmp / "afile")
    assert p.returncode == 1 and "not a folder" in p.stderr
    p = run("--help")
    assert "compare REPORT…" in p.stdout + p.stderr


def test_number_too_large_for_a_double_is_refused(reports, tmp_path):
    """JSON has no infinity: 1e400 in a report overflows a double, which compared unequal to
    itself (libFuzzer found a report whose comparison with itself warned that the features
    changed); it is refused as a damaged member."""
    tmp, made = reports
    report = json.loads((made["v2"] / "report.json").read_text())
    report["stages"][0]["effective_rank"] = 12345.5
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report).replace("12345.5", "1e400"))
    p = run("compare", path, path)
    assert p.returncode == 1, p.stdout
    assert p.stderr.count("\n") == 1 and "stages[0].effective_rank" in p.stderr, p.stderr
    assert "finite" in p.stderr


@pytest.mark.parametrize("value", ["1e400", "-1e400"])
def test_array_number_too_large_for_a_double_is_refused(reports, tmp_path, value):
    """The elements of cumulative_explained_variance are checked as the scalar members are:
    1e400 (an infinity once read) is refused, naming the element, rather than drawn."""
    tmp, made = reports
    report = json.loads((made["v2"] / "report.json").read_text())
    curve = report["stages"][1]["cumulative_explained_variance"]
    assert len(curve) > 2
    curve[2] = 12345.5
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report).replace("12345.5", value))
    p = run("compare", made["v2"], path)
    assert p.returncode == 1, p.stdout
    assert p.stderr.count("\n") == 1, p.stderr
    assert "stages[1].cumulative_explained_variance[2] is not a finite number" in p.stderr, p.stderr
    assert str(path) in p.stderr
