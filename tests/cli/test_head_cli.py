"""Tests of `headrank project`, `headrank head describe` and `headrank head presets`, and of
tools/extract-head.py, run by `meson test --suite cli`.

The environment comes from tests/meson.build (HEADRANK_TOOL, HEADRANK_LOCALEDIR,
HEADRANK_DATADIR, HEADRANK_SOURCE_ROOT, GI_TYPELIB_PATH when introspection is built).

Fixtures: tests/data/heads (safetensors heads and their torch references, see its
manifest.json and make_heads.py) when present; the tests that do not need them make tiny
heads on the fly from numpy, writing the safetensors format by hand (8-byte little-endian
header length, JSON header, raw data), so nothing here needs torch. The tests of
tools/extract-head.py run only where torch can be imported.

Exit statuses checked: 0 success, 1 bad input (exactly one line on standard error, naming
the file, and no output file left), 2 bad usage, 130 interrupted (Ctrl-C).
"""

import importlib.util
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cli_common import SOURCE_ROOT, TOOL, after_subject, base_env, run, write_safetensors
DATA = SOURCE_ROOT / "tests" / "data"
HEADS = DATA / "heads"
BAD_DIR = DATA / "bad"
LOCALEDIR = os.environ.get("HEADRANK_LOCALEDIR")
SAMPLE = Path(os.environ.get("HEADRANK_DATADIR") or SOURCE_ROOT / "data") / "sample-features.tif"
EXTRACT = SOURCE_ROOT / "tools" / "extract-head.py"

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)


def _load_manifest():
    path = HEADS / "manifest.json"
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


MANIFEST = _load_manifest()
HEAD_ENTRIES = MANIFEST.get("heads", [])
BAD_HEADS = MANIFEST.get("bad", [])
MODES = MANIFEST.get("modes", [])
TOL = MANIFEST.get("tolerance", {"abs": 1e-5, "rel": 1e-4})


def assert_user_error(p, *paths):
    """Exit 1, nothing on standard output, exactly one line on standard error naming the
    file(s)."""
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {p.stderr!r}"
    assert p.stderr.endswith("\n")
    assert lines[0].startswith("headrank: "), lines[0]
    for path in paths:
        assert str(path) in lines[0], lines[0]
    return lines[0]


def assert_usage_error(p):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr.startswith("headrank: "), p.stderr
    return p.stderr.splitlines()[0]


def assert_nothing_written(directory):
    """No output and no temporary file (the writer's .NAME.XXXXXX) in @directory."""
    assert sorted(os.listdir(directory)) == [], os.listdir(directory)


def needs_heads():
    if not HEAD_ENTRIES:
        pytest.skip(f"no head fixtures: {HEADS / 'manifest.json'} is missing")


def head_entry(head_id):
    needs_heads()
    for e in HEAD_ENTRIES:
        if e["id"] == head_id:
            return e
    pytest.skip(f"no head fixture {head_id}")


# -- tiny heads and stacks made on the fly ------------------------------------------------



def mlp_tensors(sizes, prefix="projection.", seed=0, bn=False):
    """Linear(sizes[0], sizes[1]) [→ BatchNorm1d] → ReLU → Linear → … with PyTorch's
    sequential module indices (a ReLU takes an index and has no tensors)."""
    rng = np.random.default_rng(seed)
    tensors, index = {}, 0
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        tensors[f"{prefix}{index}.weight"] = rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in))
        tensors[f"{prefix}{index}.bias"] = rng.normal(0, 0.1, n_out)
        index += 1
        if bn:
            tensors[f"{prefix}{index}.weight"] = rng.uniform(0.5, 1.5, n_out)
            tensors[f"{prefix}{index}.bias"] = rng.normal(0, 0.1, n_out)
            tensors[f"{prefix}{index}.running_mean"] = rng.normal(0, 0.1, n_out)
            tensors[f"{prefix}{index}.running_var"] = rng.uniform(0.5, 2.0, n_out)
            index += 1
        if i < len(sizes) - 2:
            index += 1  # the ReLU
    return tensors


def mlp_forward(tensors, x, prefix="projection."):
    """The eval-mode forward pass of mlp_tensors() in float64."""
    y = x.astype(np.float64)
    names = sorted({int(k[len(prefix):].split(".")[0]) for k in tensors})
    for i, index in enumerate(names):
        p = f"{prefix}{index}."
        if p + "running_mean" in tensors:
            y = ((y - tensors[p + "running_mean"]) / np.sqrt(tensors[p + "running_var"] + 1e-5)
                 * tensors[p + "weight"] + tensors[p + "bias"])
        else:
            if i > 0:
                y = np.maximum(y, 0)
            y = y @ np.asarray(tensors[p + "weight"], np.float64).T + tensors[p + "bias"]
    return y


def assert_close(got, ref, what="", scale=1.0):
    """Within the manifest's tolerance, 1e-5 + 1e-4·|ref| (the absolute part times @scale,
    for float64 references of outputs that float32 computes from large values)."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    bound = TOL["abs"] * scale + TOL["rel"] * np.abs(ref)
    err = np.abs(got - ref)
    assert np.all(err <= bound), (what, float(err.max()), np.unravel_index(err.argmax(), err.shape))


@pytest.fixture
def tiny(tmp_path):
    """A 6 → 5 → 3 head (Linear, ReLU, Linear) under projection., a 7 × 6 matrix stack, and
    an output folder that holds nothing else."""
    tensors = mlp_tensors([6, 5, 3])
    weights = write_safetensors(tmp_path / "tiny.safetensors", tensors)
    x = np.random.default_rng(1).normal(size=(7, 6)).astype(np.float32)
    stack = tmp_path / "x.tif"
    tifffile.imwrite(stack, x)
    out = tmp_path / "out"
    out.mkdir()
    return {"weights": weights, "tensors": tensors, "x": x, "stack": stack, "out": out,
            "dir": tmp_path}


# -- help and the list of commands ---------------------------------------------------------


def test_help_lists_the_new_commands():
    p = run("--help")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    calls = [
        r"info \[FILE…\]",
        r"project FILE…",
        r"analyze \[FILE…\]",
        r"compare REPORT…",
        r"head describe WEIGHTS",
        r"head presets",
    ]
    columns = set()
    for call in calls:
        m = [re.match(rf"^  ({call} +)\S", line) for line in lines]
        m = [x for x in m if x]
        assert len(m) == 1, (call, p.stdout)
        columns.add(len(m[0].group(1)))
    assert len(columns) == 1, p.stdout  # the summaries line up
    assert "--weights" in p.stdout and "--output" in p.stdout


def test_head_alone_lists_its_commands():
    p = run("head")
    assert p.returncode == 2
    assert p.stdout == ""
    assert re.search(r"^  head describe WEIGHTS +List the layers", p.stderr, re.M), p.stderr
    assert re.search(r"^  head presets +List the named", p.stderr, re.M), p.stderr
    assert "  info" not in p.stderr and "  project" not in p.stderr
    p = run("head", "--help")
    assert p.returncode == 0, p.stderr
    assert "head describe WEIGHTS" in p.stdout


@pytest.mark.parametrize(
    "command, options",
    [("project", ["--weights=WEIGHTS", "--output=OUT", "--arch=ARCH", "--prefix=PREFIX",
                  "--stage=NAME", "--batch-stats", "--batch-size=N", "--per-pixel",
                  "--layout=LAYOUT"]),
     ("head describe", ["--arch=ARCH", "--prefix=PREFIX", "--json"]),
     ("head presets", [])],
)
def test_command_help(command, options):
    p = run(*command.split(), "--help")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"Usage:\n  headrank {command} "), p.stdout
    for option in options:
        assert option in p.stdout, (option, p.stdout)


# -- head presets ---------------------------------------------------------------------------


EXPECTED_PRESETS = {
    "viscy-v0": "linear,relu,linear,l2",
    "issue139": "linear,bn,relu,linear,bn",
    "viscy-v2": "linear,bn,relu,linear,bn",
    "viscy-resnet3d": "linear,bn,relu,linear,bn",
    "viscy-mlp-ln": "linear,ln,relu,linear,ln",
    "viscy-mlp-bn-relu": "linear,bn,relu,linear,bn",
    "viscy-mlp-bn-gelu": "linear,bn,gelu,linear,bn",
    "viscy-mlp-bn-silu": "linear,bn,silu,linear,bn",
    "viscy-mlp-ln-relu": "linear,ln,relu,linear,ln",
    "viscy-mlp-ln-gelu": "linear,ln,gelu,linear,ln",
    "viscy-mlp-ln-silu": "linear,ln,silu,linear,ln",
    "viscy-cross-modal": "linear,ln,relu,linear,ln,l2",
}


def test_head_presets():
    p = run("head", "presets")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.splitlines()
    # a line with the name and the spec, then one with what it is, indented
    names = lines[0::2]
    got = dict(line.split() for line in names)
    assert got == EXPECTED_PRESETS
    assert all(line.startswith(" ") and "VisCy" in line or "dynacontrast" in line
               for line in lines[1::2])
    # one column for the specs
    assert len({line.index(spec) for line, spec in zip(names, got.values())}) == 1


def test_head_presets_takes_no_argument():
    line = assert_usage_error(run("head", "presets", "viscy-v2"))
    assert line == "headrank: head presets takes no arguments"


# -- head describe ----------------------------------------------------------------------------


def describe_json(weights, *args):
    p = run("head", "describe", "--json", weights, *args)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    return json.loads(p.stdout)


def layers_of(manifest_entry):
    """The layers of a fixture's manifest entry (its own keys "in" and "out")."""
    return [(l["name"], l["kind"], l["in"], l["out"], l["bias"]) for l in manifest_entry["layers"]]


