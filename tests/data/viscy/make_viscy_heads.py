#!/usr/bin/env python3
"""Make the VisCy-family head fixtures of headrank with VisCy's own classes.

Run through make.sh beside this file, which makes the venv (torch, viscy-models 0.1.0,
viscy-utils 0.1.0, lightning, viscy 0.4.1); the tests need only what this writes.

For every head below it builds the head with the classes VisCy's users train (pretrained
weights off: no model hub here; small widths where the class allows them), puts it where
VisCy puts it in a LightningModule (viscy 0.4.1's ContrastiveModule: the encoder is
`model`, so the head's keys are model.projection.N.* or model.projection.backbone.N.*;
auxiliary heads under auxiliary_heads.NAME.*), trains it a few steps (AdamW on
ContrastiveModule's triplet loss, batches of 16) so that BatchNorm's running statistics
are real, saves the module with Lightning's Trainer.save_checkpoint, and converts the
checkpoint with tools/extract-head.py, the way a user would. Then it runs the head in
PyTorch on one input and stores the reference outputs:

    input.f32                  48 x 24 float32 features, raw little-endian, row-major
    <id>.safetensors           the head, as tools/extract-head.py wrote it (with the
                               architecture in __metadata__ where the checkpoint tells it)
    ref/<id>-running.f32       the head's output in eval mode (model.eval())
    ref/<id>-batch.f32         in training mode with the whole input as one batch
                               (BatchNorm with the batch's statistics), Dropout kept at
                               inference (the identity), as headrank's --batch-stats runs
    ref/<id>-batch16.f32       the same in batches of 16 samples (--batch-size 16)
    cross-modal-all.safetensors every tensor of the cross-modal checkpoint (a stem and three
                               heads), for finding heads and asking for --prefix
    cell-dino-all.safetensors  every tensor of a CELL-DINO checkpoint: viscy_models'
                               CellDinoModel with its own (channel-adaptive, chunked-block)
                               DINOv2 ViT, shrunk to depth 2 and width 16 with random
                               weights (no hub), and an MLP(norm="ln", activation="gelu")
                               projection, in ContrastiveModule: the ViT's blocks hold
                               Linear chains too (blocks.N.N.mlp.fc1/fc2), the head is only
                               model.projection.backbone.
    v0-viscy021.safetensors    VisCy 0.2.1's V0 head (Linear, ReLU, Linear; forward
                               L2-normalises), made by make_viscy021_head.py in a process of
                               its own (another `viscy`), with its own input
                               input320.f32 (16 x 320) and references; nothing in its
                               checkpoint tells the L2 normalisation, so the tests state it
                               with --arch viscy-v0 (the manifest's "arch")
    manifest.json              what each file is: the head's spec as the module classes
                               give it (the truth the tests check against), how headrank
                               should know it, the presets it matches, ...

Deterministic (fixed seeds: two runs give the same bytes); 78 s here (2 shared cores,
`time tests/data/viscy/make.sh` with the venv made). Tested with torch 2.14.1, lightning
2.6.6, timm 1.0.31, monai 1.6.1, viscy-models 0.1.0, viscy-utils 0.1.0, viscy 0.4.1 and
0.2.1, Python 3.12.1.
"""

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
EXTRACT = ROOT / "tools" / "extract-head.py"
N, D, OUT, HIDDEN, BATCH = 48, 24, 12, 20, 16
TOL = {"abs": 1e-5, "rel": 1e-4}


def layer_token(m):
    """The headrank spec token of a module, from its class (the truth)."""
    if isinstance(m, nn.Linear):
        return f"linear:{m.out_features}"
    if isinstance(m, nn.BatchNorm1d):
        return "bn"
    if isinstance(m, nn.LayerNorm):
        return "ln"
    if isinstance(m, nn.GELU):
        return "gelu-tanh" if m.approximate == "tanh" else "gelu"
    if isinstance(m, nn.LeakyReLU):
        return f"leaky-relu:{m.negative_slope!r}"
    for cls, t in ((nn.ReLU, "relu"), (nn.SiLU, "silu"), (nn.Tanh, "tanh"),
                   (nn.Identity, "identity"), (nn.Dropout, "dropout")):
        if isinstance(m, cls):
            return t
    raise ValueError(m)


