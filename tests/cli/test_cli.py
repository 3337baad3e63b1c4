"""Tests of the headrank command, run by `meson test --suite cli`.

The environment comes from tests/meson.build: HEADRANK_TOOL (the built command),
HEADRANK_LOCALEDIR (the build tree's catalogues, build/po/<lang>/LC_MESSAGES/headrank.mo),
HEADRANK_DATADIR (the bundled sample data) and HEADRANK_SOURCE_ROOT.

Exit statuses checked: 0 success, 1 bad input (exactly one line on standard error, naming
the file), 2 bad usage.

German output is checked in two ways:
* C.UTF-8 with LANGUAGE=de: glibc (>= 2.35) honours LANGUAGE for C.UTF-8, whose name is
  not "C", so this needs nothing beyond libc-bin (essential on Debian 12);
* a real de_DE.UTF-8 locale: the installed one if `locale -a` lists it, otherwise one
  compiled with localedef into a temporary LOCPATH, which needs the locale sources from
  the Debian package `locales`; without them that variant is skipped.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cli_common import SOURCE_ROOT, TOOL, base_env, german_locpath, installed_locales, run
DATA = SOURCE_ROOT / "tests" / "data"
TIFF_DIR = DATA / "tiff"
BAD_DIR = DATA / "bad"
LOCALEDIR = os.environ.get("HEADRANK_LOCALEDIR")
SAMPLE = Path(os.environ.get("HEADRANK_DATADIR") or SOURCE_ROOT / "data") / "sample-features.tif"

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)

LABEL_RE = re.compile(r"^([^\s][^:]*:)( +)\S")


def _load(path):
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return json.load(f)


MANIFEST = _load(TIFF_DIR / "manifest.json")
BAD_MANIFEST = _load(BAD_DIR / "manifest.json")
VARIANTS = sorted({e["variant"] for e in MANIFEST})
# auto cannot tell a stack of 2-D pages (one feature map per sample, no metadata) from
# a stack of channels: those files need --layout pages.
AUTO_UNDECIDABLE = {"pages-map"}


def project_version():
    text = (SOURCE_ROOT / "meson.build").read_text(encoding="utf-8")
    return re.search(r"version\s*:\s*'([^']+)'", text).group(1)


def text_fields(stdout):
    """The "Label:   value" lines of `headrank info` as a dict label -> value."""
    fields = {}
    for line in stdout.splitlines():
        m = LABEL_RE.match(line)
        if m:
            fields[m.group(1)[:-1]] = line[m.end(2):]
    return fields


def label_columns(stdout):
    return {len(m.group(1)) + len(m.group(2)) for m in map(LABEL_RE.match, stdout.splitlines()) if m}


def assert_user_error(p, path):
    """Exit 1, nothing on standard output, exactly one line on standard error naming the file."""
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {p.stderr!r}"
    assert p.stderr.endswith("\n")
    assert lines[0].startswith("headrank: "), lines[0]
    assert str(path) in lines[0], lines[0]
    return lines[0]


def assert_usage_error(p):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr.startswith("headrank: "), p.stderr
    return p.stderr


def needs_fixtures():
    if not MANIFEST:
        pytest.skip(f"no TIFF fixtures: {TIFF_DIR / 'manifest.json'} is missing")


# -- the command itself -----------------------------------------------------------------


def test_version():
    p = run("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"headrank {project_version()}\n"
    assert p.stderr == ""


def test_help_lists_the_info_command():
    p = run("--help")
    assert p.returncode == 0, p.stderr
    assert re.search(r"^  info \[FILE…\] +Describe a feature stack", p.stdout, re.M), p.stdout
    assert "headrank COMMAND --help" in p.stdout
    assert "--version" in p.stdout


def test_info_help_lists_its_options():
    p = run("info", "--help")
    assert p.returncode == 0, p.stderr
    assert "--layout=LAYOUT" in p.stdout
    assert "--json" in p.stdout
    assert "auto, matrix, channels or pages" in p.stdout


def test_no_command_prints_help_and_fails():
    p = run()
    assert p.returncode == 2
    assert p.stdout == ""
    assert "info [FILE…]" in p.stderr


# -- headrank info on the fixtures -------------------------------------------------------


def check_json(p, e, layout):
    assert p.returncode == 0, (e["file"], p.stderr)
    assert p.stderr == ""
    j = json.loads(p.stdout)  # exactly one JSON value: json.loads refuses trailing data
    assert isinstance(j, dict)
    got = (j["layout"], j["samples"], j["features"], j["nonfinite"]["count"])
    assert got == (layout, e["n"], e["d"], 0), e["file"]
    assert j["nonfinite"]["positions"] == []
    assert j["file"] == str(TIFF_DIR / e["file"])
    assert j["sample_format"] == e["dtype"], e["file"]
    assert j["compression"] == e["compression"], e["file"]
    assert j["pages"] == e["pages"], e["file"]
    assert j["tiled"] is e["tiled"], e["file"]
    assert j["bigtiff"] is e["bigtiff"], e["file"]
    assert j["byte_order"] == e["byteorder"], e["file"]
    geometry = {k: e[k] for k in ("width", "height", "depth", "frames", "channels")}
    assert j["geometry"] == geometry, e["file"]


@pytest.mark.parametrize("variant", VARIANTS or ["(no fixtures)"])
def test_json_matches_manifest(variant):
    """--json on every fixture, with the manifest's layout and with auto."""
    needs_fixtures()
    entries = [e for e in MANIFEST if e["variant"] == variant]
    assert entries
    for e in entries:
        path = TIFF_DIR / e["file"]
        check_json(run("info", "--json", "--layout", e["layout"], path), e, e["layout"])
        p = run("info", "--json", path)
        if variant in AUTO_UNDECIDABLE:
            line = assert_user_error(p, path)
            assert "--layout" in line
        else:
            check_json(p, e, e["layout"])


