import gi
gi.require_version('Headrank', '1.0')

# headrank through GObject-Introspection: reading feature stacks from the
# fixture TIFFs (against tifffile), errors as GLib.Error, stacks from bytes,
# chunked reading, and files written by headrank as tifffile sees them.

import os  # noqa: E402

import numpy  # noqa: E402
import pytest  # noqa: E402
import tifffile  # noqa: E402
from gi.repository import Gio, GLib, Headrank  # noqa: E402

from conftest import (data_dir, error_enum, layout_enum,  # noqa: E402
                      load_manifest, representative)

AUTO = Headrank.StackLayout.AUTO
GOOD = load_manifest('tiff')
BAD = load_manifest('bad')
needs_good = pytest.mark.skipif(GOOD is None,
                                reason='tests/data/tiff/manifest.json missing')
needs_bad = pytest.mark.skipif(BAD is None,
                               reason='tests/data/bad/manifest.json missing')
GOOD_SUBSET = representative(GOOD) if GOOD else []


def matrix_of(stack):
    """The documented way from a stack to numpy."""
    n, d = stack.get_n_samples(), stack.get_n_features()
    return numpy.frombuffer(stack.get_data().get_data(),
                            numpy.float32).reshape(n, d)


def same_bits(a, b):
    """Exact float32 equality, telling -0.0 from 0.0 (no NaN in fixtures)."""
    a = numpy.ascontiguousarray(a, numpy.float32)
    b = numpy.ascontiguousarray(b, numpy.float32)
    return a.shape == b.shape and numpy.array_equal(a.view(numpy.uint32),
                                                    b.view(numpy.uint32))


def tifffile_samples(entry, path):
    """tifffile.imread(path) in headrank's sample order, as float32 (N, D)."""
    with numpy.errstate(over='ignore'):
        a = tifffile.imread(path)
    v = entry['variant']
    C, Y, X = entry['channels'], entry['height'], entry['width']
    if v == 'matrix':
        assert a.shape == (entry['n'], entry['d'])
        m = a
    elif v in ('channels-pages', 'channels-pages-ome'):
        assert a.shape == (C, Y, X)                     # CYX
        m = numpy.moveaxis(a, 0, -1).reshape(-1, C)
    elif v == 'channels-pages-tzcyx':
        T, Z = entry['frames'], entry['depth']
        assert a.shape == (T, Z, C, Y, X)               # TZCYX
        # sample n = ((t*Z + z)*Y + y)*X + x
        m = numpy.moveaxis(a, 2, -1).reshape(-1, C)
    elif v == 'channels-contig':
        assert a.shape == (Y, X, C)                     # YXS
        m = a.reshape(-1, C)
    elif v == 'channels-planar':
        assert a.shape == (C, Y, X)                     # SYX
        m = numpy.moveaxis(a, 0, -1).reshape(-1, C)
    elif v.startswith('pages-'):
        assert a.shape[0] == entry['n']                 # (N, h, w)
        m = a.reshape(entry['n'], -1)
    else:
        raise AssertionError(f'unknown variant {v}')
    return m.astype(numpy.float32)


def reference(entry, base):
    ref = numpy.fromfile(base / entry['reference'], '<f4')
    return ref.reshape(entry['n'], entry['d'])


def auto_decides(entry):
    # Several pages of h x w (h > 1) without metadata naming a channel axis
    # are ambiguous (channels or pages): AUTO refuses them with LAYOUT.
    return entry['variant'] != 'pages-map'


# -- enums ----------------------------------------------------------------------------------

def test_enum_nicks():
    assert Headrank.StackLayout.AUTO.value_nick == 'auto'
    assert Headrank.StackLayout.MATRIX.value_nick == 'matrix'
    assert Headrank.StackLayout.CHANNELS.value_nick == 'channels'
    assert Headrank.StackLayout.PAGES.value_nick == 'pages'
    assert Headrank.SampleFormat.FLOAT32.value_nick == 'float32'
    assert Headrank.SampleFormat.UINT16.value_nick == 'uint16'
    assert Headrank.SampleFormat.FLOAT16.value_nick == 'float16'
    nicks = {'IO': 'io', 'NOT_TIFF': 'not-tiff', 'TRUNCATED': 'truncated',
             'CORRUPT': 'corrupt', 'UNSUPPORTED': 'unsupported',
             'TOO_LARGE': 'too-large', 'INCONSISTENT': 'inconsistent',
             'LAYOUT': 'layout', 'INVALID': 'invalid',
             'NON_FINITE': 'non-finite'}
    for name, nick in nicks.items():
        assert getattr(Headrank.StackError, name).value_nick == nick
    # readable names in repr/str
    assert 'CHANNELS' in repr(Headrank.StackLayout.CHANNELS)
    assert Headrank.StackLayout.CHANNELS == 2


