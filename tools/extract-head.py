#!/usr/bin/env python3
"""Extract the projection head of a VisCy / Lightning checkpoint into a safetensors file.

headrank reads projection heads from safetensors files; training leaves them inside
PyTorch checkpoints. This script copies the head's tensors out of

* a Lightning `.ckpt` (its `state_dict`: VisCy keys `model.projection.N.*`, or
  `model.projection.backbone.N.*` for the MLP head), or
* a plain state dict saved with `torch.save(model.state_dict(), "model.pt")`
  (keys `projection.N.*`, `projection.backbone.N.*`, `backbone.N.*`, ...),

and writes them, unchanged in dtype and shape, to a safetensors file that
`headrank head describe` and `headrank project --weights` read.

It also writes what the checkpoint knows about the head's architecture into the file's
`__metadata__`, which headrank reads and uses (`headrank head describe` says where the
architecture came from):

    arch            the architecture spec (linear:OUT,bn,gelu,dropout,...), where the
                    checkpoint tells it
    arch_from       how it was known: "hyper_parameters" (a LightningCLI-style
                    {"class_path": ..., "init_args": ...} of VisCy's MLP,
                    CrossModalContrastiveHead, ContrastiveEncoder or ResNet3dEncoder
                    among the checkpoint's hyper_parameters), "module classes" (with
                    --trust: nn.Module objects among the hyper_parameters, read layer by
                    layer), or "flat hyper_parameters" (a LightningModule's own
                    save_hyperparameters(): an `activation` of relu, gelu, silu or swish
                    beside the head's sizes, hidden_dims / hidden_dim / embedding_dim and
                    out_dims / out_dim / output_dim / projection_dim, with in_dims /
                    in_dim / input_dim, `norm` (bn or ln) and `dropout` where given; the
                    sizes must be the head's, and the norm, when not given, is the one
                    the tensors show)
    source          the checkpoint's file name
    prefix          the prefix of the head's tensors in the file written
    viscy_version   the version of the package that defines the head's class, where the
                    checkpoint's configuration names one that is installed here (VisCy's
                    checkpoints do not record it themselves)

Where the checkpoint does not tell the activation (VisCy's MLP takes relu, gelu or silu;
the tensors look the same), no `arch` is written, the script says so on standard error,
and headrank reports the activation it assumes: state it with `headrank --arch` or
`--activation`.

The head is found as headrank finds it: under the prefixes listed in
data/head-prefixes.txt (one list for both), else anywhere by its chain of Linear layers
(image_proj.backbone., auxiliary_heads.NAME., ...; see that file). A file with several
heads needs --prefix; --list shows them.

Usage:

    tools/extract-head.py CHECKPOINT --list
    tools/extract-head.py CHECKPOINT OUT.safetensors [--prefix PREFIX] [--strip] [--trust]

    --list           print the checkpoint's tensors (name, dtype, shape), then the
                     prefixes of the projection heads found among them, and write nothing
    --prefix PREFIX  the prefix of the head's tensors, e.g. model.projection. (default:
                     the one head found)
    --strip          write bare keys (0.weight, 1.running_mean, ...) instead of the full
                     names; without it the names stay as they are and headrank finds the
                     prefix itself
    --trust          load with torch.load(weights_only=False), for checkpoints whose extra
                     entries (hyper-parameters holding modules, loops) the safe loader
                     refuses; this runs code from the file, so use it only on checkpoints
                     you trust

Examples:

    tools/extract-head.py epoch=94-step=2375.ckpt --list
    tools/extract-head.py epoch=94-step=2375.ckpt head.safetensors
    headrank head describe head.safetensors
    headrank project features.tif --weights head.safetensors --output projections.tif

Only torch is needed (not the safetensors package: the file is written by hand, an 8-byte
little-endian header length, a JSON header, the raw tensor data). Exit status 0 on
success, 1 on an error (one line on standard error), 2 on bad usage.
"""

import argparse
import json
import os
import pickle
import struct
import sys
from pathlib import Path


