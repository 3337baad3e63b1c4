"""headrank_lightning: the reduction of parts across ranks (fake process groups, in CI) and
a real DDP run on CPU where torch and Lightning are installed."""
import contextlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'python'))
import headrank_numpy as hn  # noqa: E402
import headrank_lightning as hl  # noqa: E402


def _data(n, d=40, p=10, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, d)) * np.linspace(0.1, 5, d)).astype(np.float32)
    x[:, -3:] = x[:, :3] @ rng.normal(size=(3, 3))  # rank d − 3
    z = np.tanh(x[:, :p] @ rng.normal(size=(p, p))).astype(np.float32)
    return x, z


def _fake_ranks(x, z, sizes, batch_sizes, rows_per_part):
    """Each rank's part, accumulated batch by batch over its own rows, and a fake all_gather
    that returns every rank's (in rank order) for whichever rank calls it."""
    parts, first = [], 0
    for size, batch in zip(sizes, batch_sizes):
        acc = hl.PartAccumulator(rows_per_part)
        for i in range(first, first + size, batch):
            end = min(i + batch, first + size)
            acc.add(x[i:end], z[i:end])
        parts.append(acc.part())
        first += size
    return parts


def _assert_close(got, want, rel=1e-7):
    # the rank exactly; the others within 1e-7: the eigenvalues at rounding level of a
    # rank-deficient stage differ with the order of the sums (doc/partial.md, the bound)
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=rel, abs=1e-12), k


@pytest.mark.parametrize('fallback,rows_per_part', [(False, 50), (False, 4096), (True, 50)])
def test_three_fake_ranks_equal_one_pass(monkeypatch, fallback, rows_per_part):
    if fallback:  # a headrank without merge_parts: parts kept per batch, merged at the end
        monkeypatch.setattr(hl, '_has_merge_parts', lambda: False)
    x, z = _data(1000)
    sizes, batches = [400, 0, 600], [37, 8, 64]  # rank 1 has no sample
    parts = _fake_ranks(x, z, sizes, batches, rows_per_part)  # batches straddle buffers
    assert parts[1] is None
    one_pass = hl.metrics(hn.analyze(x, projections=z))
    for rank in range(3):
        calls = []

        def gather(local, rank=rank):
            calls.append(local)
            assert local is parts[rank]
            return list(parts)
        merged = hl.reduce_parts(parts[rank], gather)
        assert len(calls) == 1
        got = hl.metrics(merged)
        _assert_close(got, one_pass)
        for k in got:
            if k.endswith("/rank") or k.endswith("/samples"):
                assert got[k] == one_pass[k], k
        assert got['headrank/features/rank'] == 37
        assert got['headrank/features/samples'] == 1000
        assert 'headrank/projections/cka_with_features' in got
        assert 'headrank/projections_normalized/effective_rank' in got


def _one_pass_with_positives(x, z, zp, pair_batch):
    a = Headrank.Analysis.new_for_source(hn.source_from_numpy(x))
    a.set_projections_source(hn.source_from_numpy(z))
    a.set_positives_source(hn.source_from_numpy(zp))
    a.set_contrastive_parameters(pair_batch, 0.2, 0.5)
    assert a.run(None, None, None)
    return hl.metrics(a)


@pytest.mark.parametrize('rows_per_part', [10, 50, 4096])
def test_fake_ranks_with_positives_equal_one_pass(rows_per_part):
    """Validation batches of 32 anchors and their positives on three fake ranks (one
    without samples): the logged alignment, uniformity, positive cosine and LiDAR are those
    of one pass with --positives and --pair-batch 32 (a buffer of 10 rows grows to a batch,
    one of 50 is analysed before the batch that does not fit)."""
    x, z = _data(960)
    zp = (z + 0.3 * np.random.default_rng(5).normal(size=z.shape)).astype(np.float32)
    sizes, batch, parts, first = [320, 0, 640], 32, [], 0
    for size in sizes:
        acc = hl.PartAccumulator(rows_per_part)
        for i in range(first, first + size, batch):
            acc.add(x[i:i + batch], z[i:i + batch], zp[i:i + batch])
        assert acc.pair_batch == (batch if size else None)
        parts.append(acc.part())
        first += size
    got = hl.metrics(hl.reduce_parts(parts[0], lambda local: list(parts)))
    want = _one_pass_with_positives(x, z, zp, batch)
    _assert_close(got, want)
    for key in ('alignment', 'uniformity', 'positive_cosine', 'lidar'):
        assert got[f'headrank/contrastive/{key}'] == pytest.approx(
            want[f'headrank/contrastive/{key}'], rel=1e-12), key
    # another pair batch is another number: the in-batch uniformity sees the batches
    other = _one_pass_with_positives(x, z, zp, 64)
    assert other['headrank/contrastive/uniformity'] != pytest.approx(
        want['headrank/contrastive/uniformity'], rel=1e-9)
    assert other['headrank/contrastive/alignment'] == pytest.approx(
        want['headrank/contrastive/alignment'], rel=1e-12)


