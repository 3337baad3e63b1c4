"""Hostile inputs of issue 12 through the command: the TIFF files of tests/data/hostile
(see make_hostile.py there), weight files read while they are rewritten, and allocations
whose size comes from the input under a limit on the address space (ulimit -v).

Each hostile TIFF ends in a clean result: "ok" files print their shape, the others exactly
one line on standard error naming the file, exit 1; never a crash, a GLib critical
(G_DEBUG=fatal-criticals turns one into an abort), or a run of minutes."""

import json
import os
import resource
import shutil
import struct
import subprocess
import threading
import time

import pytest

from cli_common import SOURCE_ROOT, TOOL, base_env, run

HOSTILE = SOURCE_ROOT / "tests" / "data" / "hostile"
MANIFEST = json.loads((HOSTILE / "manifest.json").read_text()) if (HOSTILE / "manifest.json").exists() else []
WEIGHTS = SOURCE_ROOT / "tests" / "data" / "heads"

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)

# What each error code's message says (one word or phrase of it).
WHAT = {
    "inconsistent": ("metadata describe", "dimension order", "PlanarConfiguration"),
    "too-large": ("claim", "decodes more than"),
    "corrupt": ("damaged",),
    "unsupported": ("predictor", "ImageDepth"),
}


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_hostile_tiff(entry):
    path = HOSTILE / entry["file"]
    args = ["info", "--json"]
    if entry.get("layout_arg"):
        args += ["--layout", entry["layout_arg"]]
    start = time.monotonic()
    p = run(*args, path, env=base_env(G_DEBUG="fatal-criticals"), timeout=60)
    elapsed = time.monotonic() - start
    assert "CRITICAL" not in p.stderr and "WARNING" not in p.stderr, p.stderr
    if entry["expect"] == "ok":
        assert p.returncode == 0, p.stderr
        j = json.loads(p.stdout)
        assert (j["samples"], j["features"]) == (entry["n"], entry["d"])
        assert j["metadata"] == entry["metadata"]
        return
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert str(path) in lines[0]
    assert any(w in lines[0] for w in WHAT[entry["expect"]]), lines[0]
    # the decompression budget stops a file of shared strips at once, not after a minute
    assert elapsed < 30, elapsed


def test_damaged_file_does_not_give_header_bytes_as_data():
    """The StripOffsets that libtiff ignores: once read from offset 0, rank 1, exit 0."""
    path = HOSTILE / "stripoffsets-byte-count0.tif"
    p = run("analyze", path, "--json")
    assert p.returncode == 1, p.stdout
    assert "StripOffsets" in p.stderr


def _limit_address_space(megabytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (megabytes << 20, megabytes << 20))

    return apply


def test_weights_larger_than_memory_are_an_error_naming_file_and_size(tmp_path):
    """A weight file is read into memory: one that does not fit (a sparse 8 GiB file under
    a 2 GiB address-space limit) is an error with the file and its size, not an abort."""
    path = tmp_path / "huge.safetensors"
    header = b"{}"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 << 30)
    p = subprocess.run([TOOL, "head", "describe", str(path)], env=base_env(),
                       capture_output=True, encoding="utf-8", errors="replace", timeout=120,
                       stdin=subprocess.DEVNULL, preexec_fn=_limit_address_space(2048))
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert str(path) in lines[0] and str(8 << 30) in lines[0], lines[0]


def test_weights_rewritten_while_project_runs(tmp_path):
    """Weights were memory-mapped: rewriting the file while `project` ran killed it with
    SIGBUS. They are read now; whatever the timing, project ends with 0 or a clean error."""
    weights = tmp_path / "w.safetensors"
    src = WEIGHTS / "viscy-v2-lightning.safetensors"
    if not src.exists():
        pytest.skip("no head fixture")
    stack = WEIGHTS / "input" / "in48.tif"
    original = src.read_bytes()
    stop = threading.Event()

    def rewrite():
        while not stop.is_set():
            with open(weights, "r+b") as f:
                f.truncate(16)
            with open(weights, "r+b") as f:
                f.write(original)

    for i in range(20):
        weights.write_bytes(original)
        stop.clear()
        t = threading.Thread(target=rewrite)
        t.start()
        try:
            p = run("project", stack, "--weights", weights, "--output", tmp_path / f"p{i}.tif")
        finally:
            stop.set()
            t.join()
        assert p.returncode in (0, 1), (p.returncode, p.stderr)
        if p.returncode == 1:
            assert len(p.stderr.splitlines()) == 1, p.stderr


def test_tiff_strip_larger_than_memory_is_an_error_naming_the_file(tmp_path):
    """A deflate strip that decodes to 48 MiB needs a 48 MiB buffer: under an address-space
    limit that leaves less, reading it is an error naming the file and the size, not an
    abort. The limit is found first: the smallest (in steps of 16 MiB) under which the same
    command reads a small file."""
    import numpy as np
    import tifffile

    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.ones((4, 4), np.float32))
    big = tmp_path / "big-strip.tif"
    tifffile.imwrite(big, np.zeros((1536, 8192), np.float32), compression="zlib",
                     rowsperstrip=1536)

    def info(path, megabytes):
        # One OpenBLAS thread: under a tight limit OpenBLAS's thread start-up and shutdown
        # fail or wait for ever (seen at 64 and 128 MiB), which is not what is tested here.
        try:
            return subprocess.run([TOOL, "info", str(path)],
                                  env=base_env(OPENBLAS_NUM_THREADS="1"), capture_output=True,
                                  encoding="utf-8", errors="replace", timeout=30,
                                  stdin=subprocess.DEVNULL,
                                  preexec_fn=_limit_address_space(megabytes))
        except subprocess.TimeoutExpired:
            return None

    limit = next((mb for mb in range(64, 4096, 16)
                  if (r := info(small, mb)) is not None and r.returncode == 0), None)
    if limit is None:
        pytest.skip("the command does not run under any address-space limit up to 4 GiB")
    p = info(big, limit + 16)
    assert p is not None and p.returncode == 1, (limit, p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and str(big) in lines[0], p.stderr
    assert "memory" in lines[0] and str(1536 * 8192 * 4) in lines[0], lines[0]
