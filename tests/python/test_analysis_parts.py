"""An analysis in parts (doc/partial.md) through GObject-Introspection: the samples cut at
random (one-sample parts included), each part analysed with run_part() (through a head with
an activation, or with projections), merged with Analysis.new_from_parts(), against one
pass over all of them: the same ranks, effective ranks, CKA, verdict and per-sample table,
every number within 1e-6 relative (the error-bound terms at most twice one
pass's); and parts
that disagree (the head, an option, the stages), damaged or of another version, refused as
GLib.Error of the part-error domain."""
import hashlib
import json
import struct

import numpy as np
import pytest

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

BOUND_KEYS = {'scatter_error_bound', 'rank_tolerance', 'scatter_error', 'noise_floor'}


def make_head(d, hidden, out, seed):
    rng = np.random.default_rng(seed)
    head = Headrank.Head.new()
    w1 = (rng.normal(size=(hidden, d)) / np.sqrt(d)).astype(np.float32)
    w2 = (rng.normal(size=(out, hidden)) / np.sqrt(hidden)).astype(np.float32)
    assert head.append_linear('0', d, hidden, GLib.Bytes.new(w1.tobytes()),
                              GLib.Bytes.new(np.zeros(hidden, np.float32).tobytes()))
    assert head.append_activation('1', Headrank.LayerKind.RELU)
    assert head.append_linear('2', hidden, out, GLib.Bytes.new(w2.tobytes()), None)
    return head


def source(rows):
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    return Headrank.MemorySource.new(GLib.Bytes.new(rows.tobytes()), *rows.shape)


def configure(a, head=None, proj=None, precision=Headrank.Precision.AUTO, stages=None):
    if head is not None:
        a.set_head(head)
    if proj is not None:
        a.set_projections_source(proj)
    a.set_precision(precision)
    if stages is not None:
        a.set_spectral_stages(stages)
    return a


def compare(single, merged, path=''):
    if isinstance(single, dict):
        assert set(single) == set(merged), path
        for k in single:
            if path == '/input' and k in ('features', 'projections'):
                continue  # the names of the parts' sources
            compare(single[k], merged[k], f'{path}/{k}')
    elif isinstance(single, list):
        assert len(single) == len(merged), path
        for i, (u, v) in enumerate(zip(single, merged)):
            compare(u, v, f'{path}[{i}]')
    elif isinstance(single, float) and isinstance(merged, float):
        key = path.rsplit('/', 1)[-1]
        if key in BOUND_KEYS:
            # the merged bound is its own (a tree of merges is often tighter than one pass)
            assert 0 <= merged <= 2 * single and (merged > 0) == (single > 0), (path, single,
                                                                            merged)
        else:
            assert merged == pytest.approx(single, rel=1e-6, abs=1e-9), path
    else:
        assert single == merged, (path, single, merged)


def per_sample(analysis, n):
    out = []
    for i in range(analysis.get_n_stages()):
        b = analysis.get_stage(i).get_per_sample()
        out.append(np.frombuffer(b.get_data(), np.float32).reshape(n, -1))
    return out


@pytest.mark.parametrize('kind', ['head', 'projections'])
@pytest.mark.parametrize('seed', range(4))
def test_random_partitions(kind, seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(200, 3000)), 24
    x = (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3).astype(np.float32)
    x[rng.integers(0, n), 2] = np.nan
    head = make_head(d, 32, 16, seed) if kind == 'head' else None
    p = np.maximum(x @ rng.normal(size=(d, 8)).astype(np.float32), 0) if kind != 'head' else None
    cuts = sorted(set([0, 1, n] + list(rng.integers(2, n, size=int(rng.integers(0, 6))))))
    parts = []
    for a, b in zip(cuts, cuts[1:]):
        part = configure(Headrank.Analysis.new_for_source(source(x[a:b])), head,
                         source(p[a:b]) if p is not None else None)
        parts.append(part.run_part(None, None, None))
    single = configure(Headrank.Analysis.new_for_source(source(x)), head,
                       source(p) if p is not None else None)
    assert single.run(None, None, None)
    merged = Headrank.Analysis.new_from_parts(parts, head, None)
    assert merged.is_done()
    compare(json.loads(single.to_json(False)), json.loads(merged.to_json(False)))
    for s, m in zip(per_sample(single, n), per_sample(merged, n)):
        np.testing.assert_allclose(m, s, rtol=2e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize('seed', range(3))
def test_random_partitions_cka_of_every_layer(seed):
    """--stage all: the CKA of the Linear layers is mapped from the features' scatter matrix,
    and the projections' from the ReLU's cross-moments (doc/analysis.md, "CKA"), in each
    part before it is written; merged, the same CKA as one pass. (The JSON as a whole is
    not compared: the first Linear widens 24 features to 32, and the 8 singular values
    past its rank are rounding noise of each pass's own.)"""
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(200, 3000)), 24
    x = (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3).astype(np.float32)
    head = make_head(d, 32, 16, seed)
    cuts = sorted(set([0, 1, n] + list(rng.integers(2, n, size=int(rng.integers(1, 6))))))
    parts = [configure(Headrank.Analysis.new_for_source(source(x[a:b])), head, stages=['all'])
             .run_part(None, None, None) for a, b in zip(cuts, cuts[1:])]
    single = configure(Headrank.Analysis.new_for_source(source(x)), head, stages=['all'])
    assert single.run(None, None, None)
    merged = Headrank.Analysis.new_from_parts(parts, head, None)
    assert single.get_n_stages() == merged.get_n_stages() == 4
    for i in range(1, single.get_n_stages()):
        one, two = single.get_stage(i).get_cka(), merged.get_stage(i).get_cka()
        assert 0 < one <= 1
        # the merge rounds differently from one pass: 1e-10 … 1e-9 with or without the map
        assert two == pytest.approx(one, rel=1e-8), single.get_stage(i).get_name()


