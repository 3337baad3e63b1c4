"""The faults suite (`meson test --suite faults`): what a signal, a full disk or a second
run on the same output leaves behind.

The promise (README, headrank(1), doc/analysis.md): after `headrank analyze -o DIR` or
`headrank project -o OUT`, whatever happened,

- exit status 0: the new output is complete and in place;
- exit status 128 + N after signal N (SIGINT 130, SIGTERM 143, SIGHUP 129): the previous
  output is exactly as it was (or there is none, if there was none), one line on standard
  error, and nothing temporary is left;
- exit status 1 (a full disk, another error): the same, with the error on one line;
- SIGKILL: the previous output intact or the new one complete; its temporary files or folder
  (`.NAME.headrank-…`) stay until the next run on the same output, which removes them.

Signals reach the writing at every point of it: the debug variable HEADRANK_DEBUG_STOP=k
stops the process (SIGSTOP) at the k-th checkpoint of its output (HEADRANK_DEBUG_STOP=list
names them), the test sends the signal, then SIGCONT. Where a cancellation check still comes
before the output is renamed into place the exit status must be 128 + N, after it 0. Then
signals at times spread evenly over a real run, with no stop, must keep the same promise.
A full disk is a small tmpfs (mounted when run as root; skipped otherwise).
"""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_common import SOURCE_ROOT, TOOL, base_env  # noqa: E402

DATA = Path(os.environ.get("HEADRANK_DATADIR") or SOURCE_ROOT / "data")
HEAD = DATA / "head-viscy-v0.safetensors"
HEAD_ARGS = ["-w", str(HEAD), "--arch", "viscy-v0"]
REPORT_FILES = sorted(
    ["report.json", "per_sample.csv", "per_dimension.csv"]
    + [f"{n}.{e}" for n in ("explained_variance", "singular_values", "per_sample", "zero_fraction")
       for e in ("png", "svg")])
