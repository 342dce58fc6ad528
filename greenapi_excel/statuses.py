"""The status words written into the Status column: an interface that analysts,
filters, re-runs and tests rely on. A Status cell starts with one of these.

The words below are the English source; their translations live in the gettext catalogues (locale/),
and everything that recognises a status derives from these two: a book an English run wrote is re-run
correctly in Russian, and the other way round. Inside the engine (bulk, the journal, the summary's
counts) a status is always the English word; ``localised`` turns it into the run's language where it
is written for a reader (cells, printed lines).
"""

from __future__ import annotations

from functools import lru_cache

from greenapi_excel.i18n import N_, _, spellings

ARCHIVED = N_("Archived")
UNARCHIVED = N_("Unarchived")
ALREADY_ARCHIVED = N_("Already archived")
ALREADY_UNARCHIVED = N_("Already unarchived")
# Verify: a row said Archived / Already archived (Unarchived / ...), and getChats says otherwise.
NOT_ARCHIVED = N_("Not archived")
NOT_UNARCHIVED = N_("Not unarchived")
CHAT_NOT_FOUND = N_("Chat not found")
NO_INCOMING = N_("No incoming messages")
INVALID = N_("Invalid chat ID")
DUPLICATE = N_("Duplicate")
WOULD_ARCHIVE = N_("Would archive")
WOULD_UNARCHIVE = N_("Would unarchive")
QUOTA_EXCEEDED = N_("Quota exceeded")
NOT_RUN = N_("Not run")
FAILED = N_("Failed")

ALL = (
    ARCHIVED, UNARCHIVED, ALREADY_ARCHIVED, ALREADY_UNARCHIVED, NOT_ARCHIVED, NOT_UNARCHIVED, CHAT_NOT_FOUND,
    NO_INCOMING, INVALID, DUPLICATE, WOULD_ARCHIVE, WOULD_UNARCHIVE,
    QUOTA_EXCEEDED, NOT_RUN, FAILED,
)

RESULT_HEADERS = (N_("Status"), N_("Details"), N_("Updated"))
_LONGEST_FIRST = tuple(sorted(ALL, key=len, reverse=True))   # a cell is matched by the word it really starts with


@lru_cache(maxsize=1)
def _spelled() -> tuple[tuple[str, str], ...]:
    """(spelling, English word) for every status word in every language, longest spelling first, so
    a cell is matched by the word it really starts with."""
    pairs = {(spelling, word) for word in ALL for spelling in spellings(word)}
    return tuple(sorted(pairs, key=lambda pair: (-len(pair[0]), pair[0])))


def canonical(text: object) -> str | None:
    """The English status word a cell starts with, in whichever language an earlier run wrote it; else None."""
    if not isinstance(text, str):
        return None
    return next((word for spelling, word in _spelled() if text.startswith(spelling)), None)


def is_status_text(text: object) -> bool:
    """True when a cell holds text an earlier run wrote (so it may be overwritten)."""
    return canonical(text) is not None


def localised(text: str) -> str:
    """``text`` with its leading English status word in the language in force ("Archived" -> "Чат
    архивирован"); text that starts with no English status word is left as it is."""
    if not isinstance(text, str):
        return text
    for word in _LONGEST_FIRST:
        if text.startswith(word):
            return _(word) + text[len(word):]
    return text


@lru_cache(maxsize=1)
def _header_spellings() -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(s.casefold() for s in spellings(header)) for header in RESULT_HEADERS)


def is_result_header(text: object, position: int) -> bool:
    """True when ``text`` is the ``position``-th result header (0 Status, 1 Details, 2 Updated) in any language."""
    return isinstance(text, str) and text.strip().casefold() in _header_spellings()[position]


def result_headers(existing=()) -> list[str]:
    """The three headers to write: the ones a book already has when they are ours (in any language:
    a re-run does not rename them), else the headers in the language in force."""
    existing = list(existing)[:3]
    if len(existing) == 3 and all(is_result_header(text, i) for i, text in enumerate(existing)):
        return [text.strip() for text in existing]
    return [_(header) for header in RESULT_HEADERS]
