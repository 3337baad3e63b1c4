"""Rank while a model trains: headrank's diagnostics of a validation set, every epoch.

``HeadrankCallback`` is a PyTorch Lightning callback. At every validation batch it runs the
model on the batch as VisCy's ``OnlineEvalCallback`` does (``pl_module(batch["anchor"])``,
which for VisCy's ``ContrastiveModule`` returns ``(features, projections)``), and hands the
two float32 arrays to the library: the rows are gathered in a buffer of 4,096 rows, each
full buffer is analysed in a part (``Headrank.Analysis.run_part`` on a memory source over
it), and the parts are merged as they come, in a binary tree
(``Headrank.Analysis.merge_parts``), so that a rank holds the buffer and O(log B) parts of
O(D²) bytes, never its N × D embeddings. At the end of the
epoch every rank's part (its bytes) is all-gathered — O(D²) bytes per rank, not
N × D — and every rank merges them with ``Headrank.Analysis.new_from_parts`` into the
analysis of the whole validation set, whose report it logs with ``LightningModule.log_dict``
(identical values on every rank; ``sync_dist=True`` averages them, exactly). The numbers are those
``headrank analyze`` gives for the same embeddings (the test proves it under DDP); nothing
is computed here but conversions.

Logged, with the prefix (default ``headrank/``), for the stages ``features`` and
``projections``: ``rank``, ``effective_rank``, ``viscy_effective_rank`` (VisCy's
``effective_rank`` of ``online_eval.py``: the uncentred singular values),
``participation_ratio``, ``stable_rank``, ``samples``; for the projections also
``cka_with_features``, ``lightly_std`` and, of the L2-normalised projections
(``projections_normalized/``), ``rank`` and ``effective_rank``.

When the validation batches carry positives (VisCy's ``TripletSample``: ``batch["positive"]``
beside ``batch["anchor"]``), the model runs on them too and the positives' last rows
(the projections, or the features when the model gives no projections) are the positive of
each anchor, row by row, as ``headrank analyze --positives``: ``contrastive/alignment``,
``contrastive/uniformity``, ``contrastive/positive_cosine`` and ``contrastive/lidar`` are
logged. The in-batch measure (uniformity) is taken over the validation batches: a
validation batch is never cut between two parts and the contrastive batch is the validation
batch size (the first batch's rows unless ``pair_batch`` is given), so the numbers are
those of ``headrank analyze F -P Z --positives ZP --pair-batch B`` of the embeddings in
the order of the ranks when every rank's validation samples are a multiple of B
(doc/partial.md, "Pairs in parts").

torch and Lightning are imported only when ``HeadrankCallback`` is first used; the
reduction (``PartAccumulator``, ``reduce_parts``, ``metrics``) needs numpy and the typelib
only::

    from headrank_lightning import HeadrankCallback
    trainer = lightning.pytorch.Trainer(callbacks=[HeadrankCallback(every_n_epochs=1)], ...)

Per-sample tables are kept (16 bytes a sample and stage) and concatenated in the order of the
ranks, then of the batches; the spectra do not depend on the order.
"""
import numpy

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

import headrank_numpy as hn  # noqa: E402

__all__ = ['PartAccumulator', 'reduce_parts', 'metrics', 'HeadrankCallback', 'STAGE_MEASURES',
           'CONTRASTIVE_MEASURES']

#: the numbers logged of each stage with a spectrum, from its entry of report.json
STAGE_MEASURES = ('rank', 'effective_rank', 'viscy_effective_rank', 'participation_ratio',
                  'stable_rank', 'samples')
#: the numbers logged of the projections only
PROJECTION_MEASURES = ('cka_with_features', 'lightly_std')
#: the numbers logged of the L2-normalised projections
NORMALIZED_MEASURES = ('rank', 'effective_rank')
#: the numbers logged of the pairs (anchor, positive), when the batches carry positives
CONTRASTIVE_MEASURES = ('alignment', 'uniformity', 'positive_cosine', 'lidar')


def _has_merge_parts():
    return hasattr(Headrank.Analysis, 'merge_parts')