def same_layers(got, expected):
    """Layers from --json against the manifest's (whose name is null for layers torch does
    not name, such as the L2 normalisation outside the Sequential)."""
    g = [(l["name"], l["kind"], l["in_features"], l["out_features"], l["bias"]) for l in got]
    assert len(g) == len(expected), (g, expected)
    for a, b in zip(g, expected):
        assert a[1:] == b[1:], (a, b)
        if b[0] is not None:
            assert a[0] == b[0], (a, b)


@pytest.mark.parametrize("head_id", [e["id"] for e in HEAD_ENTRIES] or ["(no fixtures)"])
def test_describe_fixture_heads(head_id):
    e = head_entry(head_id)
    weights = HEADS / e["weights"]
    args = ["--arch", e["arch"], "--prefix", e["prefix"]]
    j = describe_json(weights, *args)
    assert j["file"] == str(weights)
    assert (j["in_features"], j["out_features"]) == (e["layers"][0]["in"], e["layers"][-1]["out"])
    assert (j["prefix"], j["architecture"]["from"]) == (e["prefix"], "given")
    same_layers(j["layers"], layers_of(e))
    if e["inferable"]:
        # architecture and prefix found from the tensors alone: the same layers, ReLU included
        j = describe_json(weights)
        same_layers(j["layers"], layers_of(e))
        assert (j["file"], j["prefix"]) == (str(weights), e["prefix"])
        assert j["architecture"]["from"] == "inferred"
        assert f"prefix “{e['prefix']}”" in j["description"]

    # the text form: the source line, then one line per layer with its shape
    p = run("head", "describe", weights, *args)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == f"{weights}, prefix “{e['prefix']}”, architecture {e['arch']}"
    assert lines[1].startswith("Architecture: ") and lines[1].endswith(" (given)")
    assert lines[2].startswith("Preset: ")
    lines = [lines[0]] + lines[3:]
    assert len(lines) == 1 + len(e["layers"])
    kinds = {"linear": "linear", "bn": "bn", "ln": "ln", "relu": "relu",
             "gelu": "gelu", "silu": "silu", "l2": "l2"}
    for line, layer in zip(lines[1:], e["layers"]):
        fields = line.split()
        if layer["name"] is not None:
            assert fields[0] == layer["name"], line
        assert fields[1] == kinds[layer["kind"]], line
        if layer["kind"] == "linear":
            assert f"{layer['in']} → {layer['out']}" in line, line
            assert ("no bias" in line) is (not layer["bias"]), line
        else:
            assert fields[2].rstrip(",") == str(layer["out"]), line


def test_describe_shows_the_inferred_relu(tmp_path):
    """Sequential indices 0 and 2 with nothing at 1: the ReLU between them is inferred."""
    weights = write_safetensors(tmp_path / "w.safetensors", mlp_tensors([12, 8, 4], "model.projection."))
    p = run("head", "describe", weights)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:3] == [
        f"{weights}, prefix “model.projection.”, architecture inferred, activation assumed",
        "Architecture: linear:8,relu,linear:4 (inferred from the tensors, activation assumed)",
        "Preset: none matches",
    ]
    assert lines[3].startswith("Assumed: ") and "--activation" in lines[3]
    assert lines[4:] == [
        "  0          linear     12 → 8, bias",
        "  1          relu       8",
        "  2          linear     8 → 4, bias",
    ]
    j = describe_json(weights)
    assert [(l["name"], l["kind"], l["in_features"], l["out_features"], l["bias"])
            for l in j["layers"]] == [
        ("0", "linear", 12, 8, True), ("1", "relu", 8, 8, False), ("2", "linear", 8, 4, True)]
    assert (j["in_features"], j["out_features"]) == (12, 4)
    assert set(j) == {"file", "prefix", "in_features", "out_features", "architecture", "layers",
                      "description"}


def test_describe_with_a_spec(tiny):
    j = describe_json(tiny["weights"], "--arch", "linear:5,gelu,linear:3,l2")
    assert [l["kind"] for l in j["layers"]] == ["linear", "gelu", "linear", "l2"]
    assert j["architecture"]["spec"] == "linear:5,gelu,linear:3,l2"
    assert j["description"].endswith("architecture linear:5,gelu,linear:3,l2")


@pytest.mark.parametrize(
    "args, message",
    [(["head", "describe"], "head describe takes one WEIGHTS file"),
     (["head", "describe", "a", "b"], "head describe takes one WEIGHTS file"),
     (["head", "describe", "--frobnicate", "a"], "Unknown option --frobnicate"),
     (["head", "describe", "a", "--arch"], "Missing argument for --arch"),
     (["head", "frobnicate"], "unknown command “head frobnicate”")],
    ids=["no-file", "two-files", "unknown-option", "arch-without-value", "unknown-subcommand"],
)
def test_describe_usage_errors(args, message):
    assert assert_usage_error(run(*args)) == f"headrank: {message}"


@pytest.mark.parametrize(
    "entry", BAD_HEADS or [None],
    ids=[f"{e['file']}-{e['arch']}-{e['prefix']}" for e in BAD_HEADS] or ["(no fixtures)"],
)
def test_bad_heads(entry, tmp_path):
    """Every bad head of the manifest: describe and project fail with one line naming the
    weights file and leave nothing; an --arch that cannot be parsed is a usage error
    (exit 2) that names the --arch value."""
    if entry is None:
        pytest.skip(f"no head fixtures: {HEADS / 'manifest.json'} is missing")
    weights = HEADS / entry["file"]
    args = []
    if entry["arch"] is not None:
        args += ["--arch", entry["arch"]]
    if entry["prefix"] is not None:
        args += ["--prefix", entry["prefix"]]
    stack = HEADS / "input" / "in48.tif"
    out = tmp_path / "out"
    out.mkdir()
    if entry["code"] == "spec":
        text = assert_usage_error(run("head", "describe", weights, *args))
        line = text.splitlines()[0]
        assert line.startswith(f"headrank: --arch “{entry['arch']}”: "), text
        for want in entry.get("message_contains", []):
            assert want in line, line
        p = run("project", stack, "--weights", weights, "--output", out / "p.tif", *args)
        assert assert_usage_error(p).splitlines()[0] == line
        assert_nothing_written(out)
        return
    line = assert_user_error(run("head", "describe", weights, *args), weights)
    for text in entry.get("message_contains", []):
        assert text in line, line
    p = run("project", stack, "--weights", weights, "--output", out / "p.tif", *args)
    assert assert_user_error(p, weights) == line
    assert_nothing_written(out)


