# headrank_dask on a distributed.LocalCluster of 2 worker processes against one process:
# a zarr store cut into row ranges, a list of TIFF files, a Dask array, with and without the
# viscy-v2 head. The same ranks in every stage; every singular value within the sum of the
# two runs' rank tolerances (doc/analysis.md, "The rank tolerance": each is a bound on the
# error of a computed singular value); effective ranks within 1e-6; the per-sample tables
# equal in the order of the samples. Also the tree of merges (Headrank.Analysis.merge_parts)
# against merging all parts at once, and errors of the tasks arriving at the client.
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import data_dir

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'python'))
distributed = pytest.importorskip('distributed', reason='dask[distributed] is not installed '
                                  '(tools/requirements.txt has it)')
import dask.array as da  # noqa: E402
import tifffile  # noqa: E402
import zarr  # noqa: E402
from gi.repository import GLib, Headrank  # noqa: E402

import headrank_dask as hd  # noqa: E402
import headrank_numpy as hn  # noqa: E402

HEAD = ROOT / 'data' / 'head-viscy-v2.safetensors'  # 64 → 16, five layers
N, D = 120_000, 64


def _data(n=N, d=D, seed=15):
    """Rows of rank 40 in 64 dimensions (24 columns copies or mixes of others), with a
    non-finite row and an exact zero column."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 40)).astype(np.float32)
    x = np.empty((n, d), np.float32)
    x[:, :40] = z * np.linspace(1, 20, 40, dtype=np.float32)
    x[:, 40:60] = x[:, :20] + x[:, 20:40]
    x[:, 60:63] = x[:, 0:3]
    x[:, 63] = 0
    if n > 777:
        x[777, 5] = np.nan
    return x


@pytest.fixture(scope='module')
def client():
    # the workers import headrank_dask: spawned processes get sys.path, and PYTHONPATH for
    # any other way of starting them
    os.environ['PYTHONPATH'] = os.pathsep.join(
        [str(ROOT / 'python')] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, env={'OPENBLAS_NUM_THREADS': '1'})
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp('dask') / 'features.zarr'
    a = zarr.open_array(str(path), mode='w', shape=(N, D), chunks=(16_384, D), dtype='f4',
                        zarr_format=2)
    a[:] = _data()
    return path


def _leaves(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_leaves(v, prefix + k + '.'))
        else:
            out[prefix + k] = v
    return out


def assert_same(single, merged):
    """The same ranks and per-sample tables; spectra within the documented bound."""
    a, b = hn.report(single), hn.report(merged)
    assert len(a['stages']) == len(b['stages'])
    assert a['verdict'] == b['verdict']
    for sa, sb in zip(a['stages'], b['stages']):
        assert sa['name'] == sb['name']
        assert sa['samples'] == sb['samples']
        assert sa['dropped_samples'] == sb['dropped_samples']
        assert sa['has_spectrum'] == sb['has_spectrum']
        if not sa['has_spectrum']:  # a hidden layer: its statistics only
            fa, fb = _leaves(sa['statistics']), _leaves(sb['statistics'])
            assert fa.keys() == fb.keys()
            for k in fa:
                assert fb[k] == (pytest.approx(fa[k], rel=1e-5, abs=1e-9)
                                 if isinstance(fa[k], float) else fa[k]), k
            continue
        assert sa['rank'] == sb['rank']
        assert sa['rank_range'] == sb['rank_range']
        # the entropy takes in the eigenvalues of rounding too (below the tolerance, 24 of
        # them here), which move with the order of the sums: 1e-6, not the 1e-9 of the
        # eigenvalues above it
        assert sb['effective_rank'] == pytest.approx(sa['effective_rank'], rel=1e-6)
        va, vb = np.array(sa['singular_values']), np.array(sb['singular_values'])
        assert va.shape == vb.shape
        bound = sa['rank_tolerance'] + sb['rank_tolerance']
        assert bound < 1e-3 * va[0]  # a bound that says something
        assert np.abs(va - vb).max() <= bound
    for i in range(single.get_n_stages()):
        ta = hn.stage_per_sample(single.get_stage(i))
        tb = hn.stage_per_sample(merged.get_stage(i))
        assert ta.shape == tb.shape
        if i == 0:  # the features: the same to the bit
            np.testing.assert_array_equal(ta, tb)
            continue
        # a head's float32 outputs of a sample may differ in the last bits with the batch it
        # was computed in (doc/partial.md): mean, std and norm within rounding, and a ReLU
        # output at exactly 0 in one run and not the other is rare
        scale = np.nanmax(np.abs(ta[:, :3]), axis=0)
        assert (np.nanmax(np.abs(tb[:, :3] - ta[:, :3]), axis=0) <= 1e-6 * scale).all()
        assert (ta[:, 3] != tb[:, 3]).sum() <= 1e-4 * len(ta)


def test_store_in_row_ranges(client, store):
    single = hn.analyze(str(store))
    merged = hd.analyze(str(store), partitions=7, client=client)
    assert merged.get_source().get_name() == str(store)
    assert merged.get_stage(0).get_spectrum().get_rank() == 40
    assert merged.get_n_dropped() == 1
    assert_same(single, merged)


def test_store_with_head_and_one_sample_part(client, store):
    head = Headrank.Head.new_from_file(str(HEAD), 'viscy-v2', None, None)
    single = hn.analyze(str(store), head=head)
    # ranges of 40,000 rows, the last of 1 after 119,999
    merged = hd.analyze(str(store), weights=HEAD, arch='viscy-v2', client=client,
                        rows_per_partition=N // 3 - 1)
    assert merged.get_n_stages() == single.get_n_stages() == 3  # features, hidden, projections
    assert_same(single, merged)


def test_list_of_files(client, tmp_path):
    x = _data(30_000, seed=3)
    cuts = [0, 11_000, 11_001, 30_000]
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f'fov{i}.tif'))
        tifffile.imwrite(paths[-1], x[cuts[i]:cuts[i + 1]])
    single = hn.analyze(paths)
    merged = hd.analyze(paths, client=client, split_every=3)
    assert_same(single, merged)


def test_dask_array_and_numpy(client, store):
    x = da.from_zarr(str(store)).rechunk((25_000, 32))
    single = hn.analyze(np.asarray(zarr.open_array(str(store), mode='r')[:]))
    merged = hd.analyze(x, client=client)
    assert merged.get_source().get_name() == 'array'
    assert_same(single, merged)
    # no client: Dask's threads (the library releases the GIL)
    assert_same(single, hd.analyze(x.compute(), partitions=3))


def test_tree_equals_flat_merge(store):
    parts = [hd.part_of_range(str(store), a, k) for a, k in hd.row_ranges(N, 5)]
    flat = Headrank.Analysis.new_from_parts([GLib.Bytes.new(p) for p in parts], None, None)
    tree = hd.merge_parts(hd.merge_parts(parts[0], parts[1]), hd.merge_parts(*parts[2:]))
    merged = Headrank.Analysis.new_from_parts([GLib.Bytes.new(tree)], None, None)
    assert_same(flat, merged)


def test_row_ranges():
    assert hd.row_ranges(10, 3) == [(0, 3), (3, 3), (6, 4)]
    assert hd.row_ranges(10, rows_per_partition=4) == [(0, 4), (4, 4), (8, 2)]
    assert hd.row_ranges(2, 5) == [(0, 1), (1, 1)]
    with pytest.raises(ValueError):
        hd.row_ranges(10, rows_per_partition=0)


def test_errors_reach_the_client(client, tmp_path):
    a, b = str(tmp_path / 'a.tif'), str(tmp_path / 'b.tif')
    tifffile.imwrite(a, _data(100, 64))
    tifffile.imwrite(b, _data(100, 64)[:, :32])
    with pytest.raises(GLib.Error) as e:  # parts of 64 and 32 features
        hd.analyze([a, b], client=client)
    assert e.value.matches(Headrank.part_error_quark(), Headrank.PartError.MISMATCH)
    with pytest.raises(GLib.Error) as e:  # a missing file, in a worker
        hd.analyze([a, str(tmp_path / 'missing.tif')], client=client)
    assert 'missing.tif' in e.value.message
    with pytest.raises(GLib.Error) as e:  # a pair whose positive another part holds
        analysis = Headrank.Analysis.new_for_source(hn.source_from_numpy(_data(100)))
        analysis.set_pairs(hn.pairs_from_numpy(np.array([[0, 1], [2, 150]])))
        analysis.run_part(None, None, None)
    assert e.value.matches(Headrank.analysis_error_quark(), Headrank.AnalysisError.PAIRS)
