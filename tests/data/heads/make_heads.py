#!/usr/bin/env python3
"""Generate the projection-head test fixtures for headrank's HrHead.

What it makes
-------------
tests/data/heads/*.safetensors     heads saved the way PyTorch users save them:
                                   ``safetensors.torch.save_file(
                                   module.state_dict(), ...)`` with the key
                                   prefixes real checkpoints have.
tests/data/heads/input/<name>.f32  the N x D float32 input of a head, raw
                                   little-endian, row-major (rows = samples),
tests/data/heads/input/<name>.tif  the same matrix as a one-page matrix TIFF
                                   (tifffile.imwrite of the (N, D) array).
tests/data/heads/ref/<ref>/<mode>/<i>-<stage>.f32
                                   torch's output of module i, for every module
                                   in order (ReLU included, F.normalize as a
                                   last stage of heads that normalise), raw
                                   little-endian float32, row-major, in each mode:
                                   running   model.eval()
                                   batch     model.train(), the whole input as one
                                             batch (BatchNorm normalises with the
                                             batch mean and the biased variance)
                                   batch64   model.train(), batches of 64 samples
                                             (of batch_size samples; the last one
                                             shorter), each with its own statistics
                                   All under torch.no_grad(), on a copy of the
                                   model (training mode updates running stats).
tests/data/heads/raw/<name>.f32    the parameters of the spec head and of the
                                   issue-139 head as raw float32, for building
                                   them by hand with hr_head_append_*().
tests/data/heads/bad/*             heads that must be refused.
tests/data/heads/manifest.json     describes all of them (see below).

The tests need only the committed files (numpy and tifffile at most); torch is
needed to regenerate them, never to run the tests.

How to rerun (from the repository root)
---------------------------------------
    .venv/bin/pip install torch==2.13.0 safetensors   # not in tools/requirements.txt
    .venv/bin/python tests/data/heads/make_heads.py

The script deletes and rewrites everything it makes. It is deterministic
(fixed seeds, one-key safetensors metadata, TIFFs without dates or software
tags). Tested with torch 2.13.0 (CPU), safetensors 0.8.0, tifffile 2026.3.3.

The heads (mehta-lab/VisCy, mehta-lab/dynacontrast; see
/work/shared/background/viscy-heads-and-rank-measures.md §1)
------------------------------------------------------------------------
viscy-v0    Sequential(Linear(F,H), ReLU(), Linear(H,P)); VisCy's forward then
            always applies F.normalize(p=2, dim=1) (a stage "l2").
issue139    dynacontrast's EncodeProject head: fc1 = Linear(F,H,bias=False),
            bn1 = BatchNorm1d(H), relu1 = ReLU(), fc2 = Linear(H,P,bias=False),
            bn2 = BatchNorm1d(P) with its bias frozen at zero.
viscy-v2    Sequential(Linear(F,H), BatchNorm1d(H), ReLU(), Linear(H,P),
            BatchNorm1d(P)).
viscy-mlp-ln  VisCy's MLP(norm="ln"): backbone = Sequential(Linear, LayerNorm,
            ReLU, Linear, LayerNorm).
spec        Sequential(Linear(F,24), LayerNorm(24), GELU(), Linear(24,12),
            BatchNorm1d(12), SiLU()) then F.normalize: the spec
            "linear:24,ln,gelu,linear:12,bn,silu,l2".
Small heads are 48 -> 40 -> 16 on N = 80 samples; one V2 head is the size
of the DynaCLR checkpoint, 768 -> 768 -> 32 (saved in F16 to keep the
fixtures small), on N = 12 samples with batches of 8 for its "batch64" mode.
BatchNorm running statistics come from five training-mode passes (momentum
0.1) over inputs of another distribution than the test input, and the affine
parameters are perturbed away from 1 and 0, so that running and batch modes
differ.

Manifest
--------
{
  "torch": ..., "safetensors": ...,
  "tolerance": {"abs": 1e-5, "rel": 1e-4},     |got - ref| <= abs + rel |ref|
  "modes": [{"id": "running", "mode": "running", "batch_size": 0},
            {"id": "batch", "mode": "batch", "batch_size": 0},
            {"id": "batch64", "mode": "batch", "batch_size": 64}],
  "heads": [{
      "id": "viscy-v2-lightning",
      "weights": "viscy-v2-lightning.safetensors",
      "dtype": "F32",
      "arch": "viscy-v2" (a preset name) or a spec string,
      "prefix": "model.projection." ("" for bare keys),
      "inferable": true if hr_head_new_from_file (path, NULL, NULL) must find
                   the same layers (state-dict keys tell them apart),
      "why": ...,
      "input": "input/in48.f32", "input_tif": "input/in48.tif", "n": 80, "d": 48,
      "batch_size_small": 64 (what "batch64" used for this head),
      "layers": [{"name": "0" (the module name; null for the L2 step, which
                          is no module), "kind": "linear" (HrLayerKind nick),
                  "in": 48, "out": 40, "bias": true}, ...],
      "stages": [{"name": "0", "kind": "linear", "shape": [80, 40],
                  "files": {"running": "ref/...", "batch": ..., "batch64": ...}}],
      "raw": {"0.weight": {"file": "raw/spec/0.weight.f32", "shape": [24, 48]}, ...}
             (only for heads with raw parameters)
  }],
  "bad": [{"file": "bad/....safetensors" (or a file that does not exist),
           "arch": null or string, "prefix": null or string,
           "domain": "head" | "tensor", "code": "weights" (enum nick),
           "names_file": whether the message must name the file (not for a spec
                         that cannot be parsed: the file is not read then),
           "message_contains": [other strings the message must hold],
           "why": ...}]
}
"""