def test_bad_head_messages_name_the_tensor():
    e = [b for b in BAD_HEADS if b["file"] == "bad/nan-weight.safetensors"]
    if not e:
        pytest.skip("no bad/nan-weight.safetensors fixture")
    weights = HEADS / e[0]["file"]
    line = assert_user_error(run("head", "describe", weights, "--arch", "viscy-v2"), weights)
    assert "model.projection.0.weight" in line


# -- project: values ---------------------------------------------------------------------------


def read_ref(entry, stage, mode_id):
    files = stage["files"][mode_id]
    return np.fromfile(HEADS / files, "<f4").reshape(stage["shape"])


def mode_args(mode, entry):
    if mode["mode"] == "running":
        return []
    args = ["--batch-stats"]
    if mode["batch_size"]:
        # the manifest's batch64 mode uses the head's small batch size
        args += ["--batch-size", entry.get("batch_size_small", mode["batch_size"])]
    return args


def stage_names(weights, args):
    return [l["name"] for l in describe_json(weights, *args)["layers"]]


@pytest.mark.parametrize("mode_id", [m["id"] for m in MODES] or ["(no fixtures)"])
@pytest.mark.parametrize("head_id", [e["id"] for e in HEAD_ENTRIES] or ["(no fixtures)"])
def test_project_matches_torch(head_id, mode_id, tmp_path):
    """The projections, read back with tifffile: one float32 page of N × P, equal to
    PyTorch's within the manifest's tolerance, in eval mode and with batch statistics."""
    e = head_entry(head_id)
    mode = next(m for m in MODES if m["id"] == mode_id)
    weights = HEADS / e["weights"]
    out = tmp_path / "p.tif"
    args = ["--arch", e["arch"], "--prefix", e["prefix"]]
    p = run("project", HEADS / e["input_tif"], "--weights", weights, "--output", out, *args,
            *mode_args(mode, e))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == ""
    with tifffile.TiffFile(out) as t:
        assert len(t.pages) == 1
        got = t.asarray()
    assert got.dtype == np.float32
    assert_close(got, read_ref(e, e["stages"][-1], mode_id), f"{head_id} {mode_id}")


@pytest.mark.parametrize("head_id", ["issue139", "viscy-v2-lightning", "spec-gelu-silu"])
def test_project_every_stage(head_id, tmp_path):
    """--stage NAME for every name `head describe` prints, in eval and batch modes, and
    --stage projections."""
    e = head_entry(head_id)
    weights = HEADS / e["weights"]
    args = ["--arch", e["arch"], "--prefix", e["prefix"]]
    names = stage_names(weights, args)
    assert len(names) == len(e["stages"])
    for mode in MODES:
        for name, stage in zip(names, e["stages"]):
            out = tmp_path / f"{mode['id']}-{name}.tif"
            p = run("project", HEADS / e["input_tif"], "-w", weights, "-o", out, *args,
                    "--stage", name, *mode_args(mode, e))
            assert p.returncode == 0, p.stderr
            assert_close(tifffile.imread(out), read_ref(e, stage, mode["id"]),
                         f"{head_id} {mode['id']} {name}")
    last = tmp_path / "last.tif"
    explicit = tmp_path / "explicit.tif"
    assert run("project", HEADS / e["input_tif"], "-w", weights, "-o", last, *args).returncode == 0
    assert run("project", HEADS / e["input_tif"], "-w", weights, "-o", explicit, *args,
               "--stage", "projections").returncode == 0
    assert np.array_equal(tifffile.imread(last), tifffile.imread(explicit))


def test_batch_size_changes_the_statistics(tmp_path):
    """--batch-size N normalises each batch of N by its own statistics: the first batch's
    rows equal the head run on those rows alone with --batch-stats."""
    e = head_entry("viscy-v2-lightning")
    weights = HEADS / e["weights"]
    x = tifffile.imread(HEADS / e["input_tif"])
    first = tmp_path / "first.tif"
    tifffile.imwrite(first, x[:32])
    outs = {}
    for name, stack, extra in [("whole", HEADS / e["input_tif"], []),
                               ("b32", HEADS / e["input_tif"], ["--batch-size", "32"]),
                               ("first", first, [])]:
        outs[name] = tmp_path / f"out-{name}.tif"
        p = run("project", stack, "-w", weights, "-o", outs[name], "--batch-stats", *extra)
        assert p.returncode == 0, p.stderr
    whole, b32, alone = (tifffile.imread(outs[k]) for k in ("whole", "b32", "first"))
    assert_close(b32[:32], alone)
    assert not np.allclose(b32, whole, atol=1e-3)


def test_project_tiny_head_without_fixtures(tiny):
    """A head made on the fly against numpy's float64 forward pass."""
    out = tiny["out"] / "p.tif"
    p = run("project", tiny["stack"], "--weights", tiny["weights"], "--output", out)
    assert p.returncode == 0, p.stderr
    got = tifffile.imread(out)
    assert got.shape == (7, 3) and got.dtype == np.float32
    assert_close(got, mlp_forward(tiny["tensors"], tiny["x"]))
    assert sorted(os.listdir(tiny["out"])) == ["p.tif"]  # no temporary file left over


def test_project_matches_the_typelib(tmp_path):
    """The command and Headrank.Head.forward through the typelib agree: exactly with the
    running statistics, up to rounding with batch statistics."""
    try:
        import gi

        gi.require_version("Headrank", "1.0")
        from gi.repository import Headrank
    except (ImportError, ValueError) as err:
        pytest.skip(f"the Headrank typelib cannot be loaded: {err}")
    tensors = mlp_tensors([12, 10, 6], "model.projection.", seed=3, bn=True)
    weights = write_safetensors(tmp_path / "w.safetensors", tensors)
    x = np.random.default_rng(4).normal(size=(50, 12)).astype(np.float32)
    stack = tmp_path / "x.tif"
    tifffile.imwrite(stack, x)
    head = Headrank.Head.new_from_file(str(weights), None, None, None)
    features = Headrank.FeatureStack.new_from_file(str(stack), Headrank.StackLayout.AUTO, None)
    for norm_mode, extra in [(Headrank.NormMode.RUNNING, []),
                             (Headrank.NormMode.BATCH, ["--batch-stats"])]:
        out = tmp_path / f"p{len(extra)}.tif"
        p = run("project", stack, "-w", weights, "-o", out, *extra)
        assert p.returncode == 0, p.stderr
        y = head.forward(features, norm_mode, None)
        ref = np.frombuffer(y.get_data().get_data(), np.float32).reshape(
            y.get_n_samples(), y.get_n_features())
        if norm_mode == Headrank.NormMode.RUNNING:
            assert np.array_equal(tifffile.imread(out), ref)
        else:
            # the command streams (batch statistics summed a chunk at a time), forward()
            # holds the whole stack: the same values up to rounding
            assert_close(tifffile.imread(out), ref, str(norm_mode))
    assert_close(tifffile.imread(tmp_path / "p0.tif"), mlp_forward(tensors, x, "model.projection."))


# -- project: per-pixel stacks -----------------------------------------------------------------


@pytest.fixture
def pixel_head(tmp_path):
    if not SAMPLE.exists():
        pytest.skip(f"the bundled sample {SAMPLE} does not exist")
    tensors = mlp_tensors([12, 8, 4], "model.projection.", seed=7)
    return write_safetensors(tmp_path / "pixel-head.safetensors", tensors), tensors