def true_spec(seq, l2=False):
    return ",".join([layer_token(m) for m in seq] + (["l2"] if l2 else []))


class Encoder(nn.Module):
    """A small stand-in for an image encoder (a stem), with VisCy's head as `projection`."""

    def __init__(self, projection):
        super().__init__()
        self.stem = nn.Linear(8, D)
        self.projection = projection


def contrastive_module(encoder):
    from viscy.representation.engine import ContrastiveModule

    return ContrastiveModule(encoder=encoder, example_input_array_shape=(1, 8))


def mlp_config(**kw):
    return {"class_path": "viscy_models.components.heads.MLP", "init_args": kw}


def cases():
    from viscy_models.components.heads import MLP, CrossModalContrastiveHead
    from viscy_models.contrastive.resnet3d import ResNet3dEncoder
    from viscy.representation.contrastive import projection_mlp

    out = []

    def mlp_case(id, norm, act, dropout=0.0, hidden=HIDDEN, config=True, activation=None,
                 presets=()):
        torch.manual_seed(len(out) + 1)
        mlp = MLP(D, hidden, OUT, norm=norm, activation=act, dropout=dropout)
        module = contrastive_module(Encoder(mlp))
        hp = None
        if config:
            hp = {"encoder": {"class_path": "viscy.representation.contrastive.ContrastiveEncoder"},
                  "projection": mlp_config(in_dims=D, hidden_dims=hidden, out_dims=OUT, norm=norm,
                                           activation=act, dropout=dropout)}
        out.append(dict(id=id, module=module, head=mlp, fn=mlp, hparams=hp,
                        spec=true_spec(mlp.backbone), prefix="model.projection.backbone.",
                        source="metadata" if config else "inferred", activation=activation,
                        presets=list(presets),
                        why=f"viscy_models MLP(norm={norm!r}, activation={act!r}, "
                            f"dropout={dropout}, hidden_dims={hidden!r}) as ContrastiveModule's "
                            + ("projection, its config in hyper_parameters" if config else
                               "projection, no hyper_parameters")))

    mlp_case("mlp-bn-relu", "bn", "relu",
             presets=["viscy-v2", "viscy-resnet3d", "viscy-mlp-bn-relu"])
    mlp_case("mlp-bn-gelu", "bn", "gelu", presets=["viscy-mlp-bn-gelu"])
    mlp_case("mlp-bn-silu", "bn", "silu", config=False, activation="silu",
             presets=["viscy-mlp-bn-silu"])
    mlp_case("mlp-ln-relu", "ln", "relu", presets=["viscy-mlp-ln", "viscy-mlp-ln-relu"])
    mlp_case("mlp-ln-gelu", "ln", "gelu", config=False, activation="gelu",
             presets=["viscy-mlp-ln-gelu"])
    mlp_case("mlp-ln-silu-dropout", "ln", "silu", dropout=0.2, hidden=[20, 16], presets=[])
    mlp_case("mlp-bn-gelu-dropout", "bn", "gelu", dropout=0.1, config=False,
             activation="gelu", presets=["viscy-mlp-bn-gelu"])

    # VisCy 0.4.1's own projection_mlp (V2), in its ContrastiveModule, no hyper_parameters
    torch.manual_seed(20)
    head = projection_mlp(D, HIDDEN, OUT)
    out.append(dict(id="v2-viscy041", module=contrastive_module(Encoder(head)), head=head,
                    fn=head, hparams=None, spec=true_spec(head), prefix="model.projection.",
                    source="inferred", activation="relu",
                    presets=["viscy-v2", "viscy-resnet3d", "viscy-mlp-bn-relu"],
                    why="viscy 0.4.1 projection_mlp (Linear, BN, ReLU, Linear, BN) in its "
                        "ContrastiveModule, nothing in the checkpoint about the activation"))

    # viscy_models' ResNet3dEncoder (MONAI resnet10, random weights), head 24 -> 24 -> 12
    torch.manual_seed(21)
    enc = ResNet3dEncoder("resnet10", in_channels=1, embedding_dim=D, projection_dim=OUT)
    hp = {"encoder": {"class_path": "viscy_models.contrastive.resnet3d.ResNet3dEncoder",
                      "init_args": {"backbone": "resnet10", "in_channels": 1,
                                    "embedding_dim": D, "projection_dim": OUT}}}
    out.append(dict(id="resnet3d", module=contrastive_module(enc), head=enc.projection,
                    fn=enc.projection, hparams=hp, spec=true_spec(enc.projection),
                    prefix="model.projection.", source="metadata", activation=None,
                    presets=["viscy-v2", "viscy-resnet3d", "viscy-mlp-bn-relu"],
                    why="viscy_models ResNet3dEncoder('resnet10', embedding_dim=24) in "
                        "ContrastiveModule: the whole encoder (Conv3d, BatchNorm3d) and its "
                        "head in the checkpoint, the config in hyper_parameters"))

    # the cross-modal auxiliary head beside an MLP projection
    torch.manual_seed(22)
    cm = CrossModalContrastiveHead("pairs", "X_pls", in_dims=D, target_dims=10, proj_dims=OUT,
                                   image_hidden=HIDDEN, target_hidden=16)
    mlp = MLP(D, HIDDEN, OUT, norm="bn", activation="relu")
    module = contrastive_module(Encoder(mlp))
    module.auxiliary_heads = nn.ModuleDict({"pairs": cm})
    hp = {"projection": mlp_config(in_dims=D, hidden_dims=HIDDEN, out_dims=OUT),
          "auxiliary_heads": [{"class_path":
                               "viscy_models.components.heads.CrossModalContrastiveHead",
                               "init_args": {"head_name": "pairs", "batch_key": "X_pls",
                                             "in_dims": D, "target_dims": 10,
                                             "proj_dims": OUT, "image_hidden": HIDDEN,
                                             "target_hidden": 16}}]}
    out.append(dict(id="cross-modal", module=module, head=cm, fn=cm, hparams=hp,
                    spec=true_spec(cm.image_proj.backbone, l2=True),
                    prefix="auxiliary_heads.pairs.image_proj.backbone.", source="metadata",
                    activation=None, presets=["viscy-cross-modal"], train_fn=mlp,
                    why="viscy_models CrossModalContrastiveHead as auxiliary_heads.pairs beside "
                        "an MLP projection: forward is F.normalize(image_proj(x))"))

    # the other layers of the family, read by --trust from module objects in hyper_parameters
    torch.manual_seed(23)
    seq = nn.Sequential(nn.Linear(D, HIDDEN), nn.BatchNorm1d(HIDDEN, affine=False),
                        nn.LeakyReLU(0.2), nn.Dropout(0.1), nn.Linear(HIDDEN, 16), nn.Tanh(),
                        nn.Linear(16, OUT, bias=False), nn.BatchNorm1d(OUT))
    module = contrastive_module(Encoder(seq))
    out.append(dict(id="leaky-tanh", module=module, head=seq, fn=seq,
                    hparams={"projection": seq}, trust=True, spec=true_spec(seq),
                    prefix="model.projection.", source="metadata", activation=None, presets=[],
                    why="Linear, BatchNorm1d(affine=False), LeakyReLU(0.2), Dropout, Linear, "
                        "Tanh, Linear(bias=False), BatchNorm1d; the Sequential itself in "
                        "hyper_parameters (extract-head.py --trust reads its classes)"))
    torch.manual_seed(24)
    seq = nn.Sequential(nn.Linear(D, HIDDEN), nn.LayerNorm(HIDDEN), nn.GELU(approximate="tanh"),
                        nn.Identity(), nn.Linear(HIDDEN, OUT), nn.SiLU())
    module = contrastive_module(Encoder(seq))
    out.append(dict(id="gelu-tanh-identity", module=module, head=seq, fn=seq,
                    hparams={"projection": seq}, trust=True, spec=true_spec(seq),
                    prefix="model.projection.", source="metadata", activation=None, presets=[],
                    why="Linear, LayerNorm, GELU(approximate='tanh'), Identity, Linear, SiLU; "
                        "the Sequential in hyper_parameters (--trust)"))
    return out


