"""Faults of part files (doc/partial.md), through GObject-Introspection: parts cut at
every length, damaged, of another version or kind, or holding what one pass cannot produce
are refused with the HR_PART_ERROR code that says which, never read as moments; a part
saved to a full disk fails with G_IO_ERROR_NO_SPACE and leaves the previous part exactly
as it was, with nothing temporary left; so does `headrank analyze --partial` (exit 1, one
line)."""
import hashlib
import struct

import numpy as np
import pytest

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402

from test_faults import HEAD_ARGS, fill, inputs, leftovers, run, small_disk  # noqa: E402,F401


def moments(n=50, d=6, seed=0):
    rng = np.random.default_rng(seed)
    m = Headrank.Moments.new(d, 0, Headrank.Precision.FLOAT64)
    m.add_bytes(GLib.Bytes.new(rng.normal(size=(n, d)).astype(np.float32).tobytes()))
    return m


def read_error(path):
    with pytest.raises(GLib.Error) as e:
        Headrank.Moments.new_from_file(str(path))
    assert str(path) in e.value.message or e.value.domain != 'hr-part-error-quark'
    return e.value


def reseal(b):
    return b[:-32] + hashlib.sha256(b[:-32]).digest()


def test_cut_damaged_version_kind(tmp_path):
    good = bytes(moments().to_bytes().get_data())
    path = tmp_path / 'p.hrpart'
    for cut in list(range(0, 64)) + list(range(64, len(good), 37)) + [len(good) - 1]:
        path.write_bytes(good[:cut])
        e = read_error(path)
        assert e.code in (Headrank.PartError.NOT_PART, Headrank.PartError.TRUNCATED), (cut, e)
    for i in range(8, len(good), 53):
        bad = bytearray(good)
        bad[i] ^= 0x41
        path.write_bytes(bytes(bad))
        assert read_error(path).domain == 'hr-part-error-quark'
    path.write_bytes(reseal(good[:8] + struct.pack('<I', 2) + good[12:]))
    assert read_error(path).code == Headrank.PartError.VERSION
    path.write_bytes(reseal(good[:12] + struct.pack('<I', 7) + good[16:]))
    assert read_error(path).code == Headrank.PartError.NOT_PART
    # sealed, but the dimension says more values than the part holds
    path.write_bytes(reseal(good[:24] + struct.pack('<Q', 1 << 30) + good[32:]))
    assert read_error(path).code == Headrank.PartError.CORRUPT
    path.write_bytes(b'')
    assert read_error(path).code == Headrank.PartError.NOT_PART
    (tmp_path / 'dir.hrpart').mkdir()
    assert read_error(tmp_path / 'dir.hrpart').domain == 'g-io-error-quark'
    assert read_error(tmp_path / 'missing.hrpart').matches(Gio.io_error_quark(),
                                                          Gio.IOErrorEnum.NOT_FOUND)


def test_full_disk_keeps_the_previous_part(small_disk):  # noqa: F811
    path = small_disk / 'moments.part'
    assert moments(d=8).save(str(path), None)
    before = path.read_bytes()
    big = moments(n=10, d=400, seed=1)   # 4·400·401 + … bytes: 657,712
    for free in (0, 4096, 300_000, 600_000):
        fill(small_disk, free)
        with pytest.raises(GLib.Error) as e:
            big.save(str(path), None)
        assert e.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.NO_SPACE), e.value
        assert path.read_bytes() == before
        assert leftovers(small_disk) == []
        (small_disk / 'filler').unlink()
    assert big.save(str(path), None)
    back = Headrank.Moments.new_from_file(str(path))
    assert back.to_bytes().get_data() == big.to_bytes().get_data()


def test_full_disk_keeps_the_previous_analysis_part(inputs, small_disk):  # noqa: F811
    (a, _), (big, n) = inputs["a"], inputs["p"]
    part = small_disk / "stack.part"
    assert run("analyze", a, *HEAD_ARGS, "--partial", part, cwd=small_disk).returncode == 0
    before = part.read_bytes()
    needed = 16 * n * 4 + 200_000   # four stages' tables and moments, roughly
    for free in (0, 100_000, needed // 2):
        fill(small_disk, free)
        p = run("analyze", big, *HEAD_ARGS, "--partial", part, cwd=small_disk)
        assert p.returncode == 1, (free, p.returncode, p.stderr)
        assert len(p.stderr.splitlines()) == 1 and "No space left on device" in p.stderr, p.stderr
        assert part.read_bytes() == before
        assert leftovers(small_disk) == []
        (small_disk / "filler").unlink()
