"""The rows of Load chats (greenapi_excel.chatlist): pure functions, no network."""

from __future__ import annotations

from datetime import datetime, timedelta

from greenapi_excel import chatlist

NOW = datetime(2026, 12, 2, 12, 0, 0)


def stamp(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp())


CHATS = [{"id": "79001234567@c.us", "name": "Anna", "type": "user", "archive": False},
         {"id": "120363043968066561@g.us", "name": "Team", "type": "group", "archive": True},
         {"id": "79001234568@c.us", "name": None, "archive": False},
         {"id": "79001234567@c.us", "name": "Anna again"},          # a repeat: one row per chat
         "junk", {"name": "no id"}]


def test_rows_take_the_newest_message_of_each_journal():
    incoming = [{"chatId": "79001234567@c.us", "timestamp": stamp(3)},
                {"chatId": "79001234567@c.us", "timestamp": stamp(1)},
                {"chatId": "120363043968066561@g.us", "timestamp": "soon"}]   # junk is ignored
    outgoing = [{"chatId": "120363043968066561@g.us", "timestamp": stamp(12.5)}]
    rows = chatlist.build_rows(CHATS, incoming, outgoing, days=30, now=NOW)
    assert [r.chat_id for r in rows] == ["79001234567@c.us", "120363043968066561@g.us", "79001234568@c.us"]
    anna, team, nobody = rows
    assert anna.last_incoming == datetime.fromtimestamp(stamp(1)) and anna.idle_days == 1
    assert team.type == "group" and team.archived and team.idle_days == 12 and team.last_incoming is None
    assert nobody.name == "" and nobody.cells() == ["79001234568@c.us", "", "person", "no", "none in 30 days",
                                                    "none in 30 days", 30]
    assert [r.chat_id for r in chatlist.choose(rows, idle_days=10)] == ["120363043968066561@g.us", "79001234568@c.us"]
    assert [r.chat_id for r in chatlist.choose(rows, chat_type="person", idle_days=30)] == ["79001234568@c.us"]


def test_a_full_journal_reaches_back_to_its_oldest_message_and_what_is_older_is_unknown():
    # 10,000 incoming messages reach back only 8 days: older incoming messages are not known.
    incoming = [{"chatId": "79001234567@c.us", "timestamp": stamp(8 * i / chatlist.JOURNAL_LIMIT)}
                for i in range(chatlist.JOURNAL_LIMIT)]
    outgoing = [{"chatId": "79001234568@c.us", "timestamp": stamp(20)}]
    rows = chatlist.build_rows(CHATS, incoming, outgoing, days=30, now=NOW)
    assert chatlist.window_of(rows, 30) == 7
    by_id = {r.chat_id: r for r in rows}
    vera = by_id["79001234568@c.us"]
    # Her outgoing message of 20 days ago is known (that journal is complete for 30 days); whether an incoming
    # one came after it is not: active within 30 days, idle days unknown.
    assert vera.cells()[4:] == ["none in 7 days", datetime.fromtimestamp(stamp(20)),
                                "unknown: the journal reaches back 7 days"]
    assert vera.activity(30) == chatlist.ACTIVE and vera.activity(10) == chatlist.UNKNOWN
    assert by_id["79001234567@c.us"].idle_days == 0
    assert by_id["120363043968066561@g.us"].cells()[6] == "unknown: the journal reaches back 7 days"
    assert chatlist.choose(rows, idle_days=30) == []                  # not known to be idle 30 days: left alone
    # Within the 7 days both journals hold every message, Vera and the group have none: idle 7 days, known.
    assert chatlist.choose(rows, idle_days=7) == [by_id["120363043968066561@g.us"], vera]


def test_refresh_keeps_rows_adds_new_ones_below_and_marks_gone_ones():
    rows = chatlist.build_rows(CHATS[:2] + [{"id": "79005550000@c.us", "name": "New"}], [], [], days=30, now=NOW)
    existing = [(2, ["120363043968066561@g.us", "Team", "group", "no", None, None, 5]),
                (3, [None, "a note row without a chat"]),
                (4, ["79009990000@c.us", "Gone", "person", "no", "x", "y", 1]),
                (5, ["79001234567@c.us", "Anna", "person", "no"])]
    laid = chatlist.refresh(existing, rows)
    assert sorted(laid.cells) == [2, 4, 5, 6]                          # row 3 is left alone
    assert laid.cells[2][3] == "yes" and laid.cells[5][1] == "Anna"
    assert laid.cells[4] == ["79009990000@c.us", "Gone", "person", "gone", "x", "y", 1]
    assert laid.cells[6][0] == "79005550000@c.us"
    assert (laid.updated, laid.added, laid.gone) == (2, 1, 1)
    assert chatlist.is_loaded_header(chatlist.HEADERS) and not chatlist.is_loaded_header(["Chat ID", "Status"])


