"""Translations: the plugin's strings are in the library's gettext domain, ``headrank``,
so that the plugin and the command say the same things in the same words."""

from ._library import translation

_translation = translation()


def _(message):
    """The translation of @message in the ``headrank`` domain."""
    return _translation.gettext(message)


def N_(message):
    """Marks @message for translation without translating it (translated where shown)."""
    return message