CATCHABLE = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
ALL_SIGNALS = CATCHABLE + [signal.SIGKILL]

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite faults`")


# -- inputs and checks ------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Stacks for the head (64 features): A (300 samples) writes the previous report, B (500)
    the new one; P-OLD the previous projection, P (40,000 samples, 40 strips of output) the
    new one; BIG (100,000) runs long enough to be interrupted at set times."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(12)
    stacks = {}
    for name, n in (("a", 300), ("b", 500), ("p-old", 3000), ("p", 40_000), ("big", 100_000)):
        path = d / f"{name}.tif"
        tifffile.imwrite(path, rng.standard_normal((n, 64), dtype=np.float32))
        stacks[name] = (path, n)
    return stacks


def run(*args, cwd, env=None, timeout=120):
    return subprocess.run([TOOL, *[str(a) for a in args]], env=env or base_env(), cwd=cwd,
                          capture_output=True, encoding="utf-8", errors="replace",
                          timeout=timeout, stdin=subprocess.DEVNULL)


def snapshot(path):
    """Every byte of a file, or of each file of a folder; None if it does not exist."""
    path = Path(path)
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return path.read_bytes() if path.exists() else None


def leftovers(root):
    """Temporary names under @root: the `.NAME.headrank-…` of the writers, and any NAME.XXXXXX
    (no file headrank writes has a six-character extension)."""
    found = []
    for top, dirs, files in os.walk(root):
        for f in dirs + files:
            if ".headrank-" in f or ("." in f and len(f.rsplit(".", 1)[1]) == 6):
                found.append(os.path.join(top, f))
    return found


def remove_leftovers(root):
    """Removes what SIGKILL left (as the next run on the output would)."""
    for f in leftovers(root):
        if os.path.isdir(f):
            shutil.rmtree(f)
        elif os.path.lexists(f):
            os.unlink(f)


def check_report(folder, stack, n):
    """A complete report of @stack: every file, each whole and consistent with the others."""
    folder = Path(folder)
    assert sorted(os.listdir(folder)) == REPORT_FILES
    report = json.loads((folder / "report.json").read_bytes().decode("utf-8"))
    assert report["input"]["features"] == str(stack)
    assert report["input"]["samples"] == n
    with open(folder / "per_sample.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == n + 1 and {len(r) for r in rows} == {len(rows[0])}
    assert [int(r[0]) for r in rows[1:]] == list(range(n))
    with open(folder / "per_dimension.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + sum(s["dimension"] for s in report["stages"])
    for name in REPORT_FILES:
        data = (folder / name).read_bytes()
        if name.endswith(".png"):
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
        elif name.endswith(".svg"):
            assert data.rstrip().endswith(b"</svg>")


def check_projection(path, n):
    y = tifffile.imread(path)
    assert y.shape == (n, 64) and y.dtype == np.float32 and np.isfinite(y).all()


def checkpoints(args, cwd, **env):
    """The names of the checkpoints a run passes (HEADRANK_DEBUG_STOP=list)."""
    p = run(*args, cwd=cwd, env=base_env(HEADRANK_DEBUG_STOP="list", **env))
    assert p.returncode == 0, p.stderr
    names = []
    for line in p.stderr.splitlines():
        m = re.fullmatch(r"headrank: checkpoint (\d+): (.*)", line)
        if m:
            assert int(m.group(1)) == len(names) + 1
            names.append(m.group(2))
    return names


def run_stopped(args, cwd, k, sig, **env):
    """Runs the command, stopped at checkpoint @k, sends @sig and continues it. Returns the
    exit status (negative for a signal that killed it) and standard error."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([TOOL, *[str(a) for a in args]], cwd=cwd, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL,
                                env=base_env(HEADRANK_DEBUG_STOP=str(k), **env))
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), f"ended before checkpoint {k}: {status}"
        os.kill(proc.pid, sig)
        os.kill(proc.pid, signal.SIGCONT)
        code = proc.wait(timeout=120)
        err.seek(0)
        return code, err.read()


def check_outcome(code, stderr, sig, before, check_new, out, root):
    """The promise, whatever the outcome: 0 and the new output, 128 + N and the previous one,
    or after SIGKILL either; returns which ("new" or "old")."""
    if sig == signal.SIGKILL and code != 0:  # (0: it ended before the signal)
        assert code == -signal.SIGKILL, (code, stderr)
        assert all(".headrank-" in f for f in leftovers(root)), leftovers(root)
        if snapshot(out) == before:
            return "old"
        check_new()
        return "new"
    assert leftovers(root) == [], leftovers(root)
    if code == 0:
        check_new()
        return "new"
    if code == -sig:
        # the signal came before the command set its handlers, in the dynamic loader or
        # GLib's start (the first of timed_signals()'s runs gets it within milliseconds of
        # the start, too early on a loaded machine): killed before it touched anything
        assert stderr == "" and snapshot(out) == before, (code, stderr)
        return "old"
    assert code == 128 + sig, (code, stderr)
    assert len(stderr.splitlines()) == 1 and stderr.startswith("headrank: interrupted"), stderr
    assert snapshot(out) == before
    return "old"


# -- signals at every checkpoint ----------------------------------------------------------


@pytest.mark.parametrize("previous", ["report", "report-two-renames", "none"])
def test_analyze_signal_at_every_checkpoint(inputs, tmp_path, previous):
    """analyze with the report of A in DIR (or no DIR) writes the report of B; at each
    checkpoint of the writing one of INT, TERM and HUP (in turn), and KILL (with a previous
    report). "report-two-renames": the swap of file systems without RENAME_EXCHANGE
    (HEADRANK_DEBUG_NO_EXCHANGE), where SIGKILL between its two renames leaves the
    previous report set aside, and the next run puts it back before it writes."""
    (a, na), (b, nb) = inputs["a"], inputs["b"]
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    args = ["analyze", b, *HEAD_ARGS, "-o", out]
    env = {"HEADRANK_DEBUG_NO_EXCHANGE": "1"} if previous == "report-two-renames" else {}
    if previous != "none":
        assert run("analyze", a, *HEAD_ARGS, "-o", out, cwd=work).returncode == 0
        check_report(out, a, na)
        template = tmp_path / "template"
        shutil.copytree(out, template)
    names = checkpoints(args, work, **env)
    shutil.rmtree(out)
    commit = names.index("about to rename the folder" if previous == "none"
                         else "about to swap the folders")
    assert names[:2] == ["folder locked", "temporary folder made"]
    assert set(REPORT_FILES) <= set(names[2:commit])
    assert names[commit + 1:] == {
        "report": ["folder in place", "previous folder removed"],
        "report-two-renames": ["previous folder set aside", "folder in place",
                               "previous folder removed"],
        "none": ["folder in place"]}[previous]
    # the two renames differ from the exchange only from the swap on
    first = commit if previous == "report-two-renames" else 1
    for k in range(first, len(names) + 1):
        catchable = CATCHABLE[k % len(CATCHABLE)]
        for sig in [catchable] if previous == "none" else [catchable, signal.SIGKILL]:
            if previous != "none":
                shutil.copytree(template, out)
            before = snapshot(out)
            code, stderr = run_stopped(args, work, k, sig, **env)
            if names[k - 1] == "previous folder set aside" and sig == signal.SIGKILL:
                # killed between the two renames: the folder is missing, the previous
                # report whole beside it, and the next run puts it back
                assert code == -signal.SIGKILL and not out.exists()
                (aside,) = [f for f in work.iterdir() if f.name.startswith(".out.headrank-old-")]
                assert snapshot(aside) == before
                # the next run puts it back as soon as it holds the lock (killed right there)
                code, _ = run_stopped(args, work, 1, signal.SIGKILL, **env)
                assert code == -signal.SIGKILL and snapshot(out) == before
                assert run(*args, cwd=work, env=base_env(**env)).returncode == 0
                check_report(out, b, nb)
                assert leftovers(work) == []
                shutil.rmtree(out)
                continue

            got = check_outcome(code, stderr, sig, before, lambda: check_report(out, b, nb), out,
                                work)
            # a check for cancellation follows every checkpoint before the rename; none after
            want = "old" if k <= commit + (sig == signal.SIGKILL) else "new"
            assert got == want, (names[k - 1], sig, code, stderr)
            if sig == signal.SIGKILL and k in (first, commit, commit + 1, len(names)):
                # the next run removes what the killed one left
                assert run(*args, cwd=work, env=base_env(**env)).returncode == 0
                check_report(out, b, nb)
                assert leftovers(work) == []
            remove_leftovers(work)
            if out.exists():
                shutil.rmtree(out)


def test_project_signal_at_every_checkpoint(inputs, tmp_path):
    (old, n_old), (p, n) = inputs["p-old"], inputs["p"]
    work = tmp_path / "work"
    work.mkdir()
    out = work / "proj.tif"
    args = ["project", p, *HEAD_ARGS, "-o", out]
    names = checkpoints(args, work)
    assert names == ["strip written"] * 40 + ["about to rename the file", "file in place"]
    assert run("project", old, *HEAD_ARGS, "-o", out, cwd=work).returncode == 0
    template = out.read_bytes()
    # the first strips, some in the middle, the last ones and the rename
    for i, k in enumerate((1, 2, 3, 20, 21, 39, 40, 41, 42)):
        for sig in (CATCHABLE[i % len(CATCHABLE)], signal.SIGKILL):
            out.write_bytes(template)
            code, stderr = run_stopped(args, work, k, sig)
            got = check_outcome(code, stderr, sig, template, lambda: check_projection(out, n),
                                out, work)
            if k == 1:
                assert got == "old", (sig, code, stderr)  # chunks follow, each checked
            if k >= len(names) - 1:
                assert got == ("old" if k == len(names) - 1 and sig == signal.SIGKILL
                               else "new"), (names[k - 1], sig, code)
            if sig == signal.SIGKILL and k in (1, 41):
                assert run(*args, cwd=work).returncode == 0
                check_projection(out, n)
                assert leftovers(work) == []
            remove_leftovers(work)


# -- signals at times spread over a real run ------------------------------------------------


def timed_signals(args, work, out, check_new, duration, restore, count=8):
    """@count runs, each sent a signal (INT, TERM, HUP, KILL in turn) at a time spread evenly
    over the @duration of an undisturbed run; every one must keep the promise. @restore()
    puts the previous output back (and returns its snapshot) after a run that replaced it."""
    before = restore()
    outcomes = []
    for i in range(count):
        sig = ALL_SIGNALS[i % len(ALL_SIGNALS)]
        proc = subprocess.Popen([TOOL, *[str(a) for a in args]], cwd=work, env=base_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, encoding="utf-8")
        time.sleep(duration * (i + 0.5) / count)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
        outcomes.append(check_outcome(proc.returncode, stderr, sig, before, check_new, out, work))
        remove_leftovers(work)
        if outcomes[-1] == "new":
            before = restore()
    return outcomes


def test_analyze_signals_spread_over_a_run(inputs, tmp_path):
    (a, na), (big, nbig) = inputs["a"], inputs["big"]
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    args = ["analyze", big, *HEAD_ARGS, "-o", out]
    t0 = time.monotonic()
    assert run(*args, cwd=work).returncode == 0
    duration = time.monotonic() - t0
    check_report(out, big, nbig)

    def restore():
        shutil.rmtree(out, ignore_errors=True)
        assert run("analyze", a, *HEAD_ARGS, "-o", out, cwd=work).returncode == 0
        return snapshot(out)

    outcomes = timed_signals(args, work, out, lambda: check_report(out, big, nbig), duration,
                             restore, count=6)
    # the first signal comes long before the report is written
    assert outcomes[0] == "old", outcomes


def test_project_signals_spread_over_a_run(inputs, tmp_path):
    (old, n_old), (big, nbig) = inputs["p-old"], inputs["big"]
    work = tmp_path / "work"
    work.mkdir()
    out = work / "proj.tif"
    args = ["project", big, *HEAD_ARGS, "-o", out]
    t0 = time.monotonic()
    assert run(*args, cwd=work).returncode == 0
    duration = time.monotonic() - t0

    def restore():
        assert run("project", old, *HEAD_ARGS, "-o", out, cwd=work).returncode == 0
        return out.read_bytes()

    timed_signals(args, work, out, lambda: check_projection(out, nbig), duration, restore)


# -- two runs on one output -------------------------------------------------------------------


def test_second_report_waits_for_the_first(inputs, tmp_path):
    """A run stopped while it holds the folder's lock: a second run on the same folder cannot
    get past the lock until the first has finished; then it replaces the first's report
    with its own, whole. A third one, waiting too, stops at SIGTERM."""
    (a, na), (b, nb) = inputs["a"], inputs["b"]
    out = tmp_path / "out"
    first = subprocess.Popen([TOOL, "analyze", str(a), *HEAD_ARGS, "-o", str(out)], cwd=tmp_path,
                             env=base_env(HEADRANK_DEBUG_STOP="2"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status = os.waitpid(first.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status)
    second = subprocess.Popen([TOOL, "analyze", str(b), *HEAD_ARGS, "-o", str(out)],
                              cwd=tmp_path, env=base_env(HEADRANK_DEBUG_STOP="list"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, encoding="utf-8")
    third = subprocess.Popen([TOOL, "analyze", str(b), *HEAD_ARGS, "-o", str(out)],
                             cwd=tmp_path, env=base_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, encoding="utf-8")
    try:
        # far longer than the whole of an undisturbed run (0.2 s here)
        with pytest.raises(subprocess.TimeoutExpired):
            second.wait(timeout=3)
        assert not out.exists()
        # waiting can be interrupted like anything else
        assert third.poll() is None
        third.send_signal(signal.SIGTERM)
        _, stderr = third.communicate(timeout=30)
        assert third.returncode == 128 + signal.SIGTERM, stderr
        assert stderr == "headrank: interrupted\n"
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=60) == 0
    _, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, stderr
    check_report(out, b, nb)
    assert leftovers(tmp_path) == []


def test_two_reports_at_once(inputs, tmp_path):
    """Two runs started together on one folder: both succeed, and the folder holds one of
    the two reports, whole."""
    (a, na), (b, nb) = inputs["a"], inputs["b"]
    out = tmp_path / "out"
    procs = [subprocess.Popen([TOOL, "analyze", str(s), *HEAD_ARGS, "-o", str(out)],
                              cwd=tmp_path, env=base_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, encoding="utf-8")
             for s in (a, b)]
    for p in procs:
        _, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
    features = json.loads((out / "report.json").read_text())["input"]["features"]
    check_report(out, *(inputs["a"] if features == str(a) else inputs["b"]))
    assert leftovers(tmp_path) == []


def test_second_projection_refuses(inputs, tmp_path):
    """project on an output that another project is writing refuses at once (exit 1, one
    line); the first one finishes its file."""
    (p, n), (old, n_old) = inputs["p"], inputs["p-old"]
    out = tmp_path / "proj.tif"
    first = subprocess.Popen([TOOL, "project", str(p), *HEAD_ARGS, "-o", str(out)],
                             cwd=tmp_path, env=base_env(HEADRANK_DEBUG_STOP="1"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
    _, status = os.waitpid(first.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status)
    try:
        second = run("project", old, *HEAD_ARGS, "-o", out, cwd=tmp_path)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 1
    assert second.stderr.splitlines() == [
        f"headrank: {out} is being written by another process (another headrank); wait for it "
        "to finish or choose another output"]
    assert first.wait(timeout=60) == 0
    check_projection(out, n)
    assert leftovers(tmp_path) == []


# -- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 4 MiB at tmp_path/disk (root only)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("filling a disk needs a tmpfs, which only root can mount")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def fill(mount, free):
    """Leaves about @free bytes free on @mount."""
    st = os.statvfs(mount)
    filler = mount / "filler"
    size = max(0, st.f_bavail * st.f_frsize - free)
    with open(filler, "ab") as f:
        f.write(b"\0" * size)


def test_full_disk_keeps_the_previous_report(inputs, small_disk):
    """The disk fills at different points of the writing of the report (free space from
    nothing to nearly enough): exit 1 with one line, the previous report exactly as it
    was, nothing temporary left."""
    (a, na), (b, nb) = inputs["a"], inputs["b"]
    work = small_disk / "work"
    work.mkdir()
    out = work / "out"
    assert run("analyze", a, *HEAD_ARGS, "-o", out, cwd=work).returncode == 0
    before = snapshot(out)
    probe = small_disk.parent / "probe"
    assert run("analyze", b, *HEAD_ARGS, "-o", probe, cwd=work).returncode == 0
    needed = sum(len(v) for v in snapshot(probe).values())
    for fraction in (0.0, 0.05, 0.3, 0.6, 0.9, 0.98):
        fill(small_disk, int(needed * fraction))
        p = run("analyze", b, *HEAD_ARGS, "-o", out, cwd=work)
        assert p.returncode == 1, (fraction, p.returncode, p.stderr)
        assert len(p.stderr.splitlines()) == 1 and "No space left on device" in p.stderr, p.stderr
        assert snapshot(out) == before
        assert leftovers(small_disk) == []
        (small_disk / "filler").unlink()
    p = run("analyze", b, *HEAD_ARGS, "-o", out, cwd=work)
    assert p.returncode == 0, p.stderr
    check_report(out, b, nb)


def test_full_disk_keeps_the_previous_projection(inputs, small_disk):
    (old, n_old), (p, n) = inputs["p-old"], inputs["p"]
    out = small_disk / "proj.tif"
    assert run("project", old, *HEAD_ARGS, "-o", out, cwd=small_disk).returncode == 0
    before = out.read_bytes()
    for free in (0, 100_000, 1_000_000, n * 64 * 4 - 10_000):
        fill(small_disk, free)
        r = run("project", p, *HEAD_ARGS, "-o", out, cwd=small_disk)
        assert r.returncode == 1, (free, r.returncode, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and "No space left on device" in r.stderr, r.stderr
        assert out.read_bytes() == before
        assert leftovers(small_disk) == []
        (small_disk / "filler").unlink()