@pytest.mark.parametrize("variant", VARIANTS or ["(no fixtures)"])
def test_text_output(variant):
    """The text report of one file per sample format of each variant."""
    needs_fixtures()
    seen = set()
    for e in MANIFEST:
        if e["variant"] != variant or e["dtype"] in seen:
            continue
        seen.add(e["dtype"])
        path = TIFF_DIR / e["file"]
        p = run("info", "--layout", e["layout"], path)
        assert p.returncode == 0, p.stderr
        assert p.stderr == ""
        f = text_fields(p.stdout)
        assert f["File"] == str(path)
        assert f["Layout"] == e["layout"]
        assert f["Samples"] == str(e["n"])
        assert f["Features"] == str(e["d"])
        assert f["Sample format"] == e["dtype"]
        assert f["Compression"] == e["compression"]
        assert f["Pages"] == str(e["pages"])
        assert f["Non-finite"] == "0"
        assert "Storage" in f and "Geometry" in f and "Metadata" in f
        assert label_columns(p.stdout) == {16}, p.stdout


def first(variant):
    needs_fixtures()
    for e in MANIFEST:
        if e["variant"] == variant:
            return e
    pytest.skip(f"no fixture of variant {variant}")


@pytest.mark.parametrize(
    "args",
    [["--layout", "channels"], ["--layout=channels"], ["-l", "channels"]],
    ids=["separate", "equals", "short"],
)
def test_layout_option_spellings(args):
    e = first("channels-contig")
    p = run("info", "--json", *args, TIFF_DIR / e["file"])
    check_json(p, e, "channels")


def test_layout_before_file_or_after():
    e = first("pages-map")
    path = TIFF_DIR / e["file"]
    check_json(run("info", "--json", path, "--layout", "pages"), e, "pages")
    check_json(run("info", "--layout", "pages", "--json", path), e, "pages")


