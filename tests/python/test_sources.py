# Sources from Python: the memory source over a numpy array without a copy, a
# Headrank.Source subclass written in Python, several files as one stack, and the
# analysis and writer taking them.
import gc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(ROOT / 'python'))
import headrank_numpy as hn  # noqa: E402


def rows(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32) \
        * np.arange(1, d + 1, dtype=np.float32)


def read_all(source, chunk):
    source.rewind()
    parts = []
    while True:
        b = source.read_bytes(chunk, None)
        if b.get_size() == 0:
            return np.concatenate(parts).reshape(-1, source.get_n_features())
        parts.append(np.frombuffer(b.get_data(), np.float32))


def eigenvalues(analysis, stage=0):
    return np.array(analysis.get_stage(stage).get_spectrum().get_eigenvalues())


def test_memory_source_is_zero_copy():
    x = rows(1000, 12)
    source = hn.source_from_numpy(x)
    assert isinstance(source, Headrank.MemorySource)
    assert (source.get_n_samples(), source.get_n_features()) == (1000, 12)
    # the source reads the array's own memory: a change shows through
    x[3, 4] = 1234.5
    source.seek(3)
    assert np.frombuffer(source.read_bytes(1, None).get_data(), np.float32)[4] == 1234.5
    np.testing.assert_array_equal(read_all(source, 333), x)


def test_memory_source_keeps_array_alive():
    source = hn.source_from_numpy(rows(500, 8, 1) + 0)  # the only reference is the source's
    gc.collect()
    expected = rows(500, 8, 1)
    np.testing.assert_array_equal(read_all(source, 64), expected)
    n = len(hn._borrowed)
    del source
    gc.collect()
    assert len(hn._borrowed) == n - 1  # released when the library let go


def test_memory_source_gi_only_and_errors():
    x = rows(50, 3)
    np.testing.assert_array_equal(read_all(hn.source_from_numpy(x, gi_only=True), 7), x)
    with pytest.raises(GLib.Error) as e:
        Headrank.MemorySource.new(GLib.Bytes.new(b'\0' * 12), 2, 2)
    assert e.value.matches(Headrank.stack_error_quark(), Headrank.StackError.INVALID)
    with pytest.raises(ValueError):
        hn.source_from_numpy(np.zeros(5, np.float32))


def test_nonfinite_counted_once():
    x = rows(100, 4)
    x[17, 2] = np.nan
    x[80, 0] = np.inf
    source = hn.source_from_numpy(x)
    read_all(source, 9)
    assert source.get_n_nonfinite() == 2
    assert list(source.get_nonfinite_positions()) == [17 * 4 + 2, 80 * 4]


class Generator(Headrank.Source):
    """A custom loader in Python: rows made on demand, forward only."""

    def __init__(self, array, unknown_length=False):
        n = Headrank.SOURCE_N_SAMPLES_UNKNOWN if unknown_length else array.shape[0]
        super().__init__(n_samples=n, n_features=array.shape[1], name='generator')
        self.array = array
        self.calls = 0

    def do_read_bytes(self, first, max_samples, cancellable):
        self.calls += 1
        return GLib.Bytes.new(self.array[first:first + max_samples].tobytes())


def test_python_subclass_analysed_like_memory():
    x = rows(3000, 16, 2)
    gen = Generator(x)
    a = hn.analyze(gen)
    b = hn.analyze(x)
    assert gen.calls > 0
    np.testing.assert_allclose(eigenvalues(a), eigenvalues(b), rtol=1e-12)
    np.testing.assert_allclose(eigenvalues(b), np.linalg.eigvalsh(np.cov(x.T.astype(np.float64)))[::-1],
                               rtol=1e-6)


def test_python_subclass_unknown_length():
    x = rows(70, 5, 3)
    gen = Generator(x, unknown_length=True)
    assert gen.get_n_samples() == Headrank.SOURCE_N_SAMPLES_UNKNOWN
    np.testing.assert_array_equal(read_all(gen, 16), x)
    with pytest.raises(GLib.Error) as e:
        Headrank.Analysis.new_for_source(Generator(x, unknown_length=True)).run(None, None, None)
    assert e.value.matches(Headrank.stack_error_quark(), Headrank.StackError.UNSUPPORTED)


class Broken(Headrank.Source):
    def __init__(self):
        super().__init__(n_samples=10, n_features=3, name='broken')

    def do_read_bytes(self, first, max_samples, cancellable):
        return GLib.Bytes.new(b'\0' * 5)  # not whole rows


def test_python_subclass_bad_rows_are_an_error():
    with pytest.raises(GLib.Error) as e:
        Broken().read_bytes(4, None)
    assert e.value.matches(Headrank.stack_error_quark(), Headrank.StackError.INVALID)
    assert 'broken' in e.value.message


