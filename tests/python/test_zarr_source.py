# HrZarrSource from Python: a zarr store's arrays read through the typelib, compared with
# what zarr-python wrote (tests/data/zarr, make_stores.py there), errors as GLib.Error in
# Headrank's stack error domain.
import json

import numpy as np
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

from conftest import data_dir  # noqa: E402

ZARR = data_dir() / 'zarr'
MANIFEST = json.loads((ZARR / 'manifest.json').read_text())


def expected(name):
    entry = next(e for e in MANIFEST['arrays'] if e['name'] == name)
    data = np.fromfile(ZARR / 'expected' / f'{name}.f32', dtype='<f4')
    return data.reshape(entry['shape'] if len(entry['shape']) > 1 else (-1, 1))


def read_all(source, chunk):
    parts = []
    while True:
        b = source.read_bytes(chunk, None)
        if b.get_size() == 0:
            return np.concatenate(parts).reshape(-1, source.get_n_features())
        parts.append(np.frombuffer(b.get_data(), np.float32))


@pytest.mark.parametrize('store, array, name', [
    ('anndata-v3-projections.zarr', None, 'anndata-v3-projections-backbone'),
    ('anndata-v3-projections.zarr', 'X', 'anndata-v3-projections-X'),
    ('v2-blosc-zstd-bitshuffle-f8-F.zarr', None, 'v2-blosc-zstd-bitshuffle-f8-F'),
])
def test_zarr_source_reads_what_zarr_python_wrote(store, array, name):
    source = Headrank.ZarrSource.new(str(ZARR / 'stores' / store), array)
    assert isinstance(source, Headrank.Source)
    got = read_all(source, 7)
    np.testing.assert_array_equal(got, expected(name))
    assert source.get_array() == (array if array is not None else source.get_array())
    assert source.get_store() == str(ZARR / 'stores' / store)


def test_zarr_source_analysis_equals_memory_source():
    path = str(ZARR / 'stores' / 'xarray.zarr')
    a = Headrank.Analysis.new_for_source(Headrank.ZarrSource.new(path, None))
    data = expected('xarray-features')
    b = Headrank.Analysis.new_for_source(
        Headrank.MemorySource.new(GLib.Bytes.new(data.tobytes()), *data.shape))
    for analysis in (a, b):
        assert analysis.run(None, None, None)
    np.testing.assert_array_equal(a.get_stage(0).get_spectrum().get_eigenvalues(),
                                  b.get_stage(0).get_spectrum().get_eigenvalues())


def test_zarr_source_errors_are_stack_errors():
    with pytest.raises(GLib.Error) as info:
        Headrank.ZarrSource.new(str(ZARR / 'stores' / 'anndata-sparse.zarr'), None)
    assert info.value.domain == GLib.quark_to_string(Headrank.stack_error_quark())
    assert info.value.code == Headrank.StackError.UNSUPPORTED
    assert 'csr_matrix' in info.value.message
