"""napari-headrank: headrank's projection-head diagnostics in napari.

The plugin calls the headrank library through GObject Introspection only
(``gi.repository.Headrank``); see ``_library`` for where it finds it.
"""

__version__ = '0.2.0'

__all__ = ['HeadrankWidget', 'get_reader']


def __getattr__(name):
    # imported lazily: napari imports the package to find its manifest
    if name == 'HeadrankWidget':
        from ._widget import HeadrankWidget

        return HeadrankWidget
    if name == 'get_reader':
        from ._reader import get_reader

        return get_reader
    raise AttributeError(name)
