"""What the command's tests share: where the built command is, the environment of an
English run, and running it."""

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

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


def write_safetensors(path, tensors, metadata=None):
    """A safetensors file written by hand: u64 LE header length, JSON header (with
    `__metadata__` when given), raw little-endian float32 data. Returns @path."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(array)),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path
