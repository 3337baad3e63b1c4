"""What `python -m build` made of the repository: the sdist and the wheel built from it.

    check_dist.py SOURCE_ROOT DIST_DIR

The sdist holds the whole source tree that meson builds (pyproject.toml, meson.build, the
library, translations, data, plugin). The wheel holds the plugin's package (every module and
the npe2 manifest of the sdist's plugin/napari_headrank), the library in meson-python's
.napari_headrank.mesonpy.libs, the typelib, the catalogues and the sample data inside the
package, and headrank_numpy, headrank_lightning and headrank_dask, the headrank command
beside the library with the console script that runs it; no headers, GIR or pkg-config
file. Its tag is
py3-none-linux_x86_64: no extension module, one native library that links the
distribution's own OpenBLAS, libtiff, json-glib, cairo, c-blosc and zstd (not manylinux).
Its dependencies are the ones plugin/pyproject.toml gives the developer's editable install.
"""
import email.parser
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

src, dist = Path(sys.argv[1]), Path(sys.argv[2])
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


version = None
for line in (src / 'meson.build').read_text().splitlines():
    line = line.strip()
    if line.startswith("version: '"):
        version = line.split("'")[1]
        break
assert version, 'no version in meson.build'

sdists = sorted(dist.glob('*.tar.gz'))
wheels = sorted(dist.glob('*.whl'))
assert len(sdists) == 1 and len(wheels) == 1, (sdists, wheels)
sdist, wheel = sdists[0], wheels[0]
print(f'sdist {sdist.name}: {sdist.stat().st_size:,} bytes')
print(f'wheel {wheel.name}: {wheel.stat().st_size:,} bytes')

# the sdist
check(sdist.name == f'napari_headrank-{version}.tar.gz', f'sdist named {sdist.name}')
top = f'napari_headrank-{version}'
with tarfile.open(sdist) as tar:
    names = set(tar.getnames())
    plugin_files = sorted(n.split('/')[-1] for n in names
                          if n.startswith(f'{top}/plugin/napari_headrank/')
                          and (n.endswith('.py') or n.endswith('.yaml')))
for f in ('PKG-INFO', 'pyproject.toml', 'meson.build', 'meson_options.txt', 'lib/headrank.h',
          'lib/meson.build', 'po/de.po', 'data/sample-embeddings.tif', 'plugin/meson.build',
          'plugin/napari_headrank/__init__.py', 'plugin/napari_headrank/napari.yaml',
          'python/headrank_numpy.py', 'python/headrank_lightning.py', 'python/headrank_dask.py'):
    check(f'{top}/{f}' in names, f'sdist lacks {f}')
check(not any('/.git/' in n or n.endswith('/.git') for n in names), 'sdist holds .git')

# the wheel
tag = 'py3-none-linux_x86_64'
check(wheel.name == f'napari_headrank-{version}-{tag}.whl', f'wheel named {wheel.name}, not *-{tag}')
purelib = f'napari_headrank-{version}.data/purelib/'
pkg = purelib + 'napari_headrank/'
with zipfile.ZipFile(wheel) as whl:
    names = set(whl.namelist())
    info = f'napari_headrank-{version}.dist-info/'
    wheel_meta = email.parser.Parser().parsestr(whl.read(info + 'WHEEL').decode())
    metadata = email.parser.Parser().parsestr(whl.read(info + 'METADATA').decode())
    entry_points = whl.read(info + 'entry_points.txt').decode()
check(wheel_meta['Tag'] == tag and wheel_meta['Root-Is-Purelib'] == 'false',
      f'WHEEL says Tag {wheel_meta["Tag"]}, Root-Is-Purelib {wheel_meta["Root-Is-Purelib"]}')
expected = {'.napari_headrank.mesonpy.libs/libheadrank-1.0.so',
            '.napari_headrank.mesonpy.libs/headrank',
            pkg + 'girepository-1.0/Headrank-1.0.typelib',
            pkg + 'locale/de/LC_MESSAGES/headrank.mo',
            purelib + 'headrank_numpy.py', purelib + 'headrank_lightning.py',
            purelib + 'headrank_dask.py'}
expected |= {pkg + f for f in plugin_files}
expected |= {pkg + 'data/' + f.name for f in (src / 'data').iterdir()
             if f.suffix in ('.tif', '.safetensors', '.csv', '.txt')}
missing = expected - names
check(not missing, 'wheel lacks ' + ', '.join(sorted(missing)))
extra = {n for n in names - expected if not n.startswith(info) and n != pkg + 'data/README.md'}
check(not extra, 'wheel holds more: ' + ', '.join(sorted(extra)))
check('napari.manifest' in entry_points and 'napari_headrank:napari.yaml' in entry_points,
      'no napari.manifest entry point')
check('[console_scripts]' in entry_points
      and 'headrank = napari_headrank._cli:main' in entry_points,
      'no console script headrank')
check(metadata['Name'] == 'napari-headrank' and metadata['Version'] == version,
      f'METADATA: {metadata["Name"]} {metadata["Version"]}')

# the same dependencies as the developer's editable install of plugin/
plugin_project = tomllib.loads((src / 'plugin' / 'pyproject.toml').read_text())['project']
root_project = tomllib.loads((src / 'pyproject.toml').read_text())['project']
check(plugin_project['dependencies'] == root_project['dependencies'],
      'pyproject.toml and plugin/pyproject.toml name different dependencies')
check(plugin_project['optional-dependencies'] == root_project['optional-dependencies'],
      'pyproject.toml and plugin/pyproject.toml name different optional dependencies')
# one version: meson.build's (the wheel's), plugin/pyproject.toml's and the package's
check(plugin_project['version'] == version, f'plugin/pyproject.toml says {plugin_project["version"]}')
init = (src / 'plugin' / 'napari_headrank' / '__init__.py').read_text()
check(f"__version__ = '{version}'" in init, f'napari_headrank.__version__ is not {version}')
requires = [r.replace(' ', '') for r in metadata.get_all('Requires-Dist')]
check(any(r.startswith('PyGObject') and '<3.51' in r for r in requires),
      'the wheel does not keep PyGObject below 3.51 (3.51 and later need GLib 2.80)')

if failures:
    print('\n'.join('FAIL: ' + f for f in failures))
    sys.exit(1)
print(f'ok: sdist of the tree, wheel {tag} with {len(plugin_files)} plugin files, the library, '
      'typelib, catalogue and sample data; dependencies as plugin/pyproject.toml')