def test_per_pixel_output_is_an_imagej_stack(pixel_head, tmp_path):
    """The sample (12 features per pixel, 128 × 128) through a 12 → 8 → 4 head: --per-pixel
    writes 4 channels of 128 × 128 that tifffile reads as an ImageJ hyperstack (CYX), equal
    to the matrix output."""
    weights, tensors = pixel_head
    pixels = tmp_path / "pixels.tif"
    matrix = tmp_path / "matrix.tif"
    p = run("project", SAMPLE, "-w", weights, "-o", pixels, "--per-pixel")
    assert p.returncode == 0, p.stderr
    assert run("project", SAMPLE, "-w", weights, "-o", matrix).returncode == 0

    with tifffile.TiffFile(SAMPLE) as t:
        features = t.asarray()
    c, y, x = features.shape
    with tifffile.TiffFile(pixels) as t:
        assert t.is_imagej
        assert t.imagej_metadata["channels"] == 4
        assert t.imagej_metadata.get("hyperstack") is True
        series = t.series[0]
        assert series.axes == "CYX"
        assert series.shape == (4, y, x)
        got = series.asarray()
    assert got.dtype == np.float32
    m = tifffile.imread(matrix)
    assert m.shape == (y * x, 4)
    assert np.array_equal(got, m.T.reshape(4, y, x))
    ref = mlp_forward(tensors, features.reshape(c, -1).T, "model.projection.")
    assert_close(m, ref, scale=np.abs(ref).max())

    # the output is itself a per-pixel stack headrank reads back as such
    info = run("info", "--json", pixels)
    assert info.returncode == 0, info.stderr
    j = json.loads(info.stdout)
    assert (j["layout"], j["samples"], j["features"]) == ("channels", y * x, 4)
    assert j["per_pixel"] is True


def test_per_pixel_stage(pixel_head, tmp_path):
    weights, _ = pixel_head
    out = tmp_path / "hidden.tif"
    p = run("project", SAMPLE, "-w", weights, "-o", out, "--per-pixel", "--stage", "1")
    assert p.returncode == 0, p.stderr
    with tifffile.TiffFile(out) as t:
        assert t.series[0].axes == "CYX"
        assert t.series[0].shape[0] == 8
        assert float(t.asarray().min()) >= 0.0  # the ReLU's output


def test_per_pixel_needs_a_per_pixel_input(tiny):
    out = tiny["out"] / "p.tif"
    p = run("project", tiny["stack"], "-w", tiny["weights"], "-o", out, "--per-pixel")
    line = assert_user_error(p, tiny["stack"])
    assert "--per-pixel" in line and "matrix" in line
    assert_nothing_written(tiny["out"])


def test_layout_option_reads_the_input_as_asked(pixel_head, tmp_path):
    """--layout as in info: the sample is 12 pages; read as pages, each sample has
    128 · 128 features and the 12-wide head does not fit."""
    weights, _ = pixel_head
    out = tmp_path / "out"
    out.mkdir()
    ok = run("project", SAMPLE, "-w", weights, "-o", out / "a.tif", "--layout", "channels")
    assert ok.returncode == 0, ok.stderr
    (out / "a.tif").unlink()
    line = assert_user_error(
        run("project", SAMPLE, "-w", weights, "-o", out / "b.tif", "--layout", "pages"),
        SAMPLE, weights)
    assert "16384" in line and "12" in line
    assert_nothing_written(out)


# -- project: errors ---------------------------------------------------------------------------


def test_unknown_stage_lists_the_stages(tiny):
    out = tiny["out"] / "p.tif"
    p = run("project", tiny["stack"], "-w", tiny["weights"], "-o", out, "--stage", "fc9")
    line = assert_user_error(p, tiny["weights"])
    assert line == (f"headrank: {tiny['weights']}: the head has no stage “fc9” "
                    "(stages: 0, 1, 2, projections)")
    assert_nothing_written(tiny["out"])


def test_width_mismatch(tiny, tmp_path):
    wide = tmp_path / "wide.tif"
    tifffile.imwrite(wide, np.zeros((4, 9), np.float32))
    line = assert_user_error(
        run("project", wide, "-w", tiny["weights"], "-o", tiny["out"] / "p.tif"),
        wide, tiny["weights"])
    assert "9" in line and "6" in line
    assert_nothing_written(tiny["out"])


def test_nonfinite_input_leaves_the_old_output_alone(tmp_path):
    """A NaN in the input stops the run; an existing output file keeps its contents."""
    x = np.ones((40, 6), np.float32)
    x[25, 4] = np.nan
    stack = tmp_path / "nan.tif"
    tifffile.imwrite(stack, x)
    weights = write_safetensors(tmp_path / "w.safetensors", mlp_tensors([6, 5, 3]))
    out = tmp_path / "out"
    out.mkdir()
    old = out / "p.tif"
    old.write_bytes(b"an older file")
    line = assert_user_error(run("project", stack, "-w", weights, "-o", old), stack)
    assert "sample 25, feature 4" in line
    assert old.read_bytes() == b"an older file"
    assert sorted(os.listdir(out)) == ["p.tif"]


def test_batches_too_small_for_batch_statistics(tmp_path):
    """A last batch of one sample has no batch statistics (PyTorch refuses it too): exit 1,
    naming the input file."""
    x = np.random.default_rng(2).normal(size=(9, 6)).astype(np.float32)
    stack = tmp_path / "x.tif"
    tifffile.imwrite(stack, x)
    weights = write_safetensors(tmp_path / "w.safetensors", mlp_tensors([6, 5, 3], bn=True))
    out = tmp_path / "out"
    out.mkdir()
    line = assert_user_error(run("project", stack, "-w", weights, "-o", out / "p.tif",
                                 "--batch-stats", "--batch-size", "4"), stack)
    assert "9" in line and "4" in line
    assert_nothing_written(out)
    assert run("project", stack, "-w", weights, "-o", out / "p.tif", "--batch-stats",
               "--batch-size", "3").returncode == 0


def test_input_errors(tiny, tmp_path):
    out = tiny["out"]
    missing = tmp_path / "no-such.tif"
    assert_user_error(run("project", missing, "-w", tiny["weights"], "-o", out / "p.tif"), missing)
    text = tmp_path / "text.tif"
    text.write_text("not a TIFF\n")
    assert_user_error(run("project", text, "-w", tiny["weights"], "-o", out / "p.tif"), text)
    no_weights = tmp_path / "no-such.safetensors"
    assert_user_error(run("project", tiny["stack"], "-w", no_weights, "-o", out / "p.tif"),
                      no_weights)
    not_weights = tmp_path / "x.safetensors"
    not_weights.write_bytes(b"\xff" * 20)
    assert_user_error(run("project", tiny["stack"], "-w", not_weights, "-o", out / "p.tif"),
                      not_weights)
    assert_nothing_written(out)


def test_output_errors(tiny):
    nowhere = tiny["dir"] / "no-such-dir" / "p.tif"
    assert_user_error(run("project", tiny["stack"], "-w", tiny["weights"], "-o", nowhere), nowhere)
    # the output may not replace the input or the weights
    before = tiny["stack"].read_bytes()
    line = assert_user_error(
        run("project", tiny["stack"], "-w", tiny["weights"], "-o", tiny["stack"]), tiny["stack"])
    assert "replace" in line
    assert tiny["stack"].read_bytes() == before
    assert_user_error(
        run("project", tiny["stack"], "-w", tiny["weights"], "-o", tiny["weights"]),
        tiny["weights"])


def test_unwritable_output_folder(tiny):
    if os.geteuid() == 0:
        pytest.skip("root writes whatever the mode")
    tiny["out"].chmod(0o500)
    try:
        out = tiny["out"] / "p.tif"
        assert_user_error(run("project", tiny["stack"], "-w", tiny["weights"], "-o", out), out)
    finally:
        tiny["out"].chmod(0o700)


@pytest.mark.parametrize(
    "args, message",
    [(["FILE", "-o", "OUT"], "project needs the head's weights (--weights)"),
     (["FILE", "-w", "W"], "project needs an output file (--output)"),
     (["-w", "W", "-o", "OUT"], "project needs a FILE"),
     (["FILE", "-w", "W", "-o", "OUT", "--batch-size", "8"], "--batch-size needs --batch-stats"),
     (["FILE", "-w", "W", "-o", "OUT", "--batch-stats", "--batch-size", "0"],
      "--batch-size takes a positive number"),
     (["FILE", "-w", "W", "-o", "OUT", "--batch-stats", "--batch-size", "-3"],
      "--batch-size takes a positive number"),
     (["FILE", "-w", "W", "-o", "OUT", "--layout", "diagonal"],
      "unknown layout “diagonal” (auto, matrix, channels or pages)"),
     (["FILE", "-w", "W", "-o", "OUT", "--frobnicate"], "Unknown option --frobnicate"),
     (["FILE", "-w", "W", "-o"], "Missing argument for -o")],
    ids=["no-weights", "no-output", "no-file", "batch-size-alone", "batch-size-0",
         "batch-size-negative", "bad-layout", "unknown-option", "output-without-value"],
)
def test_project_usage_errors(tiny, args, message):
    names = {"FILE": tiny["stack"], "W": tiny["weights"], "OUT": tiny["out"] / "p.tif"}
    p = run("project", *[names.get(a, a) for a in args])
    line = assert_usage_error(p)
    assert line == f"headrank: {message}"
    assert "“headrank project --help”" in p.stderr
    assert_nothing_written(tiny["out"])


