#!/usr/bin/env python3
"""Generate the TIFF test fixtures for headrank.

What it makes
-------------
tests/data/tiff/   good feature-stack files (N samples x D features) in every
                   supported layout, sample format, compression, strip/tile
                   storage, byte order, plus a BigTIFF subset, written both by
                   tifffile and by libtiff's ``tiffcp``.
                   ``manifest.json`` describes every file; ``ref/*.f32`` holds
                   the expected N x D matrix (raw little-endian float32,
                   row-major, rows = samples) shared by all files of one
                   layout variant + dtype.
tests/data/bad/    malformed / unsupported / inconsistent inputs and a few
                   valid-but-special files (non-finite values), described by
                   ``bad/manifest.json`` ({"file", "expect", "why", ...}).

How to rerun (from the repository root)
---------------------------------------
    .venv/bin/python tests/data/make_fixtures.py

The script deletes and regenerates tests/data/tiff/ and tests/data/bad/.  It
is deterministic: fixed numpy seeds, no DateTime / Software tags, a fixed OME
UUID and Creator, so two runs give byte-identical files (for the same
versions of tifffile, imagecodecs and libtiff; compressed bytes may change
when a codec library changes).  After writing, it verifies every good file:
tifffile reads it back (per page, and per series where there is metadata)
to the reference values, its tags match the manifest, ``tiffinfo -D``
exits 0 with nothing on stderr, and libtiff itself (called through ctypes,
every strip/tile, every return value checked) decodes the same values.
It then prints what libtiff says about each bad/ file.  How each bad/ file
is made is documented in write_bad().

Cross product: every (variant, dtype, compression, strips|tiles,
little|big) cell is one file.  The predictor (2 for integers, 3 for
floats) is switched on for every other lzw/deflate/zstd/lzma cell; about a
third of the cells (rotating) are written by tiffcp from an uncompressed
tifffile source with the same metadata (-c lzw:2 / zip:3 / zstd / lzma /
packbits / none, -s -r 4 or -t -w 16 -l 16, -L or -B, -8, -p separate).
Needs: numpy, tifffile, imagecodecs; /usr/bin/tiffcp and /usr/bin/tiffinfo
(libtiff-tools, tested with libtiff 4.5.0, tifffile 2026.3.3).

Layouts (how a file maps to the N x D matrix)
---------------------------------------------
matrix            one 2-D page, height = N, width = D (N=37, D=35).
channels-pages    C pages of Y x X (C=5, Y=19, X=21); sample n = y*X + x,
                  feature c.  ImageJ hyperstack metadata for the dtypes
                  tifffile's ImageJ mode accepts (uint8, uint16, int16,
                  float32), otherwise tifffile "shaped" JSON description
                  {"shape": [5, 19, 21], "axes": "CYX"}.
channels-pages-tzcyx  ImageJ TZCYX, T=2, Z=3, C=4, Y=9, X=11 (float32,
                  uint16); n = ((t*Z + z)*Y + y)*X + x.
channels-pages-ome    OME-TIFF, axes CYX, float32.
channels-contig   one page Y x X with C samples per pixel, planarconfig 1.
channels-planar   same, planarconfig 2 (separate).
pages-row         13 pages of 1 x 35, one sample per page.
pages-map         13 pages of 5 x 7, one sample per page, flattened row-major.

Combinations skipped or rerouted
--------------------------------
* ImageJ metadata with int8, uint32, int32, float16, float64: tifffile raises
  "the ImageJ format does not support data type"; those channels-pages files
  use the tifffile JSON description instead (manifest "metadata":
  "tifffile-json").  (int16 IS accepted by tifffile's ImageJ mode and is
  written with SampleFormat=INT.)
* OME-TIFF with float16: tifffile raises OmeXmlError (not an OME pixel type);
  OME is float32-only here anyway.
* ImageJ + BigTIFF via tifffile: tifffile warns "nonconformant BigTIFF
  ImageJ"; the ImageJ BigTIFF files are made with ``tiffcp -8`` instead.
* 24-bit integers: tifffile refuses bitspersample=24 with compression; the
  bad/ 24-bit files are made by patching an 8-bit file.
* TIFFCP_FP_BE: libtiff 4.5.0 (tiffcp) writes wrong data for the
  floating-point predictor in a non-native byte order (``tiffcp -B -c
  zip:3`` on a little-endian host): every sample comes back byte-swapped,
  both in tifffile and in libtiff itself.  Such cells are written by
  tifffile instead (tifffile's big-endian predictor-3 files decode
  correctly in libtiff), and the big-endian tiffcp BigTIFF files use no
  predictor for floats.
* TIFFCP_PLANAR: tiffcp 4.5.0 cannot convert contig -> separate for
  samples wider than 8 bits ("Cannot handle different planar configuration
  w/ bits/sample != 8"), and it silently scrambles samples wider than 8
  bits of planes 1..C-1 whenever it writes a separate-planar *tiled* file
  (even a plain copy of a correct tiled planar file).  Strip output is
  fine.  So channels-planar tiled files with >8-bit samples are all written
  by tifffile; see tiffcp_write() for how the other planar tiffcp files
  are made.
Nothing else in the cross product was refused: tifffile writes packbits for
float data, the horizontal predictor for int8, the floating-point predictor
for float16, and 16x16 tiles on 1-row pages.
"""

import ctypes
import ctypes.util
import io
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent
TIFF_DIR = HERE / 'tiff'
BAD_DIR = HERE / 'bad'
TIFFCP = '/usr/bin/tiffcp'
TIFFINFO = '/usr/bin/tiffinfo'

SEED = 20240611

DTYPES = ['uint8', 'uint16', 'uint32', 'int8', 'int16', 'int32',
          'float16', 'float32', 'float64']
COMPRESSIONS = ['none', 'lzw', 'deflate', 'packbits', 'zstd', 'lzma']
PREDICTABLE = {'lzw', 'deflate', 'zstd', 'lzma'}
TIFFFILE_COMPRESSION = {'none': None, 'lzw': 'lzw',
                        'deflate': 'adobe_deflate', 'packbits': 'packbits',
                        'zstd': 'zstd', 'lzma': 'lzma'}