class PartAccumulator:
    """The part of one rank's samples, built batch by batch.

    add() copies a batch's rows into a buffer of @rows_per_part rows (the features' and the
    projections'; 4,096 rows: 14.7 MB at D = 768, P = 128); a full buffer is analysed in a
    part (Headrank.Analysis.run_part over a memory source that borrows it) and merged into
    the parts held as a binary counter: parts of 1, 2, 4, … buffers, two of one size merged
    into one of the next (Headrank.Analysis.merge_parts), so that at most ⌈log₂ B⌉ + 1 parts
    of O(D²) bytes are held after B buffers and each sample's table is copied log₂ B times.
    The buffer amortises what a part costs whatever its rows (writing, checksumming and
    reading O(D²) bytes: tests/bench/bench_lightning.py). Without merge_parts (a headrank
    before it) every buffer's part is held until part().

    With positives (add(..., positives=)), a batch is never cut between two buffers (a
    buffer is analysed early, or grows, to hold it whole) and the contrastive measures take
    batches of @pair_batch pairs (default: the rows of the first batch), with @temperature
    and @margin as ``headrank analyze``."""

    def __init__(self, rows_per_part=4096, pair_batch=None, temperature=0.2, margin=0.5):
        if rows_per_part < 1:
            raise ValueError('rows_per_part must be at least 1')
        if pair_batch is not None and pair_batch < 2:
            raise ValueError('pair_batch must be at least 2')
        self.rows_per_part = rows_per_part
        self.pair_batch = pair_batch
        self.temperature = temperature
        self.margin = margin
        self._levels = []  # [(level, GLib.Bytes)], levels decreasing
        self._buffers = None  # (features, projections or None, positives or None)
        self._filled = 0
        self.n_samples = 0
        self.n_batches = 0

    def add(self, features, projections=None, positives=None):
        """Adds a batch: @features an n × D array, @projections None or n × P, @positives
        None or the n rows of the positives of the last stage (n × P with projections, else
        n × D): row i the positive of sample i (copied into the buffer as float32)."""
        features = numpy.asarray(features)
        if features.ndim != 2:
            raise ValueError(f'features are n × D: got an array of shape {features.shape}')
        if projections is not None:
            projections = numpy.asarray(projections)
            if projections.ndim != 2 or projections.shape[0] != features.shape[0]:
                raise ValueError(f'projections of shape {projections.shape} for features of '
                                 f'shape {features.shape}')
        if positives is not None:
            positives = numpy.asarray(positives)
            last = projections if projections is not None else features
            if positives.shape != last.shape:
                raise ValueError(f'positives of shape {positives.shape} for anchors of '
                                 f'shape {last.shape}')
        if self._buffers is not None:
            fb, pb, qb = self._buffers
            if (features.shape[1] != fb.shape[1] or (projections is None) != (pb is None)
                    or (pb is not None and projections.shape[1] != pb.shape[1])
                    or (positives is None) != (qb is None)):
                raise ValueError('a batch of another shape than the batches before it')
        n = features.shape[0]
        if n == 0:
            return
        if positives is not None and self.pair_batch is None:
            self.pair_batch = max(2, n)
        rows = self.rows_per_part
        if positives is not None:
            # a batch whole in one part: analyse the buffer early, or make it larger
            capacity = len(self._buffers[0]) if self._buffers is not None else rows
            if self._filled + n > capacity:
                self._flush()
            rows = max(rows, n)
        if self._buffers is None or len(self._buffers[0]) < rows:
            self._buffers = tuple(
                None if a is None else numpy.empty((rows, a.shape[1]), numpy.float32)
                for a in (features, projections, positives))
        fb, pb, qb = self._buffers
        done = 0
        while done < n:
            take = min(n - done, len(fb) - self._filled)
            end = self._filled + take
            fb[self._filled:end] = features[done:done + take]
            if pb is not None:
                pb[self._filled:end] = projections[done:done + take]
            if qb is not None:
                qb[self._filled:end] = positives[done:done + take]
            self._filled = end
            done += take
            if self._filled == len(fb):
                self._flush()
        self.n_samples += n
        self.n_batches += 1

    def _flush(self):
        if self._filled == 0:
            return
        fb, pb, qb = self._buffers
        n, self._filled = self._filled, 0
        analysis = Headrank.Analysis.new_for_source(
            hn.source_from_numpy(fb[:n], name='features'))
        if pb is not None:
            analysis.set_projections_source(hn.source_from_numpy(pb[:n], name='projections'))
        if qb is not None:
            analysis.set_positives_source(hn.source_from_numpy(qb[:n], name='positives'))
            analysis.set_contrastive_parameters(self.pair_batch, self.temperature, self.margin)
        part = analysis.run_part(None, None, None)
        if not _has_merge_parts():
            self._levels.append((0, part))
            return
        level = 0
        while self._levels and self._levels[-1][0] == level:
            _, older = self._levels.pop()
            part = Headrank.Analysis.merge_parts([older, part], None)
            level += 1
        self._levels.append((level, part))

    @property
    def n_parts(self):
        """How many parts are held."""
        return len(self._levels)

    def part(self):
        """The part of every sample added, as bytes (to send anywhere), or None when none was
        (a list of bytes, one a buffer, without merge_parts)."""
        self._flush()
        parts = [p for _, p in self._levels]
        if not parts:
            return None
        if len(parts) > 1:
            if _has_merge_parts():
                merged = Headrank.Analysis.merge_parts(parts, None)
            else:  # a headrank without merge_parts: the analysis of the parts, at the end
                return [p.get_data() for p in parts]
            self._levels = [(self._levels[0][0] + 1, merged)]
            parts = [merged]
        return parts[0].get_data()