# -- project: Ctrl-C ---------------------------------------------------------------------------


def test_ctrl_c_leaves_no_output(tmp_path):
    """SIGINT while the head runs: exit 130, one line, and neither the output nor the
    writer's temporary file is left."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(100_000, 64)).astype(np.float32)
    stack = tmp_path / "big.tif"
    tifffile.imwrite(stack, x)
    weights = write_safetensors(tmp_path / "w.safetensors", mlp_tensors([64, 512, 64], bn=True))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [TOOL, "project", stack, "-w", weights, "-o", out / "p.tif", "--batch-stats",
         "--batch-size", "500"],
        env=base_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, encoding="utf-8")
    try:
        # the temporary file appears once the SIGINT handler is in place
        deadline = time.monotonic() + 60
        while not os.listdir(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert stdout == ""
    assert stderr == f"headrank: interrupted, {out / 'p.tif'} was not written\n"
    assert_nothing_written(out)


# -- German --------------------------------------------------------------------------------------


def german_env():
    if not LOCALEDIR:
        pytest.skip("HEADRANK_LOCALEDIR is not set")
    mo = Path(LOCALEDIR) / "de" / "LC_MESSAGES" / "headrank.mo"
    if not mo.exists():
        pytest.skip(f"{mo} was not built")
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout
    if "c.utf8" not in {n.lower().replace("-", "") for n in out.split()}:
        pytest.skip("no C.UTF-8 locale")
    return base_env(LANGUAGE="de", LC_ALL="C.UTF-8")


def test_german_messages(tiny):
    env = german_env()
    out = tiny["out"] / "p.tif"
    p = run("project", tiny["stack"], "-w", tiny["weights"], "-o", out, "--stage", "fc9", env=env)
    line = assert_user_error(p, tiny["weights"])
    assert line == (f"headrank: {tiny['weights']}: Der Kopf hat keine Stufe „fc9“ "
                    "(Stufen: 0, 1, 2, projections)")
    line = assert_usage_error(run("project", tiny["stack"], "-o", out, env=env))
    assert line == "headrank: project braucht die Gewichte des Kopfes (--weights)"
    p = run("--help", env=env)
    assert re.search(r"^  head describe GEWICHTE +", p.stdout, re.M), p.stdout


# -- tools/extract-head.py ---------------------------------------------------------------------


def needs_torch():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed (tools/extract-head.py needs it, headrank does not)")
    import torch

    return torch


def extract(*args):
    return subprocess.run([sys.executable, EXTRACT, *[str(a) for a in args]],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A VisCy-like Lightning checkpoint: an encoder and a V2 head (Linear, BN, ReLU, Linear,
    BN) under model., with num_batches_tracked and hyper-parameters."""
    torch = needs_torch()
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ckpt")
    head = torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.BatchNorm1d(10),
                               torch.nn.ReLU(), torch.nn.Linear(10, 4), torch.nn.BatchNorm1d(4))
    head.train()
    with torch.no_grad():
        for _ in range(3):  # running statistics away from 0 and 1
            head(torch.randn(64, 12) * 2 + 1)
    head.eval()
    state = {"model.stem.0.weight": torch.randn(8, 1, 3, 3),
             "model.encoder.head.norm.weight": torch.ones(12),
             "model.encoder.head.norm.bias": torch.zeros(12)}
    state.update({f"model.projection.{k}": v for k, v in head.state_dict().items()})
    path = d / "epoch=1-step=10.ckpt"
    torch.save({"epoch": 1, "global_step": 10, "state_dict": state,
                "hyper_parameters": {"lr": 1e-3, "embedding_dim": 12}}, path)
    plain = d / "model.pt"
    torch.save({k[len("model."):]: v for k, v in state.items()}, plain)
    x = torch.randn(30, 12)
    stack = d / "x.tif"
    tifffile.imwrite(stack, x.numpy())
    with torch.no_grad():
        ref = head(x).numpy()
    return {"ckpt": path, "plain": plain, "stack": stack, "ref": ref, "dir": d}


def test_extract_list(checkpoint):
    p = extract(checkpoint["ckpt"], "--list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert any(re.match(r"^model\.projection\.0\.weight +float32 +\[10, 12\]$", l) for l in lines)
    assert any(re.match(r"^model\.projection\.1\.num_batches_tracked +int64 +\[\]$", l)
               for l in lines)
    assert any(l.startswith("model.stem.0.weight") for l in lines)
    assert lines[-1] == "# projection head: prefix 'model.projection.', 14 tensors"


@pytest.mark.parametrize("source, strip", [("ckpt", False), ("ckpt", True), ("plain", False)])
def test_extract_then_project(checkpoint, tmp_path, source, strip):
    out = tmp_path / "head.safetensors"
    p = extract(checkpoint[source], out, *(["--strip"] if strip else []))
    assert p.returncode == 0, p.stderr
    j = describe_json(out, "--arch", "viscy-v2")
    prefix = "" if strip else ("model.projection." if source == "ckpt" else "projection.")
    assert j["prefix"] == prefix
    assert [l["kind"] for l in j["layers"]] == ["linear", "bn", "relu", "linear",
                                                "bn"]
    header_len = struct.unpack("<Q", out.read_bytes()[:8])[0]
    header = json.loads(out.read_bytes()[8:8 + header_len])
    names = {k for k in header if k != "__metadata__"}
    assert len(names) == 14 and all(n.startswith(prefix) for n in names)
    assert not any("stem" in n or "encoder" in n for n in names)
    projections = tmp_path / "p.tif"
    p = run("project", checkpoint["stack"], "-w", out, "-o", projections)
    assert p.returncode == 0, p.stderr
    assert_close(tifffile.imread(projections), checkpoint["ref"])


def test_extract_with_a_prefix(checkpoint, tmp_path):
    out = tmp_path / "h.safetensors"
    p = extract(checkpoint["ckpt"], out, "--prefix", "model.projection", "--strip")
    assert p.returncode == 0, p.stderr
    assert describe_json(out)["out_features"] == 4
    p = extract(checkpoint["ckpt"], tmp_path / "n.safetensors", "--prefix", "model.nothing.")
    assert p.returncode == 1
    assert p.stderr.startswith("extract-head.py: ") and "model.nothing." in p.stderr
    assert not (tmp_path / "n.safetensors").exists()


def test_extract_errors(checkpoint, tmp_path):
    missing = tmp_path / "missing.ckpt"
    p = extract(missing, tmp_path / "o.safetensors")
    assert p.returncode == 1 and str(missing) in p.stderr and len(p.stderr.splitlines()) == 1
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    p = extract(junk, tmp_path / "o.safetensors")
    assert p.returncode == 1 and str(junk) in p.stderr and len(p.stderr.splitlines()) == 1
    p = extract(checkpoint["ckpt"])
    assert p.returncode == 2


# -- the VisCy family (tests/data/viscy, made with VisCy's classes by make_viscy_heads.py) ---

VISCY = DATA / "viscy"
VISCY_MANIFEST = json.loads((VISCY / "manifest.json").read_text())
VISCY_HEADS = {h["id"]: h for h in VISCY_MANIFEST["heads"]}
VISCY_X = np.fromfile(VISCY / VISCY_MANIFEST["input"], dtype="<f4").reshape(
    VISCY_MANIFEST["n"], VISCY_MANIFEST["d"])


def read_safetensors(path):
    """Every tensor of a safetensors file as a numpy array (F32, and I64 for counters)."""
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": "<f4", "I64": "<i8"}[e["dtype"]]
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype).reshape(e["shape"])
    return out


