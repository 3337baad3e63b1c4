"""Safetensors files written by hand, for the tests, the benchmarks and the scripts that
make fixtures (tests/cli/cli_common.py, tests/bench/bench_dask.py,
tests/data/analysis/make_analysis.py): no dependency beyond numpy.

The format: an unsigned 64-bit little-endian length, a JSON header of that many bytes
(padded with spaces to a multiple of 8), then the tensors' raw little-endian data in the
header's order."""

import json
import struct
from pathlib import Path

import numpy as np


def write_safetensors(path, tensors, metadata=None):
    """Writes @tensors (name → array, stored as float32) to @path, with `__metadata__` when
    @metadata is given. Returns @path."""
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
