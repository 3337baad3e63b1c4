# Projection heads through GObject-Introspection: Headrank.Head.
#
# Table-driven over tests/data/heads/manifest.json (see make_heads.py there), for a
# subset of the heads: every stage of Head.forward_stages() and the projections of
# Head.forward() and Head.project() must match torch's outputs, stored as raw
# little-endian float32 next to the fixtures (numpy only: torch is not needed to run the
# tests), in eval mode and in training mode (whole input as one batch, and batches of
# 64); heads built by hand with append_*() from GLib.Bytes must do the same; every bad
# head must raise GLib.Error in the manifest's domain with its code.
#
# Run: meson test -C build --suite python, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_head.py
import json
import os
from pathlib import Path

import numpy as np
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402


def heads_dir():
    srcdir = os.environ.get('G_TEST_SRCDIR')
    if srcdir and (Path(srcdir) / 'data' / 'heads').is_dir():
        return Path(srcdir) / 'data' / 'heads'
    return Path(__file__).resolve().parent.parent / 'data' / 'heads'


HEADS = heads_dir()
MANIFEST = json.loads((HEADS / 'manifest.json').read_text())
TOL = MANIFEST['tolerance']
MODES = MANIFEST['modes']
BY_ID = {h['id']: h for h in MANIFEST['heads']}
# V0 (L2), issue 139 (no Linear bias), V2 from a checkpoint, V2 in BF16, the LayerNorm
# MLP, the GELU/SiLU spec and the 768-wide head: every layer kind and both weight paths.
SUBSET = ['viscy-v0-bare', 'issue139', 'viscy-v2-checkpoint', 'viscy-v2-lightning-bf16',
          'viscy-mlp-ln', 'spec-gelu-silu', 'viscy-v2-768-f16']
DOMAINS = {'head': 'hr-head-error-quark', 'tensor': 'hr-tensor-error-quark',
           'gio': 'g-io-error-quark'}


def f32(relative, shape):
    return np.fromfile(HEADS / relative, dtype='<f4').reshape(shape)


def as_array(stack):
    data = stack.get_data().get_data()
    return np.frombuffer(data, np.float32).reshape(stack.get_n_samples(),
                                                  stack.get_n_features())