def test_error_domain_name():
    # G_DEFINE_QUARK (hr-stack-error-quark, ...): Python sees the domain as
    # GLib.Error.domain, a string
    assert isinstance(Headrank.stack_error_quark(), int)
    assert GLib.quark_to_string(Headrank.stack_error_quark()) == \
        'hr-stack-error-quark'


# -- good fixtures --------------------------------------------------------------------------

@needs_good
def test_fixture_subset_covers_everything():
    assert 40 <= len(GOOD_SUBSET) <= 80 or \
        os.environ.get('HEADRANK_TEST_ALL_FIXTURES')
    for key in ('variant', 'dtype', 'compression', 'tiled', 'byteorder',
                'bigtiff', 'writer', 'predictor', 'metadata'):
        assert {e[key] for e in GOOD_SUBSET} == {e[key] for e in GOOD}, key


@needs_good
@pytest.mark.parametrize('entry', GOOD_SUBSET, ids=lambda e: e['file'])
def test_read_fixture(entry, tiff_dir):
    path = str(tiff_dir / entry['file'])
    n, d = entry['n'], entry['d']
    expected = tifffile_samples(entry, path)
    assert expected.shape == (n, d)
    assert same_bits(expected, reference(entry, tiff_dir))

    layout = AUTO if auto_decides(entry) else layout_enum(entry['layout'])
    s = Headrank.FeatureStack.new_from_file(path, layout, None)
    assert s.get_n_samples() == n
    assert s.get_n_features() == d
    x = numpy.frombuffer(s.get_data().get_data(), numpy.float32).reshape(n, d)
    assert same_bits(x, expected)
    assert s.get_n_nonfinite() == 0

    # the explicit layout reads the same
    s2 = Headrank.FeatureStack.new_from_file(path, layout_enum(entry['layout']),
                                             None)
    assert same_bits(matrix_of(s2), expected)


@needs_good
@pytest.mark.parametrize('entry', GOOD_SUBSET, ids=lambda e: e['file'])
def test_fixture_info(entry, tiff_dir):
    path = str(tiff_dir / entry['file'])
    s = Headrank.FeatureStack.new_from_file(path, layout_enum(entry['layout']),
                                            None)
    info = s.get_info()
    assert info.get_path() == path
    assert info.get_layout() == layout_enum(entry['layout'])
    assert info.get_sample_format().value_nick == entry['dtype']
    assert info.get_compression() == entry['compression']
    assert info.get_tiled() == entry['tiled']
    assert info.get_big_endian() == (entry['byteorder'] == 'big')
    assert info.get_bigtiff() == entry['bigtiff']
    assert info.get_n_pages() == entry['pages']
    kind = {'tifffile-json': 'tifffile'}.get(entry['metadata'],
                                            entry['metadata'])
    assert info.get_metadata_kind() == kind
    assert info.get_width() == entry['width']
    assert info.get_height() == entry['height']
    if entry['layout'] == 'channels':
        assert info.is_per_pixel()
        assert info.get_channels() == entry['channels']
        assert info.get_depth() == entry['depth']
        assert info.get_frames() == entry['frames']
    else:
        assert not info.is_per_pixel()


@needs_good
def test_auto_refuses_ambiguous_pages(tiff_dir):
    entry = next(e for e in GOOD_SUBSET if e['variant'] == 'pages-map')
    with pytest.raises(GLib.Error) as info:
        Headrank.FeatureStack.new_from_file(str(tiff_dir / entry['file']),
                                            AUTO, None)
    assert info.value.matches(Headrank.stack_error_quark(),
                              Headrank.StackError.LAYOUT)


# -- errors ---------------------------------------------------------------------------------

