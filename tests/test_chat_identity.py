"""Which chat IDs are one chat (greenapi_excel.chat_identity): pure, the answers of the documented sources in."""

from __future__ import annotations

from hypothesis import given, settings, strategies as hs

from greenapi_excel import chat_identity as ci
from greenapi_excel.chat_ids import GROUP, LID, PHONE, kind

ANNA, ANNA_LID = "79001234567@c.us", "120650379300963@lid"
BORIS, BORIS_LID = "79161234567@c.us", "120650379300964@lid"
GROUP_ID = "120363043968066561@g.us"


def test_kind_names_the_three_forms_and_nothing_else():
    assert [kind(x) for x in (ANNA, ANNA_LID, GROUP_ID, "79001234567-1581234048@g.us")] == [PHONE, LID, GROUP, GROUP]
    assert [kind(x) for x in ("79001234567", "abc@lid", "1@c.us", None, 79001234567, "x" * 100)] == [None] * 6


def test_check_whatsapp_links_the_number_asked_to_the_lid_it_answers():
    answer = {"existsWhatsapp": True, "chatId": ANNA_LID}
    for asked in (ANNA, "79001234567", 79001234567):
        assert ci.from_check_whatsapp(asked, answer) == ci.Link(ANNA, ANNA_LID, ci.CHECK_WHATSAPP)
    # No account, no lid in the answer (a phone-number chatId), or an answer that is not an object: no link.
    assert ci.from_check_whatsapp(ANNA, {"existsWhatsapp": False, "chatId": ANNA_LID}) is None
    assert ci.from_check_whatsapp(ANNA, {"existsWhatsapp": True, "chatId": ANNA}) is None
    assert ci.from_check_whatsapp(ANNA, [ANNA_LID]) is None
    assert ci.from_check_whatsapp(True, {"existsWhatsapp": True, "chatId": ANNA_LID}) is None


def test_contact_info_and_journal_links_are_taken_only_between_the_two_forms():
    assert ci.from_contact_info(ANNA_LID, {"chatId": ANNA}) == ci.Link(ANNA, ANNA_LID, ci.CONTACT_INFO)
    assert ci.from_contact_info(ANNA, {"chatId": ANNA}) is None
    assert ci.from_contact_info(GROUP_ID, {"chatId": ANNA_LID}) is None
    journal = [
        {"type": "incoming", "chatId": ANNA_LID, "senderId": ANNA},        # a personal chat: one person
        {"type": "incoming", "chatId": GROUP_ID, "senderId": BORIS_LID},   # a group: the sender is not the chat
        {"type": "outgoing", "chatId": BORIS_LID, "senderId": BORIS},       # outgoing: the sender is the account
        {"type": "incoming", "chatId": BORIS, "senderId": BORIS},
        "junk", {"type": "incoming"},
    ]
    assert ci.from_journal(journal) == [ci.Link(ANNA, ANNA_LID, ci.JOURNAL)]


def test_linked_ids_share_one_key_and_unlinked_ones_stay_apart():
    ids = ci.Identities([ci.Link(ANNA, ANNA_LID, ci.CHECK_WHATSAPP)])
    assert ids.key(ANNA_LID) == ids.key(ANNA) == ANNA
    assert ids.same(ANNA, ANNA_LID) and not ids.same(ANNA, BORIS) and not ids.same(BORIS, BORIS_LID)
    assert ids.other(ANNA) == ANNA_LID and ids.other(ANNA_LID) == ANNA and ids.other(BORIS) is None
    assert ids.names(ANNA_LID) == (ANNA_LID, ANNA) and ids.names(GROUP_ID) == (GROUP_ID,)
    assert ids.add(ci.Link(ANNA, ANNA_LID, ci.JOURNAL)) and len(ids) == 1    # the same word twice is no conflict
    assert not ids.add(None)


def test_contradicting_sources_unlink_every_id_they_touch_for_good():
    ids = ci.Identities([ci.Link(ANNA, ANNA_LID, ci.CHECK_WHATSAPP), ci.Link(BORIS, BORIS_LID, ci.CHECK_WHATSAPP)])
    assert not ids.add(ci.Link(ANNA, BORIS_LID, ci.JOURNAL))      # one number, two lids; one lid, two numbers
    for a, b in ((ANNA, ANNA_LID), (BORIS, BORIS_LID), (ANNA, BORIS_LID)):
        assert not ids.same(a, b)
    assert not ids.add(ci.Link(ANNA, ANNA_LID, ci.CHECK_WHATSAPP))   # contested IDs are not linked again
    assert len(ids) == 0 and len(ids.conflicts) == 2


_PHONES = hs.sampled_from([f"7900123456{d}@c.us" for d in range(5)])
_LIDS = hs.sampled_from([f"12065037930096{d}@lid" for d in range(5)])


@settings(max_examples=300, deadline=None)
@given(hs.lists(hs.tuples(_PHONES, _LIDS), max_size=8))
def test_the_rule_is_an_equivalence_that_never_joins_two_numbers(pairs):
    ids = ci.Identities(ci.Link(p, l, ci.JOURNAL) for p, l in pairs)
    everything = sorted({x for pair in pairs for x in pair})
    for a in everything:
        assert ids.same(a, a)
        for b in everything:
            assert ids.same(a, b) == ids.same(b, a)
            if ids.same(a, b) and a != b:
                assert {kind(a), kind(b)} == {PHONE, LID}          # a number and a lid, never two of a kind
                assert (ids.key(a), ids.key(b)) == ((a, a) if kind(a) == PHONE else (b, b))
                # Linked only when every source that named either ID named exactly this pair.
                named = [pair for pair in pairs if a in pair or b in pair]
                assert all(set(pair) == {a, b} for pair in named)
    for phone, lid in pairs:
        if all(set(pair) == {phone, lid} for pair in pairs if phone in pair or lid in pair):
            assert ids.same(phone, lid)