def stack_of(x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    return Headrank.FeatureStack.new_from_bytes(GLib.Bytes.new(x.tobytes()), *x.shape)


def assert_close(what, got, ref):
    assert got.shape == ref.shape, what
    excess = np.abs(got.astype(np.float64) - ref) - (TOL['abs'] + TOL['rel'] * np.abs(ref))
    excess[np.isnan(excess)] = np.inf
    if (excess > 0).any():
        i, j = np.unravel_index(np.argmax(excess), excess.shape)
        pytest.fail(f'{what}: {(excess > 0).sum()} of {excess.size} values beyond '
                    f'{TOL["abs"]} + {TOL["rel"]}|ref|; worst at sample {i}, feature {j}: '
                    f'got {got[i, j]!r}, expected {ref[i, j]!r}')


def norm_mode(mode):
    return Headrank.NormMode.RUNNING if mode['mode'] == 'running' else Headrank.NormMode.BATCH


def batch_size(head, mode):
    return head['batch_size_small'] if mode['id'] == 'batch64' else mode['batch_size']


def load(head, arch='manifest', prefix='manifest'):
    return Headrank.Head.new_from_file(
        str(HEADS / head['weights']),
        head['arch'] if arch == 'manifest' else arch,
        head['prefix'] if prefix == 'manifest' else prefix, None)


def kind(nick):
    return getattr(Headrank.LayerKind, nick.upper().replace('-', '_'))


def check_layers(h, head):
    layers = head['layers']
    assert h.get_n_layers() == len(layers)
    for i, l in enumerate(layers):
        assert h.get_layer_kind(i) == kind(l['kind']), (i, l)
        if l['name'] is not None:
            assert h.get_layer_name(i) == l['name']
        assert h.get_layer_in_features(i) == l['in']
        assert h.get_layer_out_features(i) == l['out']
        if l['kind'] == 'linear':
            assert h.get_layer_has_bias(i) == l['bias']
    assert h.get_in_features() == head['d']
    assert h.get_out_features() == layers[-1]['out']


def forward_stages(h, x, mode, size):
    """Every stage, the input cut into batches of @size samples (0: one batch)."""
    size = size or x.shape[0]
    parts = []
    for start in range(0, x.shape[0], size):
        stages = h.forward_stages(stack_of(x[start:start + size]), mode, None)
        assert len(stages) == h.get_n_layers()
        parts.append([as_array(s).copy() for s in stages])
    return [np.concatenate([p[s] for p in parts]) for s in range(len(parts[0]))]


def compare_stages(what, head, got, mode_id):
    assert len(got) == len(head['stages'])
    for i, (g, s) in enumerate(zip(got, head['stages'])):
        assert_close(f'{what}, {mode_id}, stage {i} ({s["kind"]} {s["name"]})', g,
                     f32(s['files'][mode_id], s['shape']))


@pytest.mark.parametrize('head_id', SUBSET)
def test_load(head_id):
    head = BY_ID[head_id]
    check_layers(load(head), head)
    check_layers(load(head, prefix=None), head)
    if head['inferable']:
        check_layers(load(head, arch=None, prefix=None), head)
    h = load(head)
    assert Path(head['weights']).name in h.get_source()
    assert h.describe()
    assert h.find_stage('projections') == h.get_n_layers() - 1
    for i in range(h.get_n_layers()):
        assert h.find_stage(h.get_layer_name(i)) == i


HEAD_KEYS = {'file', 'prefix', 'in_features', 'out_features', 'architecture', 'layers',
             'description'}


@pytest.mark.parametrize('head_id', SUBSET)
def test_to_json(head_id):
    """Head.to_json(): the one schema of a head (doc/json.md), the same as `headrank head
    describe --json` prints and report.json's head holds."""
    head = BY_ID[head_id]
    h = load(head)
    j = json.loads(h.to_json(False))
    assert set(j) == HEAD_KEYS
    assert (j['file'], j['prefix']) == (str(HEADS / head['weights']), head['prefix'])
    assert (j['in_features'], j['out_features']) == (head['d'], head['layers'][-1]['out'])
    assert [(l['kind'], l['in_features'], l['out_features']) for l in j['layers']] == [
        (l['kind'], l['in'], l['out']) for l in head['layers']]
    assert [l['bias'] for l in j['layers']] == [h.get_layer_has_bias(i)
                                                for i in range(h.get_n_layers())]
    assert j['architecture']['from'] == h.get_arch_source().value_nick
    assert j['architecture']['spec'] == h.get_spec()
    assert j['description'] == h.get_source()
    assert json.loads(h.to_json(True)) == j


def test_to_json_of_a_head_built_by_hand():
    h = Headrank.Head.new()
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    h.append_linear('fc', 4, 3, GLib.Bytes.new(w.tobytes()), None)
    h.append_activation('act', Headrank.LayerKind.LEAKY_RELU)
    j = json.loads(h.to_json(False))
    assert set(j) == HEAD_KEYS
    assert (j['file'], j['prefix'], j['description']) == (None, None, None)
    assert (j['in_features'], j['out_features']) == (4, 3)
    assert j['architecture']['from'] == 'built'
    assert j['layers'] == [
        {'name': 'fc', 'kind': 'linear', 'in_features': 4, 'out_features': 3, 'bias': False},
        {'name': 'act', 'kind': 'leaky-relu', 'in_features': 3, 'out_features': 3,
         'bias': False, 'negative_slope': 0.01}]


@pytest.mark.parametrize('mode', MODES, ids=lambda m: m['id'])
@pytest.mark.parametrize('head_id', SUBSET)
def test_forward(head_id, mode):
    head = BY_ID[head_id]
    h = load(head)
    x = f32(head['input'], (head['n'], head['d']))
    size = batch_size(head, mode)
    compare_stages(head_id, head, forward_stages(h, x, norm_mode(mode), size), mode['id'])
    if size == 0:
        last = head['stages'][-1]
        out = h.forward(stack_of(x), norm_mode(mode), None)
        assert_close(f'{head_id}, {mode["id"]}, forward', as_array(out),
                     f32(last['files'][mode['id']], last['shape']))


@pytest.mark.parametrize('mode', MODES, ids=lambda m: m['id'])
@pytest.mark.parametrize('head_id', ['issue139', 'spec-gelu-silu'])
def test_project(head_id, mode, tmp_path):
    head = BY_ID[head_id]
    h = load(head)
    last = head['stages'][-1]
    reader = Headrank.StackReader.new(str(HEADS / head['input_tif']),
                                      Headrank.StackLayout.MATRIX, None)
    out = tmp_path / 'projections.tif'
    writer = Headrank.StackWriter.new(str(out), Headrank.StackLayout.MATRIX, head['n'],
                                      last['shape'][1], None)
    fractions = []
    assert h.project(reader, writer, norm_mode(mode), batch_size(head, mode), -1,
                     lambda f, *_: fractions.append(f), None, None)
    assert fractions and fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    back = Headrank.FeatureStack.new_from_file(str(out), Headrank.StackLayout.MATRIX, None)
    assert_close(f'{head_id}, {mode["id"]}, project', as_array(back),
                 f32(last['files'][mode['id']], last['shape']))


@pytest.mark.parametrize('head_id', [h['id'] for h in MANIFEST['heads'] if 'raw' in h])
def test_append(head_id):
    """The head built by hand from its raw parameters, passed as GLib.Bytes."""
    head = BY_ID[head_id]
    raw = head['raw']

    def param(layer, name):
        entry = raw.get(f'{layer}.{name}')
        if entry is None:
            return None
        return GLib.Bytes.new(f32(entry['file'], entry['shape']).tobytes())

    h = Headrank.Head.new()
    for l in head['layers']:
        name, k = l['name'], l['kind']
        if k == 'linear':
            h.append_linear(name, l['in'], l['out'], param(name, 'weight'), param(name, 'bias'))
        elif k == 'bn':
            h.append_batch_norm(name, l['in'], param(name, 'weight'), param(name, 'bias'),
                                param(name, 'running_mean'), param(name, 'running_var'), 1e-5)
        elif k == 'ln':
            h.append_layer_norm(name, l['in'], param(name, 'weight'), param(name, 'bias'), 1e-5)
        else:
            h.append_activation(name, kind(k))
    check_layers(h, head)
    x = f32(head['input'], (head['n'], head['d']))
    for mode in MODES:
        got = forward_stages(h, x, norm_mode(mode), batch_size(head, mode))
        compare_stages(f'{head_id} by hand', head, got, mode['id'])


def test_append_errors():
    h = Headrank.Head.new()
    with pytest.raises(GLib.Error) as e:
        h.append_activation(None, Headrank.LayerKind.RELU)
    assert e.value.domain == DOMAINS['head']
    assert e.value.code == Headrank.HeadError.SPEC
    w = GLib.Bytes.new(np.arange(6, dtype=np.float32).tobytes())
    with pytest.raises(GLib.Error) as e:
        h.append_linear('0', 2, 4, w, None)
    assert e.value.domain == DOMAINS['head']
    assert e.value.code == Headrank.HeadError.WEIGHTS
    bad = np.arange(6, dtype=np.float32)
    bad[4] = np.inf
    with pytest.raises(GLib.Error) as e:
        h.append_linear('0', 2, 3, GLib.Bytes.new(bad.tobytes()), None)
    assert e.value.code == Headrank.HeadError.NON_FINITE
    assert h.append_linear('0', 2, 3, w, None)
    with pytest.raises(GLib.Error) as e:
        h.append_linear('1', 2, 3, w, None)
    assert e.value.code == Headrank.HeadError.SHAPE
    assert h.get_n_layers() == 1


def test_input_errors():
    head = BY_ID['viscy-v2-lightning']
    h = load(head)
    x = f32(head['input'], (head['n'], head['d']))
    for mode in (Headrank.NormMode.RUNNING, Headrank.NormMode.BATCH):
        with pytest.raises(GLib.Error) as e:
            h.forward(stack_of(x[:, :-1]), mode, None)
        assert e.value.domain == DOMAINS['head']
        assert e.value.code == Headrank.HeadError.SHAPE
        y = x.copy()
        y[3, 4] = np.nan
        with pytest.raises(GLib.Error) as e:
            h.forward_stages(stack_of(y), mode, None)
        assert e.value.domain == DOMAINS['head']
        assert e.value.code == Headrank.HeadError.NON_FINITE


def test_presets():
    presets = Headrank.Head.list_presets()
    assert sorted(presets) == sorted(['viscy-v0', 'issue139', 'viscy-v2', 'viscy-resnet3d',
                                      'viscy-mlp-ln', 'viscy-mlp-bn-relu', 'viscy-mlp-bn-gelu',
                                      'viscy-mlp-bn-silu', 'viscy-mlp-ln-relu',
                                      'viscy-mlp-ln-gelu', 'viscy-mlp-ln-silu',
                                      'viscy-cross-modal'])
    for p in presets:
        assert Headrank.Head.get_preset_spec(p)
    assert Headrank.Head.get_preset_spec('no-such-preset') is None


@pytest.mark.parametrize('entry', MANIFEST['bad'],
                         ids=lambda e: f'{Path(e["file"]).name}-{e["arch"] or "inferred"}')
def test_bad(entry):
    with pytest.raises(GLib.Error) as e:
        Headrank.Head.new_from_file(str(HEADS / entry['file']), entry['arch'], entry['prefix'],
                                    None)
    err = e.value
    enum = {'head': Headrank.HeadError, 'tensor': Headrank.TensorError,
            'gio': Gio.IOErrorEnum}[entry['domain']]
    assert (err.domain, err.code) == (DOMAINS[entry['domain']],
                                      int(getattr(enum, entry['code'].upper()
                                                  .replace('-', '_')))), err.message
    if entry['names_file']:
        assert Path(entry['file']).name in err.message
    for s in entry['message_contains']:
        assert s in err.message


def test_folded_batch_norm_that_overflows_runs_unfolded():
    """A Linear whose BatchNorm folded into it overflows float32 (W·γ/σ = 1e39) while the
    layers run one at a time, as PyTorch runs them, stay finite (Wx = 1e29, times 1e9): the
    head computes what PyTorch computes, y = (Wx + b)·α + (β − mean·α) with α = γ/√(var + ε),
    instead of refusing (the fuzz-safetensors corpus holds such a head)."""
    f = lambda *v: GLib.Bytes.new(np.array(v, np.float32).tobytes())  # noqa: E731
    h = Headrank.Head.new()
    h.append_linear('0', 1, 1, f(1e30), f(0.0))
    h.append_batch_norm('1', 1, f(1e9), f(0.5), f(0.0), f(1.0), 0.0)
    h.append_activation('2', Headrank.LayerKind.RELU)
    x = np.array([[0.1], [0.2], [-0.3], [0.05]], np.float32)
    out = as_array(h.forward(stack_of(x), Headrank.NormMode.RUNNING))
    alpha = np.float32(1e9) / np.sqrt(np.float32(1.0))
    ref = np.maximum((x * np.float32(1e30)) * alpha + np.float32(0.5), 0)
    assert np.all(np.isfinite(ref)) and np.all(np.isfinite(out)), out
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    # a layer that overflows alone is still refused, naming it
    h = Headrank.Head.new()
    h.append_linear('0', 1, 1, f(3e38), f(0.0))
    h.append_batch_norm('1', 1, f(1.0), f(0.0), f(0.0), f(1.0), 1e-5)
    h.append_activation('2', Headrank.LayerKind.RELU)
    with pytest.raises(GLib.Error) as e:
        h.forward(stack_of(np.full((4, 1), 2.0, np.float32)), Headrank.NormMode.RUNNING)
    assert e.value.matches(Headrank.head_error_quark(), Headrank.HeadError.NON_FINITE)
    assert 'layer 0 (linear) computes 4 NaN or infinite values' in e.value.message
