"""Cell value -> chat ID: what analysts type, what Excel hands over, and what must never crash."""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from decimal import Decimal

import phonenumbers
import pytest
from hypothesis import given, settings, strategies as hs

from greenapi_excel import chat_ids
from greenapi_excel.chat_ids import FORMULA_WITHOUT_VALUE, CellError, check_region, parse_cell
from greenapi_excel.errors import ConfigError

CHAT_ID_SHAPE = re.compile(r"[0-9]{5,20}@c\.us|[0-9]{5,20}(-[0-9]{5,20})?@g\.us|[0-9]{5,20}@lid")


@pytest.mark.parametrize("value, region, expected", [
    (79001234567, None, "79001234567@c.us"),
    (79001234569.0, None, "79001234569@c.us"),             # numbers arrive from Excel as floats
    (Decimal("79001234567"), None, "79001234567@c.us"),
    ("+7 (900) 123-45-67", None, "79001234567@c.us"),
    ("  +7 900 123 45 67  ", None, "79001234567@c.us"),
    ("+7\u00a0900\u00a0123\u00a045\u00a067", None, "79001234567@c.us"),   # pasted with no-break spaces
    ("00 49 170 1234567", None, "491701234567@c.us"),
    ("79001234567", None, "79001234567@c.us"),
    ("+77011234567", None, "77011234567@c.us"),            # Kazakhstan shares +7
    ("8 (900) 123-45-71", "RU", "79001234571@c.us"),
    ("9001234571", "RU", "79001234571@c.us"),
    ("87011234567", "KZ", "77011234567@c.us"),
    ("0170 1234567", "DE", "491701234567@c.us"),
    ("491701234567", "DE", "491701234567@c.us"),            # carries DE's own country code already
    ("+7 900 123 45 67", "DE", "79001234567@c.us"),         # + wins over the region
    ("0039 06 1234 5678", None, "390612345678@c.us"),       # Italy keeps its leading zero
    ("120363043968066561@g.us", None, "120363043968066561@g.us"),
    (" 79001234567-1581234048@g.us ", None, "79001234567-1581234048@g.us"),
    ("79001234567@c.us", None, "79001234567@c.us"),
    ("+7 900 1234567@c.us", None, "79001234567@c.us"),      # tidied: leading + and spaces dropped
    ("120650379300963@lid", None, "120650379300963@lid"),   # WhatsApp's own ID for a person, as getChats lists it
    (" 120650379300963@LID ", "RU", "120650379300963@lid"),
])
def test_numbers_and_ids_become_green_api_chat_ids(value, region, expected):
    assert parse_cell(value, region) == chat_ids.ParsedCell(expected, None)


