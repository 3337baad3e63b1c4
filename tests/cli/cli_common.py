"""What the command's tests share: where the built command is, the environment of an
English run, and running it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from safetensors_writer import write_safetensors  # noqa: E402, F401 (the tests import it from here)

TOOL = os.environ.get("HEADRANK_TOOL")
SOURCE_ROOT = Path(os.environ.get("HEADRANK_SOURCE_ROOT") or Path(__file__).resolve().parents[2])


def base_env(**extra):
    """The environment of an English run: C.UTF-8 so that “”, × and … pass unchanged."""
    env = dict(os.environ)
    for name in ("LANGUAGE", "LANG", "LOCPATH") + tuple(k for k in env if k.startswith("LC_")):
        env.pop(name, None)
    env["LC_ALL"] = "C.UTF-8"
    env["HEADRANK_NO_PROGRESS"] = "1"
    # lines unwrapped: the tests of content read whole lines (test_human_output_cli.py sets
    # its own widths)
    env["COLUMNS"] = "1000"
    env.update(extra)
    return env


def installed_locales():
    """The locales `locale -a` lists, lower case without dashes ("de_de.utf8")."""
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    return {name.lower().replace("-", "") for name in out.split()}


def german_locpath(tmp_path_factory):
    """None when de_DE.UTF-8 is installed, else a LOCPATH holding one made by localedef from
    the locale sources (Debian package `locales`); the test is skipped without them."""
    if "de_de.utf8" in installed_locales():
        return None
    localedef = shutil.which("localedef")
    sources = Path("/usr/share/i18n/locales/de_DE")
    if localedef is None or not sources.exists():
        pytest.skip("de_DE.UTF-8 is not installed and cannot be made: localedef needs the "
                    "locale sources of the Debian package 'locales'")
    locpath = tmp_path_factory.mktemp("locales")
    p = subprocess.run([localedef, "-i", "de_DE", "-f", "UTF-8", locpath / "de_DE.UTF-8"],
                       capture_output=True, text=True)
    # localedef exits 1 for mere warnings; what counts is that the locale was written
    if not (locpath / "de_DE.UTF-8" / "LC_MESSAGES").exists():
        pytest.skip(f"localedef could not make de_DE.UTF-8: {p.stderr.strip()}")
    return locpath


def run(*args, env=None, cwd=None, timeout=120):
    """Runs the command with @args (made strings), no standard input, output captured."""
    return subprocess.run(
        [TOOL, *[str(a) for a in args]],
        env=env if env is not None else base_env(),
        cwd=cwd,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def subject(text):
    """The first paragraph of analyze's (or merge's) text output, what it analysed, on one
    line."""
    return " ".join(text.split("\n\n", 1)[0].split())


def after_subject(text):
    """The text after its first paragraph, the line of what was analysed: the tables."""
    return text.split("\n\n", 1)[1]