def parts_of(x, **kw):
    half = len(x) // 2
    return [configure(Headrank.Analysis.new_for_source(source(x[a:b])), **kw)
            .run_part(None, None, None) for a, b in ((0, half), (half, len(x)))]


def test_refusals():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(300, 24)).astype(np.float32)
    head, other = make_head(24, 32, 16, 0), make_head(24, 32, 16, 1)
    good = parts_of(x, head=head)

    def refused(parts, h, code):
        with pytest.raises(GLib.Error) as e:
            Headrank.Analysis.new_from_parts(parts, h, None)
        assert e.value.domain == 'hr-part-error-quark', e.value.message
        assert e.value.code == code, e.value.message
        return e.value.message

    assert 'head' in refused(good, other, Headrank.PartError.MISMATCH)
    refused(good, None, Headrank.PartError.MISMATCH)
    assert 'head' in refused([good[0], parts_of(x, head=other)[1]], head,
                             Headrank.PartError.MISMATCH)
    f32 = parts_of(x, head=head, precision=Headrank.Precision.FLOAT32_PRODUCTS)
    assert 'option' in refused([good[0], f32[1]], head, Headrank.PartError.MISMATCH)
    staged = parts_of(x, head=head, stages=['0'])
    refused([good[0], staged[1]], head, Headrank.PartError.MISMATCH)
    narrow = parts_of(x[:, :20], head=None)
    refused([parts_of(x)[0], narrow[1]], None, Headrank.PartError.MISMATCH)

    raw = bytes(good[1].get_data())
    refused([good[0], GLib.Bytes.new(raw[:-1])], head, Headrank.PartError.TRUNCATED)
    bad = bytearray(raw)
    bad[100] ^= 4
    refused([good[0], GLib.Bytes.new(bytes(bad))], head, Headrank.PartError.CHECKSUM)
    v3 = raw[:8] + struct.pack('<I', 3) + raw[12:-32]
    refused([GLib.Bytes.new(v3 + hashlib.sha256(v3).digest())], head,
            Headrank.PartError.VERSION)
    moments = Headrank.Moments.new(24, 0, Headrank.Precision.FLOAT64).to_bytes()
    refused([moments], None, Headrank.PartError.NOT_PART)

    # a pair whose positive another part holds
    with pytest.raises(GLib.Error) as e:
        a = Headrank.Analysis.new_for_source(source(x[:2]))
        a.set_pairs(Headrank.Pairs.new_from_bytes(
            GLib.Bytes.new(np.array([[0, 1], [1, 3]], np.uint64).tobytes()), 2))
        a.run_part(None, None, None)
    assert e.value.matches(Headrank.analysis_error_quark(), Headrank.AnalysisError.PAIRS)
    assert 'pair 1 (anchor 1, positive 3) spans parts' in e.value.message
    # ... and one whose negative does
    with pytest.raises(GLib.Error) as e:
        a = Headrank.Analysis.new_for_source(source(x[:2]))
        a.set_pairs(Headrank.Pairs.new_from_bytes(
            GLib.Bytes.new(np.array([[0, 1, 1], [1, 0, 4]], np.uint64).tobytes()), 3))
        a.run_part(None, None, None)
    assert e.value.matches(Headrank.analysis_error_quark(), Headrank.AnalysisError.PAIRS)
    assert 'pair 1 (anchor 1, negative 4) spans parts' in e.value.message


