# The heads of the VisCy family, made with VisCy's own classes, through
# GObject-Introspection: Headrank.Head against PyTorch.
#
# Table-driven over tests/data/viscy/manifest.json (made by make_viscy_heads.py there, with
# viscy-models, viscy 0.4.1 and Lightning: trained a few steps, saved with
# Trainer.save_checkpoint, converted with tools/extract-head.py). For every head:
# - the architecture headrank uses is the one the module classes have (the manifest's
#   "spec"): read from the file's metadata where the checkpoint told it, else inferred with
#   the activation given; inferred without it, the head says the activation was assumed;
# - the projections of Head.forward() (eval and batch statistics) and Head.project()
#   (eval, whole-stack batch statistics, batches of 16) match PyTorch's within
#   1e-5 + 1e-4·|ref|;
# - the presets it matches are the manifest's.
import json
import os
from pathlib import Path

import numpy as np
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402


def viscy_dir():
    srcdir = os.environ.get('G_TEST_SRCDIR')
    if srcdir and (Path(srcdir) / 'data' / 'viscy').is_dir():
        return Path(srcdir) / 'data' / 'viscy'
    return Path(__file__).resolve().parent.parent / 'data' / 'viscy'


DIR = viscy_dir()
MANIFEST = json.loads((DIR / 'manifest.json').read_text())
TOL = MANIFEST['tolerance']
HEADS = MANIFEST['heads']
IDS = [h['id'] for h in HEADS]
BY_ID = {h['id']: h for h in HEADS}
N, D = MANIFEST['n'], MANIFEST['d']
X = np.fromfile(DIR / MANIFEST['input'], dtype='<f4').reshape(N, D)


def x_of(head):
    """The head's input: the shared one, or its own (VisCy 0.2.1's V0 takes 320 features)."""
    if 'input' in head:
        return np.fromfile(DIR / head['input'], dtype='<f4').reshape(head['n'], head['d'])
    return X


def ref(head, mode):
    return np.fromfile(DIR / head['refs'][mode], dtype='<f4').reshape(len(x_of(head)),
                                                                      head['out'])


def as_array(stack):
    data = stack.get_data().get_data()
    return np.frombuffer(data, np.float32).reshape(stack.get_n_samples(),
                                                  stack.get_n_features())


