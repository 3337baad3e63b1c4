"""headrank's analysis on a Dask cluster: parts on the workers, merged as a tree.

Everything headrank accumulates in its pass is a sum, so the samples can be analysed in
partitions and the parts merged (doc/partial.md). This module makes one task per partition
of a list of files, of one file or zarr store cut into row ranges, or of the row blocks of
a Dask array; each task runs the library on its rows (``Headrank.Analysis.run_part``, which
releases the GIL) and returns its part, a few MB whatever its number of rows; parts are
merged by groups of ``split_every`` (``Headrank.Analysis.merge_parts``) on the workers, as a
tree; the client computes the spectra from the last part and writes the report.

Use::

    from dask.distributed import Client, LocalCluster
    import headrank_dask as hd

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    analysis = hd.analyze("embeddings.zarr", partitions=16, client=client)
    analysis.write_report("report", None)

    analysis = hd.analyze(["fov1.tif", "fov2.tif"], weights="head.safetensors",
                          arch="viscy-v2")                # one task per file
    analysis = hd.analyze(dask_array)                     # one task per block of rows

The workers open the files themselves: paths must name the same files on every machine (a
shared file system). Without ``client`` the tasks run on Dask's current scheduler (the
client made last, else threads: the library releases the GIL, so threads run in parallel).
This module takes no positive pairs: parts hold them (``Headrank.Analysis.set_pairs`` and
``set_first_sample`` before ``run_part``, doc/partial.md, "Pairs in parts"), but it does not
make such parts; analyse pairs in one pass (``headrank_numpy.analyze``) or in parts yourself.
"""
import os
import threading

import numpy

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank  # noqa: E402

import headrank_numpy as hn  # noqa: E402

__all__ = ['analyze', 'compute_part', 'part_of_rows', 'part_of_range', 'part_of_file',
           'merge_parts', 'merge_tree', 'row_ranges']

# Options of the analysis a task sets, by name (the setters of Headrank.Analysis)
_OPTIONS = ('norm_mode', 'batch_size', 'precision', 'standardize', 'nonfinite_policy',
            'spectral_stages')

_local = threading.local()


def _head(head):
    """A Headrank.Head from its description (weights path, arch, prefix, activation), loaded
    once per thread of a worker process."""
    if head is None:
        return None
    cache = getattr(_local, 'heads', None)
    if cache is None:
        cache = _local.heads = {}
    if head not in cache:
        path, arch, prefix, activation = head
        cache[head] = Headrank.Head.new_from_file_full(path, arch, prefix, activation, None)
    return cache[head]


def _configure(analysis, head, options):
    h = _head(head)
    if h is not None:
        analysis.set_head(h)
    for name, value in (options or {}).items():
        if value is not None:
            getattr(analysis, 'set_' + name)(value)
    return analysis


def compute_part(features, projections=None, head=None, options=None):
    """The part (bytes) of the analysis of @features (a Headrank.Source), with @projections
    (a Headrank.Source or None), @head (a description made by analyze(): None or
    (weights, arch, prefix, activation)) and @options (a dict of _OPTIONS)."""
    analysis = Headrank.Analysis.new_for_source(features)
    if projections is not None:
        analysis.set_projections_source(projections)
    _configure(analysis, head, options)
    return analysis.run_part(None, None, None).get_data()


def _store_projections(path, source):
    """The projections a zarr store's layout names, for a source opened over it."""
    if isinstance(source, Headrank.ZarrSource):
        return hn.zarr_projections(path)
    return None


def part_of_file(path, array=None, head=None, options=None, projections=None):
    """A task: the part of one whole file, store or folder (headrank_numpy.open_source()).
    Without a head and projections, a zarr store brings the projections its layout names."""
    features = hn.open_source(path, array)
    if projections is not None:
        projections = hn.open_source(projections)
    elif head is None:
        projections = _store_projections(path, features)
    return compute_part(features, projections, head, options)


