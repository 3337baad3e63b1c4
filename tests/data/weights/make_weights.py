#!/usr/bin/env python3
"""Generate the safetensors test fixtures for headrank's tensor reader.

What it makes
-------------
tests/data/weights/*.safetensors   good files: small VisCy-style projection heads
                                   saved as PyTorch users save them, in F32,
                                   F16, BF16 and F64, plus files with every
                                   other dtype, scalars, empty tensors and an
                                   unaligned data area.
tests/data/weights/ref/<file>/<tensor>.f32
                                   for every floating-point tensor of every
                                   good file: what ``tensor.float()`` gives,
                                   as raw little-endian float32, row-major.
tests/data/weights/bad/*.safetensors
                                   files that lie, made by patching the bytes
                                   of good files (see make_bad()).
tests/data/weights/manifest.json   describes all of them (see below).

The tests read only the committed files (numpy at most); torch is needed to
regenerate them, not to run the tests.

How to rerun (from the repository root)
---------------------------------------
    .venv/bin/pip install torch==2.13.0 safetensors   # not in tools/requirements.txt
    .venv/bin/python tests/data/weights/make_weights.py

or, without torch, only the hand-written files and bad/ (which patches the committed
torch-made files):

    .venv/bin/python tests/data/weights/make_weights.py --without-torch

The script deletes and rewrites the .safetensors files, ref/, bad/ and the
manifest. It is deterministic (fixed seeds; safetensors writes its header
compactly, sorted by dtype alignment and name, and save() below puts the
metadata in key order), so a rerun with the same torch and safetensors
versions gives byte-identical files. Tested with torch 2.13.0
(CPU) and safetensors 0.8.0.

The head
--------
VisCy's V2 projection head (mehta-lab/VisCy, ContrastiveEncoder since PR #145):

    projection = nn.Sequential(
        nn.Linear(F, E), nn.BatchNorm1d(E), nn.ReLU(),
        nn.Linear(E, P), nn.BatchNorm1d(P))

with F = 32 features, E = 24 hidden, P = 8 projections (tiny, so that the
fixtures stay small). Its state dict has 14 tensors: projection.0.weight [E, F],
projection.0.bias [E], projection.1.{weight, bias, running_mean, running_var}
[E], projection.1.num_batches_tracked (I64 scalar), projection.3.weight [P, E],
projection.3.bias [P], projection.4.* [P]. The running statistics come from
three training-mode forward passes (so num_batches_tracked = 3), the affine
BatchNorm parameters are perturbed away from 1 and 0, and a few values are set
by hand to reach the corners of the conversions (see SPECIAL_VALUES).

Manifest
--------
{
  "torch": "2.13.0+cpu", "safetensors": "0.8.0",
  "files": [ {
      "file": "viscy-v2-f32.safetensors",
      "why": "...",
      "n_tensors": 14,
      "names": [...sorted bytewise...],
      "metadata": {"format": "pt", ...},
      "tensors": [ {"name": ..., "dtype": "F32", "shape": [24, 32],
                    "n_elements": 768,
                    "reference": "ref/viscy-v2-f32/projection.0.weight.f32"
                                 or null for tensors that are not floats,
                    "value": 3 (only for integer scalars)} ] } ],
  "bad": [ {
      "file": "bad/header-past-end.safetensors",
      "stage": "open" (hr_tensor_file_new fails) or "read" (the file opens
               and hr_tensor_file_read_float (tensor) fails),
      "code": "TRUNCATED" (an HrTensorError nick, upper case),
      "tensor": the tensor the message must name, or null,
      "message_contains": [strings the message must contain besides the
                           file name and the tensor],
      "why": "how the file was made" } ]
}
"""

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

try:
    import safetensors
    import torch
    from safetensors.torch import save_file
    from torch import nn
except ImportError:  # enough for --without-torch
    torch = None

HERE = Path(__file__).resolve().parent
REF = HERE / "ref"
BAD = HERE / "bad"

N_FEATURES = 32  # F
N_HIDDEN = 24  # E
N_PROJECTIONS = 8  # P

