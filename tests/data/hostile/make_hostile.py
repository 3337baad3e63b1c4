#!/usr/bin/env python3
"""Hostile TIFF files for the reader (issue 12): files no ordinary writer makes, built
tag by tag with tiffbuild.py, each with what headrank must say about it.

    .venv/bin/python tests/data/hostile/make_hostile.py

rewrites tests/data/hostile/*.tif and manifest.json ({"file", "expect", "why",
"layout_arg"?}); "expect" is the HR_STACK_ERROR nick the reader must fail with, or "ok"
(then "n", "d" and "metadata" say what it reads). Deterministic, numpy only.
"""
import json
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from tiffbuild import BYTE, LONG, SHORT, build, simple_tags  # noqa: E402

# c × s × f = 2·2^64 + 8: wraps to 8 in 64-bit arithmetic (each factor < 2^32).
WRAP = (48448661, 989540, 769546)


def pages(n, width=4, height=4, description=None, dtype=np.uint8, compression=1,
          strips=None):
    out = []
    for i in range(n):
        a = (np.arange(width * height) * (i + 1) % 251).astype(dtype)
        data = a.tobytes() if strips is None else strips
        bits = a.dtype.itemsize * 8
        fmt = 3 if a.dtype.kind == 'f' else 1
        t = simple_tags(width, height, bits=bits, sample_format=fmt,
                        compression=compression,
                        description=description if i == 0 else None)
        out.append((t, [data]))
    return out


def packbits_literals(b):
    out = bytearray()
    for i in range(0, len(b), 128):
        ch = b[i:i + 128]
        out.append(len(ch) - 1)
        out += ch
    return bytes(out)