def part_of_range(path, first, n_samples, array=None, head=None, options=None,
                  projections=None):
    """A task: the part of samples @first to @first + @n_samples − 1 of a file or store
    (a Headrank.RangeSource over headrank_numpy.open_source(), opened in the task)."""
    features = hn.open_source(path, array)
    if projections is not None:
        projections = hn.open_source(projections)
    elif head is None:
        projections = _store_projections(path, features)
    features = Headrank.RangeSource.new(features, first, n_samples)
    if projections is not None:
        projections = Headrank.RangeSource.new(projections, first, n_samples)
    return compute_part(features, projections, head, options)


def part_of_rows(rows, projections=None, head=None, options=None, name='array'):
    """A task: the part of an n × D array of rows (a numpy array, or a block of a Dask
    array), read in place (headrank_numpy.source_from_numpy)."""
    features = hn.source_from_numpy(rows, name=name)
    if projections is not None:
        projections = hn.source_from_numpy(projections, name=name + ' projections')
    return compute_part(features, projections, head, options)


def merge_parts(*parts):
    """A task: parts (bytes, in the order of their samples) merged into one part (bytes)."""
    if len(parts) == 1:
        return parts[0]
    return Headrank.Analysis.merge_parts([GLib.Bytes.new(p) for p in parts], None).get_data()


def merge_tree(parts, split_every=2):
    """Dask delayed objects of parts merged by groups of @split_every, level by level, into
    one delayed part (bytes). The order of the samples is kept."""
    import dask
    if split_every < 2:
        raise ValueError(f'split_every must be at least 2, not {split_every}')
    if not parts:
        raise ValueError('no parts to merge')
    merge = dask.delayed(merge_parts, pure=True)
    level = list(parts)
    while len(level) > 1:
        groups = [level[i:i + split_every] for i in range(0, len(level), split_every)]
        level = [merge(*g) if len(g) > 1 else g[0] for g in groups]
    return level[0]