def test_colour_thresholds_rise_strictly_for_any_window():
    for days in (0, 1, 2, 30, 3650):
        low, mid, high = chatlist.color_scale(days)
        assert low < mid < high and high >= days


# --- how far back the journals reach, and chats they cannot tell about ---------------------------------------


def test_journal_reach_is_the_shortest_of_every_bound_and_names_it():
    def reach(**kwargs):
        return chatlist.journal_reach(30, now=NOW, **kwargs)

    assert reach() == chatlist.Reach(30, 30, 30, chatlist.WINDOW) and not reach().short
    assert reach(incoming_since=NOW - timedelta(days=5.5)) == chatlist.Reach(30, 5, 30, chatlist.INCOMING_SINCE)
    both = reach(incoming_since=NOW - timedelta(days=5), outgoing_since=stamp(2.2))   # a datetime or epoch seconds
    assert (both.days, both.cause) == (2, chatlist.OUTGOING_SINCE)
    assert (reach(incoming_since=stamp(400)).days, reach(incoming_since=stamp(400)).cause) == (30, chatlist.WINDOW)
    assert reach(outgoing_message_webhook="no") == chatlist.Reach(30, 30, 0, chatlist.OUTGOING_OFF)
    # Both off: the incoming one is named, it is the first to fix.
    assert reach(incoming_webhook="no", outgoing_message_webhook="no").cause == chatlist.INCOMING_OFF
    assert reach(outgoing_message_webhook=None).cause == chatlist.SETTINGS_UNKNOWN
    full = [{"chatId": "79001234567@c.us", "timestamp": stamp(12 * i / chatlist.JOURNAL_LIMIT)}
            for i in range(chatlist.JOURNAL_LIMIT)]
    assert reach(outgoing=full) == chatlist.Reach(30, 30, 11, chatlist.JOURNAL_FULL)
    assert reach(outgoing=full[:-1]) == chatlist.Reach(30, 30, 30, chatlist.WINDOW)   # not full: complete
    assert "10,000" in reach(outgoing=full).describe() and "incomingWebhook" in reach(incoming_webhook="no").describe()


def test_right_after_the_setting_is_switched_on_no_chat_is_called_idle():
    # check --fix switched incomingWebhook on an hour ago: the journals hold nothing older, so "no message in
    # 30 days" means nothing yet (issue: every chat looked idle and was archived).
    chats = [{"id": "79001234567@c.us"}, {"id": "79001234568@c.us"}, {"id": "120363043968066561@g.us"}]
    incoming = [{"chatId": "79001234568@c.us", "timestamp": stamp(0.01)}]
    reach = chatlist.journal_reach(30, incoming, [], now=NOW, incoming_since=NOW - timedelta(hours=1),
                                   outgoing_since=NOW - timedelta(hours=1))
    rows = chatlist.build_rows(chats, incoming, [], days=30, now=NOW, reach=reach)
    anna, vera, team = rows
    assert anna.activity(30) == chatlist.UNKNOWN and vera.activity(30) == chatlist.ACTIVE
    assert anna.cells()[4:] == ["none in 0 days", "none in 0 days", "unknown: the journal reaches back 0 days"]
    assert vera.cells()[6] == 0
    chosen = chatlist.choose(rows, idle_days=30)
    assert chosen == [] and chosen.unknown == 2 and chosen.causes == {chatlist.INCOMING_SINCE: 2}
    assert chosen.describe_unknown() == (
        '2 chats are not known to be idle and were left alone: the journals reach back 0 days: "Receive webhooks '
        'on incoming messages and files" (incomingWebhook) was switched on then, and older messages never reach them')
    people = chatlist.choose(rows, chat_type="person", idle_days=30, include_unknown=True)
    assert people == [anna] and people.unknown == 1 and "included as asked" in people.describe_unknown()
    assert chatlist.choose(rows, chat_type="group").describe_unknown() == ""