METADATA = {"format": "pt", "head": "viscy-v2", "generator": "tests/data/weights/make_weights.py"}

# Values put into projection.0.bias by hand, to reach the corners of each conversion:
# F16 subnormals (the smallest is 2^-24), F16's largest value, a negative zero, a value
# that F16 and BF16 round, and (for the F64 file, where it survives) a float64 that rounds
# to FLT_MAX rather than to infinity.
SPECIAL_VALUES = [2.0**-24, 1.0e-6, 65504.0, -0.0, 1.0 / 3.0, -1.0e-30]
F64_NEAR_FLT_MAX = 3.4028235e38


class Head(nn.Module if torch is not None else object):
    """The V2 head, kept under ``projection`` as in VisCy's ContrastiveEncoder."""

    def __init__(self):
        super().__init__()
        self.projection = nn.Sequential(
            nn.Linear(N_FEATURES, N_HIDDEN),
            nn.BatchNorm1d(N_HIDDEN),
            nn.ReLU(),
            nn.Linear(N_HIDDEN, N_PROJECTIONS),
            nn.BatchNorm1d(N_PROJECTIONS),
        )


def make_head(dtype):
    """A trained-looking head (parameters and running statistics) in @dtype.

    The head is made and trained in float64, then converted with head.to(dtype), so that
    the four files hold the same head rounded to their dtype: reading the F64 file as
    float32 must give the F32 file exactly (except where noted)."""
    torch.manual_seed(20240831)
    head = Head().to(torch.float64)
    with torch.no_grad():
        # Give every parameter float64 precision that float32 must round away.
        for p in head.parameters():
            p.add_(torch.randn(p.shape, dtype=torch.float64) * 1e-9)
        for bn in (head.projection[1], head.projection[4]):
            bn.weight.copy_(1.0 + 0.1 * torch.randn(bn.weight.shape, dtype=torch.float64))
            bn.bias.copy_(0.05 * torch.randn(bn.bias.shape, dtype=torch.float64))
        bias = head.projection[0].bias
        for i, v in enumerate(SPECIAL_VALUES):
            bias[i] = v
    head.train()
    with torch.no_grad():
        for _ in range(3):
            head.projection(2.0 * torch.randn(16, N_FEATURES, dtype=torch.float64) + 0.5)
    head.eval()
    head = head.to(dtype)
    if dtype == torch.float64:
        # Only here: F16 would make it infinite.
        with torch.no_grad():
            head.projection[0].bias[len(SPECIAL_VALUES)] = F64_NEAR_FLT_MAX
    return head


def head_state_dict(head):
    """What a VisCy user saves: the projection entries of the model's state dict."""
    return {k: v.contiguous() for k, v in head.state_dict().items() if k.startswith("projection.")}


def mixed_state_dict():
    """A model with more than a head: encoder tensors of every dtype torch can save."""
    torch.manual_seed(7)
    t = head_state_dict(make_head(torch.float32))
    t.update(
        {
            "encoder.stem.weight": torch.randn(8, 2, 3, 3),
            "encoder.stem.bias": torch.randn(8).to(torch.bfloat16),
            "encoder.scale": torch.tensor(0.125),  # a scalar: shape []
            "encoder.empty": torch.zeros(0, 4),  # no elements
            "encoder.empty_f16": torch.zeros(3, 0, dtype=torch.float16),
            "encoder.mask": torch.tensor([True, False, True]),
            "encoder.lut_u8": torch.arange(5, dtype=torch.uint8),
            "encoder.lut_i8": torch.arange(-2, 3, dtype=torch.int8),
            "encoder.lut_i16": torch.arange(4, dtype=torch.int16),
            "encoder.lut_u16": torch.arange(4, dtype=torch.int32).to(torch.uint16),
            "encoder.lut_i32": torch.arange(4, dtype=torch.int32),
            "encoder.lut_u32": torch.arange(4, dtype=torch.int32).to(torch.uint32),
            "encoder.lut_u64": torch.arange(2).to(torch.uint64),
            "encoder.step": torch.tensor(12345, dtype=torch.int64),
            "encoder.q_e4m3": torch.randn(6).to(torch.float8_e4m3fn),
            "encoder.q_e5m2": torch.randn(6).to(torch.float8_e5m2),
            "encoder.q_e8m0": torch.ones(4).to(torch.float8_e8m0fnu),
            "encoder.q_f4": torch.arange(6, dtype=torch.uint8).view(torch.float4_e2m1fn_x2),
            "encoder.phase": torch.randn(3, dtype=torch.complex64),
            "encoder.proj_f64": torch.randn(2, 3, dtype=torch.float64),
        }
    )
    return t