def row_ranges(n_samples, partitions=None, rows_per_partition=None):
    """(first, n) of consecutive ranges that cover @n_samples rows: @partitions ranges of
    nearly equal size, or ranges of @rows_per_partition rows (the last shorter)."""
    if rows_per_partition is not None:
        if rows_per_partition < 1:
            raise ValueError(f'rows_per_partition must be at least 1, not {rows_per_partition}')
        return [(first, min(rows_per_partition, n_samples - first))
                for first in range(0, n_samples, rows_per_partition)] or [(0, 0)]
    partitions = max(1, min(int(partitions), max(n_samples, 1)))
    bounds = [n_samples * i // partitions for i in range(partitions + 1)]
    return [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(partitions)]


def _is_dask_array(x):
    return type(x).__module__.startswith('dask.array') and hasattr(x, 'to_delayed')


def _is_path(x):
    return isinstance(x, (str, bytes)) or hasattr(x, '__fspath__')


def _default_partitions(client):
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return os.cpu_count() or 1


def analyze(features, projections=None, weights=None, arch=None, prefix=None,
            activation=None, array=None, partitions=None, rows_per_partition=None,
            split_every=2, client=None, norm_mode=None, batch_size=None, precision=None,
            standardize=None, nonfinite_policy=None, spectral_stages=None):
    """The analysis of @features computed in parts on a Dask cluster and merged.

    @features:
      - a list of paths (TIFF files, zarr stores, folders): one task per path, the parts
        merged in the order of the list (as ``headrank analyze A B …``);
      - one path (a file, a zarr store, a folder): cut into @partitions row ranges of nearly
        equal size, or ranges of @rows_per_partition rows; each task opens the path itself and
        reads its range (Headrank.RangeSource). @array names the array in a store;
      - a Dask array (N × D): one task per block of rows (the array is rechunked to whole
        rows first); a numpy array: cut into row ranges like a path.
    @projections: the same kind as @features (a list of as many paths, one path, a Dask array
    with the same number of rows), or None: then a zarr store brings the projections its
    layout names when there is no head. The head: its safetensors file @weights with @arch,
    @prefix and @activation as Headrank.Head.new_from_file_full takes them (every worker
    loads it; the client too, to merge). The options, as Headrank.Analysis' setters take them.
    @partitions defaults to the threads of @client's workers (of this machine without one).

    The tasks run on @client (a dask.distributed.Client), or on Dask's current scheduler.
    Returns the merged Headrank.Analysis, done: write its report with write_report();
    raises GLib.Error as the library does (a task's error arrives through Dask)."""
    import dask

    options = {'norm_mode': norm_mode, 'batch_size': batch_size, 'precision': precision,
               'standardize': standardize, 'nonfinite_policy': nonfinite_policy,
               'spectral_stages': spectral_stages}
    options = {k: v for k, v in options.items() if v is not None}
    head = None
    if weights is not None:
        head = (os.path.abspath(os.fspath(weights)), arch, prefix, activation)
    name = None
    part = dask.delayed(pure=True)

    if _is_dask_array(features):
        parts = _dask_array_parts(features, projections, head, options, part)
        name = 'array'
    elif isinstance(features, (list, tuple)):
        if not features:
            raise ValueError('no files to analyse')
        if projections is not None and (not isinstance(projections, (list, tuple))
                                        or len(projections) != len(features)):
            raise ValueError('projections must be a list of as many paths as the features')
        parts = [part(part_of_file)(os.path.abspath(os.fspath(p)), array, head, options,
                                    None if projections is None
                                    else os.path.abspath(os.fspath(projections[i])))
                 for i, p in enumerate(features)]
    elif _is_path(features):
        path = os.path.abspath(os.fspath(features))
        if projections is not None:
            projections = os.path.abspath(os.fspath(projections))
        n = hn.open_source(path, array).get_n_samples()
        if n == Headrank.SOURCE_N_SAMPLES_UNKNOWN:
            raise ValueError(f'{path}: a source of unknown length cannot be cut into ranges')
        ranges = row_ranges(n, partitions or _default_partitions(client), rows_per_partition)
        parts = [part(part_of_range)(path, first, count, array, head, options, projections)
                 for first, count in ranges]
        name = os.fspath(features)
    else:
        x = numpy.asarray(features)
        if x.ndim != 2:
            raise ValueError(f'features are N × D: got an array of shape {x.shape}')
        p = None if projections is None else numpy.asarray(projections)
        if p is not None and (p.ndim != 2 or p.shape[0] != x.shape[0]):
            raise ValueError('projections must be an array with as many rows as the features')
        ranges = row_ranges(x.shape[0], partitions or _default_partitions(client),
                            rows_per_partition)
        parts = [part(part_of_rows)(x[a:a + k], None if p is None else p[a:a + k], head,
                                    options, f'array[{a}:{a + k}]')
                 for a, k in ranges]
        name = 'array'

    final = merge_tree(parts, split_every)
    if client is not None:
        merged = client.compute(final).result()
    else:
        merged, = dask.compute(final)
    analysis = Headrank.Analysis.new_from_parts([GLib.Bytes.new(merged)], _head(head), None)
    if name is not None:
        analysis.get_source().props.name = name
    return analysis


def _dask_array_parts(x, projections, head, options, part):
    if x.ndim != 2:
        raise ValueError(f'features are N × D: got an array of shape {x.shape}')
    x = x.rechunk({1: -1})
    blocks = x.to_delayed().ravel()
    pblocks = [None] * len(blocks)
    if projections is not None:
        if not _is_dask_array(projections) or projections.ndim != 2 \
                or projections.shape[0] != x.shape[0]:
            raise ValueError('projections must be a Dask array with as many rows as the features')
        pblocks = projections.rechunk({0: x.chunks[0], 1: -1}).to_delayed().ravel()
    starts = numpy.cumsum((0,) + x.chunks[0])
    return [part(part_of_rows)(b, pb, head, options, f'array[{starts[i]}:{starts[i + 1]}]')
            for i, (b, pb) in enumerate(zip(blocks, pblocks))]