def _prefix_file():
    """data/head-prefixes.txt: beside tools/ in the source tree, else where headrank installs
    its data ($HEADRANK_DATADIR, or PREFIX/share/headrank)."""
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "data" / "head-prefixes.txt"]
    if os.environ.get("HEADRANK_DATADIR"):
        candidates.insert(0, Path(os.environ["HEADRANK_DATADIR"]) / "head-prefixes.txt")
    candidates.append(here.parent / "share" / "headrank" / "head-prefixes.txt")
    for c in candidates:
        if c.is_file():
            return c
    return None


def load_known_prefixes():
    path = _prefix_file()
    if path is None:
        raise SystemExit("extract-head.py: cannot find data/head-prefixes.txt "
                         "(set HEADRANK_DATADIR to headrank's data directory)")
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(l.strip() for l in lines if l.strip() and not l.strip().startswith("#"))


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


def load_checkpoint(path, trust=False):
    """The tensors of a Lightning checkpoint's state_dict (or of a plain state dict) and its
    hyper_parameters (None when it has none)."""
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
    hparams = None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        hparams = obj.get("hyper_parameters")
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ExtractError(f"{path}: neither a Lightning checkpoint nor a state dict")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise ExtractError(f"{path}: holds no tensors")
    return tensors, hparams


def load_state_dict(path, trust=False):
    """The tensors of a Lightning checkpoint's state_dict, or of a plain state dict."""
    return load_checkpoint(path, trust)[0]


PARAMETERS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _modules(tensors, prefix):
    """The modules under prefix as {name: {parameter: tensor}}, sorted as headrank sorts them
    (sequential indices by number), or None when a tensor under it is not MODULE.PARAMETER."""
    modules = {}
    for name, t in tensors.items():
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        module, dot, param = rest.rpartition(".")
        if not dot or not module or "." in module or param not in PARAMETERS:
            return None
        modules.setdefault(module, {})[param] = t
    if not modules:
        return None

    def key(m):
        return (0, int(m), "") if m.isdigit() else (1, 0, m)

    return dict(sorted(modules.items(), key=lambda kv: key(kv[0])))


def _kind(params):
    if "running_mean" in params or "running_var" in params:
        return "bn"
    w = params.get("weight")
    if w is None:
        return None
    return {2: "linear", 1: "ln"}.get(len(w.shape))


def _numel(t):
    n = 1
    for s in t.shape:
        n *= int(s)
    return n


def _chains(modules, min_linear):
    """Whether modules are Linear and norm layers, a Linear first, whose widths chain."""
    width, n_linear = None, 0
    for i, params in enumerate(modules.values()):
        kind = _kind(params)
        if kind == "linear":
            w = params["weight"]
            if width is not None and w.shape[1] != width:
                return False
            width, n_linear = w.shape[0], n_linear + 1
        elif kind in ("bn", "ln"):
            t = params.get("running_mean", params.get("weight"))
            if i == 0 or t is None or _numel(t) != width:
                return False
        else:
            return False
    return n_linear >= min_linear


def find_prefixes(tensors, known=None):
    """The prefixes of the projection heads, as headrank finds them (hr_head_find_prefixes):
    the known prefixes first, then any parent of Linear/norm modules whose widths chain.
    tensors maps names to anything with a shape (torch tensors, numpy arrays)."""
    known = known if known is not None else load_known_prefixes()
    found = []
    for p in known:
        m = _modules(tensors, p)
        if m is not None and _chains(m, 1):
            found.append(p)
    parents = set()
    for name in tensors:
        module_path = name.rpartition(".")[0]
        if module_path:
            parents.add(module_path.rpartition(".")[0] + "." if "." in module_path else "")
    for p in sorted(parents):
        if p in found or any(part.isdigit() for part in p.split(".")):
            continue
        m = _modules(tensors, p)
        if m is not None and _chains(m, 1 if p == "" else 2):
            found.append(p)
    return found


def find_prefix(tensors, prefix=None):
    """The head's prefix: the one given (with a trailing dot), else the one head found; None
    when there is none; ExtractError when there are several."""
    if prefix is not None:
        if prefix and not prefix.endswith("."):
            prefix += "."
        return prefix if any(n.startswith(prefix) for n in tensors) else None
    found = find_prefixes(tensors)
    if len(found) > 1:
        raise ExtractError(f"{len(found)} projection heads, under "
                           + ", ".join(repr(p) for p in found) + ": choose one with --prefix")
    return found[0] if found else None


