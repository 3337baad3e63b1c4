"""The library's messages in the user's language through the plugin: Python never sets
LC_MESSAGES, in whose "C" locale the C library's gettext ignores LANGUAGE; the plugin sets
it from the environment when it loads the library (_library._use_the_users_language()).
Each case runs in a fresh Python, whose locale is the one Python starts with."""
import os
import subprocess
import sys

import pytest

from conftest import INSTALLED, PLUGIN

# a weights file too short for its header: a GError of the library's HR_TENSOR_ERROR domain
# whose message is in po/de.po
SCRIPT = r'''
import sys
if {plugin!r}:
    sys.path.insert(0, {plugin!r})
import os
from napari_headrank import _library
if {through_plugin!r}:
    Headrank = _library.headrank()
else:
    # the same typelib, library and catalogue as the plugin's, without the plugin's locale
    _library._prepend(_library._locations())
    if _library.localedir():
        os.environ.setdefault('HEADRANK_LOCALEDIR', _library.localedir())
    import gi
    gi.require_version('Headrank', '1.0')
    from gi.repository import Headrank
from gi.repository import GLib
try:
    Headrank.Head.new_from_file(sys.argv[1], None, None)
except GLib.Error as e:
    print(e.domain, e.message)
'''


def message(tmp_path, through_plugin, **env_extra):
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(b'abc')
    env = {k: v for k, v in os.environ.items()
           if k not in ('LANGUAGE', 'LANG') and not k.startswith('LC_')}
    env.update(env_extra)
    script = SCRIPT.format(plugin='' if INSTALLED else str(PLUGIN), through_plugin=through_plugin)
    p = subprocess.run([sys.executable, '-c', script, str(bad)], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith('hr-tensor-error-quark ' + str(bad) + ': '), p.stdout
    return p.stdout


def test_library_messages_in_german_through_the_plugin(tmp_path):
    german = 'Die Datei ist zu kurz für eine Header-Länge'
    assert german in message(tmp_path, True, LANGUAGE='de', LANG='C.UTF-8')
    # the control: the library loaded without the plugin, in Python's "C" LC_MESSAGES
    assert german not in message(tmp_path, False, LANGUAGE='de', LANG='C.UTF-8')
    assert 'too short' in message(tmp_path, True, LANG='C.UTF-8')


@pytest.mark.parametrize('lc_all', ['xx_YY.UTF-8', 'de_DE.NOT-A-CHARSET'])
def test_a_locale_that_is_not_installed_is_no_error(tmp_path, lc_all):
    """setlocale() fails for a locale that is not installed: the plugin loads and speaks
    English."""
    assert 'too short' in message(tmp_path, True, LC_ALL=lc_all, LANGUAGE='de')
