#!/usr/bin/env python3
"""Analyse every feature stack of a folder, one after another, into one table.

    examples/batch_folder.py FOLDER [--weights HEAD.safetensors] [--arch ARCH]
                             [--pattern '*.tif'] [--output table.csv]

Each stack is streamed: Headrank.Analysis reads it a chunk at a time through the head, so
memory is bounded by the chunk and the D × D moments, not by the size of the files. Before
the analysis, the stack is also streamed once in Python (headrank_numpy.chunks, numpy
arrays of the reader's preferred chunk) to count the rows holding non-finite values, as a
script would do its own per-chunk work. A file that cannot be read or analysed gets a row
with its error (GLib.Error domain and code) and the batch goes on; Ctrl-C cancels the file
being read and stops. Exit status: 0 if every file was analysed, 1 if some failed, 130
when interrupted.

Needs GI_TYPELIB_PATH and LD_LIBRARY_PATH to find Headrank-1.0 when headrank is not
installed in a standard prefix (see README.md, "From Python").
"""
import argparse
import csv
import signal
import sys
from pathlib import Path

import numpy

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402

try:
    import headrank_numpy as hn
except ImportError:  # from the source tree: python/ beside examples/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'python'))
    import headrank_numpy as hn

COLUMNS = ['file', 'samples', 'dimension', 'nonfinite_rows', 'features_rank',
           'features_effective_rank', 'projections_rank', 'projections_effective_rank',
           'verdict', 'error']


def analyse(path, head, cancellable):
    row = dict.fromkeys(COLUMNS, '')
    row['file'] = path.name
    reader = Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO, cancellable)
    row['samples'] = reader.get_n_samples()
    row['dimension'] = reader.get_n_features()
    row['nonfinite_rows'] = sum(int((~numpy.isfinite(x).all(axis=1)).sum())
                                for x in hn.chunks(reader, 0, cancellable))
    reader.seek(0)
    analysis = Headrank.Analysis.new(reader)
    if head is not None:
        analysis.set_head(head)
    # the progress callback runs Python code every few ms: that is where Ctrl-C's handler
    # gets to run while the analysis is in C
    analysis.run(lambda fraction, *data: None, None, cancellable)
    features = analysis.find_stage('features').get_spectrum()
    row['features_rank'] = features.get_rank()
    row['features_effective_rank'] = f'{features.get_effective_rank():.3f}'
    projections = analysis.find_stage('projections')
    if projections is not None and projections.get_spectrum() is not None:
        row['projections_rank'] = projections.get_spectrum().get_rank()
        row['projections_effective_rank'] = \
            f'{projections.get_spectrum().get_effective_rank():.3f}'
    flags = analysis.get_verdict()
    # the flags' nicks (reduces-rank, inflates-rank, …); PyGObject lists 'none' (0) in all
    row['verdict'] = ' '.join(n for n in flags.value_nicks if n != 'none') or 'none'
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('folder')
    p.add_argument('--weights')
    p.add_argument('--arch')
    p.add_argument('--pattern', default='*.tif')
    p.add_argument('--output', help='write the table as CSV here (default: standard output)')
    args = p.parse_args(argv)

    cancellable = Gio.Cancellable()
    signal.signal(signal.SIGINT, lambda *a: cancellable.cancel())
    head = None
    if args.weights:
        try:
            head = Headrank.Head.new_from_file(args.weights, args.arch, None, None)
        except GLib.Error as e:
            print(f'{args.weights}: {e.message}', file=sys.stderr)
            return 1

    rows, failed = [], 0
    for path in sorted(Path(args.folder).glob(args.pattern)):
        try:
            rows.append(analyse(path, head, cancellable))
        except GLib.Error as e:
            if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                print('interrupted', file=sys.stderr)
                return 130
            failed += 1
            row = dict.fromkeys(COLUMNS, '')
            row['file'] = path.name
            row['error'] = f'{e.domain}:{e.code}: {e.message}'
            rows.append(row)
        print(f'{path.name}: {rows[-1]["error"] or "done"}', file=sys.stderr, flush=True)

    out = open(args.output, 'w', newline='') if args.output else sys.stdout
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    if args.output:
        out.close()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
