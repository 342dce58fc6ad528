"""The language an analyst reads: English (the source) or Russian, through gettext catalogues.

Messages are marked in the code with ``_()`` (translated now), ``ngettext()`` (plural forms by the
catalogue's Plural-Forms rule) and ``N_()`` (marked for extraction, translated later with ``_()``:
module constants and status words). The Russian lives in ``locale/ru/LC_MESSAGES/greenapi_excel.po``;
the build compiles it to ``greenapi_excel.mo`` beside it (setup.py, with Babel), so a wheel and an
editable install both carry the compiled catalogue.

One language is in force per process at a time (``set_language`` / ``using``): the CLI picks it once from
``--lang``, ``GREENAPI_LANG`` or the locale (``choose``); the add-in and the UDFs from the calling book's
Settings sheet (its Language row), else the same way.
"""

from __future__ import annotations

import contextlib
import gettext
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping

DOMAIN = "greenapi_excel"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"
LANGUAGES = ("en", "ru")          # English is the source language: its catalogue is the msgids themselves
ENV_LANG = "GREENAPI_LANG"
# gettext's own order (gettext.find): the first of these that is set decides.
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_current = ENGLISH


def normalize(value: object) -> str | None:
    """"ru", "RU", "ru_RU.UTF-8", "ru-RU", "Русский" -> "ru"; "en_GB" -> "en"; None for anything else."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text in ("русский", "рус"):
        return "ru"
    if text in ("english", "английский"):
        return "en"
    code = text.split(".", 1)[0].split("@", 1)[0].replace("-", "_").split("_", 1)[0]
    return code if code in LANGUAGES else None


def from_locale(environ: Mapping[str, str] | None = None) -> str | None:
    """The language the locale asks for, read as gettext reads it: the first of LANGUAGE, LC_ALL,
    LC_MESSAGES, LANG that is set (LANGUAGE may list several, "ru:en"); None when it names neither of ours."""
    environ = os.environ if environ is None else environ
    for variable in LOCALE_VARIABLES:
        value = environ.get(variable, "")
        if value:
            for item in value.split(":"):
                found = normalize(item)
                if found:
                    return found
            return None
    return None


def choose(flag: object = None, environ: Mapping[str, str] | None = None) -> str:
    """``--lang``, else GREENAPI_LANG, else the locale, else English."""
    environ = os.environ if environ is None else environ
    return normalize(flag) or normalize(environ.get(ENV_LANG)) or from_locale(environ) or ENGLISH


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` (NullTranslations for English, or when it is missing)."""
    if language == ENGLISH:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, str(LOCALE_DIR), [language], fallback=True)


def set_language(language: object) -> str:
    """Make ``language`` (normalized; English when unknown) the one messages are given in; returns it."""
    global _current
    _current = normalize(language) or ENGLISH
    return _current


def language() -> str:
    return _current


@contextlib.contextmanager
def using(language: object) -> Iterator[str]:
    """Messages in ``language`` inside the block, the previous language after it."""
    previous = _current
    try:
        yield set_language(language)
    finally:
        set_language(previous)


def _(message: str) -> str:
    """``message`` in the language in force."""
    return translations(_current).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` that ``n`` takes in the language in force (ru has three)."""
    return translations(_current).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the language in force, as meant in ``context`` (the same English, another Russian)."""
    return translations(_current).pgettext(context, message)


def NP_(context: str, message: str) -> str:
    """Marks ``message`` in ``context`` for the catalogue without translating it (see pgettext)."""
    return message


def spellings_in(context: str, message: str) -> tuple[str, ...]:
    """spellings() of ``message`` as meant in ``context``."""
    found = [message]
    for code in LANGUAGES:
        text = translations(code).pgettext(context, message)
        if text not in found:
            found.append(text)
    return tuple(found)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue without translating it (translate where it is shown)."""
    return message


def in_language(language: str, message: str) -> str:
    """``message`` in ``language``, whatever language is in force."""
    return translations(language).gettext(message)


def spellings(message: str) -> tuple[str, ...]:
    """``message`` and its translation in every language we ship, without repeats: for recognising text an
    earlier run in any language wrote (status words, result headers, Settings labels, sheet names)."""
    found = [message]
    for code in LANGUAGES:
        text = in_language(code, message)
        if text not in found:
            found.append(text)
    return tuple(found)