def test_explicit_auto_is_the_default():
    e = first("channels-planar")
    check_json(run("info", "--json", "--layout", "auto", TIFF_DIR / e["file"]), e, "channels")


def test_matrix_layout_on_a_multipage_file_is_an_input_error():
    e = first("channels-pages")
    path = TIFF_DIR / e["file"]
    line = assert_user_error(run("info", "--layout", "matrix", path), path)
    assert "matrix" in line


# -- bad inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry", BAD_MANIFEST or [None], ids=[e["file"] for e in BAD_MANIFEST] or ["(no fixtures)"]
)
def test_bad_inputs(entry):
    if entry is None:
        pytest.skip(f"no bad-input fixtures: {BAD_DIR / 'manifest.json'} is missing")
    path = BAD_DIR / entry["file"]
    args = ["info", "--json"]
    if entry.get("layout_arg"):
        args += ["--layout", entry["layout_arg"]]
    p = run(*args, path)
    if entry["expect"] == "ok":
        assert p.returncode == 0, p.stderr
        j = json.loads(p.stdout)
        assert (j["samples"], j["features"]) == (entry["n"], entry["d"])
        assert j["nonfinite"]["count"] == entry["nonfinite"]
        assert j["nonfinite"]["positions"] == entry["nonfinite_positions"]
        text = run(*[a for a in args if a != "--json"], path)
        assert text.returncode == 0
        f = text_fields(text.stdout)
        assert f["Non-finite"] == str(entry["nonfinite"])
        where = " ".join(f"({s}, {d})" for s, d in entry["nonfinite_positions"])
        assert f"  first at (sample, feature): {where}\n" in text.stdout
    else:
        line = assert_user_error(p, path)
        if entry["expect"] == "not-tiff":
            assert re.search(r"not a TIFF file|file is empty", line), line
        if entry["expect"] == "layout":
            assert "layout" in line


def test_nonexistent_file():
    path = BAD_DIR / "no-such-file.tif"
    assert not path.exists()
    assert_user_error(run("info", path), path)


def test_directory_is_not_a_stack(tmp_path):
    assert_user_error(run("info", tmp_path), tmp_path)


def test_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path = tmp_path / "locked.tif"
    shutil.copy(BAD_DIR / "nonfinite.tif", path)
    path.chmod(0)
    assert_user_error(run("info", path), path)


# -- bad usage ---------------------------------------------------------------------------


def some_file():
    if BAD_MANIFEST:
        return BAD_DIR / "nonfinite.tif"
    return SAMPLE


@pytest.mark.parametrize(
    "args, message",
    [
        (["frobnicate"], "unknown command “frobnicate”"),
        (["--frobnicate"], "Unknown option --frobnicate"),
        (["info", "--frobnicate", "FILE"], "Unknown option --frobnicate"),
        (["info", "--layout", "diagonal", "FILE"],
         "unknown layout “diagonal” (auto, matrix, channels or pages)"),
        (["info", "--layout"], "Missing argument for --layout"),
    ],
    ids=["unknown-command", "unknown-option", "unknown-info-option", "bad-layout",
         "layout-without-value"],
)
def test_usage_errors(args, message):
    args = [some_file() if a == "FILE" else a for a in args]
    stderr = assert_usage_error(run(*args))
    assert stderr.splitlines()[0] == f"headrank: {message}"
    if args[0] == "info":
        # the hint names the help option of the command
        assert "“headrank info --help”" in stderr, stderr


# -- the bundled sample ------------------------------------------------------------------