def save(tensors, path, metadata=None):
    """safetensors.torch.save_file, then the metadata put in key order: safetensors writes
    it from a Rust HashMap, in an order that changes from run to run."""
    save_file(tensors, path, metadata=metadata)
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n], object_pairs_hook=dict)
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (n - len(text))
    assert len(text) == n
    path.write_bytes(data[:8] + text + data[8 + n :])


def header_of(data):
    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8 : 8 + n])


def write_raw(path, header, payload, pad=True):
    """A safetensors file written by hand (header padded with spaces unless @pad is off)."""
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + payload)


def replace_header(data, header, pad=True):
    """@data with its header replaced by @header; the data area is kept as it is."""
    n, _ = header_of(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


def tensor_bytes(data, name):
    """The byte offset of tensor @name's data in the file."""
    n, header = header_of(data)
    return 8 + n + header[name]["data_offsets"][0]


# -- good files ---------------------------------------------------------------------------


def describe(path, tensors, why, metadata=None):
    """Manifest entry + reference files for a good file written from @tensors."""
    stem = path.name.removesuffix(".safetensors")
    entries = []
    _, header = header_of(path.read_bytes())
    for name in sorted(tensors):
        t = tensors[name]
        entry = {
            "name": name,
            "dtype": header[name]["dtype"],
            "shape": list(header[name]["shape"]),
            "n_elements": int(np.prod(header[name]["shape"], dtype=np.int64)),
            "reference": None,
        }
        if t.dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
            ref = REF / stem / (name + ".f32")
            ref.parent.mkdir(parents=True, exist_ok=True)
            values = t.float().numpy().astype("<f4")
            assert np.isfinite(values).all(), (path, name)
            ref.write_bytes(values.tobytes())
            entry["reference"] = str(ref.relative_to(HERE))
        elif t.dim() == 0 and t.dtype in (torch.int64, torch.int32):
            entry["value"] = int(t.item())
        entries.append(entry)
    return {
        "file": path.name,
        "why": why,
        "n_tensors": len(tensors),
        "names": sorted(tensors),
        "metadata": metadata or {},
        "tensors": entries,
    }


def describe_numpy(path, arrays, why, metadata=None):
    """describe() for a file written from numpy arrays (float32 references by numpy's
    conversion, which is torch's .float() for F64, F32 and F16: round to nearest)."""
    stem = path.name.removesuffix(".safetensors")
    entries = []
    _, header = header_of(path.read_bytes())
    for name in sorted(arrays):
        a = arrays[name]
        ref = REF / stem / (name + ".f32")
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_bytes(a.astype("<f4").tobytes())
        entries.append(
            {
                "name": name,
                "dtype": header[name]["dtype"],
                "shape": list(header[name]["shape"]),
                "n_elements": int(np.prod(header[name]["shape"], dtype=np.int64)),
                "reference": str(ref.relative_to(HERE)),
            }
        )
    return {
        "file": path.name,
        "why": why,
        "n_tensors": len(arrays),
        "names": sorted(arrays),
        "metadata": metadata or {},
        "tensors": entries,
    }


def unaligned_payload(gap=0, trailing=0):
    """Three tensors written in another order than the header names them, with @gap bytes
    between the second and the third and @trailing bytes after the last."""
    rng = np.random.default_rng(3)
    a64 = rng.standard_normal((3, 5))
    b16 = rng.standard_normal(7).astype(np.float16)
    c32 = rng.standard_normal((2, 2)).astype(np.float32)
    payload = bytearray()
    offsets = {}
    for name, arr in (("c", c32), ("a", a64), ("b", b16)):
        start = len(payload)
        payload += arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        offsets[name] = [start, len(payload)]
        if name == "a":
            payload += b"\xaa" * gap
    payload += b"\x55" * trailing
    header = {
        "a": {"dtype": "F64", "shape": [3, 5], "data_offsets": offsets["a"]},
        "b": {"dtype": "F16", "shape": [7], "data_offsets": offsets["b"]},
        "c": {"dtype": "F32", "shape": [2, 2], "data_offsets": offsets["c"]},
        "__metadata__": {"note": "unaligned data"},
    }
    return header, bytes(payload), {"a": a64, "b": b16, "c": c32}


def make_hand_written():
    """The good files written by hand, with numpy only (no torch needed)."""
    files = []
    # A 13-byte header with no padding (so every tensor is unaligned in memory) and the
    # data area in another order than the header.
    header, payload, arrays = unaligned_payload()
    path = HERE / "unaligned.safetensors"
    write_raw(path, header, payload, pad=False)
    assert (len(json.dumps(header, separators=(",", ":"))) + 8) % 4 != 0
    files.append(
        describe_numpy(
            path,
            arrays,
            "hand-written: unpadded header (data unaligned), data in another order than "
            "the header",
            {"note": "unaligned data"},
        )
    )

    # No tensors at all, only metadata; and a header of just {}.
    path = HERE / "no-tensors.safetensors"
    write_raw(path, {"__metadata__": {"format": "pt"}}, b"")
    files.append(describe_numpy(path, {}, "a header with metadata and no tensors", {"format": "pt"}))
    path = HERE / "empty-header.safetensors"
    write_raw(path, {}, b"", pad=False)
    files.append(describe_numpy(path, {}, "the smallest valid file: header {}"))
    return files


HAND_WRITTEN = ("unaligned.safetensors", "no-tensors.safetensors", "empty-header.safetensors")


def make_good():
    files = []
    for suffix, dtype in (
        ("f32", torch.float32),
        ("f16", torch.float16),
        ("bf16", torch.bfloat16),
        ("f64", torch.float64),
    ):
        head = make_head(dtype)
        tensors = head_state_dict(head)
        path = HERE / f"viscy-v2-{suffix}.safetensors"
        metadata = dict(METADATA, dtype=suffix)
        save(tensors, path, metadata)
        files.append(
            describe(
                path,
                tensors,
                f"VisCy V2 head (F={N_FEATURES}, E={N_HIDDEN}, P={N_PROJECTIONS}) saved "
                f"after head.to({dtype}); num_batches_tracked stays I64",
                metadata,
            )
        )

    # What the issue quotes: save_file(model.projection.state_dict(), path) — keys
    # without the "projection." prefix, and no metadata.
    head = make_head(torch.float32)
    tensors = {k: v.contiguous() for k, v in head.projection.state_dict().items()}
    path = HERE / "viscy-v2-projection-only.safetensors"
    save(tensors, path)
    files.append(describe(path, tensors, "save_file(model.projection.state_dict(), path)"))

    tensors = mixed_state_dict()
    path = HERE / "mixed-dtypes.safetensors"
    save(tensors, path, {"format": "pt"})
    files.append(
        describe(
            path,
            tensors,
            "a head next to encoder tensors of every dtype torch saves (integers, bool, "
            "8-bit and 4-bit floats, complex), a scalar and empty tensors",
            {"format": "pt"},
        )
    )

    return files


# -- bad files ----------------------------------------------------------------------------


def make_bad():
    f32 = (HERE / "viscy-v2-f32.safetensors").read_bytes()
    f16 = (HERE / "viscy-v2-f16.safetensors").read_bytes()
    bf16 = (HERE / "viscy-v2-bf16.safetensors").read_bytes()
    f64 = (HERE / "viscy-v2-f64.safetensors").read_bytes()
    n, header = header_of(f32)
    data_len = len(f32) - 8 - n
    bad = []

    def add(name, data, stage, code, tensor, why, contains=()):
        (BAD / name).write_bytes(data)
        bad.append(
            {
                "file": "bad/" + name,
                "stage": stage,
                "code": code,
                "tensor": tensor,
                "message_contains": list(contains),
                "why": why,
            }
        )

    def patched_header():
        return json.loads(json.dumps(header))  # a deep copy to edit

    add("empty.safetensors", b"", "open", "TRUNCATED", None, "an empty file", ["empty"])
    add(
        "short.safetensors",
        f32[:5],
        "open",
        "TRUNCATED",
        None,
        "the first 5 bytes of viscy-v2-f32: shorter than the 8-byte header length",
    )
    add(
        "header-past-end.safetensors",
        struct.pack("<Q", len(f32) - 8 + 1) + f32[8:],
        "open",
        "TRUNCATED",
        None,
        "viscy-v2-f32 with the header length patched to one byte more than the rest of "
        "the file",
        [str(len(f32) - 8 + 1)],
    )
    add(
        "header-huge.safetensors",
        struct.pack("<Q", 2**64 - 1) + f32[8:],
        "open",
        "HEADER",
        None,
        "viscy-v2-f32 with the header length patched to 2^64 - 1: refused before anything "
        "is read, by the 100 MB limit",
        ["18446744073709551615"],
    )
    add(
        "header-invalid-json.safetensors",
        f32[:8] + f32[8 : 8 + n].replace(b":", b";", 1) + f32[8 + n :],
        "open",
        "HEADER",
        None,
        "viscy-v2-f32 with the first ':' of the header patched to ';'",
        ["JSON"],
    )
    add(
        "header-unterminated.safetensors",
        struct.pack("<Q", 8) + b'{"a":[1,',
        "open",
        "HEADER",
        None,
        "an 8-byte header that stops in the middle of an array",
        ["JSON"],
    )
    add(
        "header-not-object.safetensors",
        replace_header(f32, [1, 2, 3]),
        "open",
        "HEADER",
        None,
        "viscy-v2-f32 with the header replaced by the JSON array [1,2,3]",
        ["object"],
    )
    add(
        "header-not-utf8.safetensors",
        f32[:8]
        + f32[8 : 8 + n].replace(b"projection.0.bias", b"projection.0.bi\xffs", 1)
        + f32[8 + n :],
        "open",
        "HEADER",
        None,
        "viscy-v2-f32 with one byte of a tensor name patched to 0xff",
        ["UTF-8"],
    )
    deep = b"[" * 100000
    add(
        "header-deep.safetensors",
        struct.pack("<Q", len(deep)) + deep,
        "open",
        "HEADER",
        None,
        "a header of 100000 '[': json-glib 1.6 parses it recursively and overflows the "
        "stack; the reader refuses it by depth first",
        ["64"],
    )
    comment = b'{"x":/* hi */{"dtype":"F32","shape":[],"data_offsets":[0,4]}}'
    add(
        "header-comment.safetensors",
        struct.pack("<Q", len(comment)) + comment + b"\0\0\0\0",
        "open",
        "HEADER",
        None,
        "a header with a /* comment */, which json-glib would accept",
        ["JSON"],
    )
    single = b"{'x':{'dtype':'F32','shape':[],'data_offsets':[0,4]}}"
    add(
        "header-single-quotes.safetensors",
        struct.pack("<Q", len(single)) + single + b"\0\0\0\0",
        "open",
        "HEADER",
        None,
        "a header with single-quoted strings, which json-glib would accept",
        ["JSON"],
    )
    nul = b'{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}\0\0\0'
    add(
        "header-nul-padding.safetensors",
        struct.pack("<Q", len(nul)) + nul + b"\0\0\0\0",
        "open",
        "HEADER",
        None,
        "a header padded with NUL bytes instead of spaces",
    )
    h = patched_header()
    del h["projection.3.bias"]["data_offsets"]
    add(
        "missing-data-offsets.safetensors",
        replace_header(f32, h),
        "open",
        "HEADER",
        "projection.3.bias",
        "viscy-v2-f32 with the data_offsets of projection.3.bias removed",
        ["data_offsets"],
    )
    h = patched_header()
    del h["projection.0.weight"]["dtype"]
    add(
        "missing-dtype.safetensors",
        replace_header(f32, h),
        "open",
        "HEADER",
        "projection.0.weight",
        "viscy-v2-f32 with the dtype of projection.0.weight removed",
        ["dtype"],
    )
    h = patched_header()
    h["projection.0.weight"]["shape"] = "24x32"
    add(
        "shape-not-array.safetensors",
        replace_header(f32, h),
        "open",
        "HEADER",
        "projection.0.weight",
        "viscy-v2-f32 with the shape of projection.0.weight a string",
        ["shape"],
    )
    h = patched_header()
    h["projection.0.weight"]["shape"] = [-24, -32]
    add(
        "shape-negative.safetensors",
        replace_header(f32, h),
        "open",
        "HEADER",
        "projection.0.weight",
        "viscy-v2-f32 with the shape of projection.0.weight negated (the byte count "
        "still matches the product)",
        ["shape"],
    )
    h = patched_header()
    b, e = h["projection.0.weight"]["data_offsets"]
    h["projection.0.weight"]["data_offsets"] = [float(b), float(e)]
    add(
        "offsets-float.safetensors",
        replace_header(f32, h),
        "open",
        "HEADER",
        "projection.0.weight",
        "viscy-v2-f32 with the data offsets of projection.0.weight written as 0.0-style "
        "floats",
        ["data_offsets"],
    )
    h = patched_header()
    b, e = h["projection.1.bias"]["data_offsets"]
    h["projection.1.bias"]["data_offsets"] = [e, b]
    add(
        "offsets-backwards.safetensors",
        replace_header(f32, h),
        "open",
        "HEADER",
        "projection.1.bias",
        "viscy-v2-f32 with the two data offsets of projection.1.bias swapped",
        ["backwards"],
    )
    h = patched_header()
    h["__metadata__"]["format"] = 1
    add(
        "metadata-not-string.safetensors",
        replace_header(f32, h),
        "open",
        "HEADER",
        None,
        "viscy-v2-f32 with the metadata value of “format” a number",
        ["__metadata__", "format"],
    )
    h = patched_header()
    h["projection.3.weight"]["dtype"] = "F33"
    add(
        "unknown-dtype.safetensors",
        replace_header(f32, h),
        "open",
        "DTYPE",
        "projection.3.weight",
        "viscy-v2-f32 with the dtype of projection.3.weight patched from F32 to F33",
        ["F33"],
    )
    h = patched_header()
    h["projection.0.weight"]["shape"] = [N_HIDDEN, N_FEATURES - 1]
    add(
        "shape-mismatch.safetensors",
        replace_header(f32, h),
        "open",
        "SHAPE",
        "projection.0.weight",
        f"viscy-v2-f32 with the shape of projection.0.weight patched to "
        f"[{N_HIDDEN}, {N_FEATURES - 1}]: {N_HIDDEN * (N_FEATURES - 1) * 4} bytes, but the "
        f"offsets hold {N_HIDDEN * N_FEATURES * 4}",
        [f"[{N_HIDDEN}, {N_FEATURES - 1}]", str(N_HIDDEN * (N_FEATURES - 1) * 4)],
    )
    h = patched_header()
    h["projection.0.weight"]["shape"] = [2**62, 2**62]
    add(
        "shape-overflow.safetensors",
        replace_header(f32, h),
        "open",
        "SHAPE",
        "projection.0.weight",
        "viscy-v2-f32 with the shape of projection.0.weight patched to [2^62, 2^62], whose "
        "product overflows 64 bits",
        ["overflows"],
    )
    odd = b'{"q":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}'
    add(
        "f4-odd-count.safetensors",
        struct.pack("<Q", len(odd)) + odd + b"\0\0",
        "open",
        "SHAPE",
        "q",
        "three 4-bit F4 elements: 12 bits, which no whole number of bytes holds",
        ["whole bytes"],
    )
    # Move the tensor that comes last in the data area to just past its end.
    names = [k for k in header if k != "__metadata__"]
    last = max(names, key=lambda k: header[k]["data_offsets"][1])
    b, e = header[last]["data_offsets"]
    h = patched_header()
    h[last]["data_offsets"] = [data_len, data_len + (e - b)]
    add(
        "offsets-past-end.safetensors",
        replace_header(f32, h),
        "open",
        "TRUNCATED",
        last,
        f"viscy-v2-f32 with the data offsets of {last} (the last tensor of the data area) "
        f"moved to [{data_len}, {data_len + e - b}], past the {data_len} bytes of data",
        [str(data_len)],
    )
    # An interrupted copy: the file cut 100 bytes before its end. The tensors reaching past
    # the cut are reported in name order, so the first of them is named.
    cut = len(f32) - 100
    past = sorted(k for k in names if 8 + n + header[k]["data_offsets"][1] > cut)
    add(
        "data-truncated.safetensors",
        f32[:cut],
        "open",
        "TRUNCATED",
        past[0],
        f"viscy-v2-f32 cut 100 bytes before its end ({', '.join(past)} reach past the cut)",
    )
    # running_var made to start 4 bytes into running_mean (both [E] F32): the byte count
    # still matches, the ranges overlap.
    b, e = header["projection.1.running_mean"]["data_offsets"]
    h = patched_header()
    h["projection.1.running_var"]["data_offsets"] = [b + 4, e + 4]
    add(
        "overlap.safetensors",
        replace_header(f32, h),
        "open",
        "OVERLAP",
        "projection.1.running_var",
        "viscy-v2-f32 with the data offsets of projection.1.running_var patched to start 4 "
        "bytes into projection.1.running_mean",
        ["projection.1.running_mean"],
    )
    h = patched_header()
    h["projection.4.bias"]["data_offsets"] = list(header["projection.4.weight"]["data_offsets"])
    add(
        "overlap-alias.safetensors",
        replace_header(f32, h),
        "open",
        "OVERLAP",
        "projection.4.weight",
        "viscy-v2-f32 with projection.4.bias pointing at the bytes of projection.4.weight "
        "(same shape: an alias)",
        ["projection.4.bias"],
    )

    # Non-finite values: the files open; reading the tensor fails.
    data = bytearray(f32)
    at = tensor_bytes(f32, "projection.0.weight") + 4 * 53
    data[at : at + 4] = struct.pack("<I", 0x7FC00000)
    add(
        "nan-weight.safetensors",
        bytes(data),
        "read",
        "NON_FINITE",
        "projection.0.weight",
        "viscy-v2-f32 with projection.0.weight[1, 21] (flat index 53) patched to NaN",
        ["flat index 53", "[1, 21]", "NaN"],
    )
    data = bytearray(bf16)
    at = tensor_bytes(bf16, "projection.3.weight") + 2 * 7
    data[at : at + 2] = struct.pack("<H", 0xFF80)
    add(
        "inf-bf16.safetensors",
        bytes(data),
        "read",
        "NON_FINITE",
        "projection.3.weight",
        "viscy-v2-bf16 with projection.3.weight flat index 7 patched to -Inf (0xff80)",
        ["flat index 7", "-Inf"],
    )
    data = bytearray(f16)
    at = tensor_bytes(f16, "projection.1.running_var") + 2 * 5
    data[at : at + 2] = struct.pack("<H", 0x7C00)
    add(
        "inf-f16.safetensors",
        bytes(data),
        "read",
        "NON_FINITE",
        "projection.1.running_var",
        "viscy-v2-f16 with projection.1.running_var flat index 5 patched to +Inf (0x7c00)",
        ["flat index 5", "Inf"],
    )
    data = bytearray(f64)
    at = tensor_bytes(f64, "projection.3.bias") + 8 * 2
    data[at : at + 8] = struct.pack("<d", 1e300)
    add(
        "f64-overflow.safetensors",
        bytes(data),
        "read",
        "NON_FINITE",
        "projection.3.bias",
        "viscy-v2-f64 with projection.3.bias flat index 2 patched to 1e300: finite in "
        "float64, infinite in float32",
        ["flat index 2", "1e+300"],
    )

    # What the reference implementation refuses (safetensors' Metadata::validate: sorted by
    # offset, each tensor begins where the last ended and the last ends with the file;
    # serde refuses a key twice).
    header, payload, _ = unaligned_payload(gap=5)
    text = json.dumps(header, separators=(",", ":")).encode()
    add(
        "hole.safetensors",
        struct.pack("<Q", len(text)) + text + payload,
        "open",
        "HEADER",
        "b",
        "the hand-written unaligned file with 5 unused bytes between tensors a and b",
        ["hole", "bytes 136 to 141"],
    )
    header, payload, _ = unaligned_payload(trailing=3)
    text = json.dumps(header, separators=(",", ":")).encode()
    add(
        "trailing.safetensors",
        struct.pack("<Q", len(text)) + text + payload,
        "open",
        "HEADER",
        None,
        "the hand-written unaligned file with 3 bytes after the last tensor",
        ["3 bytes follow the last tensor", "trailing"],
    )
    add(
        "trailing-empty.safetensors",
        struct.pack("<Q", 2) + b"{}" + b"\0" * 8,
        "open",
        "HEADER",
        None,
        "a header {} followed by 8 bytes that no tensor holds",
        ["8 bytes follow"],
    )
    text = (
        b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        b'"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    )
    add(
        "duplicate-key.safetensors",
        struct.pack("<Q", len(text)) + text + struct.pack("<2f", 1.0, 2.0),
        "open",
        "HEADER",
        None,
        "tensor w given twice in the header (json-glib would keep the second)",
        ["“w” twice"],
    )
    text = b'{"w":{"dtype":"F64","dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    add(
        "duplicate-member.safetensors",
        struct.pack("<Q", len(text)) + text + struct.pack("<f", 1.0),
        "open",
        "HEADER",
        None,
        "tensor w's entry gives dtype twice (F64, then F32)",
        ["“dtype” twice"],
    )
    text = (
        b'{"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},'
        b'"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    )
    add(
        "empty-inside.safetensors",
        struct.pack("<Q", len(text)) + text + struct.pack("<2f", 1.0, 2.0),
        "open",
        "OVERLAP",
        "e",
        "an empty tensor e whose offsets [4, 4] lie inside w's [0, 8]",
        ["“w”"],
    )
    text = b'{"__metadata__":{"format":"pt","format":"np"}}'
    add(
        "metadata-duplicate.safetensors",
        struct.pack("<Q", len(text)) + text,
        "open",
        "HEADER",
        None,
        "__metadata__ gives format twice",
        ["“format” twice"],
    )
    return bad


def main():
    # --without-torch: rewrite the hand-written files and bad/ only (bad/ patches the
    # committed torch-made files), keeping the manifest's entries for the torch-made files.
    without_torch = "--without-torch" in sys.argv[1:]
    if torch is None and not without_torch:
        sys.exit("make_weights.py needs torch and safetensors (or --without-torch)")
    old = json.loads((HERE / "manifest.json").read_text()) if without_torch else None
    for p in HERE.glob("*.safetensors"):
        if not without_torch or p.name in HAND_WRITTEN or p.name == "unaligned-gaps.safetensors":
            p.unlink()
    if without_torch:
        for name in HAND_WRITTEN + ("unaligned-gaps.safetensors",):
            shutil.rmtree(REF / name.removesuffix(".safetensors"), ignore_errors=True)
        shutil.rmtree(BAD, ignore_errors=True)
    else:
        for d in (REF, BAD):
            shutil.rmtree(d, ignore_errors=True)
    REF.mkdir(exist_ok=True)
    BAD.mkdir()

    if without_torch:
        files = [
            f
            for f in old["files"]
            if f["file"] not in HAND_WRITTEN and f["file"] != "unaligned-gaps.safetensors"
        ]
    else:
        files = make_good()
    files += make_hand_written()
    bad = make_bad()
    for p in HERE.glob("*.safetensors"):
        p.chmod(0o644)  # save_file creates its files 0600
    manifest = {
        "torch": old["torch"] if without_torch else torch.__version__,
        "safetensors": old["safetensors"] if without_torch else safetensors.__version__,
        "files": files,
        "bad": bad,
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(files)} good files, {len(bad)} bad files", file=sys.stderr)


if __name__ == "__main__":
    main()