def viscy_x(head):
    if "input" in head:
        return np.fromfile(VISCY / head["input"], dtype="<f4").reshape(head["n"], head["d"])
    return VISCY_X


def viscy_ref(head, mode):
    return np.fromfile(VISCY / head["refs"][mode], dtype="<f4").reshape(len(viscy_x(head)),
                                                                        head["out"])


@pytest.fixture(scope="module")
def viscy_stacks(tmp_path_factory):
    d = tmp_path_factory.mktemp("viscy")
    paths = {}
    for head_id, head in VISCY_HEADS.items():
        paths[head_id] = d / f"{head_id}.tif"
        tifffile.imwrite(paths[head_id], viscy_x(head))
    return paths


@pytest.mark.parametrize("head_id", list(VISCY_HEADS))
@pytest.mark.parametrize("mode, args", [("running", []), ("batch", ["--batch-stats"]),
                                        ("batch16", ["--batch-stats", "--batch-size", "16"])])
def test_viscy_project(head_id, mode, args, viscy_stacks, tmp_path):
    """project on every head of the family, as a user runs it: the file's metadata, or the
    activation (or the architecture) given, in eval mode, with batch statistics and with
    batches of 16."""
    head = VISCY_HEADS[head_id]
    out = tmp_path / "p.tif"
    extra = (["--arch", head["arch"]] if head.get("arch")
             else ["--activation", head["activation"]] if head["source"] == "inferred" else [])
    p = run("project", viscy_stacks[head_id], "-w", VISCY / head["weights"], "-o", out, *args,
            *extra)
    assert p.returncode == 0, p.stderr
    if head["source"] == "metadata" or head.get("arch"):
        assert p.stderr == ""
    else:
        # the activation was given; what the tensors cannot show (L2) is still said
        assert p.stderr.startswith("headrank: note: ") and "L2" in p.stderr
        assert "assumed to be" not in p.stderr
    assert_close(tifffile.imread(out), viscy_ref(head, mode))


@pytest.mark.parametrize("head_id", [h for h, e in VISCY_HEADS.items() if e["source"] == "inferred"])
def test_viscy_assumed_activation_is_said(head_id, viscy_stacks, tmp_path):
    """Nothing tells the activation: project, describe and the report all say it was assumed
    and how to state it."""
    head = VISCY_HEADS[head_id]
    weights = VISCY / head["weights"]
    viscy_stack = viscy_stacks[head_id]
    p = run("project", viscy_stack, "-w", weights, "-o", tmp_path / "p.tif")
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith(f"headrank: note: {weights}: ")
    assert "assumed to be relu" in p.stderr and "--activation" in p.stderr and "--arch" in p.stderr
    p = run("head", "describe", weights)
    assert p.returncode == 0, p.stderr
    assert "activation assumed" in p.stdout.splitlines()[0]
    assert any(l.startswith("Assumed: ") and "--activation" in l for l in p.stdout.splitlines())
    j = describe_json(weights)["architecture"]
    assert (j["from"], j["activation"], j["assumed"]) == ("inferred", "relu", True)
    assert "--activation" in j["assumption"]
    r = run("analyze", viscy_stack, "-w", weights, "--json")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)["head"]["architecture"]
    assert (a["from"], a["activation"], a["assumed"]) == ("inferred", "relu", True)
    assert any("--activation" in line for line in json.loads(r.stdout)["verdict"]["summary"])
    # stated, nothing is assumed
    j = describe_json(weights, "--activation", head["activation"])["architecture"]
    assert (j["activation"], j["assumed"]) == (head["activation"], False)
    if not head.get("arch"):
        assert j["spec"] == head["spec"]
    else:  # V0: the L2 normalisation takes the architecture
        assert j["spec"] + ",l2" == head["spec"] and "L2" in j["assumption"]
        j = describe_json(weights, "--arch", head["arch"])["architecture"]
        assert (j["spec"], j["from"], j["assumption"]) == (head["spec"], "given", None)


@pytest.mark.parametrize("head_id", [h for h, e in VISCY_HEADS.items() if e["source"] == "metadata"])
def test_viscy_describe_says_where_the_architecture_came_from(head_id):
    head = VISCY_HEADS[head_id]
    weights = VISCY / head["weights"]
    j = describe_json(weights)
    a = j["architecture"]
    assert (a["spec"], a["from"], a["assumed"], a["assumption"]) == (head["spec"], "metadata",
                                                                     False, None)
    assert a["arch_from"] in ("hyper_parameters", "module classes")
    assert a["checkpoint"] == head["checkpoint"]
    assert sorted(a["presets"]) == sorted(head["presets"])
    text = run("head", "describe", weights).stdout.splitlines()
    assert text[1] == f"Architecture: {head['spec']} (read from the file's metadata)"
    assert head["checkpoint"] in text[2]
    assert text[3] == ("Preset: " + ", ".join(head["presets"]) if head["presets"]
                       else "Preset: none matches")


def test_viscy_arch_v2_takes_dropout_gaps():
    """--arch viscy-v2 on an MLP with dropout: Dropout in the gap, not an error."""
    weights = VISCY / VISCY_HEADS["mlp-bn-gelu-dropout"]["weights"]
    j = describe_json(weights, "--arch", "viscy-mlp-bn-gelu")
    assert [l["kind"] for l in j["layers"]] == ["linear", "bn", "gelu", "dropout", "linear", "bn"]
    assert [l["name"] for l in j["layers"]] == ["0", "1", "2", "3", "4", "5"]
    j = describe_json(weights, "--arch", "viscy-v2")
    assert [l["kind"] for l in j["layers"]] == ["linear", "bn", "relu", "dropout", "linear", "bn"]
    # a gap where the architecture has no activation is an error, not a silent dropout
    line = assert_user_error(run("head", "describe", weights, "--arch", "linear,bn,linear,bn"),
                             weights)
    assert "model.projection.backbone.2" in line


def test_viscy_several_heads_ask_for_a_prefix():
    entry = VISCY_MANIFEST["all_heads"]
    weights = VISCY / entry["weights"]
    line = assert_user_error(run("head", "describe", weights), weights)
    assert "--prefix" in line and all(p in line for p in entry["prefixes"])
    j = describe_json(weights, "--prefix", "auxiliary_heads.pairs.target_proj.backbone.")
    assert j["in_features"] == 10


def test_activation_option_errors(tiny):
    line = assert_usage_error(run("head", "describe", tiny["weights"], "--arch", "viscy-v2",
                                  "--activation", "gelu"))
    assert "--activation" in line
    # an --activation that is not one is bad usage (exit 2), as an unparseable --arch is,
    # for every command that takes it
    for args in (["head", "describe", tiny["weights"]],
                 ["project", SAMPLE, "--weights", tiny["weights"], "--output", "unused.tif"],
                 ["analyze", SAMPLE, "--weights", tiny["weights"]]):
        line = assert_usage_error(run(*args, "--activation", "mish"))
        assert "--activation" in line and "mish" in line and "gelu" in line
    # so is one for a file that states its architecture
    weights = VISCY / VISCY_HEADS["mlp-bn-gelu"]["weights"]
    line = assert_usage_error(run("head", "describe", weights, "--activation", "silu"))
    assert "--activation" in line


def test_arch_overriding_the_metadata_is_said(tmp_path):
    """--arch that differs from the architecture the file's metadata states: a note on
    standard error naming both, never a silent override; the same architecture: no note."""
    weights = VISCY / VISCY_HEADS["mlp-bn-gelu"]["weights"]
    p = run("head", "describe", weights, "--arch", "viscy-mlp-bn-silu")
    assert p.returncode == 0, p.stderr
    assert p.stderr == (f"headrank: note: --arch viscy-mlp-bn-silu (linear:20,bn,silu,linear:12,bn) "
                        f"overrides the architecture {weights} states "
                        "(linear:20,bn,gelu,linear:12,bn)\n")
    assert "Architecture: linear:20,bn,silu,linear:12,bn (given)" in p.stdout
    out = tmp_path / "p.tif"
    x = tmp_path / "x.tif"
    tifffile.imwrite(x, VISCY_X[:50])
    p = run("project", x, "--weights", weights, "--arch", "viscy-mlp-bn-silu", "--output", out)
    assert p.returncode == 0 and "overrides" in p.stderr and "gelu" in p.stderr, p.stderr
    # the same architecture, as a preset or as a spec: nothing to say
    for arch in ("viscy-mlp-bn-gelu", "linear:20,bn,gelu,linear:12,bn"):
        p = run("head", "describe", weights, "--arch", arch)
        assert p.returncode == 0 and p.stderr == "", p.stderr


