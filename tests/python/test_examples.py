# The scripts of examples/, run as a user runs them (a subprocess, with the environment the
# test suite sets: GI_TYPELIB_PATH and LD_LIBRARY_PATH at the build's lib/), their output
# checked against the library itself through the typelib.
#
# Run: meson test -C build python-stack, or from the source root
#   GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#     .venv/bin/python -m pytest -q tests/python/test_examples.py
import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import gi

gi.require_version('Headrank', '1.0')
from gi.repository import Headrank  # noqa: E402

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
EXAMPLES = ROOT / 'examples'
SAMPLE_DIR = Path(os.environ.get('HEADRANK_DATADIR') or ROOT / 'data')
FEATURES = SAMPLE_DIR / 'sample-embeddings.tif'
V0 = SAMPLE_DIR / 'head-viscy-v0.safetensors'
V2 = SAMPLE_DIR / 'head-viscy-v2.safetensors'
PAIRS = SAMPLE_DIR / 'sample-pairs.csv'


def env():
    e = dict(os.environ)
    e['MPLBACKEND'] = 'Agg'
    e.setdefault('MPLCONFIGDIR', os.path.join(os.environ.get('TMPDIR', '/tmp'), 'headrank-mpl'))
    return e


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, env=env(), timeout=120, **kw)


def analysed(path, weights=None, arch=None):
    a = Headrank.Analysis.new(Headrank.StackReader.new(str(path), Headrank.StackLayout.AUTO,
                                                       None))
    if weights:
        a.set_head(Headrank.Head.new_from_file(str(weights), arch, None, None))
    assert a.run(None, None, None)
    return a


# -- analyse_stack.py -------------------------------------------------------------------


def test_analyse_stack_plots_the_bundled_sample(tmp_path):
    r = run([sys.executable, str(EXAMPLES / 'analyse_stack.py'), '--output',
             str(tmp_path / 'plots')])
    assert r.returncode == 0, r.stderr
    # the asynchronous run notified its progress, from 0 to 1, in order
    progress = [float(line.split()[1]) for line in r.stderr.splitlines()
                if line.startswith('progress ')]
    assert len(progress) >= 2 and progress == sorted(progress) and progress[-1] == 1.0
    a = analysed(FEATURES, V0, 'viscy-v0')
    for name in ('features', 'projections'):
        sp = a.find_stage(name).get_spectrum()
        assert f'{name}: samples 4096, dimension 64, rank {sp.get_rank()}, ' \
               f'effective rank {sp.get_effective_rank():.2f}' in r.stdout
    for line in a.describe_verdict():
        assert line in r.stdout
    for png in ('explained_variance.png', 'per_sample.png'):
        data = (tmp_path / 'plots' / png).read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000, png


def test_analyse_stack_reports_errors(tmp_path):
    bad = tmp_path / 'x16.tif'
    tifffile.imwrite(bad, np.ones((50, 16), np.float32))
    r = run([sys.executable, str(EXAMPLES / 'analyse_stack.py'), str(bad), '--weights',
             str(V0), '--arch', 'viscy-v0', '--output', str(tmp_path / 'plots')])
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith(
        f'hr-analysis-error-quark {int(Headrank.AnalysisError.SHAPE)}: ')
    assert not (tmp_path / 'plots').exists()


# -- batch_folder.py --------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(5)
    d = tmp_path / 'stacks'
    d.mkdir()
    tifffile.imwrite(d / 'a-full.tif', rng.standard_normal((600, 64), dtype=np.float32))
    low = rng.standard_normal((400, 6), dtype=np.float32) @ \
        rng.standard_normal((6, 64), dtype=np.float32)
    low[[3, 77]] = np.nan
    tifffile.imwrite(d / 'b-low-rank.tif', low)
    (d / 'c-broken.tif').write_bytes(b'II*\x00' + b'\xff' * 12)
    (d / 'notes.txt').write_text('not a stack')
    return d


def test_batch_folder(folder, tmp_path):
    out = tmp_path / 'table.csv'
    r = run([sys.executable, str(EXAMPLES / 'batch_folder.py'), str(folder), '--weights',
             str(V2), '--arch', 'viscy-v2', '--output', str(out)])
    assert r.returncode == 1, r.stderr  # one file failed
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row['file'] for row in rows] == ['a-full.tif', 'b-low-rank.tif', 'c-broken.tif']
    for row in rows[:2]:
        a = analysed(folder / row['file'], V2, 'viscy-v2')
        f = a.find_stage('features').get_spectrum()
        p = a.find_stage('projections').get_spectrum()
        assert row['error'] == ''
        assert int(row['samples']) == a.find_stage('features').get_n_samples()
        assert int(row['features_rank']) == f.get_rank()
        assert float(row['features_effective_rank']) == pytest.approx(f.get_effective_rank(),
                                                                      abs=6e-4)
        assert int(row['projections_rank']) == p.get_rank()
        flags = a.get_verdict()
        for nick in row['verdict'].split():
            assert nick == 'none' or flags & getattr(Headrank.VerdictFlags,
                                                     nick.upper().replace('-', '_'))
    assert rows[0]['nonfinite_rows'] == '0' and rows[1]['nonfinite_rows'] == '2'
    assert int(rows[1]['features_rank']) == 6
    assert rows[2]['error'].startswith('hr-stack-error-quark:')


def test_batch_folder_all_good(folder, tmp_path):
    (folder / 'c-broken.tif').unlink()
    r = run([sys.executable, str(EXAMPLES / 'batch_folder.py'), str(folder)])
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 2 and all(row['projections_rank'] == '' for row in rows)


# -- rank_table.js ----------------------------------------------------------------------

GJS = shutil.which('gjs')


@pytest.mark.skipif(GJS is None, reason='gjs is not installed (Debian package gjs, listed '
                    'in tools/setup.sh)')
def test_rank_table_js():
    r = run([GJS, str(EXAMPLES / 'rank_table.js'), str(FEATURES), str(V0), 'viscy-v0'])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ['stage', 'samples', 'dim', 'rank']
    a = analysed(FEATURES, V0, 'viscy-v0')
    # every stage has a spectrum by default: the ReLU's too (issue 16)
    names = [a.get_stage(i).get_name() for i in range(a.get_n_stages())]
    assert names == ['features', '1', 'projections']
    for line, name in zip(lines[1:4], names):
        stage = a.find_stage(name)
        sp = stage.get_spectrum()
        pcs = '/'.join(str(sp.get_components(f)) for f in (0.9, 0.95, 0.99))
        assert line.split() == [name, str(stage.get_n_samples()), str(stage.get_dimension()),
                                str(sp.get_rank()), str(sp.get_matrix_rank()),
                                f'{sp.get_effective_rank():.2f}',
                                f'{sp.get_participation_ratio():.2f}', pcs]
    assert lines[4:] == list(a.describe_verdict())


@pytest.mark.skipif(GJS is None, reason='gjs is not installed')
def test_rank_table_js_error(tmp_path):
    bad = tmp_path / 'bad.tif'
    bad.write_bytes(b'not a tiff')
    r = run([GJS, str(EXAMPLES / 'rank_table.js'), str(bad)])
    assert r.returncode == 1
    assert '(hr-stack-error-quark, code ' in r.stderr
    r = run([GJS, str(EXAMPLES / 'rank_table.js')])
    assert r.returncode == 2