# -- what the checkpoint knows about the architecture -------------------------------------

ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "silu": "silu"}


def _mlp_spec(in_dims, hidden, out, norm="bn", activation="relu", dropout=0.0, l2=False):
    hidden = [hidden] if isinstance(hidden, int) else list(hidden)
    if norm not in ("bn", "ln") or activation not in ACTIVATIONS:
        return None
    layers = []
    for h in hidden:
        layers += [f"linear:{h}", norm, ACTIVATIONS[activation]]
        if dropout and float(dropout) > 0:
            layers.append("dropout")
    layers += [f"linear:{out}", norm]
    if l2:
        layers.append("l2")
    return ",".join(layers)


def _class_name(class_path):
    return class_path.rpartition(".")[2] if isinstance(class_path, str) else None


def _specs_from_config(class_path, args):
    """{prefix suffix: spec} of the heads a VisCy class builds from its init_args."""
    name = _class_name(class_path)
    try:
        if name == "MLP" and args.get("num_classes") is None:
            return {"backbone.": _mlp_spec(args["in_dims"], args["hidden_dims"], args["out_dims"],
                                           args.get("norm", "bn"), args.get("activation", "relu"),
                                           args.get("dropout", 0.0))}
        if name == "CrossModalContrastiveHead":
            proj = args.get("proj_dims", 128)
            return {
                "image_proj.backbone.": _mlp_spec(args["in_dims"], args.get("image_hidden", 256),
                                                  proj, "ln", "relu", 0.0, l2=True),
                "target_proj.backbone.": _mlp_spec(args["target_dims"],
                                                   args.get("target_hidden", 128), proj, "ln",
                                                   "relu", 0.0, l2=True),
            }
        if name in ("ContrastiveEncoder", "ResNet3dEncoder"):
            e, p = args.get("embedding_dim", 768 if name == "ContrastiveEncoder" else 512), \
                args.get("projection_dim", 128)
            return {"projection.": f"linear:{e},bn,relu,linear:{p},bn"}
    except (KeyError, TypeError):
        return {}
    return {}


