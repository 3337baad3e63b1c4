"""What the command's outputs may replace and how they are written (issue 12, items 8, 9 and
11), run by `meson test --suite cli`. Signals, full disks and concurrent runs are in the
faults suite (tests/faults).

- An output that exists must be a regular file (`project -o`) or a folder (`analyze -o`):
  devices, FIFOs, sockets and links to them are refused with one line and exit 1, and stay
  as they were (`-o /dev/null` as root must never replace /dev/null).
- A symbolic link is followed: the file or folder it points to is replaced, the link stays.
  A link to nothing is refused.
- A report replaces its folder as a whole, so the folder must be new, empty, or hold a
  headrank report; not the current folder or one of its parents.
- JSON (`--json` of info, analyze, head describe, and report.json) is valid UTF-8 whatever
  the file names (U+FFFD for bytes that are not UTF-8); the CSV files quote as RFC 4180 says.
  Every JSON here is read with json.loads from bytes decoded strictly as UTF-8, every CSV
  with the csv module.
"""

import csv
import json
import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cli_common import SOURCE_ROOT, TOOL, base_env, write_safetensors

DATA = Path(os.environ.get("HEADRANK_DATADIR") or SOURCE_ROOT / "data")
HEAD = DATA / "head-viscy-v0.safetensors"
HEAD_ARGS = ["-w", HEAD, "--arch", "viscy-v0"]

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`")


def run(*args, cwd, stdout=subprocess.PIPE):
    """The command with arguments that may be bytes (file names that are not UTF-8)."""
    return subprocess.run([os.fsencode(TOOL), *[a if isinstance(a, bytes) else os.fsencode(str(a))
                                                for a in args]],
                          env=base_env(), cwd=cwd, stdout=stdout, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=120)


def one_line_error(p):
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.decode("utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("headrank: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "x.tif"
    tifffile.imwrite(path, np.random.default_rng(5).standard_normal((200, 64), dtype=np.float32))
    return path


def leftovers(directory):
    return [f for _, dirs, files in os.walk(directory) for f in dirs + files
            if ".headrank-" in f or ("." in f and len(f.rsplit(".", 1)[1]) == 6)]


# -- item 8: what an output may replace --------------------------------------------------


def test_project_never_replaces_dev_null(stack, tmp_path):
    before = os.stat("/dev/null")
    for target in ("/dev/null", "/proc/self/fd/2"):
        line = one_line_error(run("project", stack, *HEAD_ARGS, "-o", target, cwd=tmp_path))
        assert "headrank replaces only regular files" in line, line
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    line = one_line_error(run("project", stack, *HEAD_ARGS, "-o", link, cwd=tmp_path))
    assert f"{link} is a character device" in line
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino
    assert os.readlink(link) == "/dev/null"
    assert sorted(os.listdir(tmp_path)) == ["null-link"]


def test_project_refuses_a_fifo_without_waiting_on_it(stack, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    line = one_line_error(run("project", stack, *HEAD_ARGS, "-o", fifo, cwd=tmp_path))
    assert f"{fifo} is a FIFO" in line
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


def test_analyze_never_replaces_dev_null(stack, tmp_path):
    for target in ("/dev/null", tmp_path / "link"):
        if target != "/dev/null":
            target.symlink_to("/dev/null")
        one_line_error(run("analyze", stack, "-o", target, cwd=tmp_path))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sorted(os.listdir(tmp_path)) == ["link"]


def test_a_link_to_a_file_is_followed(stack, tmp_path):
    """`-o LINK` replaces the file LINK points to, as the shell's `>` writes through it; the
    link stays a link."""
    real = tmp_path / "real.tif"
    real.write_bytes(b"old contents")
    link = tmp_path / "link.tif"
    link.symlink_to("real.tif")
    p = run("project", stack, *HEAD_ARGS, "-o", link, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert os.readlink(link) == "real.tif"
    assert tifffile.imread(real).shape == (200, 64)
    assert sorted(os.listdir(tmp_path)) == ["link.tif", "real.tif"]


def test_a_link_to_nothing_is_refused(stack, tmp_path):
    link = tmp_path / "dangling.tif"
    link.symlink_to("nowhere.tif")
    line = one_line_error(run("project", stack, *HEAD_ARGS, "-o", link, cwd=tmp_path))
    assert str(link) in line
    assert sorted(os.listdir(tmp_path)) == ["dangling.tif"]


def test_a_link_to_a_report_folder_is_followed(stack, tmp_path):
    real = tmp_path / "real"
    assert run("analyze", stack, "-o", real, cwd=tmp_path).returncode == 0
    link = tmp_path / "latest"
    link.symlink_to("real")
    p = run("analyze", stack, *HEAD_ARGS, "-o", link, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert os.readlink(link) == "real"
    report = json.loads((real / "report.json").read_bytes().decode("utf-8"))
    assert report["head"] is not None
    assert sorted(os.listdir(tmp_path)) == ["latest", "real"]


# -- item 9: the report replaces its folder as a whole -------------------------------------


def test_report_replaces_an_older_report_whole(stack, tmp_path):
    """A report with maps or extra files from an older run leaves none of them behind."""
    out = tmp_path / "out"
    assert run("analyze", stack, *HEAD_ARGS, "-o", out, cwd=tmp_path).returncode == 0
    (out / "map-projections-norm.tif").write_bytes(b"from an older, per-pixel run")
    mode = 0o750
    out.chmod(mode)
    assert run("analyze", stack, "-o", out, cwd=tmp_path).returncode == 0
    assert "map-projections-norm.tif" not in os.listdir(out)
    assert json.loads((out / "report.json").read_text())["head"] is None
    assert stat.S_IMODE(os.stat(out).st_mode) == mode  # the folder's mode is kept
    assert leftovers(tmp_path) == []


def test_report_into_an_empty_folder(stack, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert run("analyze", stack, "-o", out, cwd=tmp_path).returncode == 0
    assert (out / "report.json").exists()


def test_report_refuses_a_folder_of_other_files(stack, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    line = one_line_error(run("analyze", stack, "-o", out, cwd=tmp_path))
    assert str(out) in line and "no headrank report" in line
    assert os.listdir(out) == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me\n"
    assert sorted(os.listdir(tmp_path)) == ["mine"]


def test_report_refuses_the_current_folder(stack, tmp_path):
    work = tmp_path / "work"
    assert run("analyze", stack, "-o", work, cwd=tmp_path).returncode == 0
    before = sorted(os.listdir(work))
    for target in (".", "..", work):
        line = one_line_error(run("analyze", stack, "-o", target, cwd=work))
        assert "holds the current folder" in line
    assert sorted(os.listdir(work)) == before


def test_report_makes_missing_parents_and_removes_them_on_failure(stack, tmp_path):
    out = tmp_path / "a" / "b" / "out"
    assert run("analyze", stack, "-o", out, cwd=tmp_path).returncode == 0
    assert (out / "report.json").exists()
    # a parent the report cannot be written under: nothing made stays
    blocked = tmp_path / "c"
    blocked.write_text("a file")
    one_line_error(run("analyze", stack, "-o", blocked / "d" / "out", cwd=tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["a", "c"]


# -- item 11: valid UTF-8 JSON and RFC 4180 CSV --------------------------------------------


def load_json(data):
    return json.loads(data.decode("utf-8"))  # strict: raises on any byte that is not UTF-8


def test_json_is_valid_utf8_for_names_that_are_not(stack, tmp_path):
    name = b"feat\xff\xfe-\xc3(.tif"  # invalid bytes and a cut sequence
    path = os.fsencode(tmp_path) + b"/" + name
    Path(os.fsdecode(path)).write_bytes(stack.read_bytes())
    want = path.decode("utf-8", "replace")

    p = run("info", path, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert load_json(p.stdout)["file"] == want

    p = run("analyze", path, *HEAD_ARGS, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert load_json(p.stdout)["input"]["features"] == want

    out = os.fsencode(tmp_path) + b"/report\xfe"
    p = run("analyze", path, *HEAD_ARGS, "-o", out, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    with open(out + b"/report.json", "rb") as f:
        report = load_json(f.read())
    assert report["input"]["features"] == want and "\ufffd" in want

    weights = os.fsencode(tmp_path) + b"/head\xff.safetensors"
    Path(os.fsdecode(weights)).write_bytes(HEAD.read_bytes())
    p = run("head", "describe", weights, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert load_json(p.stdout)["file"].endswith("head\ufffd.safetensors")


def test_error_names_a_weights_file_that_is_not_utf8_once(stack, tmp_path):
    """A weights file whose name is not UTF-8: the error names it once, as shown (U+FFFD),
    not the raw bytes followed by the shown name ("head\xff.safetensors: head\ufffd…")."""
    weights = os.fsencode(tmp_path) + b"/missing\xff.safetensors"
    for args in (("head", "describe", weights), ("project", stack, "-w", weights, "-o", "p.tif")):
        line = one_line_error(run(*args, cwd=tmp_path))
        assert line.count("missing") == 1, line
        assert "missing\ufffd.safetensors" in line, line



def test_csv_quotes_module_names(stack, tmp_path):
    """Layer names from tensor keys with a comma, quotes, a newline and a semicolon: every
    CSV reads back with the csv module (and pandas' C parser) with the names intact."""
    rng = np.random.default_rng(7)
    first, second = 'a,"b"\nc', "z;2 \u00e9"
    weights = tmp_path / "odd.safetensors"
    write_safetensors(weights, {f"projection.{first}.weight": rng.standard_normal((8, 64)),
                                f"projection.{first}.bias": rng.standard_normal(8),
                                f"projection.{second}.weight": rng.standard_normal((4, 8))})
    out = tmp_path / "out"
    p = run("analyze", stack, "-w", weights, "--arch", "linear,relu,linear", "--stage", "all",
            "-o", out, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    report = load_json((out / "report.json").read_bytes())
    stages = [s["name"] for s in report["stages"]]
    assert first in stages
    with open(out / "per_sample.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 201 and {len(r) for r in rows} == {len(rows[0])}
    assert f"{first}_mean" in rows[0] and f"{first}_norm" in rows[0]
    with open(out / "per_dimension.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["stage"] for r in rows].count(first) == 8
    assert len(rows) == sum(s["dimension"] for s in report["stages"])
    try:
        import pandas
    except ImportError:
        return
    frame = pandas.read_csv(out / "per_sample.csv")
    assert frame.shape[0] == 200 and f"{first}_std" in frame.columns


# -- issue 15, item 5: the per-sample table at scale --------------------------------------


def test_per_sample_csv_gz_and_none(stack, tmp_path):
    """--per-sample=csv|csv.gz|none: the gzip table holds the plain table's bytes (read back
    with gzip, the csv module and pandas), none writes no table, and report.json says which
    in outputs.per_sample; anything else is a usage error that writes nothing."""
    import gzip

    reports = {}
    for fmt in ("csv", "csv.gz", "none"):
        out = tmp_path / fmt
        p = run("analyze", stack, *HEAD_ARGS, "--per-sample", fmt, "-o", out, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        reports[fmt] = load_json((out / "report.json").read_bytes())
        assert leftovers(out) == []
    plain = (tmp_path / "csv" / "per_sample.csv").read_bytes()
    packed = (tmp_path / "csv.gz" / "per_sample.csv.gz").read_bytes()
    assert packed[:2] == b"\x1f\x8b"  # a gzip stream
    assert gzip.decompress(packed) == plain
    assert not (tmp_path / "csv.gz" / "per_sample.csv").exists()
    assert not (tmp_path / "csv" / "per_sample.csv.gz").exists()
    assert sorted(f.name for f in (tmp_path / "none").iterdir() if "per_sample." in f.name
                  and f.suffix not in (".png", ".svg")) == []
    assert {r["outputs"]["per_sample"]["format"] for r in reports.values()} == \
        {"csv", "csv.gz", "none"}
    assert reports["csv"]["outputs"]["per_sample"] == \
        {"format": "csv", "file": "per_sample.csv", "rows": 200,
         "statistics_held": True}
    assert reports["csv.gz"]["outputs"]["per_sample"] == \
        {"format": "csv.gz", "file": "per_sample.csv.gz", "rows": 200,
         "statistics_held": True}
    assert reports["none"]["outputs"]["per_sample"] == \
        {"format": "none", "file": None, "rows": 200,
         "statistics_held": True}
    # the rest of the report does not depend on the table's format
    for r in reports.values():
        r.pop("outputs")
        r.pop("software")
    assert reports["csv"] == reports["csv.gz"] == reports["none"]
    with gzip.open(tmp_path / "csv.gz" / "per_sample.csv.gz", "rt", newline="",
                   encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 201 and [int(r[0]) for r in rows[1:]] == list(range(200))
    try:
        import pandas
    except ImportError:
        return
    frame = pandas.read_csv(tmp_path / "csv.gz" / "per_sample.csv.gz")
    assert frame.equals(pandas.read_csv(tmp_path / "csv" / "per_sample.csv"))
    assert frame.shape[0] == 200


def test_per_sample_bad_value_is_a_usage_error(stack, tmp_path):
    out = tmp_path / "out"
    p = run("analyze", stack, "--per-sample", "zip", "-o", out, cwd=tmp_path)
    assert p.returncode == 2
    assert "unknown per-sample table “zip” (csv, csv.gz or none)" in p.stderr.decode()
    assert not out.exists()
    helptext = run("analyze", "--help", cwd=tmp_path).stdout.decode()
    assert "--per-sample=FORMAT" in helptext and "csv.gz" in helptext
