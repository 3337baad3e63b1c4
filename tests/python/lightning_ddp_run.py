"""A real DDP run of headrank_lightning.HeadrankCallback on CPU (gloo, 2 processes), for
tests/python/test_lightning.py: a model whose forward returns (features, projections)
trained for 2 epochs on random data whose validation batches carry positives (VisCy's
TripletSample: "anchor" and "positive"); every rank saves the embeddings the callback
analysed (the anchors' features and projections, the positives' projections), rank 0 what
was logged and the callback's last report.

    python lightning_ddp_run.py OUTDIR [tiny|viscy]   (needs torch, lightning, PyGObject, the
                                                       typelib; viscy: viscy-models and timm)

tiny: a small MLP. viscy: VisCy's own ContrastiveEncoder (viscy_models.contrastive, a
ConvNeXt-tiny backbone without pretrained weights, its projection head Linear → BatchNorm1d
→ ReLU → Linear → BatchNorm1d) trained with VisCy's NTXentLoss on 1 × 5 × 32 × 32 stacks.
"""
import json
import os
import sys

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import Logger
from torch.utils.data import DataLoader, Dataset

import headrank_lightning as hl

N, D_IN, D_FEAT, D_PROJ, BATCH = 96, 12, 24, 6, 16
SHAPE = (1, 5, 32, 32)  # VisCy: channels, Z, Y, X


class Cells(Dataset):
    """TripletSample-like items: an anchor and its positive (the anchor, perturbed)."""

    def __init__(self, seed, shape):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(N, *shape, generator=g)
        self.p = self.x + 0.3 * torch.randn(N, *shape, generator=g)

    def __len__(self):
        return N

    def __getitem__(self, i):
        return {'anchor': self.x[i], 'positive': self.p[i], 'index': i}


class Tiny(LightningModule):
    """forward → (features, projections), as VisCy's ContrastiveModule."""

    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Sequential(torch.nn.Linear(D_IN, D_FEAT), torch.nn.ReLU())
        self.projection = torch.nn.Sequential(torch.nn.Linear(D_FEAT, D_FEAT), torch.nn.ReLU(),
                                              torch.nn.Linear(D_FEAT, D_PROJ))

    def forward(self, x):
        f = self.backbone(x)
        return f, self.projection(f)

    def loss(self, batch):
        _, p = self(batch['anchor'])
        return (p ** 2).mean()

    def training_step(self, batch, batch_idx):
        return self.loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log('val_loss', self.loss(batch), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Viscy(Tiny):
    """VisCy's ContrastiveEncoder and NT-Xent loss."""

    def __init__(self):
        LightningModule.__init__(self)
        from viscy_models.contrastive.encoder import ContrastiveEncoder
        from viscy_models.contrastive.loss import NTXentLoss

        self.model = ContrastiveEncoder(backbone='convnext_tiny', in_channels=SHAPE[0],
                                        in_stack_depth=SHAPE[1], stem_kernel_size=(5, 4, 4),
                                        stem_stride=(5, 4, 4), embedding_dim=768,
                                        projection_dim=16, pretrained=False)
        self.criterion = NTXentLoss(temperature=0.5)

    def forward(self, x):
        return self.model(x)

    def loss(self, batch):
        _, a = self(batch['anchor'])
        _, p = self(batch['positive'])
        labels = torch.arange(a.shape[0], device=a.device)
        return self.criterion(torch.cat([a, p]), torch.cat([labels, labels]))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-4)


class Capture(Logger):
    """Keeps every logged dict (on rank 0: Lightning's loggers log there only)."""

    def __init__(self):
        super().__init__()
        self.logged = []

    @property
    def name(self):
        return 'capture'

    @property
    def version(self):
        return 0

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.logged.append({k: float(v) for k, v in metrics.items()})


def main(outdir, kind='tiny'):
    torch.manual_seed(0)
    seen = {}  # epoch → [(features, projections)] of this rank, anchors then positives

    def embed(module, batch):
        f, p = module(batch['anchor'])
        seen.setdefault(module.current_epoch, []).append(
            (f.detach().cpu().numpy().copy(), p.detach().cpu().numpy().copy()))
        return f, p

    model, shape = (Viscy(), SHAPE) if kind == 'viscy' else (Tiny(), (D_IN,))
    callback = hl.HeadrankCallback(every_n_epochs=1, embed=embed)
    capture = Capture()
    trainer = Trainer(accelerator='cpu', devices=2, strategy='ddp', max_epochs=2,
                      logger=capture, callbacks=[callback], enable_progress_bar=False,
                      enable_checkpointing=False, enable_model_summary=False,
                      num_sanity_val_steps=0, log_every_n_steps=1)
    trainer.fit(model, DataLoader(Cells(1, shape), batch_size=BATCH),
                DataLoader(Cells(2, shape), batch_size=BATCH))
    rank = trainer.global_rank
    for epoch, calls in seen.items():
        anchors, positives = calls[0::2], calls[1::2]  # the callback embeds both, in turn
        np.save(os.path.join(outdir, f'features-{epoch}-{rank}.npy'),
                np.concatenate([b[0] for b in anchors]))
        np.save(os.path.join(outdir, f'projections-{epoch}-{rank}.npy'),
                np.concatenate([b[1] for b in anchors]))
        np.save(os.path.join(outdir, f'positives-{epoch}-{rank}.npy'),
                np.concatenate([b[1] for b in positives]))
    if rank == 0:
        with open(os.path.join(outdir, 'logged.json'), 'w') as f:
            json.dump({'logged': capture.logged, 'world_size': trainer.world_size,
                       'last_report': callback.last_report}, f)


if __name__ == '__main__':
    main(*sys.argv[1:])