def test_info_without_file_describes_the_bundled_sample():
    if not SAMPLE.exists():
        pytest.skip(f"the bundled sample {SAMPLE} does not exist yet")
    p = run("info", "--json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert Path(j["file"]).name == "sample-features.tif"
    assert j["samples"] > 0 and j["features"] > 0
    explicit = json.loads(run("info", "--json", SAMPLE).stdout)
    assert {k: v for k, v in j.items() if k != "file"} == {
        k: v for k, v in explicit.items() if k != "file"
    }
    text = run("info")
    assert text.returncode == 0
    assert text_fields(text.stdout)["File"].endswith("sample-features.tif")


# -- translations ------------------------------------------------------------------------


def german_catalogue():
    if not LOCALEDIR:
        pytest.skip("HEADRANK_LOCALEDIR is not set")
    mo = Path(LOCALEDIR) / "de" / "LC_MESSAGES" / "headrank.mo"
    assert mo.exists(), (
        f"{mo} was not built: is 'de' in po/LINGUAS (then `meson setup --reconfigure`)?"
    )


@pytest.fixture(scope="module")
def de_de_locpath(tmp_path_factory):
    """None when de_DE.UTF-8 is installed, else a LOCPATH holding one made by localedef."""
    return german_locpath(tmp_path_factory)


@pytest.fixture(params=["C.UTF-8+LANGUAGE", "de_DE.UTF-8"])
def german_env(request):
    german_catalogue()
    env = base_env()
    if request.param == "C.UTF-8+LANGUAGE":
        if "c.utf8" not in installed_locales():
            pytest.skip("no C.UTF-8 locale")
        env.update(LANGUAGE="de", LC_ALL="C.UTF-8")
    else:
        locpath = request.getfixturevalue("de_de_locpath")
        env.update(LANGUAGE="de", LANG="de_DE.UTF-8", LC_ALL="de_DE.UTF-8")
        if locpath is not None:
            env["LOCPATH"] = str(locpath)
    return env


GERMAN_LABELS = ["Datei", "Layout", "Datenpunkte", "Merkmale", "Werteformat", "Komprimierung",
                 "Seiten", "Speicherung", "Metadaten", "Geometrie", "Nicht endlich"]


def test_german_info(german_env):
    path = BAD_DIR / "nonfinite.tif"
    if not path.exists():
        pytest.skip(f"{path} does not exist")
    p = run("info", "--layout", "matrix", path, env=german_env)
    assert p.returncode == 0, p.stderr
    f = text_fields(p.stdout)
    assert list(f) == GERMAN_LABELS, p.stdout
    assert f["Datei"] == str(path)
    assert f["Datenpunkte"] == "37"
    assert f["Merkmale"] == "35"
    assert f["Nicht endlich"] == "3"
    assert f["Speicherung"] == "Streifen, Little-Endian, klassisches TIFF"
    assert "  zuerst bei (Datenpunkt, Merkmal): (2, 3) (5, 0) (36, 34)\n" in p.stdout
    assert label_columns(p.stdout) == {16}, p.stdout


def test_german_errors(german_env):
    path = BAD_DIR / "text.tif"
    if not path.exists():
        pytest.skip(f"{path} does not exist")
    line = assert_user_error(run("info", path, env=german_env), path)
    assert line == f"headrank: {path}: keine TIFF-Datei"

    stderr = assert_usage_error(run("info", "--layout", "diagonal", path, env=german_env))
    assert stderr.splitlines()[0] == (
        "headrank: unbekanntes Layout „diagonal“ (auto, matrix, channels oder pages)"
    )
    stderr = assert_usage_error(run("frobnicate", env=german_env))
    assert stderr == "headrank: unbekannter Befehl „frobnicate“\n"


def test_german_help(german_env):
    p = run("--help", env=german_env)
    assert p.returncode == 0
    assert re.search(r"^  info \[DATEI…\] +Einen Merkmalsstapel beschreiben", p.stdout, re.M), p.stdout
    assert "„headrank BEFEHL --help“" in p.stdout


def test_c_locale_stays_english():
    """LANGUAGE alone does not switch the plain C locale (glibc ignores it there)."""
    path = BAD_DIR / "text.tif"
    if not path.exists():
        pytest.skip(f"{path} does not exist")
    line = assert_user_error(run("info", path, env=base_env(LC_ALL="C", LANGUAGE="de")), path)
    assert line.endswith(": not a TIFF file")
