# The outputs through the library's API (issue 12, items 8, 9 and 11): what
# Analysis.write_report and StackWriter may replace, and the errors they give (GLib.Error
# with our domain or Gio's), cancellation of a report before its folder is swapped in.
# The command's side and signals are in tests/cli/test_outputs_cli.py and tests/faults.
import json
import os
import stat

import numpy as np
import pytest

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402


@pytest.fixture(scope='module')
def analysis(tmp_path_factory):
    import tifffile

    path = tmp_path_factory.mktemp('in') / 'x.tif'
    tifffile.imwrite(path, np.random.default_rng(3).standard_normal((120, 6), dtype=np.float32))
    a = Headrank.Analysis.new(Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO,
                                                       None))
    assert a.run(None, None, None)
    return a


def io_error(e, code):
    assert e.value.domain == GLib.quark_to_string(Gio.io_error_quark()), e.value.domain
    assert e.value.code == code, (e.value.code, e.value.message)


def test_report_never_replaces_a_device(analysis):
    with pytest.raises(GLib.Error) as e:
        analysis.write_report('/dev/null', None)
    io_error(e, Gio.IOErrorEnum.NOT_DIRECTORY)
    assert stat.S_ISCHR(os.stat('/dev/null').st_mode)


def test_report_refuses_a_folder_of_other_files(analysis, tmp_path):
    (tmp_path / 'notes.txt').write_text('keep me')
    with pytest.raises(GLib.Error) as e:
        analysis.write_report(str(tmp_path), None)
    io_error(e, Gio.IOErrorEnum.EXISTS)
    assert os.listdir(tmp_path) == ['notes.txt']


def test_cancelled_report_keeps_the_previous_one(analysis, tmp_path):
    out = tmp_path / 'out'
    assert analysis.write_report(str(out), None)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    c = Gio.Cancellable()
    c.cancel()
    with pytest.raises(GLib.Error) as e:
        analysis.write_report(str(out), c)
    io_error(e, Gio.IOErrorEnum.CANCELLED)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ['out']


def test_report_json_is_valid_utf8_with_a_name_that_is_not(tmp_path):
    import tifffile

    name = os.fsencode(tmp_path) + b'/\xff\xfe.tif'
    tifffile.imwrite(os.fsdecode(name), np.ones((10, 3), np.float32) * np.arange(10)[:, None])
    a = Headrank.Analysis.new(Headrank.StackReader.new(os.fsdecode(name),
                                                       Headrank.StackLayout.AUTO, None))
    assert a.run(None, None, None)
    text = a.to_json(False)
    assert json.loads(text)['input']['features'] == name.decode('utf-8', 'replace')


def test_writer_never_replaces_a_device_and_follows_links(tmp_path):
    with pytest.raises(GLib.Error) as e:
        Headrank.StackWriter.new('/dev/null', Headrank.StackLayout.MATRIX, 2, 2, None)
    assert e.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_REGULAR_FILE)
    assert 'character device' in e.value.message
    (tmp_path / 'real.tif').write_bytes(b'old')
    (tmp_path / 'link.tif').symlink_to('real.tif')
    w = Headrank.StackWriter.new(str(tmp_path / 'link.tif'), Headrank.StackLayout.MATRIX, 2, 2,
                                 None)
    # a second writer of the same file fails at once
    with pytest.raises(GLib.Error) as e:
        Headrank.StackWriter.new(str(tmp_path / 'real.tif'), Headrank.StackLayout.MATRIX, 2, 2,
                                 None)
    assert 'being written by another process' in e.value.message
    assert w.append_bytes(GLib.Bytes(np.arange(4, dtype=np.float32).tobytes()))
    assert w.finish()
    assert os.readlink(tmp_path / 'link.tif') == 'real.tif'
    assert sorted(os.listdir(tmp_path)) == ['link.tif', 'real.tif']
    import tifffile
    assert tifffile.imread(tmp_path / 'real.tif').tolist() == [[0, 1], [2, 3]]