@pytest.mark.parametrize("value, words", [
    ("8 (900) 123-45-71", "set a default region"),
    ("0170 1234567", "local number"),
    (1.20363043968066e17, "format the column as Text"),     # a group ID typed as a number lost digits
    (120363043968066561, "format the column as Text"),
    ("hello", "not a phone number"),
    (True, "TRUE/FALSE"),
    (dt.datetime(2026, 1, 2), "date"),
    (dt.date(2026, 1, 2), "format the column as Text"),
    (dt.time(12, 30), "date or time"),
    (CellError("#N/A"), "the cell shows the error #N/A"),
    (FORMULA_WITHOUT_VALUE, "recalculate"),
    (79001234567.5, "decimal"),
    (float("nan"), "not a number"),
    (float("inf"), "not a number"),
    (-79001234567, "negative"),
    (12345, "wrong number of digits"),
    ("+1 555 0100", "not a valid number"),
    ("7 900 123 45 67 + 1", "+ belongs only at the start"),
    ("79001234567@c.uss", "@c.us (a person), @lid"),
    ("1206 5037 9300963@lid", "@lid"),
    ("+120650379300963@lid", "digits only"),
    ("1234@lid", "@lid"),
    ("7900-1234567@c.us", "digits only"),
    ("12345@g.us", "group ID"),
    ("7" * 32767, "too long"),
    ("\u0667\u0669\u0660\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "not a phone number"),  # Arabic-Indic digits
    ([79001234567], "something other than"),
])
def test_what_is_not_a_chat_gets_a_reason_the_analyst_can_act_on(value, words):
    parsed = parse_cell(value)
    assert parsed.chat_id is None and not parsed.empty
    assert words in parsed.reason
    assert parsed.reason[:1] not in "=+-@"


@given(hs.from_regex(r"\A[0-9]{5,20}\Z"), hs.sampled_from([None, "RU", "DE"]))
def test_every_lid_getchats_can_list_is_taken_as_written(digits, region):
    assert parse_cell(f"{digits}@lid", region) == chat_ids.ParsedCell(f"{digits}@lid", None)


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n", "\u00a0\u2003"])
def test_empty_cells_are_skipped_without_a_status(value):
    assert parse_cell(value).empty
    assert parse_cell(value, "RU").empty


def test_a_hostile_error_code_is_shown_tamed():
    reason = parse_cell(CellError("=HYPERLINK(\"x\")\x00" + "A" * 100)).reason
    assert reason.startswith("the cell shows the error") and "(" not in reason and "\x00" not in reason
    assert len(reason) < 120


def test_check_region_upper_cases_and_refuses_unknown_codes():
    assert check_region("ru") == "RU"
    assert check_region(" kz ") == "KZ"
    assert check_region(None) is None
    assert check_region("") is None
    with pytest.raises(ConfigError, match="two-letter country code"):
        check_region("XX")
    with pytest.raises(ConfigError):
        check_region("=cmd|'/C calc'!A0")


@settings(max_examples=500, deadline=None)
@given(hs.one_of(
    hs.none(), hs.booleans(), hs.integers(), hs.floats(), hs.text(), hs.datetimes(), hs.dates(),
    hs.from_regex(r"\A[+0 ]{0,3}[0-9 ()\-]{3,22}(@[cg]\.us|@lid)?\Z"),
    hs.builds(CellError, hs.text()), hs.just(FORMULA_WITHOUT_VALUE), hs.decimals(),
    hs.lists(hs.integers(), max_size=2), hs.binary(max_size=8),
), hs.sampled_from([None, "RU", "DE", "KZ", "US", "IT", "GB"]))
def test_parse_cell_never_raises_and_returns_exactly_one_answer(value, region):
    parsed = parse_cell(value, region)
    answers = [parsed.chat_id is not None, parsed.reason is not None, parsed.empty]
    assert answers.count(True) == 1, parsed
    if parsed.chat_id is not None:
        assert CHAT_ID_SHAPE.fullmatch(parsed.chat_id), parsed
    if parsed.reason is not None:
        assert parsed.reason[:1] not in "=+-@" and len(parsed.reason) < 200
        assert not re.search(r"[\x00-\x1f\x7f]", parsed.reason)


@pytest.mark.parametrize("region", [None, "RU", "KZ", "DE", "GB", "FR", "US", "IN", "BR", "IT", "AE"])
def test_the_fast_path_agrees_with_phonenumbers(region):
    """The quick metadata check must give what phonenumbers itself gives, whenever it decides."""
    rng = random.Random(region or "none")
    country_code = str(phonenumbers.country_code_for_region(region or "RU"))
    prefix = (phonenumbers.PhoneMetadata.metadata_for_region(region or "RU").national_prefix or "")
    for _ in range(1500):
        start = rng.choice([country_code, prefix, "", str(rng.randint(1, 999))])
        digits = start + "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 12)))
        if len(digits) > 15 or not digits:
            continue
        quick = chat_ids._quick_reading(digits, False, region)
        if quick is not None:
            slow, _ = chat_ids._slow_reading(digits, digits, False, region)
            assert quick == slow, (digits, region)


def test_a_hundred_thousand_rows_parse_quickly():
    """Not a timed assertion on the product's pace: a guard against falling back to the slow path."""
    calls = 0
    original = phonenumbers.parse

    def counting_parse(*args, **kwargs):
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    phonenumbers.parse = counting_parse
    try:
        chat_ids._parse_phone_cached.cache_clear()
        for i in range(20000):
            assert parse_cell(float(79010000000 + i)).chat_id
            assert parse_cell(f"8 901 {i:07d}", "RU").chat_id
    finally:
        phonenumbers.parse = original
    assert calls == 0


def test_planning_pace_is_measured():
    # A measurement printed for the report, not asserted (no timed assertions).
    chat_ids._parse_phone_cached.cache_clear()
    started = time.perf_counter()
    for i in range(100_000):
        parse_cell(79020000000 + i)
    print(f"\n100,000 distinct numbers parsed in {time.perf_counter() - started:.2f} s")


# --- the fast check agrees with phonenumbers -------------------------------------------------------

from hypothesis import given, settings, strategies as hs  # noqa: E402

from greenapi_excel import chat_ids as _chat_ids  # noqa: E402


def test_leading_zeros_are_not_dropped_by_the_fast_check():
    for text in ("0 79001234567", "079001234567", "0 4915123456789"):
        parsed = parse_cell(text)
        assert parsed.chat_id is None and "local number" in parsed.reason, (text, parsed)


# Valid numbers of many countries as plain digits (country code first), and their national forms.
_VALID = sorted({phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)[1:]
                 for region in ("RU", "KZ", "DE", "GB", "US", "IT", "BR", "IN", "AE", "FR", "CI", "SM")
                 for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
                 if (n := phonenumbers.example_number_for_type(region, kind)) is not None})
_DIGITS = hs.one_of(hs.text("0123456789", min_size=1, max_size=15), hs.sampled_from(_VALID),
                    hs.sampled_from(_VALID).map(lambda d: d[1:]), hs.sampled_from(_VALID).map(lambda d: d[2:]))


@settings(max_examples=400, deadline=None)
@given(digits=_DIGITS, prefix=hs.sampled_from(["", "0", "00", "+", "8"]),
       region=hs.sampled_from([None, "RU", "DE", "GB", "KZ", "IT", "US"]))
def test_the_fast_path_agrees_with_the_slow_path(digits, prefix, region):
    """Wherever the fast check settles a number, phonenumbers' own reading gives the same chat ID."""
    text = prefix + digits
    all_digits = _chat_ids._NOT_DIGITS.sub("", text)
    international = text.startswith("+")
    if not international and all_digits.startswith("00"):
        all_digits, international = all_digits[2:], True
    if not all_digits or len(all_digits) > 15:
        return
    quick = _chat_ids._quick_reading(all_digits, international, region)
    if quick is not None:
        slow, _ = _chat_ids._slow_reading(text, all_digits, international, region)
        assert slow == quick, (text, region, quick, slow)
