"""The command's output for people (issue 14, §9), run by `meson test --suite cli`.

- `analyze`'s tables, legends and prose fit the width: COLUMNS, else the terminal's, else 80
  for a pipe; no line longer, no word broken, in English and in German (longer words).
- The build tree's catalogues are found without any variable: `LANGUAGE=de build/lib/headrank
  --help` is German with HEADRANK_LOCALEDIR unset, and the library's messages too.
- `analyze --stage bogus` is a usage error whose first line lists the stages of the head.
- The progress bar, on a terminal (a pty), shows a rate and what the run does after its pass.
"""

import os
import pty
import re
import subprocess

import numpy as np
import pytest

from cli_common import SOURCE_ROOT, TOOL, after_subject, base_env, run, subject

DATA = SOURCE_ROOT / "data"
LOCALEDIR = os.environ.get("HEADRANK_LOCALEDIR")

pytestmark = pytest.mark.skipif(
    not TOOL, reason="HEADRANK_TOOL is not set: run these tests through `meson test --suite cli`"
)


def no_localedir(**extra):
    env = base_env(**extra)
    env.pop("HEADRANK_LOCALEDIR", None)
    return env


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """analyze's text (the bundled sample, head and pairs) by (language, width)."""
    tmp = tmp_path_factory.mktemp("width")
    texts = {}
    for language in ("en", "de"):
        for width in (80, 60, 200, None):
            extra = {} if width is None else {"COLUMNS": str(width)}
            if language == "de":
                extra["LANGUAGE"] = "de"
            env = base_env(**extra)
            if width is None:
                env.pop("COLUMNS")
            p = run("analyze", "-o", "r", env=env, cwd=tmp)
            assert p.returncode == 0, p.stderr
            # the first paragraph, what was analysed, names the sample and the head
            assert ("sample-embeddings.tif" in subject(p.stdout)
                    and "head-viscy-v0.safetensors" in subject(p.stdout)), p.stdout
            texts[language, width] = p.stdout
    return texts


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("width", [80, 60, 200])
def test_lines_fit_the_width(outputs, language, width):
    text = outputs[language, width]
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{len(long)} lines longer than {width}: {long[:3]}"


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_pipe_gets_80_columns(outputs, language):
    assert outputs[language, None] == outputs[language, 80]
    assert max(len(line) for line in outputs[language, 80].splitlines()) <= 80


def test_german_is_german(outputs):
    assert "Stufe" in outputs["de", 80] and "Stufe" not in outputs["en", 80]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("width", [80, 60])
def test_words_are_not_broken(outputs, language, width):
    """The words of the wrapped legend are the words of the 200-column one, in order."""
    def words(text):
        return text.split()

    assert words(outputs[language, width]) == words(outputs[language, 200]) or (
        # the tables are split into blocks at narrow widths: compare the legend only
        legend_words(outputs[language, width]) == legend_words(outputs[language, 200]))


def legend_words(text):
    m = re.search(r"^\((.*?)\)$", after_subject(text), re.S | re.M)
    assert m, text
    return m.group(1).split()


@pytest.mark.parametrize("language", ["en", "de"])
def test_tables_keep_every_cell(outputs, language):
    """Split into blocks at 60 columns, the table still holds every number of the wide one."""
    def cells(text):
        table = after_subject(text).split("\n(")[0]
        return {tok for tok in table.split() if re.fullmatch(r"[-0-9./]+", tok)}

    wide, narrow = outputs[language, 200], outputs[language, 60]
    assert cells(narrow) == cells(wide)
    # headings and 3 stages, one block
    assert len(after_subject(wide).split("\n(")[0].splitlines()) == 4
    assert len(after_subject(narrow).split("\n(")[0].splitlines()) > 4


def test_build_tree_is_german_without_a_variable():
    env = no_localedir(LANGUAGE="de")
    p = run("--help", env=env)
    assert "Befehle:" in p.stderr + p.stdout, p.stderr
    # the command and the library read the same catalogue as with HEADRANK_LOCALEDIR
    if LOCALEDIR:
        for args in (["--help"], ["info", "/nonexistent/x.tif"], ["analyze", "--help"]):
            a = run(*args, env=env)
            b = run(*args, env=base_env(LANGUAGE="de", HEADRANK_LOCALEDIR=LOCALEDIR))
            assert (a.stdout, a.stderr) == (b.stdout, b.stderr)
    e = run("info", "/nonexistent/x.tif", env=no_localedir())
    g = run("info", "/nonexistent/x.tif", env=env)
    assert e.returncode == g.returncode == 1
    assert e.stderr != g.stderr, "the library's message is not translated"


def test_unknown_stage_lists_the_stages(tmp_path):
    p = run("analyze", DATA / "sample-embeddings.tif", "-w", DATA / "head-viscy-v2.safetensors",
            "--stage", "bogus", "-o", tmp_path / "r")
    assert p.returncode == 2
    first = p.stderr.splitlines()[0]
    assert "“bogus”" in first
    assert first.endswith("features, 0, 1, 2, 3, 4, projections, all, none"), first
    assert not (tmp_path / "r").exists()
    # a real stage name is accepted
    p = run("analyze", DATA / "sample-embeddings.tif", "-w", DATA / "head-viscy-v2.safetensors",
            "--stage", "2", "--json")
    assert p.returncode == 0, p.stderr
    # without a head only the generic names
    p = run("analyze", DATA / "sample-embeddings.tif", "--projections",
            DATA / "sample-embeddings.tif", "--stage", "2", "--json")
    assert p.returncode == 2
    assert p.stderr.splitlines()[0].endswith("features, projections, all, none")


def test_progress_on_a_terminal(tmp_path):
    """On a pty: the bar with a rate and ETA, then what the run does after its pass."""
    tifffile = pytest.importorskip("tifffile")
    x = np.random.default_rng(0).standard_normal((400_000, 64)).astype("<f4")
    tifffile.imwrite(tmp_path / "big.tif", x)
    env = base_env()
    env.pop("HEADRANK_NO_PROGRESS")
    # the bar from the start, however quick the pass is on this machine (a pass shorter
    # than the default 0.3 s wait drew nothing: the test failed on a fast run)
    env["HEADRANK_PROGRESS_DELAY"] = "0"
    master, slave = pty.openpty()
    p = subprocess.Popen([TOOL, "analyze", tmp_path / "big.tif", "-w",
                          DATA / "head-viscy-v2.safetensors", "-o", tmp_path / "r"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
                         env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(timeout=120) == 0
    text = out.decode()
    assert re.search(r"\] +\d+%  [0-9.]+( [kMG])? samples/s", text), text
    assert "Analysing: writing the report, tables and figures…" in text, text
    # the line is cleared at the end
    assert text.rindex("\r\x1b[K") > text.rindex("writing the report")
    # and no bar on a pipe
    p = run("analyze", tmp_path / "big.tif", "-w", DATA / "head-viscy-v2.safetensors", "-o",
            tmp_path / "r2", env=env)
    assert p.returncode == 0 and p.stderr == ""
