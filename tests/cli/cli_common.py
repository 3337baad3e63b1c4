"""What the command's tests share: where the built command is, the environment of an
English run, and running it."""

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np

TOOL = os.environ.get("HEADRANK_TOOL")
SOURCE_ROOT = Path(os.environ.get("HEADRANK_SOURCE_ROOT") or Path(__file__).resolve().parents[2])


def base_env(**extra):
    """The environment of an English run: C.UTF-8 so that “”, × and … pass unchanged."""
    env = dict(os.environ)
    for name in ("LANGUAGE", "LANG", "LOCPATH") + tuple(k for k in env if k.startswith("LC_")):
        env.pop(name, None)
    env["LC_ALL"] = "C.UTF-8"
    env["HEADRANK_NO_PROGRESS"] = "1"
    env.update(extra)
    return env


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
