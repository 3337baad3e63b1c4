# The version of the library at run time, from Python through the typelib: the numbers
# agree with the constants of the headers the typelib was made from, and with meson.build;
# hr_check_version answers None or a reason.
#
# Run: GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib \
#        .venv/bin/python -m pytest -q tests/python/test_version.py
import re
from pathlib import Path

import gi
gi.require_version('Headrank', '1.0')
from gi.repository import Headrank  # noqa: E402


def project_version():
    text = (Path(__file__).resolve().parents[2] / 'meson.build').read_text(encoding='utf-8')
    return tuple(int(x) for x in re.search(r"version\s*:\s*'([^']+)'", text).group(1).split('.'))


def test_runtime_version_is_the_project_version():
    got = (Headrank.get_major_version(), Headrank.get_minor_version(),
           Headrank.get_micro_version())
    assert got == project_version()
    # the typelib's constants come from the same headers
    assert got == (Headrank.MAJOR_VERSION, Headrank.MINOR_VERSION, Headrank.MICRO_VERSION)
    assert Headrank.VERSION_S == '%d.%d.%d' % got


def test_check_version():
    major, minor, micro = project_version()
    assert Headrank.check_version(major, minor, micro) is None
    assert Headrank.check_version(major, 0, 0) is None
    too_new = Headrank.check_version(major, minor + 1, 0)
    assert isinstance(too_new, str) and 'too old' in too_new
    assert 'major' in Headrank.check_version(major + 1, 0, 0)
