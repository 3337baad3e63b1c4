#!/usr/bin/env python3
"""Analyse a feature stack through a projection head and plot what the report says.

    examples/analyse_stack.py [FEATURES] [--weights HEAD.safetensors] [--arch ARCH]
                              [--pairs PAIRS.csv] [--output DIR]

Without FEATURES: the bundled sample (data/sample-embeddings.tif, the VisCy-v0 head and
the pairs), found in $HEADRANK_DATADIR, in the data/ folder of the source tree or in the
installed PREFIX/share/headrank.

It runs Headrank.Analysis asynchronously from a GLib main loop, printing the progress
that the analysis notifies in this (the main) thread, then reads the numbers back from
the JSON report (Analysis.to_json) and draws two figures with matplotlib:
explained_variance.png (the cumulative explained variance of every stage with a spectrum,
the founding discussion's plot) and per_sample.png (the mean and standard deviation of
each projection, from headrank_numpy.stage_per_sample). Ctrl-C cancels the analysis.

Needs GI_TYPELIB_PATH and LD_LIBRARY_PATH to find Headrank-1.0 when headrank is not
installed in a standard prefix (see README.md, "From Python"), and matplotlib.
"""
import argparse
import json
import os
import signal
import sys
from pathlib import Path

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import Gio, GLib, Headrank  # noqa: E402

try:
    import headrank_numpy as hn
except ImportError:  # from the source tree: python/ beside examples/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'python'))
    import headrank_numpy as hn

import matplotlib  # noqa: E402

matplotlib.use(os.environ.get('MPLBACKEND') or 'Agg')
import matplotlib.pyplot as plt  # noqa: E402


def sample_dir():
    """$HEADRANK_DATADIR, else data/ of the source tree, else the installed sample
    (PREFIX/share/headrank, beside PREFIX/share/doc/headrank/examples)."""
    env = os.environ.get('HEADRANK_DATADIR')
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for d in (here.parent / 'data', here.parents[2] / 'headrank'):
        if (d / 'sample-embeddings.tif').exists():
            return d
    return here.parent / 'data'


def run_in_main_loop(analysis, cancellable):
    """Runs @analysis with run_async(); returns when it has finished. Raises GLib.Error."""
    loop = GLib.MainLoop()
    outcome = {}

    def on_progress(obj, pspec):
        print(f'progress {obj.get_progress():.2f}', file=sys.stderr, flush=True)

    def on_done(obj, result, *user_data):
        try:
            outcome['ok'] = obj.run_finish(result)
        except GLib.Error as e:
            outcome['error'] = e
        loop.quit()

    handler = analysis.connect('notify::progress', on_progress)
    # Ctrl-C cancels; the main loop delivers the signal
    sigint = GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT,
                                  lambda *a: cancellable.cancel() or GLib.SOURCE_CONTINUE)
    analysis.run_async(cancellable, on_done, None)
    loop.run()
    GLib.source_remove(sigint)
    analysis.disconnect(handler)
    if 'error' in outcome:
        raise outcome['error']


def plot(report, analysis, output):
    output.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for stage in report['stages']:
        if not stage['has_spectrum']:
            continue
        cumulative = stage['cumulative_explained_variance']
        ax.plot(range(1, len(cumulative) + 1), cumulative,
                label=f"{stage['name']} (rank {stage['rank']}, "
                      f"RankMe {stage['effective_rank']:.1f})")
    ax.set_xscale('log')
    ax.set_xlabel('principal components')
    ax.set_ylabel('cumulative explained variance')
    ax.legend()
    fig.tight_layout()
    fig.savefig(output / 'explained_variance.png', dpi=100)
    plt.close(fig)

    last = analysis.get_stage(analysis.get_n_stages() - 1)
    per_sample = hn.stage_per_sample(last)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(per_sample[:, 0], per_sample[:, 1], s=2)
    ax.set_xlabel(f'mean of each sample of {last.get_name()}')
    ax.set_ylabel('standard deviation (ddof 0)')
    fig.tight_layout()
    fig.savefig(output / 'per_sample.png', dpi=100)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('features', nargs='?')
    p.add_argument('--weights')
    p.add_argument('--arch')
    p.add_argument('--pairs')
    p.add_argument('--output', default='headrank-plots')
    args = p.parse_args(argv)
    if args.features is None:
        data = sample_dir()
        args.features = str(data / 'sample-embeddings.tif')
        args.weights = args.weights or str(data / 'head-viscy-v0.safetensors')
        args.arch = args.arch or 'viscy-v0'
        args.pairs = args.pairs or str(data / 'sample-pairs.csv')

    cancellable = Gio.Cancellable()
    try:
        reader = Headrank.StackReader.new(args.features, Headrank.StackLayout.AUTO, cancellable)
        analysis = Headrank.Analysis.new(reader)
        if args.weights:
            analysis.set_head(Headrank.Head.new_from_file(args.weights, args.arch, None,
                                                          cancellable))
        if args.pairs:
            analysis.set_pairs_file(args.pairs)
        run_in_main_loop(analysis, cancellable)
    except GLib.Error as e:
        if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
            print('interrupted', file=sys.stderr)
            return 130
        print(f'{e.domain} {e.code}: {e.message}', file=sys.stderr)
        return 1

    report = json.loads(analysis.to_json(False))
    for stage in report['stages']:
        if stage['has_spectrum']:
            print(f"{stage['name']}: samples {stage['samples']}, dimension {stage['dimension']}, "
                  f"rank {stage['rank']}, effective rank {stage['effective_rank']:.2f}, "
                  f"participation ratio {stage['participation_ratio']:.2f}")
    for line in report['verdict']['summary']:
        print(line)
    output = Path(args.output)
    plot(report, analysis, output)
    print(f'plots in {output}/explained_variance.png and {output}/per_sample.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
