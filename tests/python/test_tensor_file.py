# The safetensors reader through GObject-Introspection: Headrank.TensorFile.
#
# Table-driven over tests/data/weights/manifest.json (see make_weights.py there):
# every floating-point tensor read with read_float() must equal torch's own
# float32 conversion, stored as raw little-endian float32 next to the fixtures
# (numpy only: torch is not needed to run the tests), and every bad file must
# raise GLib.Error in the HR_TENSOR_ERROR domain with the manifest's code.
#
# Run: meson test -C build --suite python, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_tensor_file.py
import json
import os
from pathlib import Path

import numpy as np
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402


def weights_dir():
    srcdir = os.environ.get('G_TEST_SRCDIR')
    if srcdir and (Path(srcdir) / 'data' / 'weights').is_dir():
        return Path(srcdir) / 'data' / 'weights'
    return Path(__file__).resolve().parent.parent / 'data' / 'weights'


WEIGHTS = weights_dir()
MANIFEST = json.loads((WEIGHTS / 'manifest.json').read_text())
DOMAIN = GLib.quark_to_string(Headrank.tensor_error_quark())


def read(tf, name):
    """A tensor as a numpy array of its shape."""
    data = tf.read_float(name).get_data()
    return np.frombuffer(data, np.float32).reshape(tf.get_shape(name))


def error_code(nick):
    return getattr(Headrank.TensorError, nick)


@pytest.mark.parametrize('entry', MANIFEST['files'], ids=lambda e: e['file'])
def test_good(entry):
    tf = Headrank.TensorFile.new(str(WEIGHTS / entry['file']), None)
    assert tf.props.path == str(WEIGHTS / entry['file'])
    assert tf.props.n_tensors == entry['n_tensors'] == tf.get_n_tensors()
    assert tf.get_names() == entry['names'] == sorted(entry['names'])
    assert tf.get_metadata_keys() == sorted(entry['metadata'])
    for key, value in entry['metadata'].items():
        assert tf.get_metadata(key) == value
    assert tf.get_metadata('no-such-key') is None

    for t in entry['tensors']:
        name = t['name']
        assert tf.has_tensor(name)
        assert tf.get_dtype(name) == t['dtype']
        assert list(tf.get_shape(name)) == t['shape']
        assert tf.get_n_elements(name) == t['n_elements']
        if t['reference'] is None:
            with pytest.raises(GLib.Error) as info:
                tf.read_float(name)
            assert info.value.domain == DOMAIN
            assert info.value.code == Headrank.TensorError.DTYPE
            assert name in info.value.message
            continue
        got = read(tf, name)
        want = np.fromfile(WEIGHTS / t['reference'], '<f4').reshape(t['shape'])
        assert got.dtype == np.float32 and got.shape == tuple(t['shape'])
        # bit for bit: -0.0 is not 0.0
        np.testing.assert_array_equal(got.view(np.uint32), want.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize('entry', MANIFEST['bad'], ids=lambda e: e['file'].removeprefix('bad/'))
def test_bad(entry):
    path = str(WEIGHTS / entry['file'])
    with pytest.raises(GLib.Error) as info:
        tf = Headrank.TensorFile.new(path, None)
        assert entry['stage'] == 'read', 'the file opened'
        tf.read_float(entry['tensor'])
    err = info.value
    assert err.domain == DOMAIN
    assert err.code == error_code(entry['code']), err.message
    assert err.matches(Headrank.tensor_error_quark(), error_code(entry['code']))
    assert Path(path).name in err.message
    if entry['tensor'] is not None:
        assert f'“{entry["tensor"]}”' in err.message
    for text in entry['message_contains']:
        assert text in err.message


def test_viscy_head_in_every_dtype():
    """The four files hold one float64 head rounded to F32, F16, BF16 and F64."""
    f32 = Headrank.TensorFile.new(str(WEIGHTS / 'viscy-v2-f32.safetensors'), None)
    for suffix, rtol in (('f64', 0), ('f16', 2.0**-11), ('bf16', 2.0**-8)):
        other = Headrank.TensorFile.new(str(WEIGHTS / f'viscy-v2-{suffix}.safetensors'), None)
        assert other.get_names() == f32.get_names()
        for name in f32.get_names():
            if f32.get_dtype(name) == 'I64':
                assert other.get_dtype(name) == 'I64'
                continue
            a, b = read(f32, name), read(other, name)
            if suffix == 'f64' and name == 'projection.0.bias':
                # only the F64 file holds a value that rounds to FLT_MAX (see make_weights.py)
                assert b[6] == np.finfo(np.float32).max
                a, b = np.delete(a, 6), np.delete(b, 6)
            if suffix == 'f64':
                # F64 -> float32 in the library is float64 -> float32 in torch
                np.testing.assert_array_equal(b.view(np.uint32), a.view(np.uint32))
            else:
                # one rounding to 11 (F16) or 8 (BF16) significant bits, or F16's subnormals
                np.testing.assert_allclose(b, a, rtol=rtol, atol=2.0**-25)


def test_head_shapes():
    tf = Headrank.TensorFile.new(str(WEIGHTS / 'viscy-v2-f32.safetensors'), None)
    assert list(tf.get_shape('projection.0.weight')) == [24, 32]
    assert list(tf.get_shape('projection.3.weight')) == [8, 24]
    assert list(tf.get_shape('projection.1.num_batches_tracked')) == []
    assert tf.get_n_elements('projection.1.num_batches_tracked') == 1
    assert tf.get_dtype('projection.1.num_batches_tracked') == 'I64'


def test_missing_tensor():
    tf = Headrank.TensorFile.new(str(WEIGHTS / 'viscy-v2-f32.safetensors'), None)
    assert not tf.has_tensor('projection.2.weight')
    assert tf.get_dtype('projection.2.weight') is None
    assert tf.get_n_elements('projection.2.weight') == 0
    with pytest.raises(GLib.Error) as info:
        tf.read_float('projection.2.weight')
    assert info.value.domain == DOMAIN
    assert info.value.code == Headrank.TensorError.MISSING
    assert 'viscy-v2-f32.safetensors' in info.value.message


def test_empty_tensor_reads_as_empty_bytes():
    tf = Headrank.TensorFile.new(str(WEIGHTS / 'mixed-dtypes.safetensors'), None)
    assert list(tf.get_shape('encoder.empty')) == [0, 4]
    assert read(tf, 'encoder.empty').shape == (0, 4)
    assert read(tf, 'encoder.scale').shape == ()
    assert float(read(tf, 'encoder.scale')) == 0.125


def test_nonexistent_file():
    with pytest.raises(GLib.Error) as info:
        Headrank.TensorFile.new(str(WEIGHTS / 'no-such-file.safetensors'), None)
    assert info.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND)
    assert 'no-such-file.safetensors' in info.value.message


def test_error_domain_name():
    assert DOMAIN == 'hr-tensor-error-quark'
