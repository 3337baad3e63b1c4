"""A tiny classic-TIFF writer for hostile test files: every tag, type, count and offset
is what the caller says, so that files no ordinary writer makes can be built.

    pages = [Page(tags={256: (LONG, [w]), ...}, data=b'...')]
    data = build(pages)

A page's strip data are placed after the header and the page's StripOffsets (tag 273)
is filled in automatically when given as None; pages may share one strip with
``shared=True`` (StripOffsets of every page point at the first page's strip).
"""
import struct

BYTE, ASCII, SHORT, LONG, RATIONAL = 1, 2, 3, 4, 5
TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8,
             11: 4, 12: 8, 16: 8, 17: 8, 18: 8}
FMT = {1: 'B', 2: 'B', 3: 'H', 4: 'I', 6: 'b', 7: 'B', 8: 'h', 9: 'i',
       11: 'f', 12: 'd', 16: 'Q', 17: 'q', 18: 'Q'}


def pack_values(typ, values):
    if typ == ASCII and isinstance(values, (bytes, str)):
        b = values.encode() if isinstance(values, str) else values
        return b if b.endswith(b'\0') else b + b'\0'
    if typ == RATIONAL:
        return b''.join(struct.pack('<II', *v) for v in values)
    return struct.pack('<' + FMT[typ] * len(values), *values)


def build(pages, strips_shared=False):
    """pages: list of (tags, strips) with tags {code: (type, values)} and strips a list
    of bytes. A tag whose values are None is StripOffsets to be filled in; a tag given
    as (type, count, raw_value) is written as it is (count and value field verbatim)."""
    out = bytearray(b'II*\0' + b'\0\0\0\0')
    strip_offsets = []
    shared = None
    for tags, strips in pages:
        if strips_shared and shared is not None:
            strip_offsets.append(shared)
            continue
        offs = []
        for s in strips:
            offs.append(len(out))
            out += s
            if len(out) % 2:
                out += b'\0'
        strip_offsets.append(offs)
        shared = offs
    prev_next = 4
    for (tags, strips), offs in zip(pages, strip_offsets):
        tags = dict(tags)
        if 273 in tags and tags[273][1] is None:
            tags[273] = (LONG, offs)
        if 279 in tags and tags[279][1] is None:
            tags[279] = (LONG, [len(s) for s in strips])
        # out-of-line values first
        entries = []
        for code in sorted(tags):
            t = tags[code]
            if len(t) == 3:  # verbatim (type, count, 4-byte value field)
                entries.append((code, t[0], t[1], struct.pack('<I', t[2])))
                continue
            typ, values = t
            raw = pack_values(typ, values)
            count = len(raw) // TYPE_SIZE[typ]
            if len(raw) <= 4:
                entries.append((code, typ, count, raw.ljust(4, b'\0')))
            else:
                pos = len(out)
                out += raw
                if len(out) % 2:
                    out += b'\0'
                entries.append((code, typ, count, struct.pack('<I', pos)))
        ifd = len(out)
        struct.pack_into('<I', out, prev_next, ifd)
        out += struct.pack('<H', len(entries))
        for code, typ, count, field in entries:
            out += struct.pack('<HHI', code, typ, count) + field
        prev_next = len(out)
        out += b'\0\0\0\0'
    return bytes(out)


def simple_tags(width, height, bits=8, sample_format=1, spp=1, compression=1,
                rows_per_strip=None, n_strips=1, description=None, planar=1):
    tags = {
        256: (LONG, [width]),
        257: (LONG, [height]),
        258: (SHORT, [bits] * spp),
        259: (SHORT, [compression]),
        262: (SHORT, [1]),
        273: (LONG, None),
        277: (SHORT, [spp]),
        278: (LONG, [rows_per_strip or height]),
        279: (LONG, None),
        284: (SHORT, [planar]),
        339: (SHORT, [sample_format] * spp),
    }
    if description is not None:
        tags[270] = (ASCII, description)
    return tags