def _configs(obj, found):
    """Every {"class_path", "init_args"} dict among the hyper_parameters."""
    if isinstance(obj, dict):
        if isinstance(obj.get("class_path"), str):
            found.append((obj["class_path"], obj.get("init_args") or {}))
        for v in obj.values():
            _configs(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _configs(v, found)
    return found


# the names a flat hyper-parameter dict (a LightningModule's self.save_hyperparameters())
# gives the head's sizes, its activation and its norm
_FLAT_IN = ("in_dims", "in_dim", "input_dim")
_FLAT_HIDDEN = ("hidden_dims", "hidden_dim", "embedding_dim")
_FLAT_OUT = ("out_dims", "out_dim", "output_dim", "projection_dim")
_FLAT_ACTIVATION_NAMES = {"relu": "relu", "gelu": "gelu", "silu": "silu", "swish": "silu"}


def _flat_value(args, names):
    """The one value @args gives under any of @names; None for none, or for several that
    differ (then nothing is determined)."""
    values = {repr(args[n]): args[n] for n in names if n in args}
    return next(iter(values.values())) if len(values) == 1 else None


def _specs_from_flat(args):
    """The specs a flat hyper-parameter dict determines: an activation (and, where given,
    a norm) stated beside the head's own sizes (hidden and output widths). The norm,
    when not stated, is either kind: the tensors tell BatchNorm from LayerNorm."""
    activation = args.get("activation")
    if not isinstance(activation, str) or activation.lower() not in _FLAT_ACTIVATION_NAMES:
        return []
    hidden, out = _flat_value(args, _FLAT_HIDDEN), _flat_value(args, _FLAT_OUT)
    sizes = hidden if isinstance(hidden, (list, tuple)) else [hidden]
    if not sizes or not all(type(v) is int and v > 0 for v in [*sizes, out]):
        return []
    norm = args.get("norm")
    if norm is not None and norm not in ("bn", "ln"):
        return []
    try:
        return [s for s in (_mlp_spec(None, hidden, out, n, _FLAT_ACTIVATION_NAMES[
            activation.lower()], args.get("dropout") or 0.0)
            for n in ((norm,) if norm is not None else ("bn", "ln"))) if s]
    except (TypeError, ValueError):
        return []


def _flat_dicts(obj, found):
    """Every plain dict among the hyper_parameters (not the LightningCLI class_path ones)."""
    if isinstance(obj, dict):
        if not isinstance(obj.get("class_path"), str):
            found.append(obj)
        for v in obj.values():
            _flat_dicts(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _flat_dicts(v, found)
    return found


def _in_fits(args, modules):
    """Whether the input width a flat dict states (if it does) is the first Linear's."""
    first = next(iter(modules.values())).get("weight")
    value = _flat_value(args, _FLAT_IN)
    return value is None or (first is not None and len(first.shape) == 2
                             and isinstance(value, int) and first.shape[1] == value)


def _spec_fits(spec, modules):
    """Whether a spec has the head's Linear widths and as many layers with tensors."""
    tokens = spec.split(",")
    with_tensors = [t for t in tokens if t.split(":")[0] in ("linear", "bn", "ln")]
    if len(with_tensors) != len(modules):
        return False
    for token, params in zip(with_tensors, modules.values()):
        kind = _kind(params)
        if token.split(":")[0] != kind:
            return False
        if kind == "linear" and int(token.split(":")[1]) != params["weight"].shape[0]:
            return False
    return True


def _package_version(class_path):
    from importlib import metadata

    top = class_path.split(".")[0]
    if top not in ("viscy", "viscy_models", "viscy_utils", "viscy_data"):
        return None
    dist = {"viscy_models": "viscy-models", "viscy_utils": "viscy-utils"}.get(top, top)
    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return None


def _layer_token(module):
    import torch.nn as nn

    if isinstance(module, nn.Linear):
        return f"linear:{module.out_features}"
    if isinstance(module, nn.BatchNorm1d):
        return "bn" if module.eps == 1e-5 else f"bn:eps={module.eps!r}"
    if isinstance(module, nn.LayerNorm):
        return "ln" if module.eps == 1e-5 else f"ln:eps={module.eps!r}"
    if isinstance(module, nn.GELU):
        return "gelu-tanh" if module.approximate == "tanh" else "gelu"
    if isinstance(module, nn.LeakyReLU):
        return f"leaky-relu:{module.negative_slope!r}"
    for cls, token in ((nn.ReLU, "relu"), (nn.SiLU, "silu"), (nn.Tanh, "tanh"),
                       (nn.Identity, "identity"), (nn.Dropout, "dropout")):
        if isinstance(module, cls):
            return token
    return None


def _specs_from_modules(obj, found, seen=None):
    """(path, spec, class_path) of every nn.Sequential among live modules (with --trust)."""
    try:
        import torch.nn as nn
    except ImportError:  # without torch, nothing read from a file holds modules
        return found

    seen = seen if seen is not None else set()
    if isinstance(obj, nn.Module):
        if id(obj) in seen:
            return found
        seen.add(id(obj))
        for path, module in obj.named_modules():
            if isinstance(module, nn.Sequential):
                tokens = [_layer_token(m) for m in module]
                if None in tokens:
                    continue
                spec = ",".join(tokens)
                parent_path, _, attr = path.rpartition(".")
                parent = obj.get_submodule(parent_path) if path else None
                grand = None
                if attr == "backbone" and parent_path:
                    grand_path, _, grand_attr = parent_path.rpartition(".")
                    grand = (obj.get_submodule(grand_path) if grand_path else obj, grand_attr)
                if grand is not None and type(grand[0]).__name__ == "CrossModalContrastiveHead" \
                        and grand[1] in ("image_proj", "target_proj"):
                    spec += ",l2"  # forward and project_target: F.normalize(proj(x))
                cls = type(parent if parent is not None else module)
                found.append((path + "." if path else "", spec, f"{cls.__module__}.{cls.__name__}"))
    elif isinstance(obj, dict):
        for v in obj.values():
            _specs_from_modules(v, found, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _specs_from_modules(v, found, seen)
    return found


def architecture(tensors, prefix, hparams):
    """(spec, how it was known, VisCy version or None) from the checkpoint, or None."""
    modules = _modules(tensors, prefix)
    if modules is None or hparams is None:
        return None
    hits = set()
    for path, spec, class_path in _specs_from_modules(hparams, []):
        if prefix.endswith(path) and _spec_fits(spec, modules):
            hits.add((spec, "module classes", _package_version(class_path)))
    if not hits:
        for class_path, args in _configs(hparams, []):
            for suffix, spec in _specs_from_config(class_path, args).items():
                if spec and prefix.endswith(suffix) and _spec_fits(spec, modules):
                    hits.add((spec, "hyper_parameters", _package_version(class_path)))
    if not hits:
        for args in _flat_dicts(hparams, []):
            for spec in _specs_from_flat(args):
                if _in_fits(args, modules) and _spec_fits(spec, modules):
                    hits.add((spec, "flat hyper_parameters", None))
    if len({h[0] for h in hits}) == 1:
        return sorted(hits, key=lambda h: h[2] or "")[-1]
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
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for data in blobs:
                f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ExtractError(f"{path}: cannot write: {e.strerror}") from None


def list_tensors(path, tensors, prefix):
    width = max(len(n) for n in tensors)
    for name, t in tensors.items():
        dtype = str(t.dtype).replace("torch.", "")
        print(f"{name:<{width}}  {dtype:<8}  {list(t.shape)}")
    if prefix is not None:
        found = [p for p in [find_prefix(tensors, prefix)] if p is not None]
    else:
        found = find_prefixes(tensors)
    if not found:
        print(f"# no projection head: no tensor starts with "
              f"{prefix or ', '.join(load_known_prefixes())}, and no Linear layers chain")
    for p in found:
        n = sum(1 for k in tensors if k.startswith(p))
        print(f"# projection head: prefix {p!r}, {n} tensors")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="extract-head.py",
        description="Extract the projection head of a VisCy / Lightning checkpoint (or of a "
        "plain state dict) into a safetensors file for headrank, with what the checkpoint "
        "knows about its architecture in the file's metadata.",
    )
    parser.add_argument("checkpoint", help="a Lightning .ckpt or a torch.save()d state dict")
    parser.add_argument("output", nargs="?", help="the safetensors file to write")
    parser.add_argument("--list", action="store_true",
                        help="print the checkpoint's tensors and the heads' prefixes")
    parser.add_argument("--prefix", help="the prefix of the head's tensors (default: found)")
    parser.add_argument("--strip", action="store_true",
                        help="write bare keys, without the prefix")
    parser.add_argument("--trust", action="store_true",
                        help="torch.load(weights_only=False): only for trusted files")
    args = parser.parse_intermixed_args(argv)
    if args.list == (args.output is not None):
        parser.error("give either OUT.safetensors or --list")

    try:
        tensors, hparams = load_checkpoint(args.checkpoint, args.trust)
        if args.list:
            list_tensors(args.checkpoint, tensors, args.prefix)
            return 0
        prefix = find_prefix(tensors, args.prefix)
        if prefix is None:
            looked = args.prefix if args.prefix is not None else \
                ", ".join(load_known_prefixes()) + " or Linear layers that chain"
            raise ExtractError(f"{args.checkpoint}: no tensor starts with {looked}; "
                               "see --list and give --prefix")
        head = {
            (k[len(prefix):] if args.strip else k): v
            for k, v in tensors.items()
            if k.startswith(prefix)
        }
        metadata = {"source": os.path.basename(args.checkpoint),
                    "prefix": "" if args.strip else prefix}
        arch = architecture(tensors, prefix, hparams)
        if arch is not None:
            metadata["arch"], metadata["arch_from"] = arch[0], arch[1]
            if arch[2]:
                metadata["viscy_version"] = arch[2]
        write_safetensors(args.output, head, metadata)
        print(f"{args.output}: {len(head)} tensors under {prefix!r}"
              f"{' (prefix stripped)' if args.strip else ''}; architecture "
              + (f"{arch[0]} (from the checkpoint's {arch[1]})" if arch else
                 "not in the checkpoint: headrank will infer it and assume the activation "
                 "(state it with --arch or --activation)"), file=sys.stderr)
        return 0
    except ExtractError as e:
        print(f"extract-head.py: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        print(f"extract-head.py: needs PyTorch ({e})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