def as_version_1(part):
    """An analysis part of version 2 without pairs as headrank 0.2 before pairs in parts
    wrote it (version 1): without the tables flag, the first sample and the pairs flag."""
    raw = bytes(part.get_data())
    payload, at = raw[24:-32], 0

    def string():
        nonlocal at
        n, = struct.unpack_from('<I', payload, at)
        at += 4 + (0 if n == 0xFFFFFFFF else n)

    string()
    at += 8 + 8 + 4 + 4
    string()
    string()
    at += 4 + 8 + 4 + 4 + 4 + 4
    n_names, = struct.unpack_from('<I', payload, at)
    at += 4
    for _ in range(0 if n_names == 0xFFFFFFFF else n_names):
        string()
    at += 8 + 8
    assert struct.unpack_from('<IQ', payload, at) == (1, 0)  # tables held, first sample 0
    assert payload[-4:] == bytes(4)  # no pairs
    payload = payload[:at] + payload[at + 12:-4]
    head = raw[:8] + struct.pack('<IIQ', 1, 2, len(payload))
    return GLib.Bytes.new(head + payload + hashlib.sha256(head + payload).digest())


def test_version_1_parts_merge():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 24)).astype(np.float32)
    head = make_head(24, 32, 16, 0)
    parts = parts_of(x, head=head)
    old = [as_version_1(p) for p in parts]
    assert struct.unpack_from('<I', bytes(old[0].get_data()), 8) == (1,)
    want = json.loads(Headrank.Analysis.new_from_parts(parts, head, None).to_json(False))
    for mixed in (old, [old[0], parts[1]]):
        got = Headrank.Analysis.new_from_parts(mixed, head, None)
        assert json.loads(got.to_json(False)) == want
    # merged by a headrank that writes version 2
    merged = Headrank.Analysis.merge_parts(old, None)
    assert struct.unpack_from('<I', bytes(merged.get_data()), 8) == (2,)


def test_part_files(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 24)).astype(np.float32)
    paths = []
    for i, (a, b) in enumerate(((0, 150), (150, 400))):
        path = tmp_path / f'{i}.part'
        assert Headrank.Analysis.new_for_source(source(x[a:b])).write_part(
            str(path), None, None, None)
        paths.append(str(path))
    merged = Headrank.Analysis.new_from_part_files(paths, None, None)
    assert merged.get_stage(0).get_spectrum().get_n_samples() == 400
    (tmp_path / 'cut.part').write_bytes((tmp_path / '1.part').read_bytes()[:300])
    with pytest.raises(GLib.Error) as e:
        Headrank.Analysis.new_from_part_files([paths[0], str(tmp_path / 'cut.part')], None, None)
    assert 'cut.part' in e.value.message
    assert e.value.code == Headrank.PartError.TRUNCATED


def test_merged_names_stay_short():
    """The merged source is named after its parts' distinct names while there are at most
    three, else after the first and the last: a tree of merges (Dask, the Lightning
    callback's parts of one name) never grows a name with every merge."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(96, 6)).astype(np.float32)

    def part(rows, name):
        src = source(rows)
        src.set_property('name', name)
        return Headrank.Analysis.new_for_source(src).run_part(None, None, None)

    def name_of(parts):
        merged = Headrank.Analysis.new_from_parts(parts, None, None)
        return json.loads(merged.to_json(False))['input']['features']

    same = [part(x[i:i + 8], 'features') for i in range(0, 96, 8)]
    assert name_of(same) == 'features'
    assert name_of(same[:1] + [part(x[8:16], 'b.tif')]) == 'features, b.tif'
    shards = [part(x[i:i + 12], f'shard-{i // 12}.tif') for i in range(0, 96, 12)]
    assert name_of(shards) == 'shard-0.tif … shard-7.tif'
    # a tree: merges of merges keep the outermost names
    left = Headrank.Analysis.merge_parts(shards[:4], None)
    right = Headrank.Analysis.merge_parts(shards[4:], None)
    assert name_of([left, right]) == 'shard-0.tif … shard-7.tif'
    assert name_of([left, shards[4]]) == 'shard-0.tif … shard-4.tif'
    # a binary tree of few names gets the name of merging them at once
    pairs = [Headrank.Analysis.merge_parts(shards[i:i + 2], None) for i in (0, 2)]
    assert name_of(pairs) == 'shard-0.tif … shard-3.tif'
    assert name_of(pairs[:1] + [shards[2]]) == 'shard-0.tif, shard-1.tif, shard-2.tif'