import copy
import io
import json
import shutil
from pathlib import Path

import numpy as np
import safetensors
import tifffile
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

HERE = Path(__file__).resolve().parent
INPUT = HERE / "input"
REF = HERE / "ref"
RAW = HERE / "raw"
BAD = HERE / "bad"

N_SMALL = 80
N_LARGE = 12
F_IN, HIDDEN, P_OUT = 48, 40, 16
TOLERANCE = {"abs": 1e-5, "rel": 1e-4}
METADATA = {"format": "pt"}

MODES = [
    {"id": "running", "mode": "running", "batch_size": 0},
    {"id": "batch", "mode": "batch", "batch_size": 0},
    {"id": "batch64", "mode": "batch", "batch_size": 64},
]

KIND = {
    nn.Linear: "linear",
    nn.BatchNorm1d: "bn",
    nn.LayerNorm: "ln",
    nn.ReLU: "relu",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
}


class BatchNorm1dNoBias(nn.BatchNorm1d):
    """dynacontrast's train/resnet.py: a BatchNorm whose bias is never trained."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bias.requires_grad = False


class EncodeProject(nn.Module):
    """dynacontrast's projection head (mehta-lab/dynacontrast train/resnet.py), the one
    issue #139 proposes: Linear -> BN -> ReLU -> Linear -> BN, no Linear biases."""

    def __init__(self, f, h, p):
        super().__init__()
        self.fc1 = nn.Linear(f, h, bias=False)
        self.bn1 = nn.BatchNorm1d(h)
        self.relu1 = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(h, p, bias=False)
        self.bn2 = BatchNorm1dNoBias(p)

    def stages(self):
        return [("fc1", self.fc1), ("bn1", self.bn1), ("relu1", self.relu1),
                ("fc2", self.fc2), ("bn2", self.bn2)]

    def forward(self, x):
        for _, m in self.stages():
            x = m(x)
        return x


class MLP(nn.Module):
    """VisCy's viscy_models.components.heads.MLP in projection mode, one hidden layer,
    no dropout: everything in self.backbone."""

    def __init__(self, in_dims, hidden_dims, out_dims, norm="ln"):
        super().__init__()
        norm_layer = nn.LayerNorm if norm == "ln" else nn.BatchNorm1d
        self.backbone = nn.Sequential(
            nn.Linear(in_dims, hidden_dims), norm_layer(hidden_dims), nn.ReLU(),
            nn.Linear(hidden_dims, out_dims), norm_layer(out_dims))

    def stages(self):
        return list(self.backbone.named_children())

    def forward(self, x):
        return self.backbone(x)


class Seq(nn.Sequential):
    """A VisCy-style nn.Sequential head; @l2 adds VisCy V0's F.normalize after it."""

    def __init__(self, *modules, l2=False):
        super().__init__(*modules)
        self.l2 = l2

    def stages(self):
        return list(self.named_children())


def viscy_v0(f, h, p):
    return Seq(nn.Linear(f, h, bias=True), nn.ReLU(inplace=True),
               nn.Linear(h, p, bias=True), l2=True)