def stack_of(x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    return Headrank.FeatureStack.new_from_bytes(GLib.Bytes.new(x.tobytes()), *x.shape)


def assert_close(what, got, expected):
    assert got.shape == expected.shape, what
    excess = np.abs(got.astype(np.float64) - expected) - (TOL['abs']
                                                          + TOL['rel'] * np.abs(expected))
    excess[np.isnan(excess)] = np.inf
    if (excess > 0).any():
        i, j = np.unravel_index(np.argmax(excess), excess.shape)
        pytest.fail(f'{what}: {(excess > 0).sum()} of {excess.size} values beyond '
                    f'{TOL["abs"]} + {TOL["rel"]}|ref|; worst at sample {i}, feature {j}: '
                    f'got {got[i, j]!r}, expected {expected[i, j]!r}')


def load(head, activation=None, arch=None, prefix=None):
    return Headrank.Head.new_from_file_full(str(DIR / head['weights']), arch, prefix,
                                            activation, None)


def right(head):
    """The head as headrank reads it when told what the checkpoint could not tell: the
    activation, or the architecture where the tensors miss a layer (V0's L2)."""
    if head.get('arch'):
        return load(head, arch=head['arch'])
    return load(head, activation=head['activation'])


@pytest.mark.parametrize('head_id', IDS)
def test_architecture(head_id):
    head = BY_ID[head_id]
    h = right(head)
    assert h.get_spec() == head['spec']
    assert h.get_prefix() == head['prefix']
    assert sorted(h.match_presets()) == sorted(head['presets'])
    if head.get('arch'):
        assert h.get_arch_source() == Headrank.ArchSource.GIVEN
        assert h.get_assumption() is None and not h.get_activation_assumed()
    elif head['source'] == 'metadata':
        assert h.get_arch_source() == Headrank.ArchSource.METADATA
        assert h.get_metadata('arch') == head['spec']
        assert h.get_metadata('arch_from') in ('hyper_parameters', 'module classes')
        assert h.get_metadata('source') == head['checkpoint']
        assert h.get_assumption() is None
        assert not h.get_activation_assumed()
        text = h.describe()
        assert "read from the file's metadata" in text and head['checkpoint'] in text
    else:
        assert h.get_arch_source() == Headrank.ArchSource.INFERRED
        assert not h.get_activation_assumed()
        # inferred: the L2 question is still said to be open
        assert 'L2' in h.get_assumption()


@pytest.mark.parametrize('head_id', IDS)
def test_inferred_is_never_silent(head_id):
    """Inferred without an activation, a head says it assumed one (unless the indices show
    none), and `describe` shows it."""
    head = BY_ID[head_id]
    h = load(head, arch=None) if head['source'] == 'inferred' else None
    if h is None:
        return
    assert h.get_arch_source() == Headrank.ArchSource.INFERRED
    assert h.get_activation_assumed()
    assumption = h.get_assumption()
    assert assumption and '--activation' in assumption and '--arch' in assumption
    assert 'Assumed: ' + assumption in h.describe()
    assert 'activation assumed' in h.get_source()


@pytest.mark.parametrize('head_id', IDS)
@pytest.mark.parametrize('mode', ['running', 'batch'])
def test_forward(head_id, mode):
    head = BY_ID[head_id]
    h = right(head)
    m = Headrank.NormMode.RUNNING if mode == 'running' else Headrank.NormMode.BATCH
    assert_close(f'{head_id}, {mode}', as_array(h.forward(stack_of(x_of(head)), m, None)),
                 ref(head, mode))


@pytest.mark.parametrize('head_id', IDS)
@pytest.mark.parametrize('mode, size', [('running', 7), ('batch', 0), ('batch16', 16)])
def test_project(head_id, mode, size, tmp_path):
    head = BY_ID[head_id]
    h = right(head)
    import tifffile

    tif = tmp_path / 'x.tif'
    tifffile.imwrite(tif, x_of(head))
    reader = Headrank.StackReader.new(str(tif), Headrank.StackLayout.MATRIX, None)
    out = tmp_path / 'p.tif'
    writer = Headrank.StackWriter.new(str(out), Headrank.StackLayout.MATRIX, len(x_of(head)),
                                      head['out'], None)
    m = Headrank.NormMode.RUNNING if mode == 'running' else Headrank.NormMode.BATCH
    assert h.project(reader, writer, m, size, -1, None, None, None)
    back = Headrank.FeatureStack.new_from_file(str(out), Headrank.StackLayout.MATRIX, None)
    assert_close(f'{head_id}, {mode}, project', as_array(back), ref(head, mode))


@pytest.mark.parametrize('head_id', [h['id'] for h in HEADS if h['presets']])
def test_preset_with_dropout_gaps(head_id):
    """Every preset the head matches loads it, dropout gaps and all, and runs it right."""
    head = BY_ID[head_id]
    for preset in head['presets']:
        h = load(head, arch=preset)
        assert h.get_arch_source() == Headrank.ArchSource.GIVEN
        assert_close(f'{head_id} as {preset}', as_array(h.forward(stack_of(x_of(head)),
                                                                  Headrank.NormMode.RUNNING,
                                                                  None)), ref(head, 'running'))


def test_wrong_activation_is_wrong():
    """The assumed ReLU on a GELU head is not the head: why the assumption must be said."""
    head = BY_ID['mlp-ln-gelu']
    assumed = as_array(load(head).forward(stack_of(X), Headrank.NormMode.RUNNING, None))
    assert np.abs(assumed - ref(head, 'running')).max() > 1e-3


def test_several_heads_need_a_prefix():
    entry = MANIFEST['all_heads']
    path = str(DIR / entry['weights'])
    tf = Headrank.TensorFile.new(path, None)
    assert sorted(Headrank.Head.find_prefixes(tf)) == sorted(entry['prefixes'])
    with pytest.raises(GLib.Error) as e:
        Headrank.Head.new_from_file(path, None, None, None)
    assert e.value.matches(Headrank.head_error_quark(), Headrank.HeadError.WEIGHTS)
    for p in entry['prefixes']:
        assert p in e.value.message
    assert '--prefix' in e.value.message
    h = Headrank.Head.new_from_file(path, 'viscy-cross-modal',
                                    'auxiliary_heads.pairs.image_proj.backbone.', None)
    assert_close('cross-modal from the whole checkpoint',
                 as_array(h.forward(stack_of(X), Headrank.NormMode.RUNNING, None)),
                 ref(BY_ID['cross-modal'], 'running'))


def test_heads_beside_a_vit_encoder():
    entry = MANIFEST['encoder_heads']
    tf = Headrank.TensorFile.new(str(DIR / entry['weights']), None)
    assert list(Headrank.Head.find_prefixes(tf)) == entry['prefixes']
    h = Headrank.Head.new_from_tensors_full(tf, None, None, 'gelu')
    assert h.get_spec() == entry['spec'] and h.get_prefix() == entry['prefixes'][0]


def test_activation_errors():
    head = BY_ID['mlp-bn-silu']
    for bad in ('mish', 'linear:4', 'relu,gelu', 'bn', ''):
        with pytest.raises(GLib.Error) as e:
            load(head, activation=bad)
        assert e.value.matches(Headrank.head_error_quark(), Headrank.HeadError.SPEC)
    with pytest.raises(GLib.Error) as e:
        load(head, activation='gelu', arch='viscy-v2')
    assert e.value.matches(Headrank.head_error_quark(), Headrank.HeadError.SPEC)
    stated = BY_ID['mlp-bn-gelu']
    with pytest.raises(GLib.Error) as e:
        load(stated, activation='relu')
    assert e.value.matches(Headrank.head_error_quark(), Headrank.HeadError.SPEC)
    assert 'states its architecture' in e.value.message


def test_known_prefixes_are_the_data_file():
    lines = (DIR.parent.parent.parent / 'data' / 'head-prefixes.txt').read_text().splitlines()
    listed = [l.strip() for l in lines if l.strip() and not l.startswith('#')]
    assert list(Headrank.Head.list_known_prefixes()) == listed
    assert 'backbone.' in listed and 'model.projection.backbone.' in listed


SATURATION = np.tanh(np.float32(2.0))


@pytest.mark.parametrize('head_id', ['mlp-bn-relu', 'mlp-bn-gelu', 'mlp-ln-silu-dropout',
                                     'leaky-tanh', 'gelu-tanh-identity'])
def test_clipping_fits_the_activation(head_id, tmp_path):
    """The analysis counts, per activation, what that activation clips: exact zeros after a
    ReLU, outputs below zero after GELU, SiLU or LeakyReLU, |y| > tanh 2 after Tanh; other
    stages have no clipping measure."""
    import tifffile

    head = BY_ID[head_id]
    h = right(head)
    tif = tmp_path / 'x.tif'
    tifffile.imwrite(tif, X)
    a = Headrank.Analysis.new(Headrank.StackReader.new(str(tif), Headrank.StackLayout.MATRIX,
                                                       None))
    a.set_head(h)
    a.set_spectral_stages(['all'])
    assert a.run(None, None, None)
    stages = h.forward_stages(stack_of(X), Headrank.NormMode.RUNNING, None)
    seen = set()
    for i in range(h.get_n_layers()):
        stage = a.find_stage(h.get_layer_name(i))
        kind = h.get_layer_kind(i)
        measure = stage.get_clipping_measure() if stage is not None else None
        if stage is None:
            continue
        y = as_array(stages[i])
        expected = {Headrank.LayerKind.RELU: ('zero', y == 0),
                    Headrank.LayerKind.GELU: ('negative', y < 0),
                    Headrank.LayerKind.GELU_TANH: ('negative', y < 0),
                    Headrank.LayerKind.SILU: ('negative', y < 0),
                    Headrank.LayerKind.LEAKY_RELU: ('negative', y < 0),
                    Headrank.LayerKind.TANH: ('saturated', np.abs(y) > SATURATION)}.get(kind)
        if expected is None:
            assert measure is None and stage.get_clipped_fraction() is None
            continue
        seen.add(expected[0])
        assert measure == expected[0]
        got = np.frombuffer(stage.get_clipped_fraction().get_data(), np.float64)
        np.testing.assert_allclose(got, expected[1].mean(0), atol=1.5 / N)
        assert stage.get_mean_clipped_fraction() == pytest.approx(got.mean())
        assert stage.get_n_always_clipped() == int((expected[1].mean(0) == 1).sum())
    assert seen


def linear_cka(x, z):
    """Linear CKA (Kornblith et al. 2019) in float64."""
    x = x - x.mean(0)
    z = z - z.mean(0)
    return np.linalg.norm(x.T @ z) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(z.T @ z))


