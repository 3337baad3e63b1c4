#!/usr/bin/env python3
"""Seeds for fuzz-tiff-structured: descriptions (see the comment at the top of
fuzz-tiff-structured.c) of the files issue 12 found, and of ordinary stacks.

    python3 tests/fuzz/make_structured_seeds.py

rewrites tests/fuzz/corpus/tiff-structured/seed-*.
"""
import random
import struct
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "tiff-structured"


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def size_u64(v):
    return u8(4) + u64(v)


def page(width=8, height=6, spp=1, kind=0, comp=0, planar=0, rps=2):
    """width, height (8-bit form), spp-1, bits/format kind, compression index (0 none,
    1 deflate, 2 packbits, 3 LZW), planar-1, rows per strip - 1."""
    return u8(width - 1) + u8(height - 1) + u8(spp - 1) + u8(kind) + u8(comp) + u8(planar) + u8(rps - 1)


def seed(flags, n_pages, description, pg, rest=b"", pages_u16=False):
    head = u8(flags) + (u16(n_pages - 1) if pages_u16 else u8(n_pages - 1)) + description + pg
    return head + rest


def data(n=256, salt=0):
    rng = random.Random(salt)
    return bytes(rng.randrange(256) for _ in range(n))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.glob("seed-*"):
        p.unlink()
    seeds = {}
    none = u8(0)
    # ordinary files: a float32 matrix (kind 2 = 32-bit, format 1 = uint; kind 14 = 32-bit float)
    seeds["matrix-float32"] = seed(0, 1, none, page(kind=14), u8(0) + b"\0" * 63 + data())
    seeds["matrix-deflate"] = seed(0, 1, none, page(kind=14, comp=1), u8(0) + b"\0" * 63 + data())
    seeds["matrix-packbits-be"] = seed(1, 1, none, page(kind=1, comp=2), u8(0) + b"\0" * 63 + data())
    seeds["tiled-lzw"] = seed(4, 1, none, page(20, 20, kind=14, comp=3), u8(0) + b"\0" * 63 + data())
    # ImageJ hyperstack of 4 channel pages
    ij = u8(1) + u8(1) + u8(1)  # kind ImageJ, channels present, size = n_pages
    seeds["imagej-channels"] = seed(0, 4, ij, page(kind=14), u8(0) * 3 + u8(0) + b"\0" * 60 + data())
    # item 1: JSON nested 100,000 deep; {"shape":5}
    seeds["json-deep"] = seed(0, 1, u8(4) + u16(100000 % 65536 + 30000), page(), b"\0" * 64 + data())
    seeds["json-shape-int"] = seed(0, 1, u8(3) + u8(0) + u8(0) + u8(5), page(), b"\0" * 64 + data())
    seeds["json-shape-objects"] = seed(
        0, 1, u8(3) + u8(3) + u8(8) + u8(0) + u8(1) + u8(3) + u8(0) + u8(1) + u8(2), page(),
        b"\0" * 64 + data())
    # item 2: ImageJ channels × slices × frames wrapping 64 bits on 8 pages
    c, s, f = 48448661, 989540, 769546
    wrap = u8(1) + u8(7) + size_u64(c) + size_u64(s) + size_u64(f)
    seeds["imagej-wrap"] = seed(0, 8, wrap, page(4, 4), b"\0" * 80 + data())
    seeds["imagej-2p32"] = seed(0, 8, u8(1) + u8(1) + size_u64(2**32), page(4, 4), b"\0" * 80 + data())
    seeds["ome-wrap"] = seed(0, 8, u8(2) + size_u64(c) + size_u64(s) + size_u64(f) + u8(0) + u16(0),
                             page(4, 4), b"\0" * 80 + data())
    # item 5: the OME text cut right after DimensionOrder="XY
    ome = '<?xml version="1.0"?><OME><Image><Pixels SizeC="3" SizeZ="1" SizeT="1" DimensionOrder="XY'
    seeds["ome-cut"] = seed(0, 3, u8(2) + u8(1) + u8(0) + u8(0) + u8(0) + u16(len(ome)),
                            page(4, 4), b"\0" * 80 + data())
    # item 4: many channel pages sharing one deflate strip; many pages
    seeds["shared-deflate"] = seed(2 | 8, 512, ij, page(40, 40, comp=1, rps=40),
                                   b"\0" * 600 + bytes(256), pages_u16=True)
    seeds["many-pages"] = seed(8, 2000, none, page(8, 1, kind=14, rps=1), b"\0" * 2100 + data(),
                               pages_u16=True)
    # item 7: StripOffsets of type BYTE, count 0, value 0 (override on page 1)
    override = u8(1) + u8(6) + u8(1) + u8(0) + u32(0)  # one override: tag 273, BYTE, count 0
    seeds["stripoffsets-byte"] = seed(0, 1, none, page(8, 16, rps=16), override + b"\0" * 60 + data())
    seeds["packbits-verbatim"] = seed(32, 1, none, page(8, 16, comp=2, rps=16), u8(0) + b"\0" * 63 + data())
    # item 13: pages differing in PlanarConfiguration (page 2 varies planar)
    seeds["planar-mixed"] = seed(0, 2, none, page(4, 4, spp=2), u8(0) + u8(1) + b"\0" * 62 + data())
    for name, b in seeds.items():
        (OUT / f"seed-{name}").write_bytes(b)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