def main():
    entries = []

    def add(name, data, expect, why, **extra):
        (HERE / name).write_bytes(data)
        entries.append(dict(file=name, expect=expect, why=why, **extra))

    one = pages(1, 8, 16)

    # -- ImageDescription as JSON (item 1) --
    deep = '{"shape":' + '[' * 100000 + ']' * 100000 + '}'
    add('json-deep.tif', build(pages(1, 8, 16, description=deep)), 'ok',
        'one 8x16 page whose ImageDescription is JSON nested 100,000 levels deep: '
        'not metadata headrank can use, read as a plain matrix', n=16, d=8,
        metadata='none')
    add('json-shape-int.tif', build(pages(1, 8, 16, description='{"shape":5}')), 'ok',
        'ImageDescription {"shape":5}: tifffile JSON whose shape is not an array',
        n=16, d=8, metadata='tifffile')
    add('json-shape-objects.tif',
        build(pages(1, 8, 16, description='{"shape":[{"a":1},"x",null,2.5],'
                                          '"axes":{"C":1}}')), 'ok',
        'tifffile JSON with objects, strings and null where sizes and the axes string go',
        n=16, d=8, metadata='tifffile')
    add('json-axes-array.tif',
        build(pages(1, 8, 16, description='{"shape":[16,8],"axes":["Y","X"]}')), 'ok',
        'tifffile JSON whose axes member is an array', n=16, d=8, metadata='tifffile')

    # -- sizes that wrap 64 bits or exceed 32 (item 2) --
    c, s, f = WRAP
    add('imagej-wrap.tif',
        build(pages(8, description=f'ImageJ=1.11a\nimages=8\nchannels={c}\nslices={s}\n'
                                   f'frames={f}\nhyperstack=true\n')), 'inconsistent',
        f'8 pages of 4x4 uint8, ImageJ channels={c} slices={s} frames={f}: the product '
        'is 8 modulo 2^64')
    add('imagej-channels-2p32.tif',
        build(pages(8, description='ImageJ=1.11a\nimages=8\nchannels=4294967296\n'
                                   'hyperstack=true\n')), 'inconsistent',
        '8 pages, ImageJ channels=4294967296 (2^32), once read as absent')
    add('imagej-channels-overflow.tif',
        build(pages(8, description='ImageJ=1.11a\nchannels=99999999999999999999999\n')),
        'inconsistent', '8 pages, ImageJ channels beyond 2^64')
    add('ome-wrap.tif',
        build(pages(8, description='<?xml version="1.0"?><OME><Image><Pixels '
                                   f'DimensionOrder="XYCZT" SizeC="{c}" SizeZ="{s}" '
                                   f'SizeT="{f}" SizeX="4" SizeY="4"/></Image></OME>')),
        'inconsistent', 'OME SizeC x SizeZ x SizeT wrapping to 8 modulo 2^64 on 8 pages')
    add('tifffile-wrap.tif',
        build(pages(8, description=f'{{"shape":[{f},{s},{c},4,4],"axes":"TZCYX"}}')),
        'inconsistent', 'tifffile JSON shape TZCYX whose leading sizes wrap to 8 pages')

    # -- the OME over-read (item 5): the description ends inside DimensionOrder --
    add('ome-order-cut.tif',
        build(pages(3, description='<OME><Pixels SizeC="3" DimensionOrder="XY')),
        'inconsistent', 'OME description ending with DimensionOrder="XY (the order was '
        'copied 3 bytes past the end)')
    add('ome-order-bad.tif',
        build(pages(3, description='<OME><Pixels SizeC="3" DimensionOrder="XYCCZ" />')),
        'inconsistent', 'OME DimensionOrder XYCCZ (C twice, T missing)')

    # -- decompression across the file (item 4): 512 channel pages, one deflate strip --
    bomb = zlib.compress(bytes(1024 * 1024), 9)
    p = pages(512, 1024, 1024, compression=8, strips=bomb,
              description='ImageJ=1.11a\nimages=512\nchannels=512\nhyperstack=true\n')
    add('shared-strip-bomb.tif', build(p, strips_shared=True), 'too-large',
        f'512 uint8 channel pages of 1024x1024 that all point at one deflate strip of '
        f'{len(bomb)} bytes: 512 MiB decoded from a file of a few hundred KB')

    # -- libtiff warnings about the data (item 7) --
    a = (np.arange(16 * 8) % 251).astype(np.uint8).tobytes()
    t = simple_tags(8, 16)
    t[273] = (BYTE, 0, 0)
    t[279] = (LONG, [len(a)])
    add('stripoffsets-byte-count0.tif', build([(t, [a])]), 'corrupt',
        'StripOffsets of type BYTE, count 0, offset 0: libtiff ignores the tag with a '
        'warning and reads the data from offset 0')
    pb = bytes([99]) + bytes(range(100)) + packbits_literals(a)
    t = simple_tags(8, 16, compression=32773)
    add('packbits-discard.tif', build([(t, [pb])]), 'corrupt',
        'PackBits strip with a 100-byte literal run too many: libtiff says "Discarding '
        'N bytes to avoid buffer overrun" and trims it')

    # -- what libtiff reads without a word, though it is not the data (found by writing
    #    files with tifffile and editing them, 2026-12-07) --
    t = simple_tags(8, 16, compression=32773)
    t[317] = (SHORT, [2])
    add('packbits-predictor.tif', build([(t, [packbits_literals(a)])]), 'unsupported',
        'PackBits with Predictor 2 (tifffile writes it, and undoes it when reading): '
        'libtiff drops the tag, which only its LZW, deflate, LZMA and Zstandard codecs use, '
        'and hands over the differences as values')
    t = simple_tags(8, 16)
    t[317] = (SHORT, [3])
    add('none-predictor.tif', build([(t, [a])]), 'unsupported',
        'uncompressed with Predictor 3 (floating point): libtiff ignores the tag')
    t = simple_tags(8, 16)
    t[32997] = (LONG, [2])
    add('imagedepth.tif', build([(t, [a])]), 'unsupported',
        "ImageDepth 2 (SGI's tag, tifffile's volumetric=True): libtiff reads one slice")
    t = simple_tags(8, 16)
    t[273] = (LONG, [0])
    t[279] = (LONG, [len(a)])
    add('stripoffset-zero.tif', build([(t, [a])]), 'corrupt',
        'StripOffsets 0 with the byte count intact: the mark of a missing strip, and '
        'otherwise the header read as data')
    add('imagej-one-ifd.tif',
        build(pages(1, 4, 4, description='ImageJ=1.11a\nimages=12\nchannels=4\nslices=3\n'
                    'hyperstack=true\n')), 'inconsistent',
        'an ImageJ hyperstack of 12 planes with one IFD (ImageJ writes large stacks with '
        'the planes after the first page and no directory for them): the matrix of the '
        'first plane would be read')

    # -- pages that differ in PlanarConfiguration (item 13) --
    a2 = (np.arange(4 * 4 * 2) % 251).astype(np.uint8).tobytes()
    t1 = simple_tags(4, 4, spp=2, planar=1)
    t2 = simple_tags(4, 4, spp=2, planar=2)
    t2[278] = (LONG, [4])
    add('planar-mixed.tif', build([(t1, [a2]), (t2, [a2[:16], a2[16:]])]), 'inconsistent',
        '2 pages of 4x4 with 2 samples per pixel: page 1 interleaved, page 2 planar',
        layout_arg='pages')

    (HERE / 'manifest.json').write_text(json.dumps(entries, indent=1) + '\n')
    print(f'{len(entries)} hostile files')


if __name__ == '__main__':
    main()