@pytest.mark.parametrize('head_id', IDS)
def test_cka_of_every_layer(head_id):
    """--stage all through every VisCy head: each layer's CKA with the features, mapped after
    the pass behind Linear, BatchNorm (running statistics), Identity and Dropout, accumulated
    behind the activations, LayerNorm and L2 normalisation (doc/analysis.md, "CKA"), against
    numpy in float64 on the head's own float32 layers (forward_stages(), eval mode), and the
    projections' against PyTorch's output too."""
    head = BY_ID[head_id]
    h = right(head)
    x = x_of(head)
    a = Headrank.Analysis.new_for_source(
        Headrank.MemorySource.new(GLib.Bytes.new(np.ascontiguousarray(x).tobytes()), *x.shape))
    a.set_head(h)
    a.set_spectral_stages(['all'])
    assert a.run(None, None, None)
    layers = [as_array(s).astype(np.float64)
              for s in h.forward_stages(stack_of(x), Headrank.NormMode.RUNNING, None)]
    x64 = x.astype(np.float64)
    assert a.get_n_stages() == h.get_n_layers() + 1
    for i in range(1, a.get_n_stages()):
        stage = a.get_stage(i)
        got, layer = stage.get_cka(), stage.get_layer()
        want = linear_cka(x64, layers[layer])
        assert got == pytest.approx(want, rel=1e-6), (stage.get_name(), layer)
    # 2026-12-06: within 5.5e-8 of numpy's on the float32 layers, 2.8e-8 of PyTorch's
    torch_cka = linear_cka(x64, ref(head, 'running').astype(np.float64))
    assert a.find_stage('projections').get_cka() == pytest.approx(torch_cka, rel=1e-6)


def test_v0_inferred_loses_its_normalisation_and_says_so():
    """VisCy 0.2.1's V0 normalises in forward; no tensor shows it: inferred, the output is
    not unit-norm, and the head says the normalisation was not assumed."""
    head = BY_ID['v0-viscy021']
    h = load(head)
    assert 'L2' in h.get_assumption()
    y = as_array(h.forward(stack_of(x_of(head)), Headrank.NormMode.RUNNING, None))
    assert np.abs(np.linalg.norm(y, axis=1) - 1).max() > 1e-2
    assert_close('v0 with --arch viscy-v0', as_array(right(head).forward(
        stack_of(x_of(head)), Headrank.NormMode.RUNNING, None)), ref(head, 'running'))