TIFFCP_COMPRESSION = {'none': 'none', 'lzw': 'lzw', 'deflate': 'zip',
                      'packbits': 'packbits', 'zstd': 'zstd', 'lzma': 'lzma'}
COMPRESSION_CODE = {'none': 1, 'lzw': 5, 'deflate': 8, 'packbits': 32773,
                    'zstd': 50000, 'lzma': 34925}
IMAGEJ_DTYPES = {'uint8', 'uint16', 'int16', 'float32'}
ROWSPERSTRIP = 4
TILE = (16, 16)
OME_METADATA = {'UUID': 'urn:uuid:7e3f2a10-0000-4000-8000-68656164726b',
                'Creator': 'headrank make_fixtures.py'}

# Layout variants: geometry of the stored array and its mapping to N x D.
VARIANTS = {
    'matrix': dict(layout='matrix', n=37, d=35, height=37, width=35),
    'channels-pages': dict(layout='channels', Y=19, X=21, C=5),
    'channels-pages-tzcyx': dict(layout='channels', T=2, Z=3, C=4, Y=9,
                                 X=11),
    'channels-pages-ome': dict(layout='channels', Y=19, X=21, C=5),
    'channels-contig': dict(layout='channels', Y=19, X=21, C=5),
    'channels-planar': dict(layout='channels', Y=19, X=21, C=5),
    'pages-row': dict(layout='pages', n=13, height=1, width=35),
    'pages-map': dict(layout='pages', n=13, height=5, width=7),
}
# The variants that get the full dtype x compression x storage x byteorder
# cross product.
CROSS_VARIANTS = ['matrix', 'channels-pages', 'channels-contig',
                  'channels-planar', 'pages-row', 'pages-map']


def variant_nd(variant):
    v = VARIANTS[variant]
    if v['layout'] == 'channels':
        return v.get('T', 1) * v.get('Z', 1) * v['Y'] * v['X'], v['C']
    if v['layout'] == 'pages':
        return v['n'], v['height'] * v['width']
    return v['n'], v['d']


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

def stable_rng(*keys):
    """numpy Generator seeded from SEED and a stable hash of keys."""
    h = zlib.crc32('/'.join(keys).encode())
    return np.random.default_rng([SEED, h])


