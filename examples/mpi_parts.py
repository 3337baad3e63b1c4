#!/usr/bin/env python3
"""One stack analysed by the ranks of an MPI job, the parts merged with allreduce.

    mpirun -n 4 python3 examples/mpi_parts.py FEATURES [--weights HEAD.safetensors]
                                               [--arch ARCH] [--output DIR]

FEATURES is a TIFF file, a zarr store or a folder (headrank_numpy.open_source), on a file
system every rank sees. Rank r of n analyses rows [r·N/n, (r+1)·N/n) of it
(Headrank.RangeSource) into a part (Headrank.Analysis.run_part: a few MB whatever the
number of rows, doc/partial.md); ``comm.allreduce`` with a non-commutative MPI.Op whose
function is Headrank.Analysis.merge_parts merges the parts, in the order of the ranks (so
the per-sample tables stay in the order of the samples), and every rank receives the merged
part: never the N × D features. Every rank computes the spectra from it; rank 0 prints its
ranks (and every rank's, gathered, with --all-print) and writes the report into DIR when
--output is given.

Needs mpi4py (``pip install mpi4py``, built against the MPI that runs it) and
GI_TYPELIB_PATH and LD_LIBRARY_PATH to find Headrank-1.0 outside a standard prefix (see
README.md, "From Python"). Dask is not needed.
"""
import argparse
import json
import sys
from pathlib import Path

from mpi4py import MPI

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

try:
    import headrank_dask as hd
except ImportError:  # from the source tree: python/ beside examples/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'python'))
    import headrank_dask as hd
import headrank_numpy as hn  # noqa: E402


def merge(a, b, datatype=None):
    """The MPI reduction: two parts (bytes, a before b in the order of the samples) into
    one."""
    return hd.merge_parts(a, b)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('features')
    parser.add_argument('--weights', help='the head, a safetensors file')
    parser.add_argument('--arch', help='the head\'s architecture (a preset name)')
    parser.add_argument('--output', help='write the report here (rank 0)')
    parser.add_argument('--all-print', action='store_true', help='every rank prints')
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    head = None
    if args.weights:
        head = (str(Path(args.weights).resolve()), args.arch, None, None)
    try:
        n = hn.open_source(args.features).get_n_samples()
        first, count = hd.row_ranges(n, comm.size)[comm.rank] if comm.rank < n else (n, 0)
        part = hd.part_of_range(args.features, first, count, head=head)
    except GLib.Error as e:
        print(f'rank {comm.rank}: {e.message}', file=sys.stderr)
        comm.Abort(1)
    op = MPI.Op.Create(merge, commute=False)
    merged = comm.allreduce(part, op=op)
    op.Free()

    analysis = Headrank.Analysis.new_from_parts(
        [GLib.Bytes.new(merged)], None if head is None else hd._head(head), None)
    analysis.get_source().props.name = args.features
    stages = [{'rank_of_job': comm.rank, 'stage': s['name'], 'rank': s['rank'],
               'effective_rank': s['effective_rank'], 'samples': s['samples']}
              for s in hn.report(analysis)['stages'] if s['has_spectrum']]
    line = {'part_bytes': len(part), 'merged_bytes': len(merged), 'rows': [first, first + count],
            'stages': stages}
    # one process prints, so that the ranks' lines do not mix in mpirun's output
    lines = comm.gather(line, root=0)
    if comm.rank == 0:
        for line in lines if args.all_print else lines[:1]:
            print(json.dumps(line), flush=True)
    if comm.rank == 0 and args.output:
        analysis.write_report(args.output, None)


if __name__ == '__main__':
    main()