def features(n, generator):
    z = torch.randn(n, 6, generator=generator)
    mix = torch.randn(6, D, generator=generator)
    return z @ mix * 0.8 + 0.3 * torch.randn(n, D, generator=generator) + 0.5


def train(case):
    """A few AdamW steps of ContrastiveModule's triplet loss on the head's projections."""
    head = case.get("train_fn", case["fn"])
    params = list(head.parameters())
    if case["id"] == "cross-modal":
        params += list(case["head"].parameters())
    opt = torch.optim.AdamW(params, lr=1e-2)
    loss_fn = case["module"].loss_function
    g = torch.Generator().manual_seed(7)
    case["module"].train()
    for _ in range(6):
        a = features(BATCH, g)
        p = a + 0.1 * torch.randn(a.shape, generator=g)
        n = features(BATCH, g)
        loss = loss_fn(head(a), head(p), head(n))
        if case["id"] == "cross-modal":
            cm = case["head"]
            y = torch.randn(BATCH, 10, generator=g)
            loss = loss + cm.compute_loss(cm(a), y) if hasattr(cm, "compute_loss") else loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    case["module"].eval()


def save_checkpoint(module, path, hparams):
    import lightning.pytorch as L

    if hparams is not None:
        module.save_hyperparameters(hparams)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu",
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)