def bad_entries(expect_ok):
    return [e for e in (BAD or []) if (e['expect'] == 'ok') == expect_ok]


@needs_bad
@pytest.mark.parametrize('entry', bad_entries(False), ids=lambda e: e['file'])
@pytest.mark.parametrize('api', ['stack', 'reader'])
def test_bad_file(entry, api):
    path = str(data_dir() / 'bad' / entry['file'])
    layout = layout_enum(entry.get('layout_arg', 'auto'))
    code = error_enum(entry['expect'])
    assert code.value_nick == entry['expect']
    with pytest.raises(GLib.Error) as info:
        if api == 'stack':
            Headrank.FeatureStack.new_from_file(path, layout, None)
        else:
            # opening checks the structure; whatever survives that must fail
            # when the data are read
            r = Headrank.StackReader.new(path, layout, None)
            while r.read_chunk(0, None) is not None:
                pass
    e = info.value
    assert e.domain == GLib.quark_to_string(Headrank.stack_error_quark())
    assert e.matches(Headrank.stack_error_quark(), code), \
        (f'{entry["file"]}: expected {entry["expect"]}, got '
         f'{Headrank.StackError(e.code).value_nick}: {e.message}')
    assert entry['file'] in e.message      # errors name the file


@needs_bad
@pytest.mark.parametrize('entry', bad_entries(True), ids=lambda e: e['file'])
def test_nonfinite_file(entry):
    base = data_dir() / 'bad'
    s = Headrank.FeatureStack.new_from_file(
        str(base / entry['file']), layout_enum(entry['layout_arg']), None)
    n, d = entry['n'], entry['d']
    ref = numpy.fromfile(base / entry['reference'], '<f4').reshape(n, d)
    x = matrix_of(s)
    assert numpy.array_equal(x, ref, equal_nan=True)
    assert s.get_n_nonfinite() == entry['nonfinite']
    want = sorted(i * d + j for i, j in entry['nonfinite_positions'])
    assert sorted(s.get_nonfinite_positions()) == want


def test_missing_file(tmp_path):
    with pytest.raises(GLib.Error) as info:
        Headrank.FeatureStack.new_from_file(str(tmp_path / 'nope.tif'), AUTO,
                                            None)
    # what the system says, in GIO's domain
    assert info.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND)


# -- stacks from bytes ----------------------------------------------------------------------

def test_new_from_bytes_round_trip():
    rng = numpy.random.default_rng(7)
    a = rng.standard_normal((23, 9)).astype(numpy.float32)
    a[0, 0] = -0.0
    s = Headrank.FeatureStack.new_from_bytes(GLib.Bytes(a.tobytes()), 23, 9)
    assert (s.get_n_samples(), s.get_n_features()) == (23, 9)
    assert same_bits(matrix_of(s), a)
    assert s.get_n_nonfinite() == 0
    assert s.get_info().get_layout() in (Headrank.StackLayout.MATRIX,
                                         Headrank.StackLayout.AUTO)


def test_new_from_bytes_counts_nonfinite():
    a = numpy.ones((4, 5), numpy.float32)
    a[1, 2], a[3, 4] = numpy.nan, -numpy.inf
    s = Headrank.FeatureStack.new_from_bytes(GLib.Bytes(a.tobytes()), 4, 5)
    assert s.get_n_nonfinite() == 2
    assert list(s.get_nonfinite_positions()) == [1 * 5 + 2, 3 * 5 + 4]


@pytest.mark.parametrize('n,d,size', [(4, 5, 4 * 5 * 4 - 4), (4, 5, 4 * 5 * 4 + 4),
                                      (5, 4, 3 * 4 * 4), (0, 5, 0), (4, 0, 0)])
def test_new_from_bytes_wrong_size(n, d, size):
    with pytest.raises(GLib.Error) as info:
        Headrank.FeatureStack.new_from_bytes(GLib.Bytes(bytes(size)), n, d)
    assert info.value.matches(Headrank.stack_error_quark(),
                              Headrank.StackError.INVALID)


# -- chunked reading ------------------------------------------------------------------------

def chunk_files():
    if not GOOD:
        return []
    picks, seen = [], set()
    for e in sorted(GOOD, key=lambda e: e['file']):
        key = (e['variant'], e['tiled'])
        if key not in seen and e['compression'] != 'none':
            seen.add(key)
            picks.append(e)
    return picks


