#!/usr/bin/env python3
"""Seeds of the fuzz-part target (tests/fuzz/corpus/part): moments written by
hr_moments_to_bytes() (empty, one sample, many, diagonal, float32 products, D = 1 and 9) and
parts of analyses (hr_analysis_run_part: features alone, 30 and 1 samples; features and
projections; with pairs from a first sample; with aligned positives and without per-sample
tables),
each behind the target's switch byte (1: the checksum is resealed, 0: not), and a few broken
ones. Each seed is named by the SHA-1 of its content.

Usage: GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib make_part_seeds.py CORPUS_DIR
"""

import hashlib
import sys
from pathlib import Path

import numpy as np

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402


def moments(x, full=True, precision=Headrank.Precision.FLOAT64):
    d = x.shape[1]
    m = Headrank.Moments.new(d, 0, precision) if full else Headrank.Moments.new_diagonal(d)
    if len(x):
        m.add_bytes(GLib.Bytes.new(np.ascontiguousarray(x, dtype='<f4').tobytes()))
    return bytes(m.to_bytes().get_data())


def main():
    corpus = Path(sys.argv[1])
    corpus.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(15)
    x = rng.normal(size=(40, 9)).astype(np.float32)
    x[::5, 2] = 0
    parts = [
        moments(x[:0, :1]),
        moments(x[:1, :3]),
        moments(x),
        moments(x, full=False),
        moments(x, precision=Headrank.Precision.FLOAT32_PRODUCTS),
    ]
    # parts of analyses: features alone, features and projections (small, for speed)
    for rows in (x[:30], x[:1]):
        a = Headrank.Analysis.new_for_source(Headrank.MemorySource.new(
            GLib.Bytes.new(rows.tobytes()), *rows.shape))
        parts.append(bytes(a.run_part(None, None, None).get_data()))
    a = Headrank.Analysis.new_for_source(Headrank.MemorySource.new(
        GLib.Bytes.new(x[:12, :4].copy().tobytes()), 12, 4))
    a.set_projections_source(Headrank.MemorySource.new(
        GLib.Bytes.new(np.maximum(x[:12, 4:7], 0).copy().tobytes()), 12, 3))
    parts.append(bytes(a.run_part(None, None, None).get_data()))
    # version 2: parts with pairs (explicit negatives; from a first sample), aligned
    # positives, and without per-sample tables
    pairs = np.array([[10, 12, 11], [11, 10, 13], [12, 13, 10], [13, 11, 12], [0, 1, 2]],
                     np.uint64)
    a = Headrank.Analysis.new_for_source(Headrank.MemorySource.new(
        GLib.Bytes.new(x[10:14, :4].copy().tobytes()), 4, 4))
    a.set_pairs(Headrank.Pairs.new_from_bytes(GLib.Bytes.new(pairs.tobytes()), 3))
    a.set_first_sample(10)
    a.set_contrastive_parameters(2, 0.5, 0.2)
    parts.append(bytes(a.run_part(None, None, None).get_data()))
    a = Headrank.Analysis.new_for_source(Headrank.MemorySource.new(
        GLib.Bytes.new(x[:6, :4].copy().tobytes()), 6, 4))
    a.set_projections_source(Headrank.MemorySource.new(
        GLib.Bytes.new(np.maximum(x[:6, 4:7], 0).copy().tobytes()), 6, 3))
    a.set_positives_source(Headrank.MemorySource.new(
        GLib.Bytes.new(np.maximum(x[6:12, 4:7], 0).copy().tobytes()), 6, 3))
    a.set_per_sample_format(Headrank.PerSampleFormat.NONE)
    parts.append(bytes(a.run_part(None, None, None).get_data()))
    seeds = [b'', b'\x01HRPART\n\x1a'] + [bytes([s]) + p for p in parts for s in (0, 1)]
    seeds.append(b'\x01' + parts[2][:-40] + parts[2][-32:])  # cut inside the payload
    for seed in seeds:
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


if __name__ == '__main__':
    main()
