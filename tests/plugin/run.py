"""Runs pytest on tests/plugin, or exits 77 (meson's skip) when napari, pytest-qt or zarr
are not installed in this Python."""
import importlib.util
import sys

missing = [m for m in ('napari', 'pytestqt', 'zarr', 'matplotlib')
           if importlib.util.find_spec(m) is None]
if missing:
    print('plugin tests skipped: not installed: ' + ', '.join(missing))
    sys.exit(77)

import pytest  # noqa: E402

sys.exit(pytest.main(sys.argv[1:]))