def test_with_phone_messages_out_of_the_journal_only_activity_is_known():
    chats = [{"id": "79001234567@c.us"}, {"id": "79001234568@c.us"}]
    incoming = [{"chatId": "79001234567@c.us", "timestamp": stamp(2)}]
    reach = chatlist.journal_reach(30, incoming, [], now=NOW, outgoing_message_webhook="no")
    anna, vera = chatlist.build_rows(chats, incoming, [], days=30, now=NOW, reach=reach)
    assert anna.activity(30) == chatlist.ACTIVE and anna.activity(2) == chatlist.UNKNOWN
    assert anna.cells()[4:] == [datetime.fromtimestamp(stamp(2)), "none in 0 days",
                                "unknown: messages sent from the phone are not in the journal"]
    assert vera.activity(1) == chatlist.UNKNOWN
    assert chatlist.choose([anna, vera], idle_days=1).causes == {chatlist.OUTGOING_OFF: 2}


def test_the_unknown_cell_speaks_russian_with_russian_plurals():
    from greenapi_excel import i18n

    texts = []
    with i18n.using("ru"):
        for days in (1, 3, 5, 21):
            reach = chatlist.Reach(30, days, 30, chatlist.JOURNAL_FULL)
            (row,) = chatlist.build_rows([{"id": "79001234567@c.us"}], [], [], days=30, now=NOW, reach=reach)
            texts.append(row.cells()[6])
    assert all(str(days) in text and "unknown" not in text for days, text in zip((1, 3, 5, 21), texts))
    assert len({text.replace(str(days), "N") for days, text in zip((1, 3, 5, 21), texts)}) == 3   # день, дня, дней


def test_a_chat_the_journals_name_by_its_lid_is_one_chat_once_a_source_links_them():
    from greenapi_excel import chat_identity as ci

    anna, anna_lid = "79001234567@c.us", "120650379300963@lid"
    chats = [{"id": anna_lid, "name": "Anna"}, {"id": "79001234568@c.us"}, {"id": "120363043968066561@g.us"}]
    incoming = [{"chatId": anna, "timestamp": stamp(1)}]
    # Unlinked: the journal's message, named by a number no row has, may be any @lid row's: those are not
    # known to be idle. A number is one person's: Vera's row is not touched, nor the group's.
    lid_row, vera, team = chatlist.build_rows(chats, incoming, [], days=30, now=NOW)
    assert [r.activity(30) for r in (lid_row, vera, team)] == [chatlist.UNKNOWN, chatlist.IDLE, chatlist.IDLE]
    assert lid_row.cells()[6] == "unknown: the journal names some chats by an ID that cannot be matched to this one"
    assert chatlist.choose([lid_row, vera, team], idle_days=30).causes == {chatlist.UNMATCHED: 1}
    # CheckWhatsapp said which lid is Anna's: her row shows her message.
    ids = ci.Identities([ci.from_check_whatsapp(anna, {"existsWhatsapp": True, "chatId": anna_lid})])
    lid_row, vera, team = chatlist.build_rows(chats, incoming, [], days=30, now=NOW, identities=ids)
    assert lid_row.last_incoming == datetime.fromtimestamp(stamp(1)) and lid_row.idle_days == 1
    assert not lid_row.unmatched and vera.activity(30) == chatlist.IDLE
    # getChats listing both IDs of one linked chat: one row, the first.
    rows = chatlist.build_rows([{"id": anna}, {"id": anna_lid}], incoming, [], days=30, now=NOW, identities=ids)
    assert [r.chat_id for r in rows] == [anna]


def test_a_stray_id_of_the_same_form_is_another_chat_and_changes_nothing():
    # A message from a chat no longer in the list (deleted) names it by a phone number: it cannot be Vera's.
    incoming = [{"chatId": "79009990000@c.us", "timestamp": stamp(1)}]
    (vera,) = chatlist.build_rows([{"id": "79001234568@c.us"}], incoming, [], days=30, now=NOW)
    assert vera.activity(30) == chatlist.IDLE and vera.cells()[6] == 30