def test_presets_matched_through_an_assumed_activation_say_so(tmp_path):
    """An inferred head with an assumed ReLU matches the ReLU presets only if the assumption
    holds: the text and the JSON say so; with the activation given they do not."""
    weights = write_safetensors(tmp_path / "w.safetensors",
                                mlp_tensors([12, 8, 4], "model.projection.", bn=True))
    p = run("head", "describe", weights)
    assert p.returncode == 0, p.stderr
    preset = [l for l in p.stdout.splitlines() if l.startswith("Preset: ")]
    assert preset == ["Preset: viscy-v2, viscy-resnet3d, viscy-mlp-bn-relu "
                      "(if the activation is relu, as assumed)"]
    a = describe_json(weights)["architecture"]
    assert a["presets"] == ["viscy-v2", "viscy-resnet3d", "viscy-mlp-bn-relu"]
    assert a["presets_assumed"] is True and a["assumed"] is True
    p = run("head", "describe", weights, "--activation", "gelu")
    assert "Preset: viscy-mlp-bn-gelu\n" in p.stdout, p.stdout
    a = describe_json(weights, "--activation", "relu")["architecture"]
    assert (a["presets"][0], a["presets_assumed"], a["assumed"]) == ("viscy-v2", False, False)
    # report.json says the same
    x = tmp_path / "x.tif"
    tifffile.imwrite(x, np.random.default_rng(0).normal(size=(40, 12)).astype("f4"))
    p = run("analyze", x, "--weights", weights, "--json")
    assert p.returncode == 0, p.stderr
    a = json.loads(p.stdout)["head"]["architecture"]
    assert a["presets_assumed"] is True and "viscy-v2" in a["presets"]


