"""Machine-readable output does not depend on the locale (run by `meson test --suite cli`).

What programs read — every JSON field but the prose ones, and the CSV tables — must be the
same in every language and with every LC_NUMERIC: numbers with '.', enum words and flags
in English. Prose for people is translated, in fields of its own (doc/json.md):
head.description, head.architecture.assumption, verdict.summary, and in `info --json` on a
zarr store arrays[].unreadable_reason.

The runs: plain C; C.UTF-8; German messages through LANGUAGE=de over C.UTF-8; the German
locale de_DE.UTF-8 (installed, or made by localedef as test_cli.py does); and English
messages with only LC_NUMERIC German, whose decimal separator is ','. The German runs must
show German prose with decimal commas, or the test proves nothing.
"""

import copy
import json
import os
import re

import pytest

from cli_common import SOURCE_ROOT, TOOL, base_env, german_locpath, installed_locales, run

DATA = SOURCE_ROOT / "tests" / "data"
FEATURES = DATA / "analysis" / "features.tif"
HEAD = DATA / "analysis" / "head-v2.safetensors"
STORE = DATA / "zarr" / "stores" / "anndata-v2-projections.zarr"
LOCALEDIR = os.environ.get("HEADRANK_LOCALEDIR")

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)

# (path of keys, with "*" for every element of a list) of the prose fields
PROSE = [
    ("head", "description"),
    ("head", "architecture", "assumption"),
    ("verdict", "summary"),
    ("description",),
    ("architecture", "assumption"),
    ("arrays", "*", "unreadable_reason"),
]


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    """The environments of the runs, by name."""
    if not LOCALEDIR:
        pytest.skip("HEADRANK_LOCALEDIR is not set")
    locales = installed_locales()
    if "c.utf8" not in locales:
        pytest.skip("no C.UTF-8 locale")
    locpath = german_locpath(tmp_path_factory)
    german = {"LOCPATH": str(locpath)} if locpath is not None else {}
    return {
        "C": base_env(LC_ALL="C"),
        "C.UTF-8": base_env(),
        "LANGUAGE=de": base_env(LANGUAGE="de"),
        "de_DE.UTF-8": base_env(LANGUAGE="de", LANG="de_DE.UTF-8", LC_ALL="de_DE.UTF-8",
                                **german),
        # English messages, German numbers: LC_ALL unset so that LC_NUMERIC counts
        "LC_NUMERIC=de_DE.UTF-8": {
            **{k: v for k, v in base_env(LANG="C.UTF-8", LC_NUMERIC="de_DE.UTF-8",
                                         **german).items() if k != "LC_ALL"}},
    }


def strip_prose(node, paths=PROSE):
    """@node without its prose fields; returns (machine part, list of prose values)."""
    node = copy.deepcopy(node)
    prose = []

    def walk(obj, path):
        if not isinstance(obj, dict) or path[0] not in obj:
            return
        if len(path) == 1:
            prose.append(obj.pop(path[0]))
        elif path[1] == "*":
            for item in obj[path[0]]:
                walk(item, path[2:])
        else:
            walk(obj[path[0]], path[1:])

    for p in paths:
        walk(node, p)
    return node, prose


def run_json(env, *args):
    p = run(*args, env=env)
    assert p.returncode == 0, (args, p.stderr)
    # numbers kept as written: a ',' or any other difference in their text would show
    return json.loads(p.stdout, parse_float=str, parse_int=str)


def assert_same_machine_fields(envs, *args):
    runs = {name: run_json(env, *args) for name, env in envs.items()}
    machine = {name: strip_prose(j) for name, j in runs.items()}
    reference, english = machine["C.UTF-8"]
    for name, (fields, prose) in machine.items():
        assert fields == reference, (name, args)
    # the prose is translated: the German runs differ from the English ones there
    if english:
        assert machine["de_DE.UTF-8"][1] != english, args
        assert machine["LANGUAGE=de"][1] != english, args
    return runs


def test_analyze_json_is_the_same_in_every_locale(envs):
    runs = assert_same_machine_fields(envs, "analyze", FEATURES, "-w", HEAD, "--json")
    # prose under a German LC_NUMERIC writes numbers with a decimal comma (the locale is in
    # force), the JSON numbers do not
    for name in ("de_DE.UTF-8", "LC_NUMERIC=de_DE.UTF-8"):
        summary = " ".join(runs[name]["verdict"]["summary"])
        assert re.search(r"rank \d+,\d|Rang \d+,\d", summary), (name, summary)
        stage = runs[name]["stages"][0]
        assert re.fullmatch(r"\d+\.\d+(e-?\d+)?", stage["effective_rank"]), (name, stage)
    flags = runs["de_DE.UTF-8"]["verdict"]["flags"]
    assert flags and all(re.fullmatch(r"[a-z_]+", f) for f in flags), flags


def test_analyze_store_json_is_the_same_in_every_locale(envs):
    """A zarr store (AnnData, features and projections picked by the layout)."""
    runs = assert_same_machine_fields(envs, "analyze", STORE, "--json")
    assert runs["C"]["input"]["projections"] is not None


def test_analyze_report_is_the_same_in_every_locale(envs, tmp_path):
    """report.json's machine fields and the CSV tables, byte for byte."""
    tables = {}
    reports = {}
    for name, env in envs.items():
        out = tmp_path / name.replace("=", "-")
        p = run("analyze", "-o", out, env=env)  # the bundled sample, with its pairs
        assert p.returncode == 0, (name, p.stderr)
        reports[name] = strip_prose(json.loads((out / "report.json").read_text(),
                                               parse_float=str))
        tables[name] = [(out / f).read_bytes() for f in ("per_sample.csv", "per_dimension.csv")]
    reference = reports["C.UTF-8"]
    assert reference[0]["contrastive"] is not None
    for name in envs:
        assert reports[name][0] == reference[0], name
        assert tables[name] == tables["C.UTF-8"], name
    assert reports["de_DE.UTF-8"][1] != reference[1]


def test_head_describe_json_is_the_same_in_every_locale(envs):
    runs = assert_same_machine_fields(envs, "head", "describe", HEAD, "--json")
    assert "Präfix" in runs["de_DE.UTF-8"]["description"]
    assert runs["C"]["prefix"] == "projection."


def test_info_json_is_the_same_in_every_locale(envs):
    assert_same_machine_fields(envs, "info", FEATURES, "--json")
    assert_same_machine_fields(envs, "info", STORE, "--json")