def reduce_parts(local, gather):
    """The analysis of every rank's samples: @local is this rank's part (bytes from
    PartAccumulator.part(), a list of them, or None for no samples) and @gather a callable
    that takes it and returns the list of every rank's, in rank order (all_gather_object
    under torch.distributed; [local] on one process). Returns the merged
    Headrank.Analysis, done (Headrank.Analysis.new_from_parts), or None when no rank had a
    sample. Raises GLib.Error when the parts disagree."""
    parts = []
    for item in gather(local):
        if item is None:
            continue
        for b in (item if isinstance(item, list) else [item]):
            parts.append(GLib.Bytes.new(b))
    if not parts:
        return None
    return Headrank.Analysis.new_from_parts(parts, None, None)


def metrics(analysis, prefix='headrank/'):
    """The numbers to log of a done Headrank.Analysis (or its report as a dict): a dict of
    float, named prefix + stage + '/' + measure. Measures the report leaves null (no
    spectrum, one sample) are left out."""
    report = analysis if isinstance(analysis, dict) else hn.report(analysis)
    out = {}

    def put(stage, entry, names):
        for name in names:
            value = entry.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f'{prefix}{stage}/{name}'] = float(value)

    if report.get('contrastive'):
        put('contrastive', report['contrastive'], CONTRASTIVE_MEASURES)
    for stage in report['stages']:
        if stage['role'] not in ('features', 'projections'):
            continue
        put(stage['name'], stage, STAGE_MEASURES)
        if stage['role'] == 'projections':
            put(stage['name'], stage, PROJECTION_MEASURES)
            if stage.get('normalized'):
                put(stage['name'] + '_normalized', stage['normalized'], NORMALIZED_MEASURES)
    return out


def _to_numpy(tensor):
    """A torch tensor (any device, any float dtype) as an n × D float32 numpy array."""
    t = tensor.detach()
    if t.dtype != _torch().float32:
        t = t.float()
    t = t.cpu()
    return t.reshape(t.shape[0], -1).numpy()


def _torch():
    import torch
    return torch


def _distributed_gather(obj):
    """all_gather_object over the default process group (the parts: O(D²) bytes each)."""
    dist = _torch().distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _default_embed(pl_module, batch, input_key):
    x = batch[input_key] if isinstance(batch, dict) else batch
    return pl_module(x)


def _split_output(out):
    """A model's (or @embed's) output as (features, projections): the first two of a tuple or
    list (projections None when it has one), else (the output, None)."""
    if isinstance(out, (tuple, list)):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None


_callback_class = None