def test_array_source_over_memmap(tmp_path):
    x = rows(2000, 10, 4)
    path = tmp_path / 'x.f32'
    x.tofile(path)
    m = np.memmap(path, np.float32, 'r', shape=x.shape)
    np.testing.assert_array_equal(read_all(hn.ArraySource(m), 300), x)


def test_concat_of_files_and_writer(tmp_path):
    x = rows(900, 20, 5)
    tifffile.imwrite(tmp_path / 'b.tif', x[400:])
    tifffile.imwrite(tmp_path / 'a.tif', x[:400])
    concat = Headrank.ConcatSource.new_for_paths([str(tmp_path)], Headrank.StackLayout.AUTO, None)
    assert concat.get_n_parts() == 2
    assert [concat.get_part_start(i) for i in range(3)] == [0, 400, 900]
    assert concat.get_part(1).props.path.endswith('b.tif')
    np.testing.assert_array_equal(read_all(concat, 128), x)
    # the writer takes any source
    out = tmp_path / 'out' / 'all.tif'
    out.parent.mkdir()
    Headrank.StackWriter.write_source(concat, str(out), Headrank.StackLayout.MATRIX, None)
    np.testing.assert_array_equal(tifffile.imread(out), x)
    np.testing.assert_allclose(eigenvalues(hn.analyze(concat)), eigenvalues(hn.analyze(x)),
                               rtol=1e-12)


def test_concat_mismatch_names_the_odd_file(tmp_path):
    tifffile.imwrite(tmp_path / 'a.tif', rows(10, 6))
    tifffile.imwrite(tmp_path / 'odd.tif', rows(10, 5))
    with pytest.raises(GLib.Error) as e:
        Headrank.ConcatSource.new_for_paths([str(tmp_path / 'a.tif'), str(tmp_path / 'odd.tif')],
                                            Headrank.StackLayout.AUTO, None)
    assert e.value.matches(Headrank.stack_error_quark(), Headrank.StackError.INCONSISTENT)
    assert 'odd.tif' in e.value.message


def test_head_projects_a_memory_source(tmp_path):
    x = rows(600, 8, 6)
    w = np.random.default_rng(7).standard_normal((4, 8)).astype(np.float32)
    b = np.arange(4, dtype=np.float32)
    head = Headrank.Head.new()
    head.append_linear('fc', 8, 4, GLib.Bytes.new(w.tobytes()), GLib.Bytes.new(b.tobytes()))
    head.append_activation('relu', Headrank.LayerKind.RELU)
    out = tmp_path / 'p.tif'
    writer = Headrank.StackWriter.new(str(out), Headrank.StackLayout.MATRIX, 600, 4, None)
    assert head.project_source(hn.source_from_numpy(x), writer, Headrank.NormMode.RUNNING, 0, -1,
                               None, None)
    expected = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0)
    np.testing.assert_allclose(tifffile.imread(out), expected, rtol=1e-5, atol=1e-5)


def test_shape_is_fixed_after_construction():
    source = hn.source_from_numpy(rows(10, 3))
    with pytest.warns(Warning, match="can't be set after construction"):
        source.props.n_samples = 1000  # would read past the array: GObject refuses
    assert source.get_n_samples() == 10


def test_analyze_several_stores_brings_their_projections(tmp_path):
    # as `headrank analyze A.zarr B.zarr`: features and projections, each store by store
    import shutil

    stores = ROOT / 'tests' / 'data' / 'zarr' / 'stores'
    a = shutil.copytree(stores / 'anndata-v2.zarr', tmp_path / 'fovs' / '1.zarr')
    b = shutil.copytree(stores / 'anndata-v3-projections.zarr', tmp_path / 'fovs' / '2.zarr')
    f = np.concatenate([hn.read(str(a)), hn.read(str(b))])
    p = np.concatenate([hn.read(Headrank.ZarrSource.open_projections(str(s))) for s in (a, b)])
    want = hn.report(hn.analyze(f, projections=p))
    for inputs in ([str(a), str(b)], str(tmp_path / 'fovs')):
        got = hn.report(hn.analyze(inputs))
        assert [s['role'] for s in got['stages']] == ['features', 'projections']
        for mine, ref in zip(got['stages'], want['stages']):
            np.testing.assert_allclose(mine['eigenvalues'], ref['eigenvalues'], rtol=1e-10,
                                       atol=1e-12 * ref['eigenvalues'][0])
    # a TIFF among the parts: the features alone
    tifffile.imwrite(tmp_path / 'x.tif', f)
    got = hn.report(hn.analyze([str(a), str(tmp_path / 'x.tif')]))
    assert [s['role'] for s in got['stages']] == ['features']