class _FakeTensor:
    """What _to_numpy uses of a torch tensor, over a numpy array."""

    def __init__(self, a):
        self.a = np.asarray(a)
        self.shape = self.a.shape
        self.dtype = 'float32' if self.a.dtype == np.float32 else str(self.a.dtype)

    def detach(self):
        return self

    def float(self):
        return _FakeTensor(self.a.astype(np.float32))

    def cpu(self):
        return self

    def reshape(self, *shape):
        return _FakeTensor(self.a.reshape(*shape))

    def numpy(self):
        return self.a


def _fake_torch_and_lightning(monkeypatch):
    """Fake torch and lightning modules, enough for HeadrankCallback to be made and run."""
    torch = types.ModuleType('torch')
    torch.float32 = 'float32'
    torch.no_grad = contextlib.nullcontext
    callbacks = types.ModuleType('lightning.pytorch.callbacks')
    callbacks.Callback = type('Callback', (), {})
    for name, module in (('torch', torch), ('lightning', types.ModuleType('lightning')),
                         ('lightning.pytorch', types.ModuleType('lightning.pytorch')),
                         ('lightning.pytorch.callbacks', callbacks)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(hl, '_callback_class', None)  # made again with the fakes


@pytest.mark.parametrize('with_embed', [False, True])
def test_callback_positives_from_the_anchors_output(monkeypatch, with_embed):
    """A model that returns (features, projections, a third output of the projections'
    width): the positives' rows are the projections (its second output) of the positives,
    as the anchors' are, not its last output; the logged numbers are those of one pass with
    --positives."""
    _fake_torch_and_lightning(monkeypatch)
    rng = np.random.default_rng(7)
    x, _ = _data(96)
    xp = (x + 0.2 * rng.normal(size=x.shape)).astype(np.float32)
    w, w3 = rng.normal(size=(2, 10, 6))
    seen = []

    class Model:
        def __call__(self, t):
            seen.append(t.a)
            return (t, _FakeTensor(np.tanh(t.a[:, :10] @ w).astype(np.float32)),
                    _FakeTensor(np.tanh(t.a[:, :10] @ w3).astype(np.float32)))

        def log_dict(self, values, **kwargs):
            logged.update(values)
    logged = {}
    embed = (lambda module, batch: module(batch['anchor'])) if with_embed else None
    callback = hl.HeadrankCallback(embed=embed, gather=lambda local: [local])
    trainer = types.SimpleNamespace(sanity_checking=False, current_epoch=0)
    model = Model()
    callback.on_validation_epoch_start(trainer, model)
    for i in range(0, 96, 16):
        batch = {'anchor': _FakeTensor(x[i:i + 16]), 'positive': _FakeTensor(xp[i:i + 16])}
        callback.on_validation_batch_end(trainer, model, None, batch, i // 16)
    callback.on_validation_epoch_end(trainer, model)
    assert len(seen) == 12  # anchors, then positives, each batch
    assert all(np.array_equal(a, x[i:i + 16]) for a, i in zip(seen[::2], range(0, 96, 16)))
    assert all(np.array_equal(a, xp[i:i + 16]) for a, i in zip(seen[1::2], range(0, 96, 16)))
    z, zp = (np.tanh(a[:, :10] @ w).astype(np.float32) for a in (x, xp))
    want = _one_pass_with_positives(x, z, zp, 16)
    _assert_close(hl.metrics(callback.last_report), want)
    assert logged == hl.metrics(callback.last_report)
    for key in ('alignment', 'positive_cosine'):  # the third output's would differ
        assert logged[f'headrank/contrastive/{key}'] == pytest.approx(
            want[f'headrank/contrastive/{key}'], rel=1e-12), key


def test_positives_in_every_batch_or_none():
    x, z = _data(40)
    acc = hl.PartAccumulator()
    acc.add(x[:20], z[:20], z[:20])
    with pytest.raises(ValueError):
        acc.add(x[20:], z[20:])
    with pytest.raises(ValueError):
        acc.add(x[20:], z[20:], x[20:])  # the positives of the last stage: projections
    with pytest.raises(ValueError):
        hl.PartAccumulator(pair_batch=1)


def test_binary_counter_holds_few_parts():
    x, z = _data(300, d=8, p=4)
    acc = hl.PartAccumulator(rows_per_part=3)
    held = []
    for i in range(0, 300, 3):  # 100 batches
        acc.add(x[i:i + 3], z[i:i + 3])
        held.append(acc.n_parts)
    assert acc.n_batches == 100 and acc.n_samples == 300
    assert max(held) <= 7  # ⌈log₂ 100⌉ + 1 = 8, popcount ≤ 6
    assert held[-1] == bin(100).count('1')  # a part of 3 rows each batch, merged
    report = hn.report(hl.reduce_parts(acc.part(), lambda b: [b]))
    assert report['stages'][0]['samples'] == 300


def test_no_sample_anywhere_and_empty_batches():
    acc = hl.PartAccumulator()
    acc.add(np.zeros((0, 5), np.float32), np.zeros((0, 2), np.float32))
    assert acc.part() is None
    assert hl.reduce_parts(None, lambda b: [b, None]) is None


def test_ranks_that_disagree_are_refused():
    a = hl.PartAccumulator()
    a.add(*_data(50, d=8, p=4))
    b = hl.PartAccumulator()
    b.add(*_data(50, d=9, p=4))
    with pytest.raises(GLib.Error) as e:
        hl.reduce_parts(a.part(), lambda local: [local, b.part()])
    assert e.value.matches(Headrank.part_error_quark(), int(Headrank.PartError.MISMATCH))


def test_bad_shapes():
    with pytest.raises(ValueError):
        hl.PartAccumulator(0)
    acc = hl.PartAccumulator()
    with pytest.raises(ValueError):
        acc.add(np.zeros(5, np.float32))
    with pytest.raises(ValueError):
        acc.add(np.zeros((5, 3), np.float32), np.zeros((4, 2), np.float32))
    acc.add(np.ones((5, 3), np.float32), np.ones((5, 2), np.float32))
    for features, projections in [(np.ones((5, 4)), np.ones((5, 2))), (np.ones((5, 3)), None),
                                  (np.ones((5, 3)), np.ones((5, 1)))]:
        with pytest.raises(ValueError):
            acc.add(features, projections)


def test_module_imports_no_torch():
    code = ('import sys; sys.path.insert(0, %r); import headrank_lightning; '
            'assert "torch" not in sys.modules and "lightning" not in sys.modules; print("ok")'
            % str(ROOT / 'python'))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'ok'


def _torch_python(modules='torch, lightning, gi'):
    """An interpreter with torch, Lightning and PyGObject (and @modules): HEADRANK_TORCH_PYTHON,
    else this one; None when it has not all of them."""
    python = os.environ.get('HEADRANK_TORCH_PYTHON', sys.executable)
    if not Path(python).exists():
        return None, f'HEADRANK_TORCH_PYTHON={python} does not exist'
    probe = subprocess.run([python, '-c', f'import {modules}'], capture_output=True, text=True)
    if probe.returncode != 0:
        return None, (f'{python} lacks one of {modules} (set HEADRANK_TORCH_PYTHON '
                      'to an interpreter that has them): '
                      + probe.stderr.strip().splitlines()[-1])
    return python, None


@pytest.mark.parametrize('kind,modules,dims', [
    ('tiny', 'torch, lightning, gi', (24, 6)),
    ('viscy', 'torch, lightning, gi, timm, viscy_models', (768, 16)),
])
def test_real_ddp_logs_what_offline_analyze_gives(tmp_path, kind, modules, dims):
    """2 DDP processes on CPU (gloo), validation batches of 16 anchors and positives, 48
    samples a rank: the logged numbers, the contrastive ones included, are those of one
    `headrank analyze F -P Z --positives ZP --pair-batch 16` of the saved embeddings. With
    `viscy`, the model is VisCy's ContrastiveEncoder trained with VisCy's NTXentLoss."""
    python, why = _torch_python(modules)
    if python is None:
        pytest.skip(why)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT / 'python'), env.get('PYTHONPATH', '')])
    env.pop('MALLOC_CHECK_', None)
    run = subprocess.run([python, str(Path(__file__).with_name('lightning_ddp_run.py')),
                          str(tmp_path), kind], env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads((tmp_path / 'logged.json').read_text())
    assert out['world_size'] == 2
    logged = {}
    for entry in out['logged']:
        if 'epoch' in entry and 'headrank/features/rank' in entry:
            logged[int(entry['epoch'])] = entry
    assert sorted(logged) == [0, 1]
    for epoch, values in logged.items():
        x, z, zp = (np.concatenate([np.load(tmp_path / f'{what}-{epoch}-{r}.npy') for r in (0, 1)])
                    for what in ('features', 'projections', 'positives'))
        assert x.shape == (96, dims[0]) and z.shape == zp.shape == (96, dims[1])
        offline = _one_pass_with_positives(x, z, zp, 16)
        got = {k: v for k, v in values.items() if k.startswith('headrank/')}
        assert 'headrank/contrastive/uniformity' in got
        # features wider than the samples (768 > 96): one pass keeps their rows and gives
        # CKA from them, parts from their scatter matrices and cross-moments: the same
        _assert_close(got, offline, rel=1e-6)  # Lightning logs float32
        if epoch == 1:  # the callback's own report (float64) of the last epoch
            _assert_close(hl.metrics(out['last_report']), offline, rel=1e-7)
    # and the command on the same embeddings
    tool = os.environ.get('HEADRANK_TOOL')
    if tool:
        import tifffile
        for name, a in (('f', x), ('p', z), ('q', zp)):
            tifffile.imwrite(tmp_path / f'{name}.tif', a)
        subprocess.run([tool, 'analyze', str(tmp_path / 'f.tif'), '--projections',
                        str(tmp_path / 'p.tif'), '--positives', str(tmp_path / 'q.tif'),
                        '--pair-batch', '16', '-o', str(tmp_path / 'report')], check=True,
                       capture_output=True)
        report = json.loads((tmp_path / 'report' / 'report.json').read_text())
        _assert_close(hl.metrics(out['last_report']), hl.metrics(report), rel=1e-7)
