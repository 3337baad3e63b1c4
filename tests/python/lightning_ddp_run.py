"""A real DDP run of headrank_lightning.HeadrankCallback on CPU (gloo, 2 processes), for
tests/python/test_lightning.py: a tiny VisCy-like model (forward returns (features,
projections)) trained for 2 epochs on random data; every rank saves the embeddings the
callback analysed, rank 0 what was logged and the callback's last report.

    python lightning_ddp_run.py OUTDIR        (needs torch, lightning, PyGObject, the typelib)
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


class Cells(Dataset):
    def __init__(self, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(N, D_IN, generator=g)

    def __len__(self):
        return N

    def __getitem__(self, i):
        return {'anchor': self.x[i], 'index': i}


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

    def training_step(self, batch, batch_idx):
        _, p = self(batch['anchor'])
        return (p ** 2).mean()

    def validation_step(self, batch, batch_idx):
        _, p = self(batch['anchor'])
        self.log('val_loss', (p ** 2).mean(), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


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


def main(outdir):
    torch.manual_seed(0)
    seen = {}  # epoch → [(features, projections)] of this rank, as the callback got them

    def embed(module, batch):
        f, p = module(batch['anchor'])
        seen.setdefault(module.current_epoch, []).append(
            (f.detach().cpu().numpy().copy(), p.detach().cpu().numpy().copy()))
        return f, p

    callback = hl.HeadrankCallback(every_n_epochs=1, embed=embed)
    capture = Capture()
    trainer = Trainer(accelerator='cpu', devices=2, strategy='ddp', max_epochs=2,
                      logger=capture, callbacks=[callback], enable_progress_bar=False,
                      enable_checkpointing=False, enable_model_summary=False,
                      num_sanity_val_steps=0, log_every_n_steps=1)
    trainer.fit(Tiny(), DataLoader(Cells(1), batch_size=BATCH),
                DataLoader(Cells(2), batch_size=BATCH))
    rank = trainer.global_rank
    for epoch, batches in seen.items():
        np.save(os.path.join(outdir, f'features-{epoch}-{rank}.npy'),
                np.concatenate([b[0] for b in batches]))
        np.save(os.path.join(outdir, f'projections-{epoch}-{rank}.npy'),
                np.concatenate([b[1] for b in batches]))
    if rank == 0:
        with open(os.path.join(outdir, 'logged.json'), 'w') as f:
            json.dump({'logged': capture.logged, 'world_size': trainer.world_size,
                       'last_report': callback.last_report}, f)


if __name__ == '__main__':
    main(sys.argv[1])
