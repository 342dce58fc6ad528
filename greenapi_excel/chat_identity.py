"""Which chat IDs name one chat: a person's phone-number ID and WhatsApp's ``@lid`` ID for the same person.

GREEN-API gives either form for one person: getChats may list ``120650379300963@lid`` while a book holds
``79001234567@c.us``, and the journals may name a chat by the other form than getChats (GREEN-API's FAQ
"Important differences in using a lid instead of a telephone number"). This module says which IDs are one
chat, from what a source tells, so that de-duplication (``Duplicate`` rows), Load chats' activity columns
and undo all follow one rule (docs/GREEN-API.md, "@lid"):

- ``from_check_whatsapp``: CheckWhatsapp asked about a phone number answers the person's ``@lid`` in
  ``chatId``; the one mapping GREEN-API documents.
- ``from_contact_info`` and ``from_journal``: assumptions (the docs are silent): a getContactInfo answer
  whose ``chatId`` is the other form than the ID asked, and an incoming message of a personal chat whose
  ``chatId`` and ``senderId`` are the two forms.

Where no source links two IDs, they are two chats: the rule never guesses from names or digits. Sources
that contradict each other (one lid for two numbers, two lids for one number) link nothing for those IDs.
Pure: answers in, an ``Identities`` out; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from greenapi_excel.chat_ids import LID, PHONE, kind

CHECK_WHATSAPP = "checkWhatsapp"
CONTACT_INFO = "getContactInfo"
JOURNAL = "journal"


@dataclass(frozen=True)
class Link:
    """One source's word that ``phone`` and ``lid`` name the same person."""

    phone: str          # 79001234567@c.us
    lid: str            # 120650379300963@lid
    source: str         # CHECK_WHATSAPP, CONTACT_INFO or JOURNAL


@dataclass(frozen=True)
class Known:
    """What the journal keeps of an instance's IDs: the links learnt, and every phone-number ID checkWhatsapp
    was asked about (also those it gave no @lid for), so that no run asks twice."""

    links: tuple[Link, ...] = ()
    asked: frozenset[str] = frozenset()


def link(a: object, b: object, source: str) -> Link | None:
    """A Link when ``a`` and ``b`` are one phone-number ID and one ``@lid`` ID (either order), else None."""
    kinds = {kind(a): a, kind(b): b}
    if set(kinds) != {PHONE, LID}:
        return None
    return Link(kinds[PHONE], kinds[LID], source)


class Identities:
    """The links known so far. ``key`` gives one name per chat: the phone-number ID when a source linked
    the chat's ``@lid`` to it, else the ID itself; groups and unlinked IDs are their own key."""

    def __init__(self, links: Iterable[Link] = ()):
        self._lid_of: dict[str, str] = {}
        self._phone_of: dict[str, str] = {}
        self._contested: set[str] = set()
        self.conflicts: list[Link] = []
        # Numbers checkWhatsapp was asked about and gave no @lid for: no chat names them otherwise.
        self.alone: set[str] = set()
        for item in links:
            self.add(item)

    @classmethod
    def from_known(cls, known: "Known") -> "Identities":
        """The journal's links, and the numbers known to have no @lid (asked, none given)."""
        identities = cls(known.links)
        identities.note_asked(known.asked)
        return identities

    def note_asked(self, phones: Iterable[str]) -> None:
        """checkWhatsapp was asked about ``phones``: those it linked to no @lid have none (assumption: it gives
        a person's @lid whenever WhatsApp has one, docs: service/CheckWhatsapp)."""
        self.alone |= {phone for phone in phones if self.other(phone) is None}

    def add(self, item: Link | None) -> bool:
        """Take ``item`` in; False (and nothing linked) when it is None or contradicts what is known.

        A contradiction unlinks the IDs involved, and their partners, for good: which answer is right cannot
        be known.
        """
        if item is None:
            return False
        phone, lid = item.phone, item.lid
        known_lid, known_phone = self._lid_of.get(phone), self._phone_of.get(lid)
        contested = phone in self._contested or lid in self._contested
        if not contested and known_lid == lid:
            return True
        if not contested and known_lid is None and known_phone is None:
            self._lid_of[phone], self._phone_of[lid] = lid, phone
            return True
        self.conflicts.append(item)
        self._contested |= {name for name in (phone, lid, known_lid, known_phone) if name is not None}
        self._lid_of = {p: l for p, l in self._lid_of.items() if p not in self._contested and l not in self._contested}
        self._phone_of = {l: p for p, l in self._lid_of.items()}
        return False

    def key(self, chat_id: str) -> str:
        """One name for the chat ``chat_id`` names: equal keys, one chat."""
        return self._phone_of.get(chat_id, chat_id)

    def same(self, a: str, b: str) -> bool:
        return self.key(a) == self.key(b)

    def other(self, chat_id: str) -> str | None:
        """The chat's other ID (its ``@lid`` for a phone-number ID, and the other way), when linked."""
        return self._lid_of.get(chat_id) or self._phone_of.get(chat_id)

    def names(self, chat_id: str) -> tuple[str, ...]:
        """``chat_id`` and, when linked, its other ID."""
        other = self.other(chat_id)
        return (chat_id,) if other is None else (chat_id, other)

    def __len__(self) -> int:
        return len(self._lid_of)


def from_check_whatsapp(asked: object, answer: object) -> Link | None:
    """CheckWhatsapp (docs: service/CheckWhatsapp) asked about ``asked`` (a phone-number chat ID, or the
    number as digits or int, GREEN-API's ``phoneNumber``) answered ``answer``: its ``chatId`` is the
    person's ``@lid`` when WhatsApp has one."""
    if not isinstance(answer, Mapping) or answer.get("existsWhatsapp") is not True:
        return None
    if isinstance(asked, int) and not isinstance(asked, bool):
        asked = f"{asked}@c.us"
    elif isinstance(asked, str) and asked.isascii() and asked.isdigit():
        asked = f"{asked}@c.us"
    return link(asked, answer.get("chatId"), CHECK_WHATSAPP)


def from_contact_info(asked: object, answer: object) -> Link | None:
    """Assumption (docs silent on which form getContactInfo answers): a ``chatId`` of the other form than
    the ID asked names the same person."""
    if not isinstance(answer, Mapping):
        return None
    return link(asked, answer.get("chatId"), CONTACT_INFO)


def from_journal(messages: Iterable[object]) -> list[Link]:
    """Assumption (docs silent on journals giving both forms in one entry): in a personal chat, the sender
    of an incoming message is the chat's person, so a ``chatId`` and ``senderId`` of the two forms link."""
    found = []
    for message in messages:
        if not isinstance(message, Mapping) or message.get("type") != "incoming":
            continue
        item = link(message.get("chatId"), message.get("senderId"), JOURNAL)
        if item is not None:
            found.append(item)
    return found
