#!/usr/bin/env python3
"""Extract the projection head of a VisCy / Lightning checkpoint into a safetensors file.

headrank reads projection heads from safetensors files; training leaves them inside
PyTorch checkpoints. This script copies the head's tensors out of

* a Lightning `.ckpt` (its `state_dict`: VisCy keys `model.projection.N.*`, or
  `model.projection.backbone.N.*` for the MLP head with LayerNorm), or
* a plain state dict saved with `torch.save(model.state_dict(), "model.pt")`
  (keys `projection.N.*`, `projection.backbone.N.*`, ...),

and writes them, unchanged in dtype and shape, to a safetensors file that
`headrank head describe` and `headrank project --weights` read.

Usage:

    tools/extract-head.py CHECKPOINT --list
    tools/extract-head.py CHECKPOINT OUT.safetensors [--prefix PREFIX] [--strip] [--trust]

    --list           print the checkpoint's tensors (name, dtype, shape), then the prefix
                     of the projection head found among them, and write nothing
    --prefix PREFIX  the prefix of the head's tensors, e.g. model.projection. (default: the
                     first of model.projection.backbone., projection.backbone.,
                     model.projection. and projection. that some tensor starts with; no
                     prefix when the file holds nothing but MODULE.weight, MODULE.bias,
                     MODULE.running_mean, ... : the state dict of the head alone)
    --strip          write bare keys (0.weight, 1.running_mean, ...) instead of the full
                     names; without it the names stay as they are and headrank finds the
                     prefix itself
    --trust          load with torch.load(weights_only=False), for checkpoints whose extra
                     entries (hyper-parameters, loops) the safe loader refuses; this runs
                     code from the file, so use it only on checkpoints you trust

Examples:

    tools/extract-head.py epoch=94-step=2375.ckpt --list
    tools/extract-head.py epoch=94-step=2375.ckpt head.safetensors
    headrank head describe head.safetensors --arch viscy-v2
    headrank project features.tif --weights head.safetensors --output projections.tif

Only torch is needed (not the safetensors package: the file is written by hand, an 8-byte
little-endian header length, a JSON header, the raw tensor data). Exit status 0 on
success, 1 on an error (one line on standard error), 2 on bad usage.
"""

import argparse
import json
import pickle
import struct
import sys

AUTO_PREFIXES = (
    "model.projection.backbone.",
    "projection.backbone.",
    "model.projection.",
    "projection.",
)

# torch dtype name -> safetensors dtype
DTYPES = {
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "float64": "F64",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}


class ExtractError(Exception):
    pass


def load_state_dict(path, trust=False):
    """The tensors of a Lightning checkpoint's state_dict, or of a plain state dict."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except FileNotFoundError:
        raise ExtractError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ExtractError(f"{path}: is a directory") from None
    except PermissionError:
        raise ExtractError(f"{path}: permission denied") from None
    except pickle.UnpicklingError:
        if trust:
            raise ExtractError(f"{path}: not a PyTorch checkpoint") from None
        raise ExtractError(f"{path}: not a PyTorch checkpoint, or one holding objects that "
                           "torch.load(weights_only=True) refuses (if you trust the file, "
                           "try --trust)") from None
    except Exception as e:  # not a zip or pickle file, truncated, ...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ExtractError(f"{path}: cannot load the checkpoint: {first}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ExtractError(f"{path}: neither a Lightning checkpoint nor a state dict")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise ExtractError(f"{path}: holds no tensors")
    return tensors


PARAMETERS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def find_prefix(names, prefix=None):
    """The head's prefix: the one given (with a trailing dot), else the first known one,
    else "" when every name is MODULE.PARAMETER (the state dict of a bare head)."""
    if prefix is not None:
        if prefix and not prefix.endswith("."):
            prefix += "."
        return prefix if any(n.startswith(prefix) for n in names) else None
    for p in AUTO_PREFIXES:
        if any(n.startswith(p) for n in names):
            return p
    if all(n.count(".") == 1 and n.split(".")[1] in PARAMETERS for n in names):
        return ""
    return None


def tensor_bytes(t):
    """The raw little-endian bytes of a tensor, whatever its dtype (bfloat16 included)."""
    import torch

    t = t.detach().to("cpu").contiguous().reshape(-1)
    data = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
    if sys.byteorder != "little" and t.element_size() > 1:
        import numpy

        data = numpy.frombuffer(data, f"u{t.element_size()}").byteswap().tobytes()
    return data


def write_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        dtype = DTYPES.get(str(t.dtype).replace("torch.", ""))
        if dtype is None:
            raise ExtractError(f"tensor {name} has dtype {t.dtype}, which safetensors cannot hold")
        data = tensor_bytes(t)
        header[name] = {
            "dtype": dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # keep the data area 8-byte aligned
    try:
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for data in blobs:
                f.write(data)
    except OSError as e:
        raise ExtractError(f"{path}: cannot write: {e.strerror}") from None


def list_tensors(path, tensors, prefix):
    width = max(len(n) for n in tensors)
    for name, t in tensors.items():
        dtype = str(t.dtype).replace("torch.", "")
        print(f"{name:<{width}}  {dtype:<8}  {list(t.shape)}")
    found = find_prefix(tensors, prefix)
    if found is None:
        print(f"# no projection head: no tensor starts with "
              f"{prefix or ', '.join(AUTO_PREFIXES)}")
    else:
        n = sum(1 for k in tensors if k.startswith(found))
        print(f"# projection head: prefix {found!r}, {n} tensors")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="extract-head.py",
        description="Extract the projection head of a VisCy / Lightning checkpoint (or of a "
        "plain state dict) into a safetensors file for headrank.",
    )
    parser.add_argument("checkpoint", help="a Lightning .ckpt or a torch.save()d state dict")
    parser.add_argument("output", nargs="?", help="the safetensors file to write")
    parser.add_argument("--list", action="store_true",
                        help="print the checkpoint's tensors and the head's prefix")
    parser.add_argument("--prefix", help="the prefix of the head's tensors (default: found)")
    parser.add_argument("--strip", action="store_true",
                        help="write bare keys, without the prefix")
    parser.add_argument("--trust", action="store_true",
                        help="torch.load(weights_only=False): only for trusted files")
    args = parser.parse_intermixed_args(argv)
    if args.list == (args.output is not None):
        parser.error("give either OUT.safetensors or --list")

    try:
        tensors = load_state_dict(args.checkpoint, args.trust)
        if args.list:
            list_tensors(args.checkpoint, tensors, args.prefix)
            return 0
        prefix = find_prefix(tensors, args.prefix)
        if prefix is None:
            looked = args.prefix if args.prefix is not None else ", ".join(AUTO_PREFIXES)
            raise ExtractError(f"{args.checkpoint}: no tensor starts with {looked}; "
                               "see --list and give --prefix")
        head = {
            (k[len(prefix):] if args.strip else k): v
            for k, v in tensors.items()
            if k.startswith(prefix)
        }
        write_safetensors(args.output, head,
                          {"source": args.checkpoint, "prefix": "" if args.strip else prefix})
        print(f"{args.output}: {len(head)} tensors under {prefix!r}"
              f"{' (prefix stripped)' if args.strip else ''}", file=sys.stderr)
        return 0
    except ExtractError as e:
        print(f"extract-head.py: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        print(f"extract-head.py: needs PyTorch ({e})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
