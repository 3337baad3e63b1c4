"""Finding the headrank library (typelib Headrank-1.0 and libheadrank-1.0.so) and its
translations.

The plugin calls the library only through GObject Introspection. Where it looks, in order:

1. ``HEADRANK_BUILD_DIR``: a meson build tree; its ``lib/`` holds the typelib and the
   shared library, its ``po/`` the compiled catalogues;
2. ``HEADRANK_PREFIX``: an installation prefix (``meson setup --prefix``); the typelib in
   ``LIBDIR/girepository-1.0``, the library in ``LIBDIR`` (LIBDIR is ``lib/<multiarch>``,
   ``lib64`` or ``lib``), the catalogues in ``share/locale``;
3. the copy installed with the package from its wheel (``pip install napari-headrank``):
   the typelib in ``napari_headrank/girepository-1.0``, the catalogues in
   ``napari_headrank/locale``, the library in ``.napari_headrank.mesonpy.libs`` beside the
   package (where meson-python puts a wheel's shared libraries);
4. what GObject Introspection finds by itself: ``GI_TYPELIB_PATH`` and ``LD_LIBRARY_PATH``
   (set before the process starts), or the system's directories (``/usr/local``, ``/usr``);
5. when the plugin runs from a clone of the repository, that clone's ``build/``.

``LD_LIBRARY_PATH`` is read once, when the process starts; the directories of 1, 2, 3 and
5 are therefore handed to GIRepository (``prepend_search_path``,
``prepend_library_path``), which loads the shared library of a typelib from them: the
typelib records only the library's file name (``libheadrank-1.0.so`` in the wheel), not
its folder.
"""

import gettext
import importlib.util
import os
import sysconfig
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[2]
_PACKAGE = Path(__file__).resolve().parent
# meson-python's folder for a wheel's shared libraries: .<distribution>.mesonpy.libs
_WHEEL_LIBS = '.napari_headrank.mesonpy.libs'
_headrank = None
_localedir = None


class LibraryNotFound(ImportError):
    """The headrank typelib or shared library cannot be loaded."""


def _libdirs(prefix):
    prefix = Path(prefix)
    multiarch = sysconfig.get_config_var('MULTIARCH')
    dirs = [prefix / 'lib' / multiarch] if multiarch else []
    return dirs + [prefix / 'lib64', prefix / 'lib']


def _locations():
    """(typelib dir, library dir, locale dir) triples from the environment, in order."""
    out = []
    build = os.environ.get('HEADRANK_BUILD_DIR')
    if build:
        out.append((Path(build) / 'lib', Path(build) / 'lib', Path(build) / 'po'))
    prefix = os.environ.get('HEADRANK_PREFIX')
    if prefix:
        for d in _libdirs(prefix):
            out.append((d / 'girepository-1.0', d, Path(prefix) / 'share' / 'locale'))
    bundled = _bundled()
    if bundled:
        out.append(bundled)
    return out


def _bundled():
    """(typelib dir, library dir, locale dir) of the copy installed with the package from
    its wheel, or None (a clone or an editable install has none)."""
    typelib_dir = _PACKAGE / 'girepository-1.0'
    if not (typelib_dir / 'Headrank-1.0.typelib').is_file():
        return None
    # the wheel's platlib; the same folder as the package's (purelib) in a venv, --user,
    # --target or Debian's site directories
    for site in (_PACKAGE.parent, Path(sysconfig.get_path('platlib'))):
        if (site / _WHEEL_LIBS).is_dir():
            return (typelib_dir, site / _WHEEL_LIBS, _PACKAGE / 'locale')
    return (typelib_dir, _PACKAGE.parent / _WHEEL_LIBS, _PACKAGE / 'locale')


def _prepend(locations):
    import gi

    gi.require_version('GIRepository', '2.0')
    from gi.repository import GIRepository

    # prepend in reverse, so that the first location ends up first
    for typelib_dir, lib_dir, _ in reversed(locations):
        if typelib_dir.is_dir():
            GIRepository.Repository.prepend_search_path(str(typelib_dir))
        if lib_dir.is_dir():
            GIRepository.Repository.prepend_library_path(str(lib_dir))


def _try_load():
    import gi

    try:
        gi.require_version('Headrank', '1.0')
        from gi.repository import Headrank
    except (ValueError, ImportError) as e:
        return None, str(e)
    try:
        # the first call loads the shared library
        Headrank.Head.list_presets()
    except Exception as e:  # noqa: BLE001 - any failure here means "not usable"
        return None, str(e)
    if not hasattr(Headrank, 'Analysis'):
        return None, 'the typelib found ({}) is too old: it has no Headrank.Analysis; rebuild it'.format(
            _typelib_path())
    return Headrank, None


def _typelib_path():
    try:
        from gi.repository import GIRepository

        return GIRepository.Repository.get_default().get_typelib_path('Headrank')
    except Exception:  # noqa: BLE001
        return '?'


def _choose_localedir(locations):
    env = os.environ.get('HEADRANK_LOCALEDIR')
    if env:
        return env
    for _, _, locale_dir in locations:
        if locale_dir.is_dir():
            return str(locale_dir)
    return None