@needs_good
@pytest.mark.parametrize('entry', chunk_files(), ids=lambda e: e['file'])
@pytest.mark.parametrize('chunk', [0, 1, 7, 50, 100000])
def test_reader_chunks_equal_whole(entry, chunk, tiff_dir):
    path = str(tiff_dir / entry['file'])
    layout = layout_enum(entry['layout'])
    whole = matrix_of(Headrank.FeatureStack.new_from_file(path, layout, None))
    r = Headrank.StackReader.new(path, layout, None)
    n, d = r.get_n_samples(), r.get_n_features()
    assert (n, d) == (entry['n'], entry['d'])
    preferred = r.get_preferred_chunk()
    assert 1 <= preferred <= n
    step = chunk or preferred
    parts = []
    while True:
        pos = r.get_position()
        s = r.read_chunk(chunk, None)
        if s is None:
            break
        assert s.get_n_samples() == min(step, n - pos)
        assert s.get_n_features() == d
        assert r.get_position() == pos + s.get_n_samples()
        parts.append(matrix_of(s))
    assert r.get_position() == n
    assert r.read_chunk(chunk, None) is None
    assert same_bits(numpy.concatenate(parts), whole)
    assert r.get_n_nonfinite() == 0


@needs_good
def test_reader_seek(tiff_dir):
    entry = next(e for e in GOOD_SUBSET if e['variant'] == 'channels-contig')
    path = str(tiff_dir / entry['file'])
    whole = matrix_of(Headrank.FeatureStack.new_from_file(path, AUTO, None))
    r = Headrank.StackReader.new(path, AUTO, None)
    assert r.get_path() == path
    assert r.get_info().get_layout() == Headrank.StackLayout.CHANNELS
    n = r.get_n_samples()
    assert r.seek(n - 10)
    assert same_bits(matrix_of(r.read_chunk(100, None)), whole[n - 10:])
    assert r.seek(3)
    assert same_bits(matrix_of(r.read_chunk(5, None)), whole[3:8])
    assert r.seek(n)
    assert r.read_chunk(1, None) is None
    with pytest.raises(GLib.Error) as info:
        r.seek(n + 1)
    assert info.value.matches(Headrank.stack_error_quark(),
                              Headrank.StackError.INVALID)


@needs_bad
def test_reader_nonfinite_positions():
    entry = next(e for e in BAD if e['file'] == 'nonfinite.tif')
    r = Headrank.StackReader.new(str(data_dir() / 'bad' / entry['file']),
                                 layout_enum(entry['layout_arg']), None)
    d = r.get_n_features()
    chunks = []
    while (s := r.read_chunk(4, None)) is not None:
        chunks.append(s.get_n_nonfinite())
    assert sum(chunks) == entry['nonfinite']
    assert r.get_n_nonfinite() == entry['nonfinite']
    want = sorted(i * d + j for i, j in entry['nonfinite_positions'])
    assert sorted(r.get_nonfinite_positions()) == want


# -- writing --------------------------------------------------------------------------------

def test_write_matrix_read_by_tifffile(tmp_path):
    rng = numpy.random.default_rng(11)
    a = rng.standard_normal((101, 17)).astype(numpy.float32)
    a[5, 5] = -0.0
    path = tmp_path / 'out.tif'
    w = Headrank.StackWriter.new(str(path), Headrank.StackLayout.MATRIX,
                                 101, 17, None)
    for start in range(0, 101, 40):
        assert w.append_bytes(GLib.Bytes(a[start:start + 40].tobytes()))
    assert not path.exists()          # still in a temporary file
    assert w.finish()
    assert sorted(os.listdir(tmp_path)) == ['out.tif']

    with tifffile.TiffFile(path) as tf:
        assert len(tf.pages) == 1
        assert tf.pages[0].dtype == numpy.float32
        b = tf.asarray()
    assert same_bits(b, a)
    s = Headrank.FeatureStack.new_from_file(str(path), AUTO, None)
    assert s.get_info().get_layout() == Headrank.StackLayout.MATRIX
    assert same_bits(matrix_of(s), a)