def references(case, x):
    """eval; training mode (BatchNorm batch statistics) with Dropout at inference; batches."""
    out = {}
    with torch.no_grad():
        m = copy.deepcopy(case["fn"]).eval()
        out["running"] = m(x)
        for mode, size in (("batch", len(x)), ("batch16", BATCH)):
            m = copy.deepcopy(case["fn"]).train()
            for sub in m.modules():
                if isinstance(sub, nn.Dropout):
                    sub.eval()
            out[mode] = torch.cat([m(x[i:i + size]) for i in range(0, len(x), size)])
    return out


def write_f32(path, t):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def main():
    for p in list(HERE.glob("*.safetensors")) + [HERE / "manifest.json", HERE / "input.f32"]:
        if p.exists():
            p.unlink()
    shutil.rmtree(HERE / "ref", ignore_errors=True)
    x = features(N, torch.Generator().manual_seed(1))
    write_f32(HERE / "input.f32", x)
    manifest = {"torch": torch.__version__, "tolerance": TOL, "input": "input.f32",
                "n": N, "d": D, "batch_size_small": BATCH,
                "modes": ["running", "batch", "batch16"], "heads": []}
    import importlib.metadata as md

    manifest["versions"] = {p: md.version(p) for p in ("viscy-models", "viscy-utils", "lightning")}
    manifest["versions"]["viscy"] = "0.4.1"
    sys.path.insert(0, str(ROOT / "tools"))
    import importlib.util

    spec = importlib.util.spec_from_file_location("extract_head", EXTRACT)
    extract_head = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extract_head)

    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            train(case)
            ckpt = Path(tmp) / f"{case['id']}-epoch=0-step=6.ckpt"
            save_checkpoint(case["module"], ckpt, case["hparams"])
            out = HERE / f"{case['id']}.safetensors"
            args = [sys.executable, str(EXTRACT), str(ckpt), str(out)]
            if case["id"] == "cross-modal":
                args += ["--prefix", case["prefix"]]
            if case.get("trust"):
                args.append("--trust")
            p = subprocess.run(args, capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"{case['id']}: extract-head.py failed: {p.stderr}")
            if case["id"] == "cross-modal":
                tensors, _ = extract_head.load_checkpoint(str(ckpt))
                extract_head.write_safetensors(HERE / "cross-modal-all.safetensors", tensors,
                                               {"source": ckpt.name})
            refs = references(case, x)
            files = {}
            for mode, t in refs.items():
                rel = f"ref/{case['id']}-{mode}.f32"
                write_f32(HERE / rel, t)
                files[mode] = rel
            entry = {k: case[k] for k in ("id", "spec", "prefix", "source", "activation",
                                          "presets", "why")}
            entry.update(weights=out.name, out=int(refs["running"].shape[1]), refs=files,
                         checkpoint=ckpt.name)
            manifest["heads"].append(entry)
            print(f"{case['id']}: {p.stderr.strip()}")
    # VisCy 0.2.1's V0, in a process with viscy 0.2.1 on the path
    import numpy as np

    v021 = os.environ.get("HEADRANK_VISCY021")
    if not v021:
        raise SystemExit("HEADRANK_VISCY021 is not set: run make.sh")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=v021)
        p = subprocess.run([sys.executable, str(HERE / "make_viscy021_head.py"), tmp], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"make_viscy021_head.py failed: {p.stderr}")
        ckpt = Path(tmp) / "v0-viscy021-epoch=0-step=6.ckpt"
        (Path(tmp) / "v0.ckpt").rename(ckpt)
        out = HERE / "v0-viscy021.safetensors"
        p = subprocess.run([sys.executable, str(EXTRACT), str(ckpt), str(out)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"v0-viscy021: extract-head.py failed: {p.stderr}")
        x = torch.from_numpy(np.load(Path(tmp) / "input.npy"))
        y = torch.from_numpy(np.load(Path(tmp) / "running.npy"))
        write_f32(HERE / "input320.f32", x)
        files = {}
        for mode in ("running", "batch", "batch16"):  # no BatchNorm: the same in every mode
            files[mode] = f"ref/v0-viscy021-{mode}.f32"
            write_f32(HERE / files[mode], y)
        manifest["heads"].append(dict(
            id="v0-viscy021", spec=(Path(tmp) / "spec.txt").read_text(), prefix="model.projection.",
            source="inferred", activation="relu", arch="viscy-v0", presets=["viscy-v0"],
            why="viscy 0.2.1 ContrastiveModule(backbone='convnext_atto', embedding_len=8): "
                "V0, Linear 320->24, ReLU, Linear 24->8, then forward's F.normalize; nothing in "
                "the checkpoint says so",
            weights=out.name, out=int(y.shape[1]), refs=files, checkpoint=ckpt.name,
            input="input320.f32", n=int(x.shape[0]), d=int(x.shape[1])))
        print(f"v0-viscy021: {p.stderr.strip()}")

    # CELL-DINO + MLP head: the encoder's blocks must not be taken for heads
    from viscy_models.components.heads import MLP
    from viscy_models.foundation._dinov2_vit import DinoVisionTransformer
    from viscy_models.foundation.cell_dino import CellDinoModel

    torch.manual_seed(30)
    dino = CellDinoModel.__new__(CellDinoModel)  # __init__ wants the real ViT-L weights
    nn.Module.__init__(dino)
    dino.projection = MLP(16, HIDDEN, OUT, norm="ln", activation="gelu")
    dino.model = DinoVisionTransformer(patch_size=8, embed_dim=16, depth=2, num_heads=2,
                                       in_chans=1, channel_adaptive=True, img_size=32,
                                       init_values=1.0, block_chunks=2, num_register_tokens=0)
    dino.target_size, dino.freeze = (32, 32), True
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "cell-dino-epoch=0-step=0.ckpt"
        save_checkpoint(contrastive_module(dino), ckpt, None)
        tensors, _ = extract_head.load_checkpoint(str(ckpt))
        extract_head.write_safetensors(HERE / "cell-dino-all.safetensors", tensors,
                                       {"source": ckpt.name})
    manifest["encoder_heads"] = {"weights": "cell-dino-all.safetensors",
                                 "prefixes": ["model.projection.backbone."],
                                 "spec": true_spec(dino.projection.backbone)}
    manifest["all_heads"] = {"weights": "cross-modal-all.safetensors",
                             "prefixes": ["model.projection.backbone.",
                                          "auxiliary_heads.pairs.image_proj.backbone.",
                                          "auxiliary_heads.pairs.target_proj.backbone."]}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
