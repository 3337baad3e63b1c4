# obs columns of AnnData stores through GObject-Introspection: Headrank.ObsColumn, read by
# the library's own zarr reader, against what anndata wrote (tests/data/tracks/expected.json,
# made with the stores by make_tracks.py there): every column of every store, strings,
# categoricals, nullable masks, numbers; and the errors.
#
# Run: meson test -C build --suite python
import json
import math
from pathlib import Path

import numpy as np
import pytest

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

TRACKS = Path(__file__).resolve().parent.parent / 'data' / 'tracks'
EXPECTED = json.loads((TRACKS / 'expected.json').read_text())


def values_of(column):
    kind = column.get_value_type()
    raw = column.get_values().get_data()
    values = np.frombuffer(raw, np.float64 if kind == Headrank.ObsValueType.FLOAT else np.int64)
    missing = column.get_missing()
    mask = (np.frombuffer(missing.get_data(), np.uint8).astype(bool) if missing is not None
            else np.zeros(len(values), bool))
    if kind == Headrank.ObsValueType.STRING:
        categories = column.get_categories()
        return [None if m else categories[c] for c, m in zip(values, mask)]
    return [None if m else v.item() for v, m in zip(values, mask)]


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


STORES = [name for name in EXPECTED if name != 'no-obs']


@pytest.mark.parametrize('name', STORES)
def test_columns_read_as_anndata_wrote_them(name):
    path = str(TRACKS / 'stores' / f'{name}.zarr')
    expected = EXPECTED[name]
    # every column anndata wrote (its encodings); the values of those expected.json keeps
    assert sorted(Headrank.ObsColumn.list(path)) == sorted(expected['encodings'])
    for column_name, want in expected['columns'].items():
        column = Headrank.ObsColumn.new_from_store(path, column_name)
        assert column.get_name() == column_name
        assert column.get_encoding() == expected['encodings'][column_name]
        assert column.get_n_rows() == int(expected['rows'])
        got = values_of(column)
        assert all(same(g, w) for g, w in zip(got, want)), (column_name, got, want)
    index = Headrank.ObsColumn.new_from_store(path, None)
    assert values_of(index) == expected['index']


def test_errors_and_stores_without_obs():
    assert list(Headrank.ObsColumn.list(str(TRACKS / 'stores' / 'no-obs.zarr'))) == []
    path = str(TRACKS / 'stores' / 'viscy-writer.zarr')
    with pytest.raises(GLib.Error) as e:
        Headrank.ObsColumn.new_from_store(path, 'condition')
    assert e.value.domain == 'hr-stack-error-quark'
    assert e.value.code == Headrank.StackError.LAYOUT
    assert 'fov_name' in e.value.message  # the columns it has
    with pytest.raises(GLib.Error) as e:
        Headrank.ObsColumn.list(str(TRACKS / 'nowhere.zarr'))
    assert e.value.domain == 'g-io-error-quark' and 'nowhere.zarr' in e.value.message