def test_extract_head_finds_heads_as_the_library_does():
    """tools/extract-head.py and the library read one list of prefixes and find the same
    heads (numpy arrays stand in for tensors: no torch needed)."""
    spec = importlib.util.spec_from_file_location("extract_head", EXTRACT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for entry in (VISCY_MANIFEST["all_heads"], VISCY_MANIFEST["encoder_heads"]):
        tensors = read_safetensors(VISCY / entry["weights"])
        assert sorted(module.find_prefixes(tensors)) == sorted(entry["prefixes"])
    for h in VISCY_HEADS.values():
        t = read_safetensors(VISCY / h["weights"])
        assert module.find_prefixes(t) == [h["prefix"]]
    lines = (SOURCE_ROOT / "data" / "head-prefixes.txt").read_text().splitlines()
    assert module.load_known_prefixes() == tuple(
        l.strip() for l in lines if l.strip() and not l.startswith("#"))


@pytest.mark.parametrize("arch, message", [("linear:8,mish,linear:4", "mish"),
                                           ("linear:8,relu,linear:4,bn", "architecture")])
def test_bad_architecture_in_metadata(tmp_path, arch, message):
    """An architecture in the file's metadata that cannot be parsed, or does not fit the
    tensors: one line naming the file, exit 1."""
    weights = write_safetensors(tmp_path / "m.safetensors",
                                mlp_tensors([12, 8, 4], "model.projection."),
                                {"arch": arch, "prefix": "model.projection."})
    line = assert_user_error(run("head", "describe", weights), weights)
    assert message in line


def test_metadata_for_another_prefix_is_not_used(tmp_path):
    """The metadata describes the head under its prefix; a head found elsewhere is inferred."""
    weights = write_safetensors(tmp_path / "m.safetensors",
                                mlp_tensors([12, 8, 4], "model.projection."),
                                {"arch": "linear:8,gelu,linear:4", "prefix": "other."})
    a = describe_json(weights)["architecture"]
    assert (a["from"], a["assumed"]) == ("inferred", True)
    weights = write_safetensors(tmp_path / "n.safetensors",
                                mlp_tensors([12, 8, 4], "model.projection."),
                                {"arch": "linear:8,gelu,linear:4", "prefix": "model.projection."})
    a = describe_json(weights)["architecture"]
    assert (a["from"], a["activation"], a["assumed"]) == ("metadata", "gelu", False)


def test_viscy_head_beside_a_vit_encoder():
    """CELL-DINO's ViT blocks hold Linear chains (blocks.N.N.mlp.fc1, fc2) too: only the
    projection is a head, inferred and said to be assumed."""
    entry = VISCY_MANIFEST["encoder_heads"]
    weights = VISCY / entry["weights"]
    j = describe_json(weights)
    assert j["prefix"] == entry["prefixes"][0]
    a = j["architecture"]
    assert (a["from"], a["assumed"]) == ("inferred", True)
    assert describe_json(weights, "--activation", "gelu")["architecture"]["spec"] == entry["spec"]


def test_an_mlp_state_dict_under_backbone(tmp_path):
    """viscy_models' MLP saved alone (keys backbone.N.*): the library and the script both
    find it under backbone., and a LayerNorm MLP with dropout is read with its gap."""
    rng = np.random.default_rng(3)
    t = {"backbone.0.weight": rng.normal(size=(6, 5)), "backbone.0.bias": rng.normal(size=6),
         "backbone.1.weight": rng.normal(size=6), "backbone.1.bias": rng.normal(size=6),
         "backbone.4.weight": rng.normal(size=(3, 6)), "backbone.4.bias": rng.normal(size=3),
         "backbone.5.weight": rng.normal(size=3), "backbone.5.bias": rng.normal(size=3)}
    weights = write_safetensors(tmp_path / "mlp.safetensors", t)
    spec = importlib.util.spec_from_file_location("extract_head", EXTRACT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.find_prefixes(t) == ["backbone."]
    j = describe_json(weights, "--arch", "viscy-mlp-ln-silu")
    assert j["prefix"] == "backbone."
    assert [l["kind"] for l in j["layers"]] == ["linear", "ln", "silu", "dropout", "linear", "ln"]


def test_analyze_table_shows_the_activations_own_clipping(tmp_path):
    """The table's clip/all columns count what the stage's activation clips: outputs below 0
    after a GELU (not its exact zeros, which there are none of), |y| > tanh 2 after a Tanh,
    as report.json's "clipping" does; computed here from the weights in float64."""
    weights = VISCY / VISCY_HEADS["mlp-bn-gelu"]["weights"]
    t = read_safetensors(weights)
    p = "model.projection.backbone."
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1, (2000, 24)).astype("f4")
    x[:, 3] += 4.0  # some units mostly on one side
    h = x.astype(np.float64) @ t[p + "0.weight"].T.astype(np.float64) + t[p + "0.bias"]
    h = ((h - t[p + "1.running_mean"]) / np.sqrt(t[p + "1.running_var"] + 1e-5)
         * t[p + "1.weight"] + t[p + "1.bias"])
    below = (h < 0).mean(axis=0)  # GELU(h) < 0 exactly where h < 0
    tifffile.imwrite(tmp_path / "x.tif", x)
    r = run("analyze", tmp_path / "x.tif", "--weights", weights, "--output", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    lines = after_subject(r.stdout).splitlines()
    assert lines[0].split()[-2:] == ["clip", "all"]
    row = next(l for l in lines if l.startswith("2 (gelu)")).split()
    assert abs(float(row[-2]) - below.mean()) <= 0.0015, (row, below.mean())
    assert 0.2 < below.mean() < 0.8  # a ReLU count (exact zeros) would print 0.000
    assert int(row[-1]) == int((below == 1).sum())
    assert "below 0 after GELU, SiLU and LeakyReLU" in r.stdout
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    clip = report["stages"][1]["statistics"]["clipping"]
    assert clip["measure"] == "negative"
    assert row[-2] == f"{clip['fraction_mean']:.3f}" and int(row[-1]) == clip["units_always"]
    # a ReLU keeps its zeros and dead units; Tanh its saturation
    for head_id, kind in (("mlp-bn-relu", "relu"), ("leaky-tanh", "tanh")):
        r = run("analyze", tmp_path / "x.tif", "--weights", VISCY / VISCY_HEADS[head_id]["weights"],
                "--output", tmp_path / head_id)
        assert r.returncode == 0, r.stderr
        report = json.loads((tmp_path / head_id / "report.json").read_text())
        for stage in report["stages"]:
            row = next(l for l in r.stdout.splitlines()
                       if l.startswith(f"{stage['name']} (") or l.split()[:1] == [stage["name"]])
            clip = stage["statistics"].get("clipping")
            stats = stage["statistics"]["per_dimension"]
            want = ((clip["fraction_mean"], clip["units_always"]) if clip
                    else (stats["zero_fraction_mean"], stats["dead_units"]))
            assert row.split()[-2:] == [f"{want[0]:.3f}", str(want[1])], row
        if kind == "relu":
            st = report["stages"][1]["statistics"]
            assert st["clipping"]["fraction_mean"] == st["per_dimension"]["zero_fraction_mean"]


def test_extract_head_reads_flat_hyper_parameters():
    """A LightningModule's own save_hyperparameters() (flat: activation, norm and the head's
    sizes side by side) determines the head: tools/extract-head.py reads it where it is
    unambiguous, says so in arch_from, and leaves it where it is not (numpy arrays stand in
    for tensors: no torch needed)."""
    spec = importlib.util.spec_from_file_location("extract_head", EXTRACT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bn = mlp_tensors([12, 8, 4], "head.", bn=True)  # 0 linear, 1 bn, (2), 3 linear, 4 bn
    flat = {"activation": "gelu", "norm": "bn", "in_dims": 12, "hidden_dims": 8,
            "out_dims": 4, "dropout": 0.0, "lr": 1e-3}
    assert module.architecture(bn, "head.", flat) == (
        "linear:8,bn,gelu,linear:4,bn", "flat hyper_parameters", None)
    # VisCy's names, no norm (the tensors tell it), nested in a plain dict, dropout
    viscy = {"model": {"embedding_dim": 8, "projection_dim": 4, "activation": "SiLU",
                       "dropout": 0.1}, "loss": "ntxent"}
    assert module.architecture(bn, "head.", viscy) == (
        "linear:8,bn,silu,dropout,linear:4,bn", "flat hyper_parameters", None)
    # a LayerNorm head with its norm stated
    ln = {k.replace("running_", "x"): v for k, v in bn.items()}
    ln = {k: v for k, v in ln.items() if ".x" not in k}
    assert module.architecture(ln, "head.", dict(flat, norm="ln"))[0] == (
        "linear:8,ln,gelu,linear:4,ln")
    # nothing determined: no activation, sizes or an input width not the head's, a norm
    # the tensors contradict, sizes that disagree, an activation headrank's MLP lacks
    for hp in ({k: v for k, v in flat.items() if k != "activation"},
               dict(flat, hidden_dims=16), dict(flat, in_dims=10), dict(flat, norm="ln"),
               dict(flat, embedding_dim=6), dict(flat, activation="mish"),
               dict(flat, hidden_dims="8"), {"activation": "gelu", "out_dims": 4}):
        assert module.architecture(bn, "head.", hp) is None, hp
    # a LightningCLI class_path config comes first
    cli = dict(flat, activation="relu", model={"class_path": "viscy_models.MLP", "init_args": {
        "in_dims": 12, "hidden_dims": 8, "out_dims": 4, "norm": "bn", "activation": "silu"}})
    bb = mlp_tensors([12, 8, 4], "head.backbone.", bn=True)
    assert module.architecture(bb, "head.backbone.", cli)[:2] == (
        "linear:8,bn,silu,linear:4,bn", "hyper_parameters")


def test_extract_head_flat_hyper_parameters_end_to_end(tmp_path):
    """A Lightning checkpoint whose hyper_parameters are flat (save_hyperparameters() of a
    module with activation="gelu", norm="ln" and the head's sizes): the architecture reaches
    the file's metadata and headrank says where it came from."""
    torch = needs_torch()
    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.Linear(24, 20), torch.nn.LayerNorm(20), torch.nn.GELU(),
                               torch.nn.Linear(20, 12), torch.nn.LayerNorm(12))
    ckpt = tmp_path / "flat.ckpt"
    torch.save({"state_dict": {"model.projection." + k: v for k, v in head.state_dict().items()},
                "hyper_parameters": {"activation": "gelu", "norm": "ln", "in_dims": 24,
                                     "hidden_dims": 20, "out_dims": 12, "dropout": 0.0}}, ckpt)
    out = tmp_path / "head.safetensors"
    p = extract(ckpt, out)
    assert p.returncode == 0, p.stderr
    a = describe_json(out)["architecture"]
    assert (a["spec"], a["from"], a["arch_from"], a["assumed"]) == (
        "linear:20,ln,gelu,linear:12,ln", "metadata", "flat hyper_parameters", False)


# -- modules whose names do not number them -------------------------------------------------


def test_unnumbered_modules_ordered_by_their_widths(tmp_path):
    """Modules "zz" (6 → 5) and "aa" (5 → 3): no number orders them and the alphabet would
    put aa first; only zz, aa chains, so that is the order (no activation between two Linear
    layers without a norm). Two of one width chain either way: an error naming both."""
    rng = np.random.default_rng(4)
    t = {"projection.zz.weight": rng.normal(size=(5, 6)), "projection.zz.bias": rng.normal(size=5),
         "projection.aa.weight": rng.normal(size=(3, 5)), "projection.aa.bias": rng.normal(size=3)}
    weights = write_safetensors(tmp_path / "named.safetensors", t)
    x = rng.normal(size=(9, 6)).astype(np.float32)
    stack = tmp_path / "x.tif"
    tifffile.imwrite(stack, x)
    out = tmp_path / "p.tif"
    p = run("project", stack, "-w", weights, "-o", out)
    assert p.returncode == 0, p.stderr
    ref = (x.astype(np.float64) @ t["projection.zz.weight"].T + t["projection.zz.bias"]) \
        @ t["projection.aa.weight"].T + t["projection.aa.bias"]
    assert_close(tifffile.imread(out), ref, "zz then aa")

    t2 = {"projection.zz.weight": rng.normal(size=(5, 5)), "projection.zz.bias": rng.normal(size=5),
          "projection.aa.weight": rng.normal(size=(5, 5)), "projection.aa.bias": rng.normal(size=5)}
    weights2 = write_safetensors(tmp_path / "square.safetensors", t2)
    p = run("head", "describe", weights2)
    assert_user_error(p, weights2)
    assert "which comes first" in p.stderr and "aa" in p.stderr and "zz" in p.stderr


def test_unnumbered_modules_that_widths_do_not_order(tmp_path):
    """Seven unnumbered Linear layers are more orders than are tried (an error even though
    their widths chain one way); Linear, Linear, norm, norm without numbers chains in no
    order the names allow (each norm must follow its Linear): refused, not run."""
    rng = np.random.default_rng(5)
    widths = [12, 11, 10, 9, 8, 7, 6, 5]
    t = {}
    for i, name in enumerate("abcdefg"):
        t[f"projection.{name}.weight"] = rng.normal(size=(widths[i + 1], widths[i]))
    weights = write_safetensors(tmp_path / "seven.safetensors", t)
    p = run("head", "describe", weights)
    assert_user_error(p, weights)
    assert "which comes first" in p.stderr

    t = {"projection.proj_in.weight": rng.normal(size=(5, 6)),
         "projection.proj_out.weight": rng.normal(size=(3, 5))}
    for name, width in (("norm_in", 5), ("norm_out", 3)):
        t[f"projection.{name}.weight"] = rng.uniform(0.5, 1.5, width)
        t[f"projection.{name}.bias"] = rng.normal(size=width)
        t[f"projection.{name}.running_mean"] = rng.normal(size=width)
        t[f"projection.{name}.running_var"] = rng.uniform(0.5, 2.0, width)
    weights = write_safetensors(tmp_path / "blocks.safetensors", t)
    p = run("head", "describe", weights)
    assert_user_error(p, weights)
