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


def test_a_full_journal_shrinks_the_window_to_what_it_covers():
    # 10,000 incoming messages reach back only 8 days: nothing older is known, in either journal.
    incoming = [{"chatId": "79001234567@c.us", "timestamp": stamp(8 * i / chatlist.JOURNAL_LIMIT)}
                for i in range(chatlist.JOURNAL_LIMIT)]
    outgoing = [{"chatId": "79001234568@c.us", "timestamp": stamp(20)}]
    rows = chatlist.build_rows(CHATS, incoming, outgoing, days=30, now=NOW)
    assert chatlist.window_of(rows, 30) == 7
    by_id = {r.chat_id: r for r in rows}
    assert by_id["79001234568@c.us"].last_outgoing is None            # 20 days ago: outside what is covered
    assert by_id["79001234568@c.us"].cells()[4:] == ["none in 7 days", "none in 7 days", 7]
    assert chatlist.choose(rows, idle_days=30) == []                  # not known to be idle 30 days: left alone


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
