# Compressed TIFF stacks are decoded a chunk ahead on a worker thread while the pass
# computes (issue 15 §4): the analysis of a deflate, LZW or tiled stack is the analysis of
# the same stack uncompressed to the bit, with and without a head; a damaged strip is an
# error of the read that reaches it; a cancelled pass leaves the reader usable.
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Gio, Headrank  # noqa: E402

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(ROOT / 'python'))
import headrank_numpy as hn  # noqa: E402

N, D = 12_000, 64
HEAD = ROOT / 'data' / 'head-viscy-v2.safetensors'  # 64 inputs


def embeddings(n=N, d=D, seed=15):
    """Rank 24 plus noise, float32 with every bit used (real embeddings hardly compress)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 24), dtype=np.float32) @ rng.standard_normal((24, d)).astype(
        np.float32)
    return x + 1e-3 * rng.standard_normal((n, d), dtype=np.float32)


CODECS = {
    'deflate': dict(compression='zlib', rowsperstrip=85),
    'lzw': dict(compression='lzw', rowsperstrip=85),
    'deflate-predictor': dict(compression='zlib', predictor=True, rowsperstrip=300),
    'tiled-deflate': dict(compression='zlib', tile=(256, 64)),
}


@pytest.fixture(scope='module')
def stacks(tmp_path_factory):
    folder = tmp_path_factory.mktemp('read-ahead')
    x = embeddings()
    paths = {'none': folder / 'none.tif'}
    tifffile.imwrite(paths['none'], x)
    for name, kw in CODECS.items():
        paths[name] = folder / f'{name}.tif'
        tifffile.imwrite(paths[name], x, **kw)
    return x, paths


def reader(path):
    return Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO, None)


def numbers(analysis):
    """Every stage's moments (their bytes as a part: mean, scatter matrix, counts, error
    bound), spectrum and per-sample table, to compare exactly."""
    out = []
    for i in range(analysis.get_n_stages()):
        stage = analysis.get_stage(i)
        out.append(bytes(stage.get_moments().to_bytes().get_data()))
        spectrum = stage.get_spectrum()
        if spectrum is not None:
            out.append(np.array(spectrum.get_eigenvalues()).tobytes())
        out.append(bytes(stage.get_per_sample().get_data()))
    return out


@pytest.mark.parametrize('codec', list(CODECS))
@pytest.mark.parametrize('with_head', [False, True], ids=['features', 'head'])
def test_analysis_of_compressed_equals_uncompressed(stacks, codec, with_head):
    x, paths = stacks
    kw = dict(weights=str(HEAD), arch='viscy-v2') if with_head else {}
    plain = hn.analyze(reader(paths['none']), **kw)
    packed = hn.analyze(reader(paths[codec]), **kw)
    a, b = numbers(plain), numbers(packed)
    assert len(a) == len(b) and len(a) >= 3
    assert a == b  # to the bit
    ra, rb = hn.report(plain), hn.report(packed)
    for sa, sb in zip(ra['stages'], rb['stages']):
        for key in ('rank', 'effective_rank', 'participation_ratio', 'rank_tolerance'):
            if key in sa:
                assert sa[key] == sb[key], key


def test_sequential_chunks_read_what_the_file_holds(stacks):
    x, paths = stacks
    for codec in CODECS:
        source = reader(paths[codec])
        got = []
        while True:
            chunk = source.read_chunk(2048, None)
            if chunk is None:
                break
            got.append(np.frombuffer(chunk.get_data().get_data(), np.float32).reshape(-1, D))
        assert np.array_equal(np.concatenate(got), x), codec
        # again after a rewind, and from the middle after a jump
        source.seek(6_789)
        chunk = source.read_chunk(1000, None)
        assert np.array_equal(
            np.frombuffer(chunk.get_data().get_data(), np.float32).reshape(-1, D),
            x[6_789:7_789]), codec


def damaged_copy(path, folder, strip):
    """@path with the compressed bytes of strip @strip overwritten by garbage."""
    with tifffile.TiffFile(path) as t:
        offset = t.pages[0].dataoffsets[strip]
        size = t.pages[0].databytecounts[strip]
    data = bytearray(Path(path).read_bytes())
    data[offset:offset + size] = bytes(range(7, 7 + size)) if size < 249 else \
        (bytes(range(7, 256)) * (size // 249 + 1))[:size]
    out = folder / f'damaged-{Path(path).name}'
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize('codec', ['deflate', 'lzw'])
def test_damaged_strip_fails_the_read_that_reaches_it(stacks, tmp_path, codec):
    x, paths = stacks
    strip = 100  # rows 8,500 to 8,584 (85 rows a strip)
    bad = damaged_copy(paths[codec], tmp_path, strip)
    # the reference: a fresh reader reading the chunk that holds the strip, nothing ahead
    fresh = reader(bad)
    fresh.seek(8_192)
    with pytest.raises(GLib.Error) as want:
        fresh.read_chunk(2048, None)
    assert want.value.domain == 'hr-stack-error-quark'
    # sequential chunks of 2,048: those before it arrive, right, then the one with it fails
    # with the same error, however far the worker had read ahead
    source = reader(bad)
    done = 0
    with pytest.raises(GLib.Error) as got:
        while True:
            chunk = source.read_chunk(2048, None)
            rows = np.frombuffer(chunk.get_data().get_data(), np.float32).reshape(-1, D)
            assert np.array_equal(rows, x[done:done + len(rows)])
            done += len(rows)
    assert done == 8_192
    assert (got.value.domain, got.value.code, got.value.message) == \
        (want.value.domain, want.value.code, want.value.message)
    # and the analysis stops with it
    with pytest.raises(GLib.Error) as analysed:
        hn.analyze(reader(bad))
    assert analysed.value.message == want.value.message


def test_cancelled_pass_leaves_the_reader_usable(stacks):
    x, paths = stacks
    plain = numbers(hn.analyze(reader(paths['none'])))
    source = reader(paths['deflate'])
    cancellable = Gio.Cancellable()

    def progress(fraction):
        if fraction > 0.3:
            cancellable.cancel()

    with pytest.raises(GLib.Error) as cancelled:
        hn.analyze(source, progress=progress, cancellable=cancellable)
    assert cancelled.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
    assert numbers(hn.analyze(source)) == plain