def _use_the_users_language():
    """Sets LC_MESSAGES from the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG) when it is
    still the "C" locale Python starts with: the library translates its messages (the GError
    messages the plugin shows) with the C library's gettext, which speaks English in the
    "C" locale whatever LANGUAGE says, and Python, unlike Qt, never sets LC_MESSAGES. A
    locale chosen already (by napari's Qt, or the script) is left as it is; a locale that
    is not installed leaves "C", never an error."""
    import locale

    if not hasattr(locale, 'LC_MESSAGES'):
        return
    try:
        if locale.setlocale(locale.LC_MESSAGES) in ('C', 'POSIX'):
            locale.setlocale(locale.LC_MESSAGES, '')
    except (locale.Error, ValueError):
        pass


def headrank():
    """The ``gi.repository.Headrank`` module, loaded once; raises LibraryNotFound with a
    message that says where it looked."""
    global _headrank, _localedir
    if _headrank is not None:
        return _headrank
    _use_the_users_language()
    try:
        import gi  # noqa: F401
    except ImportError as e:
        raise LibraryNotFound(
            'napari-headrank needs PyGObject (pip install "PyGObject>=3.44,<3.51"): ' + str(e)
        ) from e
    locations = _locations()
    if locations:
        _prepend(locations)
    localedir()
    # The library translates its own messages from HEADRANK_LOCALEDIR when it is set:
    # the plugin and the library then use the same catalogue.
    if _localedir and not os.environ.get('HEADRANK_LOCALEDIR'):
        os.environ['HEADRANK_LOCALEDIR'] = _localedir
    module, why = _try_load()
    if module is None:
        tree = _SOURCE_ROOT / 'build'
        if (tree / 'lib' / 'Headrank-1.0.typelib').is_file():
            _prepend([(tree / 'lib', tree / 'lib', tree / 'po')])
            module, why = _try_load()
            if module is not None and _localedir is None and (tree / 'po').is_dir():
                _localedir = str(tree / 'po')
                os.environ.setdefault('HEADRANK_LOCALEDIR', _localedir)
    if module is None:
        where = [str(t) for t, _, _ in locations] or ['(HEADRANK_BUILD_DIR, HEADRANK_PREFIX unset)']
        raise LibraryNotFound(
            'napari-headrank cannot load the headrank library (typelib Headrank-1.0, '
            'libheadrank-1.0.so): {why}. Looked in: {where}, GI_TYPELIB_PATH={gi_path}, '
            'the system directories and {tree}. Set HEADRANK_BUILD_DIR to a meson build '
            'directory of headrank, or HEADRANK_PREFIX to the prefix it is installed in.'.format(
                why=why,
                where=', '.join(where),
                gi_path=os.environ.get('GI_TYPELIB_PATH', ''),
                tree=_SOURCE_ROOT / 'build',
            )
        )
    _headrank = module
    return module


_numpy_helper = None


def numpy_helper():
    """The ``headrank_numpy`` module (numpy arrays as sources without a copy, rows read
    straight into arrays), or None when it cannot be found: imported as installed (the
    prefix's Python site directory on ``PYTHONPATH``), else from ``HEADRANK_PREFIX``'s site
    directory, else from the ``python/`` of the clone the plugin runs from. Loads the library
    first."""
    global _numpy_helper
    if _numpy_helper is not None:
        return _numpy_helper or None
    headrank()
    import importlib
    import sys

    try:
        _numpy_helper = importlib.import_module('headrank_numpy')
        return _numpy_helper
    except ImportError:
        pass
    candidates = []
    prefix = os.environ.get('HEADRANK_PREFIX')
    if prefix:
        version = 'python{}.{}'.format(*sys.version_info[:2])
        candidates += [d / version / 'site-packages' for d in _libdirs(prefix)]
        candidates += [d / 'python3' / 'dist-packages' for d in _libdirs(prefix)]
    candidates.append(_SOURCE_ROOT / 'python')
    for d in candidates:
        if (d / 'headrank_numpy.py').is_file():
            spec = importlib.util.spec_from_file_location('headrank_numpy',
                                                          d / 'headrank_numpy.py')
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules['headrank_numpy'] = module
            _numpy_helper = module
            return module
    _numpy_helper = False
    return None


def localedir():
    """The directory of the ``headrank`` gettext catalogues the plugin uses, or None for
    Python's default (``sys.base_prefix/share/locale``)."""
    if _localedir is None:
        _localedir_from_env()
    return _localedir


def _localedir_from_env():
    global _localedir
    _localedir = _choose_localedir(_locations())
    if _localedir is None:
        tree = _SOURCE_ROOT / 'build' / 'po'
        for d in (Path('/usr/local/share/locale'), Path('/usr/share/locale')):
            if any(d.glob('*/LC_MESSAGES/headrank.mo')):
                _localedir = str(d)
                return
        if tree.is_dir():
            _localedir = str(tree)


def translation():
    """The gettext translation of the ``headrank`` domain (a null one when there is no
    catalogue for the user's language)."""
    return gettext.translation('headrank', localedir=localedir(), fallback=True)
