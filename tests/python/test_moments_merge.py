"""Moments that serialise and merge (doc/partial.md) through GObject-Introspection: random
partitions of rows, each part to bytes and back, merged in order and as a tree, against a
single pass and against numpy's scatter matrix in float64 (within the merged moments' own
error bound); refusals come as GLib.Error of the Headrank part-error domain."""
import numpy as np
import pytest

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402


def doubles(b, shape):
    return np.frombuffer(b.get_data(), dtype=np.float64).reshape(shape)


def part(x, precision):
    m = Headrank.Moments.new(x.shape[1], 0, precision)
    if len(x):
        ok, _ = m.add_bytes(GLib.Bytes.new(np.ascontiguousarray(x, dtype='<f4').tobytes()))
        assert ok
    return Headrank.Moments.new_from_bytes(m.to_bytes())


def tree(parts):
    if len(parts) == 1:
        return parts[0]
    half = len(parts) // 2
    left, right = tree(parts[:half]), tree(parts[half:])
    assert left.add_moments(right)
    return left


@pytest.mark.parametrize('precision', [Headrank.Precision.FLOAT64,
                                       Headrank.Precision.FLOAT32_PRODUCTS])
@pytest.mark.parametrize('seed', range(6))
def test_random_partitions(seed, precision):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 4000)), int(rng.integers(1, 40))
    x = (rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d) + 300).astype(np.float32)
    x[rng.random(size=(n, d)) < 0.05] = 0
    cuts = np.sort(rng.integers(0, n + 1, size=int(rng.integers(0, 10))))
    # an empty part, a one-sample part, then the rest cut at random (empty parts too)
    pieces = [x[:0], x[:1]] + np.split(x[1:], cuts)

    single = part(x, precision)
    blobs = [part(p, precision).to_bytes() for p in pieces]
    merged = tree([Headrank.Moments.new_from_bytes(b) for b in blobs])
    sequential = Headrank.Moments.new(d, 0, precision)
    for b in blobs:
        assert sequential.add_moments(Headrank.Moments.new_from_bytes(b))

    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(0)).T @ (x64 - x64.mean(0))
    for m in (merged, sequential):
        assert m.get_n_samples() == n
        np.testing.assert_allclose(doubles(m.get_mean(), d), x64.mean(0), rtol=1e-12)
        s = doubles(m.get_scatter(), (d, d))
        # numpy's own float64 rounding: at most (n + 2)·u·trace
        slack = (n + 2) * 2.0 ** -53 * np.trace(ref)
        assert np.linalg.norm(s - ref, 2) <= m.get_error_bound() + slack
        assert m.get_n_dead() == single.get_n_dead()
        np.testing.assert_array_equal(doubles(m.get_zero_fraction(), d),
                                      doubles(single.get_zero_fraction(), d))
        assert m.get_simsiam_std() == pytest.approx(single.get_simsiam_std(), rel=1e-10)


def test_refusals(tmp_path):
    a = Headrank.Moments.new(4, 0, Headrank.Precision.FLOAT64)
    b = Headrank.Moments.new(5, 0, Headrank.Precision.FLOAT64)
    with pytest.raises(GLib.Error) as e:
        a.add_moments(b)
    assert e.value.domain == 'hr-part-error-quark'
    assert e.value.code == Headrank.PartError.MISMATCH

    raw = bytearray(a.to_bytes().get_data())
    with pytest.raises(GLib.Error) as e:
        Headrank.Moments.new_from_bytes(GLib.Bytes.new(bytes(raw[:-1])))
    assert e.value.code == Headrank.PartError.TRUNCATED
    raw[40] ^= 1
    with pytest.raises(GLib.Error) as e:
        Headrank.Moments.new_from_bytes(GLib.Bytes.new(bytes(raw)))
    assert e.value.code == Headrank.PartError.CHECKSUM

    path = tmp_path / 'a.hrpart'
    assert a.save(str(path), None)
    back = Headrank.Moments.new_from_file(str(path))
    assert back.to_bytes().get_data() == a.to_bytes().get_data()
    path.write_bytes(b'HRPART')
    with pytest.raises(GLib.Error) as e:
        Headrank.Moments.new_from_file(str(path))
    assert e.value.code == Headrank.PartError.TRUNCATED or \
        e.value.code == Headrank.PartError.NOT_PART