def _make_callback_class():
    torch = _torch()
    try:
        from lightning.pytorch.callbacks import Callback
    except ImportError:  # the older package name
        from pytorch_lightning.callbacks import Callback

    class HeadrankCallback(Callback):
        """Logs headrank's diagnostics of the features and projections of the validation set
        at the end of every @every_n_epochs-th validation epoch (not in the sanity check).

        @input_key: the batch's entry given to the model ("anchor", as VisCy's
        OnlineEvalCallback; a batch that is not a dict is given whole). @embed: instead, a
        callable (pl_module, batch) → (features, projections) or features. @positive_key:
        the entry of the positives ("positive", as VisCy's TripletSample; None: no pairs):
        when a batch has it, the model (or @embed, given the batch with the positives in
        place of @input_key) runs on it and the contrastive measures are logged.
        @pair_batch: the pairs of a contrastive batch (default: the rows of the first
        validation batch), @temperature and @margin as ``headrank analyze``. @prefix: the
        logged names' prefix. @rows_per_part: the rows analysed in one part
        (PartAccumulator). @gather: the all-gather of the parts (default
        torch.distributed.all_gather_object when a process group is up). After each
        evaluation, ``last_report`` is the report.json of the merged analysis as a dict."""

        def __init__(self, every_n_epochs=1, input_key='anchor', embed=None, prefix='headrank/',
                     rows_per_part=4096, gather=None, positive_key='positive', pair_batch=None,
                     temperature=0.2, margin=0.5):
            super().__init__()
            self.positive_key = positive_key
            self.pair_batch = pair_batch
            self.temperature = temperature
            self.margin = margin
            if every_n_epochs < 1:
                raise ValueError('every_n_epochs must be at least 1')
            self.every_n_epochs = every_n_epochs
            self.input_key = input_key
            self.embed = embed
            self.prefix = prefix
            if rows_per_part < 1:
                raise ValueError('rows_per_part must be at least 1')
            self.rows_per_part = rows_per_part
            self.gather = gather or _distributed_gather
            self.last_report = None
            self._accumulator = None

        def _should_collect(self, trainer):
            return (not trainer.sanity_checking
                    and trainer.current_epoch % self.every_n_epochs == 0)

        def on_validation_epoch_start(self, trainer, pl_module):
            self._accumulator = (PartAccumulator(self.rows_per_part, self.pair_batch,
                                                 self.temperature, self.margin)
                                 if self._should_collect(trainer) else None)

        def _embed(self, pl_module, batch):
            with torch.no_grad():
                out = (self.embed(pl_module, batch) if self.embed is not None
                       else _default_embed(pl_module, batch, self.input_key))
            return _split_output(out)

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                    dataloader_idx=0):
            if self._accumulator is None:
                return
            features, projections = self._embed(pl_module, batch)
            positives = None
            if (self.positive_key is not None and isinstance(batch, dict)
                    and batch.get(self.positive_key) is not None):
                # the model (or @embed) on the batch with the positives in place of the anchors
                pf, pp = self._embed(pl_module,
                                     {**batch, self.input_key: batch[self.positive_key]})
                # the positives' rows of the last stage: projections, else features
                positives = _to_numpy(pf if projections is None or pp is None else pp)
            self._accumulator.add(_to_numpy(features),
                                  None if projections is None else _to_numpy(projections),
                                  positives)

        def on_validation_epoch_end(self, trainer, pl_module):
            accumulator, self._accumulator = self._accumulator, None
            if accumulator is None:
                return
            analysis = reduce_parts(accumulator.part(), self.gather)
            if analysis is None:
                return
            self.last_report = hn.report(analysis)
            values = metrics(self.last_report, self.prefix)
            if values:
                # every rank logs the same values: sync_dist averages identical numbers
                # (exact), as VisCy's OnlineEvalCallback does, and keeps every rank in step
                pl_module.log_dict(values, on_step=False, on_epoch=True, logger=True,
                                   sync_dist=True)

    return HeadrankCallback


def __getattr__(name):
    # HeadrankCallback is made, with torch and Lightning imported, when first asked for
    global _callback_class
    if name == 'HeadrankCallback':
        if _callback_class is None:
            _callback_class = _make_callback_class()
        return _callback_class
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
