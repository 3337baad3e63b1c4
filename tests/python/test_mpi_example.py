# examples/mpi_parts.py under mpirun (3 ranks): the parts of three row ranges merged with
# allreduce give every rank the ranks of one single-process analysis of the same stack, and
# rank 0's report.json agrees with it (ranks, singular values within the sum of the two
# rank tolerances). Runs where mpirun is
# installed and the Python that runs it has mpi4py: this test's own, or the one named by
# HEADRANK_MPI_PYTHON (a venv with mpi4py, whose site sees PyGObject and numpy).
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(os.environ.get('HEADRANK_SOURCE_ROOT') or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(ROOT / 'python'))
import headrank_numpy as hn  # noqa: E402

SAMPLE = Path(os.environ.get('HEADRANK_DATADIR') or ROOT / 'data')
FEATURES = SAMPLE / 'sample-embeddings.tif'
V0 = SAMPLE / 'head-viscy-v0.safetensors'


def _mpi_python():
    mpirun = shutil.which('mpirun')
    if mpirun is None:
        pytest.skip('mpirun is not installed (Debian: openmpi-bin)')
    python = os.environ.get('HEADRANK_MPI_PYTHON', sys.executable)
    r = subprocess.run([python, '-c', 'import mpi4py'], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f'{python} has no mpi4py (pip install mpi4py; or set HEADRANK_MPI_PYTHON)')
    return mpirun, python


def test_mpi_allreduce_of_parts(tmp_path):
    mpirun, python = _mpi_python()
    args = [mpirun, '-n', '3']
    if os.geteuid() == 0:
        args.append('--allow-run-as-root')
    env = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe='1', OPENBLAS_NUM_THREADS='1')
    r = subprocess.run(args + [python, str(ROOT / 'examples' / 'mpi_parts.py'), str(FEATURES),
                               '--weights', str(V0), '--arch', 'viscy-v0', '--output',
                               str(tmp_path / 'report'), '--all-print'],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{')]
    assert sorted(line['stages'][0]['rank_of_job'] for line in lines) == [0, 1, 2]
    rows = sorted(tuple(line['rows']) for line in lines)
    assert rows[0][0] == 0 and rows[-1][1] == 4096
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))

    single = hn.analyze(str(FEATURES), weights=V0, arch='viscy-v0')
    want = {s['name']: s for s in hn.report(single)['stages'] if s['has_spectrum']}
    for line in lines:  # every rank got the merged part
        for s in line['stages']:
            assert s['rank'] == want[s['stage']]['rank']
            assert s['samples'] == 4096
            assert s['effective_rank'] == pytest.approx(want[s['stage']]['effective_rank'],
                                                        rel=1e-6)
    with open(tmp_path / 'report' / 'report.json') as f:
        got = {s['name']: s for s in json.load(f)['stages'] if s['has_spectrum']}
    assert got.keys() == want.keys()
    for name, s in want.items():
        assert got[name]['rank'] == s['rank']
        va, vb = np.array(s['singular_values']), np.array(got[name]['singular_values'])
        assert np.abs(va - vb).max() <= s['rank_tolerance'] + got[name]['rank_tolerance']