def viscy_v2(f, h, p):
    return Seq(nn.Linear(f, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, p),
               nn.BatchNorm1d(p))


def spec_head(f):
    return Seq(nn.Linear(f, 24), nn.LayerNorm(24), nn.GELU(), nn.Linear(24, 12),
               nn.BatchNorm1d(12), nn.SiLU(), l2=True)


def has_l2(model):
    return getattr(model, "l2", False)


def train_looking(model, seed, d):
    """Perturb norm affine parameters and give BatchNorm running statistics from five
    training-mode passes (momentum 0.1) over inputs unlike the test inputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.BatchNorm1d, nn.LayerNorm)):
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=g))
                if m.bias.requires_grad:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        model.train()
        for _ in range(5):
            x = 1.5 * torch.randn(32, d, generator=g) + 0.3
            model(x)
    model.eval()
    return model


def make_input(seed, n, d):
    """Features like a pooled, LayerNorm-ed backbone's: roughly standard, with a few
    offset and scaled dimensions."""
    g = torch.Generator().manual_seed(seed)
    scale = 0.5 + torch.rand(d, generator=g)
    offset = 0.3 * torch.randn(d, generator=g)
    return (torch.randn(n, d, generator=g) * scale + offset).float()


def forward_stages(model, x):
    """The output of every stage, in order."""
    outs = []
    with torch.no_grad():
        for _, m in model.stages():
            x = m(x)
            outs.append(x.clone())
        if has_l2(model):
            x = F.normalize(x, p=2, dim=1)
            outs.append(x.clone())
    return outs


def run_mode(model, x, mode, batch_size):
    m = copy.deepcopy(model)
    if mode == "running":
        m.eval()
        return forward_stages(m, x)
    m.train()
    if batch_size == 0 or batch_size >= x.shape[0]:
        return forward_stages(m, x)
    parts = [forward_stages(m, x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    return [torch.cat([p[s] for p in parts]) for s in range(len(parts[0]))]


def f32_bytes(t):
    return t.detach().float().contiguous().numpy().astype("<f4").tobytes()


def write_input(name, x):
    INPUT.mkdir(exist_ok=True)
    (INPUT / f"{name}.f32").write_bytes(f32_bytes(x))
    tifffile.imwrite(INPUT / f"{name}.tif", x.numpy().astype(np.float32),
                     photometric="minisblack", software=False, datetime=None,
                     metadata=None)
    return f"input/{name}.f32", f"input/{name}.tif"


def layers_of(model):
    layers = []
    width = None
    for name, m in model.stages():
        kind = KIND[type(m)] if type(m) in KIND else KIND[nn.BatchNorm1d]
        if isinstance(m, nn.Linear):
            layers.append({"name": name, "kind": kind, "in": m.in_features,
                           "out": m.out_features, "bias": m.bias is not None})
            width = m.out_features
        elif isinstance(m, nn.BatchNorm1d):
            layers.append({"name": name, "kind": kind, "in": m.num_features,
                           "out": m.num_features, "bias": True})
        elif isinstance(m, nn.LayerNorm):
            layers.append({"name": name, "kind": kind, "in": m.normalized_shape[0],
                           "out": m.normalized_shape[0], "bias": True})
        else:
            layers.append({"name": name, "kind": kind, "in": width, "out": width,
                           "bias": False})
    if has_l2(model):
        # F.normalize is no module: its name is headrank's choice, not the state dict's
        layers.append({"name": None, "kind": "l2", "in": width, "out": width,
                       "bias": False})
    return layers


def save_head(path, state_dict, prefix, dtype=None, extra=None):
    tensors = {}
    for k, v in state_dict.items():
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[prefix + k] = v.contiguous()
    if extra:
        tensors.update(extra)
    save_file(tensors, path, metadata=METADATA)


def write_refs(ref_id, model, x, batch_small):
    """Reference files for every stage in every mode; returns stages for the manifest."""
    layers = layers_of(model)
    stages = [{"name": l["name"], "kind": l["kind"], "files": {}} for l in layers]
    for mode in MODES:
        bs = batch_small if mode["id"] == "batch64" else mode["batch_size"]
        outs = run_mode(model, x, mode["mode"], bs)
        assert len(outs) == len(stages)
        d = REF / ref_id / mode["id"]
        d.mkdir(parents=True, exist_ok=True)
        for i, (s, out) in enumerate(zip(stages, outs)):
            assert torch.isfinite(out).all()
            f = d / f"{i}-{s['name'] or 'l2'}.f32"
            f.write_bytes(f32_bytes(out))
            s["files"][mode["id"]] = str(f.relative_to(HERE))
            s["shape"] = list(out.shape)
    # The modes must differ where the head has a BatchNorm (else the test proves nothing).
    if any(l["kind"] == "bn" for l in layers):
        r = run_mode(model, x, "running", 0)[-1]
        b = run_mode(model, x, "batch", 0)[-1]
        assert (r - b).abs().max() > 1e-2
    return stages


def write_raw(name, state_dict):
    out = {}
    d = RAW / name
    d.mkdir(parents=True, exist_ok=True)
    for k, v in state_dict.items():
        if not v.is_floating_point():
            continue
        f = d / f"{k}.f32"
        f.write_bytes(f32_bytes(v))
        out[k] = {"file": str(f.relative_to(HERE)), "shape": list(v.shape)}
    return out


def main():
    for p in list(HERE.glob("*.safetensors")):
        p.unlink()
    for d in (INPUT, REF, RAW, BAD):
        shutil.rmtree(d, ignore_errors=True)
    INPUT.mkdir()
    BAD.mkdir()

    heads = []
    x48 = make_input(1, N_SMALL, F_IN)
    in48 = write_input("in48", x48)
    x768 = make_input(2, N_LARGE, 768)
    in768 = write_input("in768", x768)

    def add(id_, weights, model, arch, prefix, inferable, why, x=x48, inp=in48,
            ref_id=None, dtype="F32", batch_small=64, raw=None, stages=None):
        if stages is None:
            stages = write_refs(ref_id or id_, model, x, batch_small)
        entry = {
            "id": id_, "weights": weights, "dtype": dtype, "arch": arch, "prefix": prefix,
            "inferable": inferable, "why": why,
            "input": inp[0], "input_tif": inp[1], "n": x.shape[0], "d": x.shape[1],
            "batch_size_small": batch_small,
            "layers": layers_of(model), "stages": stages,
        }
        if raw:
            entry["raw"] = raw
        heads.append(entry)
        return stages

    # V0: bare keys, as `encoder.projection.state_dict()` saves them.
    torch.manual_seed(100)
    v0 = train_looking(viscy_v0(F_IN, HIDDEN, P_OUT), 101, F_IN)
    save_head(HERE / "viscy-v0-bare.safetensors", v0.state_dict(), "")
    add("viscy-v0-bare", "viscy-v0-bare.safetensors", v0, "viscy-v0", "", False,
        "VisCy V0 (before #139): Linear, ReLU, Linear, then forward's F.normalize; bare "
        "keys 0.*, 2.*; not inferable (the L2 step has no tensors)")

    # issue 139: dynacontrast's head under "projection." as in a ContrastiveEncoder.
    torch.manual_seed(139)
    i139 = train_looking(EncodeProject(F_IN, HIDDEN, P_OUT), 140, F_IN)
    assert float(i139.bn2.bias.abs().max()) == 0.0
    save_head(HERE / "issue139.safetensors", i139.state_dict(), "projection.")
    add("issue139", "issue139.safetensors", i139, "issue139", "projection.", True,
        "dynacontrast EncodeProject (#139): fc1/bn1/relu1/fc2/bn2, Linear bias=False, "
        "bn2 bias frozen at 0; keys projection.fc1.weight, projection.bn1.*",
        raw=write_raw("issue139", i139.state_dict()))

    # V2 in a Lightning checkpoint: "model.projection.".
    torch.manual_seed(145)
    v2 = train_looking(viscy_v2(F_IN, HIDDEN, P_OUT), 146, F_IN)
    v2_sd = v2.state_dict()
    save_head(HERE / "viscy-v2-lightning.safetensors", v2_sd, "model.projection.")
    v2_stages = add("viscy-v2-lightning", "viscy-v2-lightning.safetensors", v2, "viscy-v2",
                    "model.projection.", True,
                    "VisCy V2 (#145 to HEAD) from a Lightning checkpoint: model.projection.N.*")

    # The same head among the other tensors of a checkpoint: a fake encoder.
    g = torch.Generator().manual_seed(7)
    encoder = {
        "model.encoder.stem.0.weight": torch.randn(16, 2, 4, 4, generator=g),
        "model.encoder.stem.0.bias": torch.randn(16, generator=g),
        "model.encoder.stem.1.weight": torch.randn(16, generator=g),
        "model.encoder.stem.1.bias": torch.randn(16, generator=g),
        "model.encoder.stages.0.blocks.0.conv_dw.weight": torch.randn(16, 1, 3, 3, generator=g),
        "model.encoder.stages.0.blocks.0.norm.weight": torch.randn(16, generator=g),
        "model.encoder.stages.0.blocks.0.norm.bias": torch.randn(16, generator=g),
        "model.encoder.stages.0.blocks.0.mlp.fc1.weight": torch.randn(48, 16, generator=g),
        "model.encoder.stages.0.blocks.0.mlp.fc1.bias": torch.randn(48, generator=g),
        "model.encoder.head.norm.weight": torch.randn(F_IN, generator=g),
        "model.encoder.head.norm.bias": torch.randn(F_IN, generator=g),
        "model.stem.0.weight": torch.randn(2, 1, 3, 3, generator=g),
        "model.encoder.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
    }
    save_head(HERE / "viscy-v2-checkpoint.safetensors", v2_sd, "model.projection.",
              extra=encoder)
    add("viscy-v2-checkpoint", "viscy-v2-checkpoint.safetensors", v2, "viscy-v2",
        "model.projection.", True,
        "the V2 head of viscy-v2-lightning among a fake encoder's tensors "
        "(model.encoder.*, model.stem.*), as a whole Lightning state dict",
        stages=v2_stages)

    # F16, BF16 and F64 versions of the V2 head; the reference is torch's float32
    # computation with the converted weights (model.to(dtype).float()).
    for dtype, tag in ((torch.float16, "F16"), (torch.bfloat16, "BF16"),
                       (torch.float64, "F64")):
        name = f"viscy-v2-lightning-{tag.lower()}"
        save_head(HERE / f"{name}.safetensors", v2_sd, "model.projection.", dtype=dtype)
        conv = copy.deepcopy(v2).to(dtype).float()
        if dtype == torch.float64:
            for k, v in conv.state_dict().items():
                assert torch.equal(v, v2_sd[k])
            add(name, f"{name}.safetensors", conv, "viscy-v2", "model.projection.", True,
                "viscy-v2-lightning saved in F64 (num_batches_tracked stays I64); "
                "float32 -> float64 -> float32 is exact, so its references are "
                "viscy-v2-lightning's", dtype=tag, stages=v2_stages)
        else:
            add(name, f"{name}.safetensors", conv, "viscy-v2", "model.projection.", True,
                f"viscy-v2-lightning saved in {tag} (num_batches_tracked stays I64); "
                f"reference computed by torch with the {tag} weights as float32",
                dtype=tag)

    # VisCy's MLP with LayerNorm (DINOv3 frozen-MLP recipe), as DINOv3Model.projection.
    torch.manual_seed(456)
    mlp = train_looking(MLP(F_IN, HIDDEN, P_OUT, norm="ln"), 457, F_IN)
    save_head(HERE / "viscy-mlp-ln.safetensors", mlp.state_dict(), "projection.")
    add("viscy-mlp-ln", "viscy-mlp-ln.safetensors", mlp, "viscy-mlp-ln",
        "projection.backbone.", True,
        "VisCy MLP(norm='ln', activation='relu') (components/heads.py:456): "
        "projection.backbone.{0,1,3,4}.*; LayerNorm has no running statistics")

    # A head from a spec, with GELU, SiLU and L2.
    torch.manual_seed(24)
    spec = train_looking(spec_head(F_IN), 25, F_IN)
    save_head(HERE / "spec-gelu-silu.safetensors", spec.state_dict(), "")
    add("spec-gelu-silu", "spec-gelu-silu.safetensors", spec,
        "linear:24,ln,gelu,linear:12,bn,silu,l2", "", False,
        "Sequential(Linear(48,24), LayerNorm, GELU, Linear(24,12), BatchNorm1d, SiLU) "
        "then F.normalize, bare keys 0.*, 1.*, 3.*, 4.*",
        raw=write_raw("spec-gelu-silu", spec.state_dict()))

    # The size of the DynaCLR checkpoint: 768 -> 768 -> 32, saved in F16.
    torch.manual_seed(768)
    big = train_looking(viscy_v2(768, 768, 32), 769, 768)
    save_head(HERE / "viscy-v2-768-f16.safetensors", big.state_dict(), "projection.",
              dtype=torch.float16)
    big = copy.deepcopy(big).half().float()
    add("viscy-v2-768-f16", "viscy-v2-768-f16.safetensors", big, "viscy-v2", "projection.",
        True, "V2 at DynaCLR's size (ConvNeXt-tiny 768 -> 768 -> 32), F16 weights under "
        "projection.; N = 12 with batches of 8 for the batch64 mode",
        x=x768, inp=in768, batch_small=8)

    bad = make_bad(v2_sd)
    manifest = {
        "torch": torch.__version__, "safetensors": safetensors.__version__,
        "tolerance": TOLERANCE, "modes": MODES, "heads": heads, "bad": bad,
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"{len(heads)} heads, {len(bad)} bad cases, {total / 1e6:.2f} MB")


def make_bad(v2_sd):
    P = "model.projection."
    entries = []

    def bad(file, tensors, arch, prefix, domain, code, why):
        save_file(tensors, BAD / file, metadata=METADATA)
        entries.append({"file": f"bad/{file}",
                        "arch": arch, "prefix": prefix, "domain": domain, "code": code,
                        "why": why})

    def v2(**changes):
        t = {P + k: v.clone() for k, v in v2_sd.items()}
        for k, v in changes.items():
            if v is None:
                del t[P + k]
            else:
                t[P + k] = v
        return t

    bad("missing-running-var.safetensors", v2(**{"1.running_var": None}), "viscy-v2",
        P, "head", "weights", "V2 without model.projection.1.running_var")
    entries.append(dict(entries[-1], arch=None, prefix=None,
                        why="the same, architecture and prefix to be inferred"))
    w3 = torch.randn(P_OUT, 30)
    bad("linear-wrong-in.safetensors", v2(**{"3.weight": w3}), "viscy-v2", P, "head",
        "shape", "model.projection.3.weight is [16, 30] (bias [16]) after a 40-wide "
        "BatchNorm: consecutive layers disagree")
    bad("bn-weight-short.safetensors", v2(**{"1.weight": torch.ones(HIDDEN - 1)}),
        "viscy-v2", P, "head", "weights",
        "model.projection.1.weight is [39] while running_mean and the Linear are 40")
    w0 = v2_sd["0.weight"].clone()
    w0[3, 5] = float("nan")
    bad("nan-weight.safetensors", v2(**{"0.weight": w0}), "viscy-v2", P, "head",
        "non-finite", "NaN in model.projection.0.weight[3, 5]")
    rv = v2_sd["4.running_var"].clone()
    rv[2] = float("inf")
    bad("inf-running-var.safetensors", v2(**{"4.running_var": rv}), "viscy-v2", P,
        "head", "non-finite", "+Inf in model.projection.4.running_var[2]")
    g = torch.Generator().manual_seed(3)
    bad("no-known-prefix.safetensors",
        {"encoder.layer1.0.conv1.weight": torch.randn(8, 3, 3, 3, generator=g),
         "encoder.layer1.0.bn1.weight": torch.randn(8, generator=g),
         "decoder.out.weight": torch.randn(4, 8, generator=g),
         "decoder.out.bias": torch.randn(4, generator=g)},
        None, None, "head", "weights",
        "an encoder and decoder, no projection head anywhere")
    entries.append(dict(entries[-1], arch="viscy-v2",
                        why="the same with the architecture given"))
    entries.append({"file": "viscy-v2-lightning.safetensors", "arch": "viscy-v2",
                    "prefix": "no.such.prefix.", "domain": "head", "code": "weights",
                    "why": "a prefix that no tensor has"})
    entries.append({"file": "issue139.safetensors", "arch": "viscy-v2", "prefix": None,
                    "domain": "head", "code": "weights",
                    "why": "issue-139 weights (fc1, bn1, ...) read as the V2 preset"})
    entries.append({"file": "viscy-v2-lightning.safetensors",
                    "arch": "linear:32,bn,relu,linear:16,bn", "prefix": P,
                    "domain": "head", "code": "weights",
                    "why": "the spec's hidden width 32 differs from the weights' 40"})
    for spec in ("linear:abc,bn", "linear:40,bn,relu,linear:16,bn,mish",
                 "no-such-preset", "linear:40,,bn", "linear:-3,bn"):
        bad_token = [t for t in spec.split(",") if not KNOWN_TOKEN(t)][0]
        entries.append({"file": "viscy-v2-lightning.safetensors", "arch": spec,
                        "prefix": P, "domain": "head", "code": "spec",
                        "names_file": False,
                        "message_contains": [bad_token] if bad_token else [],
                        "why": f"the spec {spec!r} cannot be parsed"})
    # found by building heads with torch and reading them back (2026-12-07)
    bad("bn-bias-no-weight.safetensors", v2(**{"1.weight": None}), "viscy-v2", P, "head",
        "weights", "BatchNorm model.projection.1 with its bias and running statistics but no "
        "weight: torch's load_state_dict refuses it; running it with weight 1 is not the "
        "saved model")
    entries[-1]["message_contains"] = ["no weight"]
    entries.append(dict(entries[-1], arch=None, prefix=None,
                        why="the same, architecture and prefix to be inferred"))
    bad("bn-weight-no-bias.safetensors", v2(**{"4.bias": None}), "viscy-v2", P, "head",
        "weights", "BatchNorm model.projection.4 with its weight and running statistics but "
        "no bias")
    entries[-1]["message_contains"] = ["no bias"]
    bad("extra-buffer.safetensors", v2(**{"1.extra_buffer": torch.zeros(HIDDEN)}), None,
        None, "head", "weights",
        "V2 with a buffer beside BatchNorm 1's parameters, prefix to be found: the error "
        "names the tensor, not that no head was found")
    entries[-1]["message_contains"] = ["extra_buffer"]
    g = torch.Generator().manual_seed(5)
    named = {}
    for module in ("proj_in", "proj_out"):
        named[f"{module}.weight"] = torch.randn(HIDDEN, HIDDEN, generator=g)
        named[f"{module}.bias"] = torch.randn(HIDDEN, generator=g)
    for module in ("norm_in", "norm_out"):
        named[f"{module}.weight"] = torch.rand(HIDDEN, generator=g) + 0.5
        named[f"{module}.bias"] = torch.randn(HIDDEN, generator=g)
        named[f"{module}.running_mean"] = torch.randn(HIDDEN, generator=g)
        named[f"{module}.running_var"] = torch.rand(HIDDEN, generator=g) + 0.5
    bad("named-no-order.safetensors", named, None, None, "head", "weights",
        "modules proj_in, norm_in, proj_out, norm_out of one width: nothing in their names "
        "orders them (the alphabet would put both Linear layers first, and the widths "
        "chain either way)")
    entries[-1]["message_contains"] = ["which comes first"]
    buffer = io.BytesIO()
    torch.save({P + k: v for k, v in v2_sd.items()}, buffer)
    (BAD / "torch-save.safetensors").write_bytes(buffer.getvalue())
    entries.append({"file": "bad/torch-save.safetensors", "arch": "viscy-v2", "prefix": P,
                    "domain": "tensor", "code": "header",
                    "message_contains": ["torch.save", "extract-head.py"],
                    "why": "a torch.save()d state dict (a zip archive) given as safetensors"})
    w0i = v2_sd["0.weight"].to(torch.int32)
    bad("int-weight.safetensors", v2(**{"0.weight": w0i}), "viscy-v2", P, "tensor",
        "dtype", "model.projection.0.weight stored as I32")
    data = (HERE / "viscy-v2-lightning.safetensors").read_bytes()
    (BAD / "truncated.safetensors").write_bytes(data[: len(data) - 100])
    entries.append({"file": "bad/truncated.safetensors", "arch": "viscy-v2", "prefix": P,
                    "domain": "tensor", "code": "truncated",
                    "why": "viscy-v2-lightning without its last 100 bytes"})
    entries.append({"file": "bad/does-not-exist.safetensors", "arch": "viscy-v2",
                    "prefix": P, "domain": "gio", "code": "not-found",
                    "why": "no such file"})
    for e in entries:
        e.setdefault("names_file", True)
        e.setdefault("message_contains", [])
    return entries


def KNOWN_TOKEN(token):
    """A token of the spec grammar (linear:OUT with OUT > 0, bn, ln, relu, gelu, gelu-tanh,
    silu, leaky-relu, tanh, identity, dropout, l2)."""
    if token.startswith("linear:"):
        return token[7:].isdigit() and int(token[7:]) > 0
    return token in ("bn", "ln", "relu", "gelu", "gelu-tanh", "silu", "leaky-relu", "tanh",
                     "identity", "dropout", "l2")


if __name__ == "__main__":
    main()