def plant(m, values):
    """Put special values at fixed, spread-out positions of m (in place)."""
    flat = m.reshape(-1)
    step = max(1, flat.size // (len(values) + 1))
    for i, v in enumerate(values):
        flat[(i + 1) * step - 1] = v


def make_values(variant, dtype):
    """Logical N x D matrix in the file's own dtype."""
    n, d = variant_nd(variant)
    rng = stable_rng(variant, dtype)
    dt = np.dtype(dtype)
    shape = (n, d)
    if dt.kind in 'ui':
        info = np.iinfo(dt)
        m = rng.integers(info.min, info.max, size=shape, dtype=dt,
                         endpoint=True)
        special = [info.min, info.max, 0, 1, info.max - 1]
        if dt.kind == 'i':
            special += [-1, info.min + 1]
        if dt.itemsize == 4:
            # not representable in float32: exercise rounding
            special += [16777217, 16777219, 2**31 - 1, 2**24 + 3]
            if dt.kind == 'u':
                special += [2**32 - 1, 2**32 - 129, 2**32 - 128, 2**31]
            else:
                special += [-16777217, -(2**31) + 1, -(2**30) - 65]
        plant(m, special)
        return m
    sign = rng.choice([-1.0, 1.0], size=shape)
    if dt == np.float16:
        # normal float16 values, exponents -14..15, then cast (exact)
        e = rng.integers(-14, 16, size=shape)
        mant = rng.uniform(1.0, 2.0, size=shape)
        m = (sign * mant * 2.0**e).astype(np.float16)
        m[~np.isfinite(m)] = 1.0
        special = [65504.0, -65504.0, 2.0**-24, -(2.0**-24), 2.0**-14,
                   6.0e-5, -0.0, 0.0, 1.0, -1.0, 0.5]
        plant(m, np.array(special, dtype=np.float16))
        return m
    if dt == np.float32:
        e = rng.integers(-60, 61, size=shape)
        mant = rng.uniform(1.0, 2.0, size=shape)
        m = (sign * mant * 2.0**e).astype(np.float32)
        f32 = np.finfo(np.float32)
        special = np.array(
            [np.float32(1e-45), -np.float32(1e-45),       # smallest subnormal
             np.float32(1.1754942e-38),                   # largest subnormal
             np.float32(-3.0e-39), np.float32(2.5e-40),   # subnormals
             f32.tiny, -0.0, 0.0, f32.max, -f32.max,
             np.float32(0.1), np.float32(-1.0)], dtype=np.float32)
        plant(m, special)
        return m
    # float64: full 52-bit mantissas so rounding to float32 matters
    e = rng.integers(-40, 41, size=shape)
    mant = rng.uniform(1.0, 2.0, size=shape)
    m = sign * mant * 2.0**e
    special = [1.0 + 2.0**-24,            # tie -> 1.0 (even)
               1.0 + 3 * 2.0**-24,        # tie -> 1 + 2**-22 (even)
               -(1.0 + 2.0**-24),
               1.0 + 2.0**-24 + 2.0**-40,  # just above tie -> rounds up
               0.1, -0.1, 1.0 / 3.0,
               1e-40, -3e-39,             # become float32 subnormals
               1e-50,                     # underflows to +0.0
               -1e-50,                    # underflows to -0.0
               3.4028235e38,              # > FLT_MAX, rounds down to FLT_MAX
               -3.4028234663852886e38, -0.0, 0.0,
               16777217.0, 123456789.123456789]
    plant(m, special)
    return m


def to_stored(variant, m):
    """Logical N x D matrix -> array as handed to the TIFF writer."""
    v = VARIANTS[variant]
    if variant == 'matrix':
        return m.copy()
    if variant in ('channels-pages', 'channels-pages-ome',
                   'channels-planar'):
        return np.ascontiguousarray(m.T.reshape(v['C'], v['Y'], v['X']))
    if variant == 'channels-pages-tzcyx':
        a = m.reshape(v['T'], v['Z'], v['Y'], v['X'], v['C'])
        return np.ascontiguousarray(a.transpose(0, 1, 4, 2, 3))
    if variant == 'channels-contig':
        return np.ascontiguousarray(m.reshape(v['Y'], v['X'], v['C']))
    if variant.startswith('pages-'):
        return np.ascontiguousarray(m.reshape(v['n'], v['height'],
                                              v['width']))
    raise ValueError(variant)


def pages_to_matrix(variant, pages):
    """List of per-page arrays (as tifffile returns them) -> N x D."""
    v = VARIANTS[variant]
    if variant == 'matrix':
        assert len(pages) == 1 and pages[0].ndim == 2
        return pages[0]
    if variant in ('channels-pages', 'channels-pages-ome'):
        return np.stack(pages).reshape(v['C'], -1).T
    if variant == 'channels-pages-tzcyx':
        a = np.stack(pages).reshape(v['T'], v['Z'], v['C'], v['Y'], v['X'])
        return a.transpose(0, 1, 3, 4, 2).reshape(-1, v['C'])
    if variant == 'channels-contig':
        assert len(pages) == 1 and pages[0].shape == (v['Y'], v['X'],
                                                      v['C'])
        return pages[0].reshape(-1, v['C'])
    if variant == 'channels-planar':
        assert len(pages) == 1 and pages[0].shape == (v['C'], v['Y'],
                                                      v['X'])
        return pages[0].reshape(v['C'], -1).T
    if variant.startswith('pages-'):
        return np.stack(pages).reshape(len(pages), -1)
    raise ValueError(variant)


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------

def metadata_kind(variant, dtype):
    if variant == 'channels-pages-ome':
        return 'ome'
    if variant == 'channels-pages-tzcyx':
        return 'imagej'
    if variant == 'channels-pages':
        return 'imagej' if dtype in IMAGEJ_DTYPES else 'tifffile-json'
    return 'none'


def tifffile_write(path, variant, arr, meta, compression='none',
                   predictor=1, tiled=False, byteorder='little',
                   bigtiff=False, planar_override=None):
    kw = dict(photometric='minisblack', software=False, datetime=None,
              compression=TIFFFILE_COMPRESSION[compression],
              predictor=predictor if predictor > 1 else None)
    if tiled:
        kw['tile'] = TILE
    else:
        kw['rowsperstrip'] = ROWSPERSTRIP
    planar = planar_override
    if planar is None:
        planar = {'channels-contig': 'contig',
                  'channels-planar': 'separate'}.get(variant)
    if planar:
        kw['planarconfig'] = planar
    if meta == 'imagej':
        axes = 'TZCYX' if variant == 'channels-pages-tzcyx' else 'CYX'
        kw['metadata'] = {'axes': axes}
    elif meta == 'ome':
        kw['metadata'] = dict(OME_METADATA, axes='CYX')
    elif meta == 'tifffile-json':
        kw['metadata'] = {'axes': 'CYX'}
    else:
        kw['metadata'] = None
    with tifffile.TiffWriter(path, byteorder='<' if byteorder == 'little'
                             else '>', bigtiff=bigtiff,
                             imagej=(meta == 'imagej'),
                             ome=(meta == 'ome')) as tw:
        tw.write(arr, **kw)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or r.stderr.strip():
        raise RuntimeError(f'{cmd}: rc={r.returncode} {r.stderr.strip()}')
    return r


def tiffcp_write(path, variant, arr, meta, compression, predictor, tiled,
                 byteorder, bigtiff, tmpdir):
    """Write an uncompressed little-endian strip source with tifffile, then
    convert it with libtiff's tiffcp.  8-bit channels-planar sources are
    written contig and converted with ``-p separate``."""
    src = Path(tmpdir) / ('src-' + path.name)
    # tiffcp 4.5.0 only converts contig -> separate for 8-bit samples, so
    # 8-bit planar sources are contig (converted with -p separate); wider
    # planar sources are written separate (strips only, TIFFCP_PLANAR).
    to_planar = variant == 'channels-planar' and arr.dtype.itemsize == 1
    if to_planar:
        src_arr = np.ascontiguousarray(np.moveaxis(arr, 0, -1))
        tifffile_write(src, 'channels-contig', src_arr, meta)
    else:
        tifffile_write(src, variant, arr, meta)
    c = TIFFCP_COMPRESSION[compression]
    if predictor > 1:
        c += f':{predictor}'
    cmd = [TIFFCP, '-c', c]
    cmd += ['-t', '-w', str(TILE[1]), '-l', str(TILE[0])] if tiled else \
        ['-s', '-r', str(ROWSPERSTRIP)]
    cmd.append('-B' if byteorder == 'big' else '-L')
    if bigtiff:
        cmd.append('-8')
    if to_planar:
        cmd += ['-p', 'separate']
    cmd += [str(src), str(path)]
    run(cmd)
    src.unlink()
    return cmd


# ---------------------------------------------------------------------------
# Good fixtures
# ---------------------------------------------------------------------------

def file_entry(variant, dtype, compression, predictor, tiled, byteorder,
               bigtiff, writer):
    v = VARIANTS[variant]
    n, d = variant_nd(variant)
    meta = metadata_kind(variant, dtype)
    name = f'{dtype}-{compression}'
    if predictor > 1:
        name += f'-p{predictor}'
    name += '-tiles' if tiled else '-strips'
    name += '-be' if byteorder == 'big' else '-le'
    if bigtiff:
        name += '-bigtiff'
    if writer == 'tiffcp':
        name += '-tiffcp'
    if v['layout'] == 'channels':
        width, height = v['X'], v['Y']
        depth, frames, channels = v.get('Z', 1), v.get('T', 1), v['C']
        pages = 1 if variant in ('channels-contig', 'channels-planar') \
            else frames * depth * channels
    else:
        width, height = v['width'], v['height']
        depth = frames = channels = 1
        pages = v['n'] if v['layout'] == 'pages' else 1
    return {
        'file': f'{variant}/{name}.tif', 'layout': v['layout'],
        'variant': variant, 'dtype': dtype, 'compression': compression,
        'predictor': predictor, 'tiled': tiled, 'byteorder': byteorder,
        'bigtiff': bigtiff, 'writer': writer, 'metadata': meta,
        'n': n, 'd': d, 'width': width, 'height': height, 'depth': depth,
        'frames': frames, 'channels': channels, 'pages': pages,
        'reference': f'ref/{variant}-{dtype}.f32',
    }


def pick_predictor(dtype, compression, on):
    if compression not in PREDICTABLE or not on:
        return 1
    return 3 if np.dtype(dtype).kind == 'f' else 2


def good_plan():
    """List of manifest entries (without writing anything)."""
    plan = []
    # 1. full cross product for the main variants
    for vi, variant in enumerate(CROSS_VARIANTS):
        for di, dtype in enumerate(DTYPES):
            i = 0
            for ci, comp in enumerate(COMPRESSIONS):
                for ti, tiled in enumerate((False, True)):
                    for bi, bo in enumerate(('little', 'big')):
                        pred = pick_predictor(
                            dtype, comp, (ci + ti + bi + di + vi) % 2 == 0)
                        writer = 'tiffcp' if (i + di + vi) % 3 == 1 \
                            else 'tifffile'
                        # tiffcp 4.5.0 bugs, see TIFFCP_FP_BE and
                        # TIFFCP_PLANAR in the module docstring
                        if writer == 'tiffcp' and (
                                (bo == 'big' and pred == 3) or
                                (variant == 'channels-planar' and tiled and
                                 np.dtype(dtype).itemsize > 1)):
                            writer = 'tifffile'
                        plan.append(file_entry(variant, dtype, comp, pred,
                                               tiled, bo, False, writer))
                        i += 1
    # 2. ImageJ TZCYX hyperstacks
    for dtype in ('float32', 'uint16'):
        for comp, pon, tiled, bo, writer in [
                ('none', False, False, 'little', 'tifffile'),
                ('zstd', True, True, 'big', 'tifffile'),
                ('lzw', True, False, 'little', 'tiffcp'),
                ('deflate', False, True, 'big', 'tiffcp')]:
            plan.append(file_entry('channels-pages-tzcyx', dtype, comp,
                                   pick_predictor(dtype, comp, pon), tiled,
                                   bo, False, writer))
    # 3. OME-TIFF
    for comp, pon, tiled, bo, writer in [
            ('none', False, False, 'little', 'tifffile'),
            ('deflate', True, True, 'big', 'tifffile'),
            ('lzma', False, False, 'big', 'tiffcp'),
            ('zstd', True, True, 'little', 'tiffcp')]:
        plan.append(file_entry('channels-pages-ome', 'float32', comp,
                               pick_predictor('float32', comp, pon), tiled,
                               bo, False, writer))
    # 4. BigTIFF subset: every dtype twice; (A) tifffile, strips, little
    # endian; (B) tiffcp -8, tiles, big endian.
    non_imagej = ['matrix', 'channels-contig', 'channels-planar',
                  'pages-row', 'pages-map']
    for k, dtype in enumerate(DTYPES):
        ca = COMPRESSIONS[k % 6]
        plan.append(file_entry(non_imagej[k % 5], dtype, ca,
                               pick_predictor(dtype, ca, True), False,
                               'little', True, 'tifffile'))
        cb = COMPRESSIONS[(k + 3) % 6]
        pb = pick_predictor(dtype, cb, True)
        plan.append(file_entry(CROSS_VARIANTS[k % 6], dtype, cb,
                               1 if pb == 3 else pb, True,  # TIFFCP_FP_BE
                               'big', True, 'tiffcp'))
    names = [e['file'] for e in plan]
    assert len(names) == len(set(names))
    return plan


def write_good():
    shutil.rmtree(TIFF_DIR, ignore_errors=True)
    (TIFF_DIR / 'ref').mkdir(parents=True)
    plan = good_plan()
    values = {}
    for e in plan:
        key = (e['variant'], e['dtype'])
        if key not in values:
            m = make_values(*key)
            values[key] = m
            ref = m.astype(np.float32)
            assert np.isfinite(ref).all(), key
            (TIFF_DIR / e['reference']).write_bytes(
                ref.astype('<f4').tobytes())
    with tempfile.TemporaryDirectory() as tmpdir:
        for e in plan:
            path = TIFF_DIR / e['file']
            path.parent.mkdir(exist_ok=True)
            arr = to_stored(e['variant'], values[(e['variant'], e['dtype'])])
            if e['writer'] == 'tifffile':
                tifffile_write(path, e['variant'], arr, e['metadata'],
                               e['compression'], e['predictor'], e['tiled'],
                               e['byteorder'], e['bigtiff'])
            else:
                tiffcp_write(path, e['variant'], arr, e['metadata'],
                             e['compression'], e['predictor'], e['tiled'],
                             e['byteorder'], e['bigtiff'], tmpdir)
    (TIFF_DIR / 'manifest.json').write_text(json.dumps(plan, indent=1) + '\n')
    (TIFF_DIR / 'README.md').write_text(README)
    return plan


README = """\
# headrank TIFF fixtures (generated — do not edit by hand)

* `<variant>/*.tif`: feature stacks in the layouts matrix, channels (pages,
  contig, planar, ImageJ TZCYX, OME) and pages, for every sample format x
  compression x strips/tiles x byte order, plus BigTIFF files; written by
  tifffile or by libtiff's `tiffcp` (see the `writer` field).
* `manifest.json`: one object per file (layout, dtype, compression, ...).
* `ref/<variant>-<dtype>.f32`: expected N x D matrix, raw little-endian
  float32, row-major, rows = samples.
* Regenerate (deterministic): `.venv/bin/python tests/data/make_fixtures.py`
  (also rewrites `../bad/`); see the docstring of that script for details.
"""


# ---------------------------------------------------------------------------
# Verification of good fixtures
# ---------------------------------------------------------------------------

def read_pages(path):
    with tifffile.TiffFile(path) as tf:
        tf.pages.useframes = False
        pages = [tf.pages[i] for i in range(len(tf.pages))]
        info = dict(
            npages=len(pages), byteorder=tf.byteorder,
            bigtiff=tf.is_bigtiff, imagej=tf.is_imagej, ome=tf.is_ome,
            shaped=tf.is_shaped,
            description=pages[0].description,
            compression=[int(p.compression) for p in pages],
            predictor=[int(p.predictor) for p in pages],
            tiled=[p.is_tiled for p in pages],
            planar=[int(p.planarconfig) for p in pages],
            dtype=[p.dtype for p in pages],
            rowsperstrip=[p.rowsperstrip for p in pages],
            nstrips=[len(p.dataoffsets) for p in pages],
        )
        arrays = [p.asarray() for p in pages]
        series = tf.series[0].asarray()
    return arrays, info, series


# libtiff through ctypes: an independent decoder for verification.
_lt = ctypes.CDLL(ctypes.util.find_library('tiff') or 'libtiff.so.6')
_VP, _U32, _SSIZE = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_ssize_t
_lt.TIFFOpen.restype = _VP
_lt.TIFFOpen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
for _name, _res, _args in [
        ('TIFFClose', None, [_VP]),
        ('TIFFIsTiled', ctypes.c_int, [_VP]),
        ('TIFFReadDirectory', ctypes.c_int, [_VP]),
        ('TIFFNumberOfStrips', _U32, [_VP]),
        ('TIFFNumberOfTiles', _U32, [_VP]),
        ('TIFFStripSize', _SSIZE, [_VP]),
        ('TIFFTileSize', _SSIZE, [_VP]),
        ('TIFFReadEncodedStrip', _SSIZE, [_VP, _U32, _VP, _SSIZE]),
        ('TIFFReadEncodedTile', _SSIZE, [_VP, _U32, _VP, _SSIZE])]:
    getattr(_lt, _name).restype = _res
    getattr(_lt, _name).argtypes = _args
_lt.TIFFGetFieldDefaulted.restype = ctypes.c_int
# silence libtiff's in-process messages; every return value is checked and
# tiffinfo's stderr is reported separately
_lt.TIFFSetErrorHandler.restype = _VP
_lt.TIFFSetErrorHandler.argtypes = [_VP]
_lt.TIFFSetWarningHandler.restype = _VP
_lt.TIFFSetWarningHandler.argtypes = [_VP]
_lt.TIFFSetErrorHandler(None)
_lt.TIFFSetWarningHandler(None)


def _field(tif, tag, ctype=ctypes.c_uint32):
    v = ctype()
    if not _lt.TIFFGetFieldDefaulted(_VP(tif), _U32(tag), ctypes.byref(v)):
        return None
    return v.value


def libtiff_read_pages(path):
    """Decode every strip/tile of every IFD with libtiff itself (ctypes),
    checking every return value, and assemble the pages in tifffile's page
    shapes: (H, W), (H, W, C) for contig, (C, H, W) for separate."""
    tif = _lt.TIFFOpen(str(path).encode(), b'r')
    if not tif:
        raise IOError('TIFFOpen failed')
    pages = []
    try:
        while True:
            W, H = _field(tif, 256), _field(tif, 257)
            bps = _field(tif, 258, ctypes.c_uint16)
            spp = _field(tif, 277, ctypes.c_uint16)
            fmt = _field(tif, 339, ctypes.c_uint16)
            planar = _field(tif, 284, ctypes.c_uint16)
            dt = np.dtype({1: 'u', 2: 'i', 3: 'f'}[fmt] + str(bps // 8))
            sep = planar == 2 and spp > 1
            planes, per = (spp, 1) if sep else (1, spp)
            if W * H * spp > 2**28:
                raise MemoryError(f'{W}x{H}x{spp}: refusing to decode')
            out = np.zeros((planes, H, W, per), dt)
            if _lt.TIFFIsTiled(tif):
                tw, tl = _field(tif, 322), _field(tif, 323)
                size = _lt.TIFFTileSize(tif)
                across, down = -(-W // tw), -(-H // tl)
                assert _lt.TIFFNumberOfTiles(tif) == across * down * planes
                buf = np.empty(size, np.uint8)
                for p in range(planes):
                    for ty in range(down):
                        for tx in range(across):
                            i = (p * down + ty) * across + tx
                            n = _lt.TIFFReadEncodedTile(
                                tif, i, buf.ctypes.data, size)
                            if n != size:
                                raise IOError(f'tile {i}: {n}')
                            t = buf.view(dt).reshape(tl, tw, per)
                            y0, x0 = ty * tl, tx * tw
                            h, w = min(tl, H - y0), min(tw, W - x0)
                            out[p, y0:y0 + h, x0:x0 + w] = t[:h, :w]
            else:
                rps = min(_field(tif, 278), H)
                nper = -(-H // rps)
                assert _lt.TIFFNumberOfStrips(tif) == nper * planes
                buf = np.empty(_lt.TIFFStripSize(tif), np.uint8)
                for p in range(planes):
                    for s in range(nper):
                        i = p * nper + s
                        rows = min(rps, H - s * rps)
                        want = rows * W * per * dt.itemsize
                        n = _lt.TIFFReadEncodedStrip(
                            tif, i, buf.ctypes.data, -1)
                        if n != want:
                            raise IOError(f'strip {i}: {n} != {want}')
                        out[p, s * rps:s * rps + rows] = \
                            buf[:want].view(dt).reshape(rows, W, per)
            if sep:
                pages.append(out[:, :, :, 0])
            elif spp > 1:
                pages.append(out[0])
            else:
                pages.append(out[0, :, :, 0])
            if not _lt.TIFFReadDirectory(tif):
                break
    finally:
        _lt.TIFFClose(tif)
    return pages


def same_f32(a, b):
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32),
                                                 b.view(np.uint32))


def verify_good(plan):
    problems = []
    facts = {}
    descs = {}
    for e in plan:
        path = TIFF_DIR / e['file']
        ref = np.fromfile(TIFF_DIR / e['reference'], dtype='<f4')
        ref = ref.reshape(e['n'], e['d'])
        arrays, info, series = read_pages(path)
        m = pages_to_matrix(e['variant'], arrays)
        errs = []
        if not same_f32(m.astype(np.float32), ref):
            errs.append('values differ from reference')
        if info['npages'] != e['pages']:
            errs.append(f"pages {info['npages']}")
        if any(str(dt) != e['dtype'] for dt in info['dtype']):
            errs.append(f"dtype {info['dtype']}")
        if set(info['compression']) != {COMPRESSION_CODE[e['compression']]}:
            errs.append(f"compression {info['compression']}")
        if set(info['predictor']) != {e['predictor']}:
            errs.append(f"predictor {info['predictor']}")
        if set(info['tiled']) != {e['tiled']}:
            errs.append(f"tiled {info['tiled']}")
        if info['byteorder'] != ('<' if e['byteorder'] == 'little'
                                 else '>'):
            errs.append(f"byteorder {info['byteorder']}")
        if info['bigtiff'] != e['bigtiff']:
            errs.append('bigtiff')
        want_planar = 2 if e['variant'] == 'channels-planar' else 1
        if e['variant'] in ('channels-contig', 'channels-planar') and \
                info['planar'] != [want_planar]:
            errs.append(f"planar {info['planar']}")
        kind = ('ome' if info['ome'] else 'imagej' if info['imagej']
                else 'tifffile-json' if info['shaped'] else 'none')
        if kind != e['metadata']:
            errs.append(f'metadata {kind}')
        if e['metadata'] == 'none' and info['description']:
            errs.append('unexpected description')
        if not e['tiled']:
            rps = info['rowsperstrip'][0]
            if rps not in (ROWSPERSTRIP, min(ROWSPERSTRIP,
                                             e['height'])):
                errs.append(f'rowsperstrip {rps}')
        if e['metadata'] != 'none':
            # the series (metadata interpretation) must agree too
            v = VARIANTS[e['variant']]
            want = tuple(x for x in (v.get('T', 1), v.get('Z', 1))
                         if x > 1) + (v['C'], v['Y'], v['X'])
            if series.shape != want:
                errs.append(f'series shape {series.shape}')
            elif not same_f32(pages_to_matrix(
                    e['variant'], list(series.reshape(-1, v['Y'],
                                                      v['X']))), ref):
                errs.append('series values differ')
        # libtiff: tiffinfo -D decodes all strips/tiles
        r = subprocess.run([TIFFINFO, '-D', str(path)],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            errs.append(f'tiffinfo rc={r.returncode} {r.stderr.strip()}')
        # libtiff's own decoding must give the same values
        try:
            if not same_f32(pages_to_matrix(
                    e['variant'], libtiff_read_pages(path)), ref):
                errs.append('libtiff-decoded values differ')
        except Exception as exc:  # noqa: BLE001
            errs.append(f'libtiff decode failed: {exc}')
        # the description must not depend on the writer
        dkey = (e['variant'], e['dtype'])
        desc = info['description']
        if descs.setdefault(dkey, desc) != desc:
            errs.append('ImageDescription differs from other writer')
        facts.setdefault('rps', set()).add(
            (e['writer'], e['height'], info['rowsperstrip'][0],
             e['tiled']))
        if errs:
            problems.append((e['file'], errs))
        if e['compression'] == 'none' and e['writer'] == 'tifffile':
            facts.setdefault('desc', {})[e['metadata']] = \
                info['description']
    return problems, facts


# ---------------------------------------------------------------------------
# Bad fixtures
# ---------------------------------------------------------------------------

TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8,
             11: 4, 12: 8, 16: 8}


class ClassicTiff:
    """Minimal classic-TIFF IFD patcher (first IFD only)."""

    def __init__(self, data):
        self.buf = bytearray(data)
        self.bo = {b'II': '<', b'MM': '>'}[bytes(self.buf[:2])]
        assert self.u16(2) == 42, 'classic TIFF only'
        self.ifd = self.u32(4)

    def u16(self, pos):
        return struct.unpack_from(self.bo + 'H', self.buf, pos)[0]

    def u32(self, pos):
        return struct.unpack_from(self.bo + 'I', self.buf, pos)[0]

    def entries(self):
        n = self.u16(self.ifd)
        out = {}
        for i in range(n):
            pos = self.ifd + 2 + 12 * i
            code, typ, count = struct.unpack_from(self.bo + 'HHI', self.buf,
                                                  pos)
            out[code] = (pos, typ, count)
        return out

    def values(self, code):
        pos, typ, count = self.entries()[code]
        size = TYPE_SIZE[typ] * count
        vpos = pos + 8 if size <= 4 else self.u32(pos + 8)
        fmt = {3: 'H', 4: 'I'}[typ]
        return vpos, typ, list(struct.unpack_from(
            self.bo + fmt * count, self.buf, vpos))

    def set_scalar(self, code, value):
        """Rewrite a count-1 tag as LONG with the given value."""
        pos, typ, count = self.entries()[code]
        assert count == 1
        struct.pack_into(self.bo + 'HHI', self.buf, pos, code, 4, 1)
        struct.pack_into(self.bo + 'I', self.buf, pos + 8, value)

    def set_value(self, code, index, value):
        vpos, typ, _ = self.values(code)
        fmt = {3: 'H', 4: 'I'}[typ]
        struct.pack_into(self.bo + fmt, self.buf,
                         vpos + index * TYPE_SIZE[typ], value)


def tif_bytes(arr, **kw):
    """tifffile-written classic little-endian file, no metadata."""
    kw.setdefault('photometric', 'minisblack')
    b = io.BytesIO()
    tifffile.imwrite(b, arr, software=False, datetime=None, metadata=None,
                     **kw)
    return b.getvalue()


def tif_multi(pages, **kw):
    """Several writes into one file: one IFD per array, no metadata."""
    b = io.BytesIO()
    with tifffile.TiffWriter(b) as tw:
        for p in pages:
            tw.write(p, photometric='minisblack', software=False,
                     datetime=None, metadata=None, **kw)
    return b.getvalue()


def png_bytes():
    """A valid 1x1 8-bit greyscale PNG."""
    def chunk(tag, data):
        return (struct.pack('>I', len(data)) + tag + data +
                struct.pack('>I', zlib.crc32(tag + data)))
    return (b'\x89PNG\r\n\x1a\n' +
            chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 0, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(b'\x00\x80')) + chunk(b'IEND', b''))


def write_bad():
    shutil.rmtree(BAD_DIR, ignore_errors=True)
    BAD_DIR.mkdir(parents=True)
    rng = stable_rng('bad')
    entries = []

    def add(name, data, expect, why, **extra):
        (BAD_DIR / name).write_bytes(bytes(data))
        entries.append(dict(file=name, expect=expect, why=why, **extra))

    mat = rng.normal(size=(37, 35)).astype(np.float32)

    # --- not TIFF at all ---
    add('empty.tif', b'', 'not-tiff', 'zero-length file')
    add('text.tif', b'This is a plain text file, not a TIFF image.\n' * 3,
        'not-tiff', 'ASCII text')
    add('png.tif', png_bytes(), 'not-tiff',
        'a valid 1x1 PNG with a .tif name (PNG signature)')
    good = tif_bytes(mat)
    add('bad-magic.tif', b'IM' + good[2:], 'not-tiff',
        'byte-order mark "IM" instead of "II"/"MM" (rest is a valid file)')

    # --- truncation ---
    # uncompressed, rowsperstrip 4 (10 strips) so libtiff's single-strip
    # "bogus StripByteCounts" repair heuristic does not kick in.
    data = tif_bytes(mat, rowsperstrip=4)
    t = ClassicTiff(data)
    offs = t.values(273)[2]
    counts = t.values(279)[2]
    start, end = offs[0], offs[-1] + counts[-1]
    assert end == len(data)
    cut = start + (end - start) // 2
    add('truncated.tif', data[:cut], 'truncated',
        f'uncompressed 37x35 float32, 10 strips; file cut at byte {cut}, '
        f'half-way through the pixel data ({start}..{end})')
    # IFD cut: tifffile writes the IFD right after the 8-byte header
    ifd = t.ifd
    cut = ifd + 2 + 12 * 4 + 5
    add('truncated-header.tif', data[:cut], 'truncated',
        f'same file cut at byte {cut}: inside the first IFD (after 4 of '
        f'{t.u16(ifd)} entries), so the directory itself is incomplete')

    t = ClassicTiff(data)
    t.set_value(273, 5, len(data) + 4096)
    add('strip-offset-past-end.tif', t.buf, 'truncated',
        'uncompressed 37x35 float32, 10 strips; StripOffsets[5] patched to '
        'EOF+4096')

    tiled = tif_bytes(mat, tile=(16, 16))
    t = ClassicTiff(tiled)
    t.set_value(324, 4, len(tiled) + 4096)
    add('tile-offset-past-end.tif', t.buf, 'truncated',
        'uncompressed 37x35 float32, 16x16 tiles (3x3); TileOffsets[4] '
        'patched to EOF+4096')

    # deflate, so libtiff reads the whole declared byte count (for an
    # uncompressed single strip it would silently repair the count).
    dfl = tif_bytes(mat, rowsperstrip=4, compression='adobe_deflate')
    t = ClassicTiff(dfl)
    offs = t.values(273)[2]
    t.set_value(279, 5, len(dfl) - offs[5] + 1000)
    add('stripbytecounts-past-end.tif', t.buf, 'truncated',
        'deflate 37x35 float32, 10 strips; StripByteCounts[5] patched so '
        'the strip runs 1000 bytes past EOF (offset is valid)')

    # --- corrupt / too large ---
    t = ClassicTiff(good)
    t.set_scalar(256, 0)
    add('zero-width.tif', t.buf, 'corrupt',
        'uncompressed 37x35 float32 with ImageWidth patched to 0')

    # uint8: with float32 the single strip would be 2^64 bytes and libtiff
    # itself refuses the directory ("TIFFStripSize: Integer overflow"); with
    # uint8 libtiff opens it (warning: "Bogus StripByteCounts field") and the
    # reader has to refuse the size itself.
    t = ClassicTiff(tif_bytes(rng.integers(0, 256, size=(37, 35),
                                           dtype=np.uint8)))
    t.set_scalar(256, 2**31 - 1)
    t.set_scalar(257, 2**31 - 1)
    t.set_scalar(278, 2**32 - 1)
    add('huge-dimensions.tif', t.buf, 'too-large',
        'uncompressed 37x35 uint8 (1295 bytes of data) with ImageWidth and '
        'ImageLength patched to 2^31-1 and RowsPerStrip to 2^32-1 (one '
        'strip, consistent with the single StripOffsets entry); libtiff '
        'opens it')

    lying = tif_bytes(np.zeros((64, 64), np.float32),
                      compression='adobe_deflate')
    t = ClassicTiff(lying)
    assert len(t.values(273)[2]) == 1
    t.set_scalar(256, 50000)
    t.set_scalar(257, 2000000)
    t.set_scalar(278, 2000000)
    add('lying-deflate.tif', t.buf, 'too-large',
        'deflate float32 64x64 zeros (one strip, ~50 bytes) with ImageWidth '
        'patched to 50000, ImageLength and RowsPerStrip to 2000000: claims '
        '10^11 samples (400 GB) in one strip; directory is consistent')

    # --- unsupported sample formats ---
    add('complex.tif', tif_bytes((rng.normal(size=(8, 9)) +
                                  1j * rng.normal(size=(8, 9)))
                                 .astype(np.complex64)), 'unsupported',
        'complex64: SampleFormat=6 (COMPLEXIEEEFP), BitsPerSample=64')
    add('bilevel.tif', tif_bytes(rng.random((8, 9)) > 0.5), 'unsupported',
        'bool array: BitsPerSample=1 (bilevel)')
    add('uint64.tif', tif_bytes(rng.integers(0, 2**63, size=(8, 9),
                                             dtype=np.uint64)),
        'unsupported', 'uint64: SampleFormat=1, BitsPerSample=64')
    add('int64.tif', tif_bytes(rng.integers(-2**62, 2**62, size=(8, 9),
                                            dtype=np.int64)),
        'unsupported', 'int64: SampleFormat=2, BitsPerSample=64')
    b24 = tif_bytes(rng.integers(0, 256, size=(8, 27), dtype=np.uint8))
    t = ClassicTiff(b24)
    t.set_scalar(256, 9)
    t.set_value(258, 0, 24)
    add('uint24.tif', t.buf, 'unsupported',
        'uint8 8x27 file patched to BitsPerSample=24, ImageWidth=9 '
        '(same bytes: 9 x 24-bit unsigned samples per row)')
    # int8 source, because tifffile writes SampleFormat only when it is not
    # the default (uint); patch SampleFormat 2 -> 3.
    t = ClassicTiff(tif_bytes(rng.integers(-128, 128, size=(8, 27),
                                           dtype=np.int8)))
    t.set_scalar(256, 9)
    t.set_value(258, 0, 24)
    t.set_value(339, 0, 3)
    add('float24.tif', t.buf, 'unsupported',
        'int8 8x27 file patched to BitsPerSample=24, ImageWidth=9, '
        'SampleFormat=3: 24-bit floating point')

    # --- inconsistent pages / layout ---
    row = rng.normal(size=(1, 35)).astype(np.float32)
    add('pages-disagree-shape.tif',
        tif_multi([row, row * 2, row[:, :34]]), 'inconsistent',
        '3 pages float32: 1x35, 1x35, 1x34', layout_arg='pages')
    add('pages-disagree-format.tif',
        tif_multi([row, row * 2, (np.abs(row) * 100).astype(np.uint16)]),
        'inconsistent', '3 pages 1x35: float32, float32, uint16',
        layout_arg='pages')
    u16 = rng.integers(0, 65536, size=(4, 8, 9), dtype=np.uint16)
    add('ambiguous.tif', tif_multi(list(u16)), 'layout',
        '4 pages of 8x9 uint16, no ImageDescription: channels-pages or '
        'pages? auto cannot decide', layout_arg='auto')
    add('matrix-multipage.tif', tif_multi(list(u16[:3])), 'layout',
        '3 pages of 8x9 uint16 but layout "matrix" requested (needs exactly '
        'one page)', layout_arg='matrix')

    # --- valid but with non-finite values ---
    nf = rng.normal(size=(37, 35)).astype(np.float32)
    nf[2, 3], nf[5, 0], nf[36, 34] = np.nan, np.inf, -np.inf
    add('nonfinite.tif', tif_bytes(nf), 'ok',
        'float32 37x35 matrix with NaN at (2,3), +Inf at (5,0), -Inf at '
        '(36,34)', layout_arg='matrix', n=37, d=35, nonfinite=3,
        nonfinite_positions=[[2, 3], [5, 0], [36, 34]],
        reference='nonfinite.f32')
    f64 = rng.normal(size=(4, 5))
    f64[1, 2] = 1e300
    add('float64-overflow.tif', tif_bytes(f64), 'ok',
        'float64 4x5 matrix, 1e300 at (1,2) overflows to +Inf as float32',
        layout_arg='matrix', n=4, d=5, nonfinite=1,
        nonfinite_positions=[[1, 2]], reference='float64-overflow.f32')
    f16 = rng.normal(size=(3, 4)).astype(np.float16)
    f16[0, 1] = np.inf
    add('float16-inf.tif', tif_bytes(f16), 'ok',
        'float16 3x4 matrix with +Inf at (0,1)', layout_arg='matrix',
        n=3, d=4, nonfinite=1, nonfinite_positions=[[0, 1]],
        reference='float16-inf.f32')
    for name, a in [('nonfinite', nf), ('float64-overflow', f64),
                    ('float16-inf', f16)]:
        with np.errstate(over='ignore'):
            ref = a.astype(np.float32)
        (BAD_DIR / f'{name}.f32').write_bytes(ref.astype('<f4').tobytes())

    (BAD_DIR / 'manifest.json').write_text(json.dumps(entries, indent=1) +
                                           '\n')
    return entries


def check_bad(entries):
    """Sanity checks: what libtiff says about each bad file (for the log)."""
    lines = []
    for e in entries:
        path = BAD_DIR / e['file']
        r = subprocess.run([TIFFINFO, '-D', str(path)], capture_output=True,
                           text=True)
        msg = ' | '.join(x.strip() for x in r.stderr.strip().splitlines()[:2])
        try:
            libtiff_read_pages(path)
            dec = 'decodes'
        except Exception as exc:  # noqa: BLE001
            dec = f'{type(exc).__name__}: {exc}'
        lines.append(f"{e['file']:28s} {e['expect']:12s} [{dec[:40]}] "
                     f"tiffinfo rc={r.returncode} {msg[:110]}")
        if e['expect'] == 'ok':
            with np.errstate(over='ignore'):
                a = tifffile.imread(path).astype(np.float32)
            ref = np.fromfile(BAD_DIR / e['reference'], '<f4').reshape(
                e['n'], e['d'])
            assert same_f32(a, ref), e['file']
            pos = sorted(map(list, zip(*np.nonzero(~np.isfinite(ref)))))
            assert pos == sorted(e['nonfinite_positions']), (e['file'], pos)
    return lines


# ---------------------------------------------------------------------------

def main():
    plan = write_good()
    entries = write_bad()
    problems, facts = verify_good(plan)
    bad_log = check_bad(entries)

    by_layout = {}
    for e in plan:
        by_layout[e['layout']] = by_layout.get(e['layout'], 0) + 1
    writers = {}
    for e in plan:
        writers[e['writer']] = writers.get(e['writer'], 0) + 1
    size = sum(p.stat().st_size for p in TIFF_DIR.rglob('*') if p.is_file())
    bsize = sum(p.stat().st_size for p in BAD_DIR.rglob('*') if p.is_file())
    print(f'good files: {len(plan)} {by_layout} writers {writers} '
          f'bigtiff {sum(e["bigtiff"] for e in plan)}')
    print(f'tiff/ size {size} bytes, bad/ size {bsize} bytes')
    print('rowsperstrip (writer, height, rps):',
          sorted(x[:3] for x in facts['rps'] if not x[3]))
    for kind, desc in sorted(facts.get('desc', {}).items()):
        print(f'description[{kind}]: {desc[:200]!r}')
    print('bad files (tiffinfo -D):')
    for line in bad_log:
        print('  ' + line)
    if problems:
        for f, errs in problems:
            print('PROBLEM', f, errs)
        sys.exit(1)
    print('all good files verified (tifffile values + tags, tiffinfo -D, '
          'libtiff decode)')


if __name__ == '__main__':
    main()
