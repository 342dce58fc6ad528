"""The two state-changing methods, archiveChat and unarchiveChat, and everything that differs between
them: the command that names each, its opposite (undo), its status words, what the chat's archive flag
must say afterwards, and the words an analyst reads for it. The one table every part reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from greenapi_excel import statuses as st
from greenapi_excel.i18n import N_

ARCHIVE = "archiveChat"
UNARCHIVE = "unarchiveChat"


@dataclass(frozen=True)
class Method:
    name: str             # GREEN-API's method name
    command: str          # the CLI's verb and the journal listing's word
    opposite: str         # the method that takes it back (undo)
    done: str             # status word: this run did it
    already: str          # status word: it was so before
    would: str            # status word: a dry run's verdict
    not_done: str         # status word: verify found the chat otherwise than a done row says (not done)
    wants_archived: bool  # getChats' / getContactInfo's archive flag once it is done
    verb: str             # N_(): "archive" in a sentence
    title: str            # N_(): "Archive" at the head of a summary
    button: str           # N_(): the ribbon button that runs it

    @property
    def done_words(self) -> tuple[str, str]:
        """A row whose Status starts with one of these needs no call on a re-run."""
        return (self.done, self.already)


TABLE = {
    ARCHIVE: Method(ARCHIVE, "archive", UNARCHIVE, st.ARCHIVED, st.ALREADY_ARCHIVED, st.WOULD_ARCHIVE,
                    st.NOT_ARCHIVED, True,
                    N_("archive"), N_("Archive"), N_("Archive chats")),
    UNARCHIVE: Method(UNARCHIVE, "unarchive", ARCHIVE, st.UNARCHIVED, st.ALREADY_UNARCHIVED, st.WOULD_UNARCHIVE,
                      st.NOT_UNARCHIVED, False,
                      N_("unarchive"), N_("Unarchive"), N_("Unarchive chats")),
}
BY_COMMAND = {m.command: m.name for m in TABLE.values()}
# Answers that tell a chat's state for good: a call answered so settles an earlier one left uncertain.
# Verify's Not archived / Not unarchived tell it too (getChats' archive flag).
SETTLING = frozenset(w for m in TABLE.values() for w in (*m.done_words, m.not_done)) | {st.CHAT_NOT_FOUND,
                                                                                     st.NO_INCOMING}


def of(name: str) -> Method:
    """The table's row for ``name`` (ValueError for anything else: a bug, never the analyst's input)."""
    try:
        return TABLE[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}") from None


def is_done(text: object, method: str) -> bool:
    """True when a cell's status says ``method`` needs no call for that row (in any language)."""
    return st.canonical(text) in of(method).done_words
