"""The headrank command as `pip install` put it into a fresh venv, run with no variable that
points anywhere (as check_installed.py): the console script runs the executable the wheel
holds beside the library, which loads that library (RUNPATH $ORIGIN), the bundled sample
data and the bundled catalogues.

    VENV/bin/python check_command.py VERSION
"""
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

version = sys.argv[1]
scripts = Path(sysconfig.get_path('scripts'))
site = Path(sysconfig.get_path('platlib')).resolve()
command = scripts / 'headrank'
libs = site / '.napari_headrank.mesonpy.libs'
for var in ('PYTHONPATH', 'GI_TYPELIB_PATH', 'LD_LIBRARY_PATH', 'HEADRANK_DATADIR',
            'HEADRANK_LOCALEDIR'):
    assert var not in os.environ, var + ' is set'


def run(*args, **extra):
    env = {k: v for k, v in os.environ.items() if k != 'LANGUAGE'}
    env.update(LC_ALL='C.UTF-8', COLUMNS='1000', **extra)
    return subprocess.run([str(command), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


assert command.is_file(), f'no {command}'
p = run('--version')
assert p.returncode == 0 and p.stdout == f'headrank {version}\n', (p.returncode, p.stdout, p.stderr)
print(p.stdout.strip(), 'from', command)

# the executable beside the library, which it finds by its RUNPATH
readelf = subprocess.run(['readelf', '-d', str(libs / 'headrank')], capture_output=True,
                         text=True, check=True).stdout
runpath = [line.split('[', 1)[1].rstrip(']') for line in readelf.splitlines()
           if '(RUNPATH)' in line or '(RPATH)' in line]
print('RUNPATH ', *runpath)
assert runpath and '$ORIGIN/.' in runpath[0].split(':'), readelf
p = run('--version', LD_DEBUG='libs')
loaded = [line.split('calling init: ', 1)[1] for line in p.stderr.splitlines()
          if 'calling init: ' in line and 'libheadrank' in line]
print('library ', *loaded)
assert len(loaded) == 1 and Path(loaded[0]).resolve().parent == libs.resolve(), loaded

# the bundled sample, head and pairs (found in the package's data/): README's numbers
with tempfile.TemporaryDirectory() as tmp:
    p = run('analyze', '-o', Path(tmp) / 'report')
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith('Analysis of sample-embeddings.tif (bundled sample: 4096 '
                               'samples × 64 features)'), p.stdout
    report = json.loads((Path(tmp) / 'report' / 'report.json').read_text())
    ranks = [(s['name'], s['rank']) for s in report['stages']]
    assert ranks == [('features', 32), ('1', 188), ('projections', 64)], ranks
# the exit statuses are the command's: 1 bad input, 2 bad usage
p = run('info', '/nonexistent/x.tif')
assert p.returncode == 1 and p.stderr.count('\n') == 1, (p.returncode, p.stderr)
p = run('--bogus')
assert p.returncode == 2, (p.returncode, p.stderr)
# the bundled catalogue
p = run('--help', LANGUAGE='de')
assert p.returncode == 0 and 'Befehle:' in p.stdout + p.stderr, p.stdout + p.stderr
print('ok: the headrank command of the wheel: version, bundled library, sample data and '
      'German catalogue')