@pytest.mark.parametrize('w,h,z,t,c,axes', [(7, 5, 3, 2, 4, 'TZCYX'),
                                            (64, 48, 1, 1, 2, 'CYX'),
                                            (6, 4, 1, 1, 3, 'CYX'),
                                            (5, 3, 2, 1, 2, 'ZCYX')])
def test_write_channels_imagej(tmp_path, w, h, z, t, c, axes):
    n = w * h * z * t
    rng = numpy.random.default_rng(12)
    a = rng.standard_normal((n, c)).astype(numpy.float32)
    path = tmp_path / 'pixels.tif'
    geometry = Headrank.StackInfo.new_pixels(w, h, z, t)
    wr = Headrank.StackWriter.new(str(path), Headrank.StackLayout.CHANNELS,
                                  n, c, geometry)
    assert wr.append_bytes(GLib.Bytes(a[:n // 2].tobytes()))
    assert wr.append_bytes(GLib.Bytes(a[n // 2:].tobytes()))
    assert wr.finish()

    # headrank reads its own file back
    s = Headrank.FeatureStack.new_from_file(str(path), AUTO, None)
    info = s.get_info()
    assert info.get_layout() == Headrank.StackLayout.CHANNELS
    assert (info.get_width(), info.get_height(), info.get_depth(),
            info.get_frames(), info.get_channels()) == (w, h, z, t, c)
    assert same_bits(matrix_of(s), a)

    with tifffile.TiffFile(path) as tf:
        assert tf.is_imagej
        ij = tf.imagej_metadata
        assert ij.get('channels', 1) == c
        assert ij.get('slices', 1) == z
        assert ij.get('frames', 1) == t
        assert len(tf.pages) == c * z * t
        pages = numpy.stack([p.asarray() for p in tf.pages])
        series = tf.series[0]
        assert series.axes == axes
        b = series.asarray()
    # page by page, the planes are right (C fastest, then Z, then T)
    full = pages.reshape(t, z, c, h, w)
    assert same_bits(numpy.moveaxis(full, 2, -1).reshape(-1, c), a)
    # and the series (what tifffile.imread gives) is too.  An ImageJ
    # hyperstack's image data must be contiguous: tifffile (and ImageJ)
    # read it as one block from the first page's offset when the second IFD
    # lies past where that block would end.
    assert same_bits(b.reshape(pages.shape), pages), \
        'tifffile reads the ImageJ series as one contiguous block, but ' \
        'the pages are interleaved with IFDs'


def test_writer_errors(tmp_path):
    path = tmp_path / 'short.tif'
    w = Headrank.StackWriter.new(str(path), Headrank.StackLayout.MATRIX, 10, 3,
                                 None)
    with pytest.raises(GLib.Error) as info:
        w.append_bytes(GLib.Bytes(bytes(3 * 4 + 4)))   # not whole rows
    assert info.value.matches(Headrank.stack_error_quark(),
                              Headrank.StackError.INVALID)
    assert w.append_bytes(GLib.Bytes(numpy.ones((4, 3), numpy.float32)
                                     .tobytes()))
    with pytest.raises(GLib.Error):
        w.finish()                                     # 4 of 10 samples
    assert os.listdir(tmp_path) == []                  # nothing left behind
    with pytest.raises(GLib.Error) as info:
        w.append_bytes(GLib.Bytes(bytes(12)))
    assert info.value.matches(Headrank.stack_error_quark(),
                              Headrank.StackError.INVALID)


def test_writer_abort_leaves_old_file(tmp_path):
    path = tmp_path / 'keep.tif'
    path.write_bytes(b'old')
    w = Headrank.StackWriter.new(str(path), Headrank.StackLayout.MATRIX, 2, 2,
                                 None)
    assert w.append_bytes(GLib.Bytes(numpy.ones((2, 2), numpy.float32)
                                     .tobytes()))
    w.abort()
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['keep.tif']


def test_feature_stack_write(tmp_path):
    a = numpy.arange(60, dtype=numpy.float32).reshape(12, 5)
    s = Headrank.FeatureStack.new_from_bytes(GLib.Bytes(a.tobytes()), 12, 5)
    path = tmp_path / 'stack.tif'
    assert s.write(str(path), Headrank.StackLayout.MATRIX, None)
    assert same_bits(tifffile.imread(path), a)


# -- hostile files (tests/data/hostile, issue 12) --------------------------------------------

HOSTILE = load_manifest('hostile') or []


@pytest.mark.parametrize('entry', HOSTILE, ids=lambda e: e['file'])
@pytest.mark.parametrize('api', ['stack', 'reader'])
def test_hostile_file(entry, api):
    """Each hostile file fails with the code its manifest gives (or reads, for "ok"),
    through the whole read and through the reader."""
    path = str(data_dir() / 'hostile' / entry['file'])
    layout = layout_enum(entry.get('layout_arg', 'auto'))
    if entry['expect'] == 'ok':
        if api == 'stack':
            s = Headrank.FeatureStack.new_from_file(path, layout, None)
            assert (s.get_n_samples(), s.get_n_features()) == (entry['n'], entry['d'])
            assert s.get_info().get_metadata_kind() == entry['metadata']
        else:
            r = Headrank.StackReader.new(path, layout, None)
            assert (r.get_n_samples(), r.get_n_features()) == (entry['n'], entry['d'])
        return
    code = error_enum(entry['expect'])
    with pytest.raises(GLib.Error) as info:
        if api == 'stack':
            Headrank.FeatureStack.new_from_file(path, layout, None)
        else:
            r = Headrank.StackReader.new(path, layout, None)
            while r.read_chunk(0, None) is not None:
                pass
    assert info.value.matches(Headrank.stack_error_quark(), code), info.value.message
    assert entry['file'] in info.value.message


def test_many_pages_read_like_tifffile(tmp_path):
    """Pages are reached by their directory's offset (linear, not quadratic): 3,000 pages
    read in the pages layout equal tifffile's, in every order of access."""
    rng = numpy.random.default_rng(12)
    a = rng.standard_normal((3000, 1, 6)).astype(numpy.float32)
    path = tmp_path / 'pages.tif'
    tifffile.imwrite(path, a, photometric='minisblack', metadata=None)
    s = Headrank.FeatureStack.new_from_file(str(path), Headrank.StackLayout.PAGES, None)
    assert same_bits(matrix_of(s), a.reshape(3000, 6))
    r = Headrank.StackReader.new(str(path), Headrank.StackLayout.PAGES, None)
    for first in (2999, 0, 1500, 7):
        r.seek(first)
        assert same_bits(matrix_of(r.read_chunk(1, None)), a[first, 0].reshape(1, 6))


def test_channel_pages_with_shared_compressed_strip(tmp_path):
    """Channel pages whose strips are decoded once per pass however small the chunks."""
    rng = numpy.random.default_rng(5)
    a = rng.integers(0, 200, size=(6, 40, 30), dtype=numpy.uint8)
    path = tmp_path / 'c.tif'
    tifffile.imwrite(path, a, imagej=True, metadata={'axes': 'CYX'},
                     compression='zlib', rowsperstrip=40)
    ref = numpy.moveaxis(a, 0, -1).reshape(-1, 6).astype(numpy.float32)
    r = Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO, None)
    rows = []
    while (chunk := r.read_chunk(7, None)) is not None:
        rows.append(matrix_of(chunk))
    assert same_bits(numpy.concatenate(rows), ref)


def write_overlong_deflate_tiff(path, planes, rows_per_strip, tail=b''):
    """A one-page planar TIFF of float32 (C, H, W) whose every deflate strip,
    the short last one of each plane too, holds rows_per_strip full rows (the
    'odd files in the wild' that libtiff lets pass), its zlib stream followed
    by @tail, which the strip's byte count includes. Returns what the strips
    hold: each strip's inflated bytes cut to its rows, as (H × W, C)."""
    import struct
    import zlib
    c, h, w = planes.shape
    per_plane = -(-h // rows_per_strip)
    streams, kept = [], []
    for p in range(c):
        for s in range(per_plane):
            rows = planes[p, s * rows_per_strip:(s + 1) * rows_per_strip]
            full = numpy.zeros((rows_per_strip, w), '<f4')
            full[:len(rows)] = rows
            full[len(rows):] = -rows[-1]  # the extra rows: never to be read
            streams.append(zlib.compress(full.tobytes(), 0) + tail)  # stored
            kept.append(rows)
    data = b''.join(streams)
    offsets, at = [], 8
    for s in streams:
        offsets.append(at)
        at += len(s)
    n = len(streams)
    extra_at = 8 + len(data)
    extra = (struct.pack('<%dI' % n, *offsets)
             + struct.pack('<%dI' % n, *[len(s) for s in streams])
             + struct.pack('<%dH' % c, *[32] * c)
             + struct.pack('<%dH' % c, *[3] * c))
    ifd_at = extra_at + len(extra)
    ifd_at += ifd_at % 2
    at_offsets, at_counts = extra_at, extra_at + 4 * n
    at_bps, at_format = at_counts + 4 * n, at_counts + 4 * n + 2 * c
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, c, at_bps),
            (259, 3, 1, 8), (262, 3, 1, 1), (273, 4, n, at_offsets),
            (277, 3, 1, c), (278, 4, 1, rows_per_strip),
            (279, 4, n, at_counts), (284, 3, 1, 2),
            (339, 3, c, at_format)]
    ifd = struct.pack('<H', len(tags))
    for tag, kind, count, value in tags:
        inline = kind == 3 and count == 1
        ifd += struct.pack('<HHI', tag, kind, count)
        ifd += struct.pack('<HH', value, 0) if inline else struct.pack(
            '<I', value)
    ifd += struct.pack('<I', 0)
    with open(path, 'wb') as f:
        f.write(b'II*\0' + struct.pack('<I', ifd_at) + data + extra)
        f.write(b'\0' * (ifd_at - extra_at - len(extra)) + ifd)
    return planes.reshape(c, h * w).T.copy()


def test_overlong_deflate_strips_read_the_same_in_chunks(tmp_path):
    # The libFuzzer finding 9dc23f5d (in the tiff-structured corpus): libtiff
    # gave such strips to libdeflate, took its "insufficient space" for
    # success and left the output buffer's end unwritten, so that the last
    # rows of a plane came out as whatever strip was decoded before: other
    # values in chunks than in a whole read, and wrong in both.
    rng = numpy.random.default_rng(7)
    planes = rng.standard_normal((3, 8, 27)).astype(numpy.float32)
    path = str(tmp_path / 'overlong.tif')
    expected = write_overlong_deflate_tiff(path, planes, 6)
    layout = layout_enum('channels')
    whole = matrix_of(Headrank.FeatureStack.new_from_file(path, layout, None))
    assert same_bits(whole, expected)
    for chunk in (1, 2, 7):
        r = Headrank.StackReader.new(path, layout, None)
        parts = []
        while True:
            s = r.read_chunk(chunk, None)
            if s is None:
                break
            parts.append(matrix_of(s))
        assert same_bits(numpy.concatenate(parts), expected), chunk


@pytest.mark.parametrize('tail, readable', [(100, True), (2 << 20, False)])
def test_deflate_strip_with_huge_tail_is_libtiffs(tmp_path, tail, readable):
    # A strip whose byte count claims far more than its zlib stream: libtiff
    # (TIFFFillStrip) refuses a stored strip over 1 MiB and over 10 times its
    # decoded size + 4096 bytes ("Too large strip byte count"), which makes
    # the strip damaged; the libdeflate path must hand such a strip to libtiff
    # rather than read the whole claim and inflate the stream at its start.
    # A small tail is within libtiff's limits: the values read as they are.
    rng = numpy.random.default_rng(11)
    planes = rng.standard_normal((3, 8, 27)).astype(numpy.float32)
    path = str(tmp_path / 'tail.tif')
    expected = write_overlong_deflate_tiff(path, planes, 8, b'\0' * tail)
    layout = layout_enum('channels')
    if readable:
        whole = Headrank.FeatureStack.new_from_file(path, layout, None)
        assert same_bits(matrix_of(whole), expected)
        return
    with pytest.raises(GLib.Error) as info:
        Headrank.FeatureStack.new_from_file(path, layout, None)
    assert info.value.matches(Headrank.stack_error_quark(),
                              Headrank.StackError.CORRUPT)
    assert 'Too large strip byte count' in info.value.message
    r = Headrank.StackReader.new(path, layout, None)
    with pytest.raises(GLib.Error) as info:
        r.read_chunk(5, None)
    assert info.value.matches(Headrank.stack_error_quark(),
                              Headrank.StackError.CORRUPT)
