#!/usr/bin/env python3
"""VisCy 0.2.1's V0 head, made with its own classes (run by make_viscy_heads.py).

    make_viscy021_head.py OUT_DIR

In a process of its own, with viscy 0.2.1 on the path (it is another `viscy` than the
0.4.1 the main script imports). viscy 0.2.1's ContrastiveModule builds its
ContrastiveEncoder, whose head is Sequential(Linear(F, 3·embedding_len), ReLU,
Linear(3·embedding_len, embedding_len)) and whose forward L2-normalises the projections
(F.normalize(p=2, dim=1)). Two things are changed for running here, nothing in the head:
timm.create_model is called with pretrained=False (0.2.1 hard-codes True; there is no model
hub here), and torchmetrics.functional.dice, which 0.2.1's engine imports and torchmetrics
has since removed, is stubbed (the contrastive code never calls it). The backbone is timm's
convnext_atto (num_features 320), embedding_len 8: a 320 → 24 → 8 head.

Writes to OUT_DIR: v0.ckpt (Trainer.save_checkpoint after 6 AdamW steps of the module's
triplet loss on the head), input.npy (16 × 320 features), running.npy (the head's output
as its forward computes it: F.normalize(projection(x)), in eval mode; there is no
BatchNorm, so batch statistics change nothing) and spec.txt (the head's spec from its
classes).
"""

import sys
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchmetrics.functional as tmf

warnings.filterwarnings("ignore")
if not hasattr(tmf, "dice"):
    tmf.dice = None

import timm  # noqa: E402

_create = timm.create_model


def _create_without_download(*args, **kwargs):
    kwargs["pretrained"] = False
    return _create(*args, **kwargs)


timm.create_model = _create_without_download

import lightning.pytorch as L  # noqa: E402
from viscy.light.engine import ContrastiveModule  # noqa: E402


def main():
    out = Path(sys.argv[1])
    torch.manual_seed(40)
    module = ContrastiveModule(backbone="convnext_atto", embedding_len=8, in_channels=1,
                               in_stack_depth=5, stem_kernel_size=(5, 4, 4),
                               example_input_yx_shape=(32, 32))
    head = module.model.projection
    g = torch.Generator().manual_seed(41)
    mix = torch.randn(6, 320, generator=g)

    def features(n):
        return torch.randn(n, 6, generator=g) @ mix * 0.5 + 0.3 * torch.randn(n, 320, generator=g)

    opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
    module.train()
    for _ in range(6):
        a = features(16)
        p = a + 0.1 * torch.randn(a.shape, generator=g)
        n = features(16)
        z = [F.normalize(head(t), p=2, dim=1) for t in (a, p, n)]
        loss = module.loss_function(*z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    module.eval()
    trainer = L.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu",
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(out / "v0.ckpt")
    x = features(16)
    with torch.no_grad():
        y = F.normalize(head(x), p=2, dim=1)  # as ContrastiveEncoder.forward does
    import numpy as np

    np.save(out / "input.npy", x.numpy())
    np.save(out / "running.npy", y.numpy())
    tokens = [f"linear:{m.out_features}" if isinstance(m, nn.Linear) else "relu" for m in head]
    (out / "spec.txt").write_text(",".join(tokens + ["l2"]))


if __name__ == "__main__":
    main()
