"""Cell value -> GREEN-API chat ID, or the reason it is not one.

GREEN-API's form is the international number without ``+`` and a suffix: ``79001234567@c.us`` for a
person, ``120363043968066561@g.us`` (or the old ``79001234567-1581234048@g.us``) for a group. A person may
also be named by WhatsApp's own ID, ``120650379300963@lid`` (getChats, the journals and webhooks give it;
docs/GREEN-API.md). Bare numbers go through ``phonenumbers``; ready chat IDs are checked for shape only.
Reasons end up in the Details cell, so they are plain sentences that never start with = + - @.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers

from greenapi_excel.errors import ConfigError
from greenapi_excel.i18n import N_, _, language


@dataclass(frozen=True)
class CellError:
    """An Excel error value such as ``#N/A`` (a formula that failed)."""

    code: str


class _FormulaWithoutValue:
    """A formula cell whose file holds no computed value (written by a program, never recalculated)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FORMULA_WITHOUT_VALUE"

    def __reduce__(self):
        return (_FormulaWithoutValue, ())


FORMULA_WITHOUT_VALUE = _FormulaWithoutValue()


@dataclass(frozen=True)
class ParsedCell:
    """Exactly one of: a chat ID, a reason it is not one, or nothing (an empty cell: skipped, no status)."""

    chat_id: str | None = None
    reason: str | None = None

    @property
    def empty(self) -> bool:
        return self.chat_id is None and self.reason is None


EMPTY = ParsedCell()

# E.164 allows 15 digits, and Excel keeps only 15 significant digits of a number.
MAX_PHONE_DIGITS = 15
# Longer text cannot be a phone number or a chat ID; checked before any regex or cache sees it.
MAX_TEXT = 64

_PERSON_ID = re.compile(r"([0-9]{5,15})@c\.us", re.ASCII)
_GROUP_ID = re.compile(r"[0-9]{18,20}@g\.us|[0-9]{5,15}-[0-9]{5,12}@g\.us", re.ASCII)
# WhatsApp's ID for a person (GREEN-API's getChats lists "123456789012345@lid"); digits, no phone number in them.
_LID = re.compile(r"[0-9]{5,20}@lid", re.ASCII)
# What people put around the digits of a phone number (NBSP and thin spaces come with pasted text).
_PHONE_TEXT = re.compile(r"[+0-9 ()\-./\u00a0\u2009\u202f]+", re.ASCII)
_NOT_DIGITS = re.compile(r"[^0-9]", re.ASCII)
_UNICODE_SPACE = re.compile(r"\s+")
_CODE_SAFE = re.compile(r"[^#A-Z0-9/!?_]")

TEXT_COLUMN_HINT = N_("format the column as Text and type the number again")


def _invalid(reason: str) -> ParsedCell:
    return ParsedCell(None, reason)


def check_region(region: str | None) -> str | None:
    """The region upper-cased (``"ru"`` -> ``"RU"``), None for none; ConfigError if phonenumbers does not know it."""
    if region is None:
        return None
    if not isinstance(region, str):
        raise ConfigError(_("the region must be a two-letter country code such as RU, DE or KZ"))
    code = region.strip().upper()
    if not code:
        return None
    if code not in phonenumbers.SUPPORTED_REGIONS:
        shown = re.sub(r"[^A-Za-z0-9]", "?", code[:8])
        raise ConfigError(_("unknown region {region!r}: use a two-letter country code such as RU, DE or KZ").format(
            region=shown))
    return code


def parse_cell(value: object, region: str | None = None) -> ParsedCell:
    """What one cell means. Never raises: anything unexpected becomes a reason."""
    try:
        return _parse(value, region)
    except Exception:  # noqa: BLE001 - a cell must never stop a run; the reason says what to do
        return _invalid(_("this cell could not be read as a phone number; type the number with its country code"))


def _parse(value: object, region: str | None) -> ParsedCell:
    if value is None:
        return EMPTY
    if value is FORMULA_WITHOUT_VALUE:
        return _invalid(_("the formula has no saved value; open the book in Excel, recalculate (F9) and save it"))
    if isinstance(value, CellError):
        code = _CODE_SAFE.sub("", str(value.code).upper())[:16] or _("an error")
        return _invalid(_("the cell shows the error {code}; fix the formula or type the number").format(code=code))
    if isinstance(value, bool):  # before int: bool is an int
        return _invalid(_("a TRUE/FALSE value is not a phone number"))
    if isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta)):
        return _invalid(_("Excel shows this as a date or time; {hint}").format(hint=_(TEXT_COLUMN_HINT)))
    if isinstance(value, int):
        return _parse_number(value, region)
    if isinstance(value, (float, Decimal)):
        return _parse_float(value, region)
    if isinstance(value, str):
        return _parse_text(value, region)
    return _invalid(_("this cell holds something other than a number or text; type the phone number"))


def _parse_float(value: float | Decimal, region: str | None) -> ParsedCell:
    if isinstance(value, Decimal):
        if not value.is_finite():
            return _invalid(_("this is not a number; type the phone number"))
    elif not math.isfinite(value):
        return _invalid(_("this is not a number; type the phone number"))
    if value != int(value):
        return _invalid(_("a phone number has no decimal part; check the cell"))
    return _parse_number(int(value), region)


def _parse_number(number: int, region: str | None) -> ParsedCell:
    if number <= 0:
        return _invalid(_("a phone number is not zero or negative; check the cell"))
    digits = str(number)
    if len(digits) > MAX_PHONE_DIGITS:
        return _invalid(
            _("a number longer than 15 digits loses its last digits in Excel (group IDs do); {hint}").format(
                hint=_(TEXT_COLUMN_HINT))
        )
    return _parse_phone(digits, region)


def _parse_text(value: str, region: str | None) -> ParsedCell:
    if len(value) > 4 * MAX_TEXT:  # cheap bound before stripping a 32,767-character cell
        return _invalid(_("the text is far too long to be a phone number or a chat ID"))
    text = value.strip()
    if not text:
        return EMPTY
    if len(text) > MAX_TEXT:
        return _invalid(_("the text is too long to be a phone number or a chat ID"))
    if "@" in text:
        return _parse_chat_id(text)
    return _parse_phone(text, region)


def _parse_chat_id(text: str) -> ParsedCell:
    """Ready IDs are accepted as written; a leading ``+`` and spaces in a person's ID are tidied away."""
    local, _at, suffix = text.rpartition("@")
    suffix = suffix.strip().lower()
    if suffix == "c.us":
        # People paste "+7 900 123 45 67@c.us"; the number is unambiguous, so tidy rather than refuse.
        tidy = _UNICODE_SPACE.sub("", local)
        tidy = tidy[1:] if tidy.startswith("+") else tidy
        candidate = f"{tidy}@c.us"
        if _PERSON_ID.fullmatch(candidate):
            return ParsedCell(candidate, None)
        return _invalid(_("a chat ID ending in @c.us is the country code and number in digits only, like 79001234567@c.us"))
    if suffix == "g.us":
        candidate = f"{local.strip()}@g.us"
        if _GROUP_ID.fullmatch(candidate):
            return ParsedCell(candidate, None)
        return _invalid(_("a group ID ending in @g.us is 18 or more digits, or digits-digits; copy it again from getChats"))
    if suffix == "lid":
        # Copied from getChats or a journal, never typed from a phone: taken as written, spaces are a mistake.
        candidate = f"{local.strip()}@lid"
        if _LID.fullmatch(candidate):
            return ParsedCell(candidate, None)
        return _invalid(_("a chat ID ending in @lid is WhatsApp's ID for a person in digits only, like "
                          "120650379300963@lid; copy it again from the chat list"))
    return _invalid(_("a chat ID ends in @c.us (a person), @lid (a person, by WhatsApp's ID) or @g.us (a group)"))


PHONE, LID, GROUP = "phone", "lid", "group"


def kind(chat_id: object) -> str | None:
    """Which form a ready chat ID has, as parse_cell writes it: PHONE (``79001234567@c.us``), LID
    (``120650379300963@lid``), GROUP (``...@g.us``); None for anything else."""
    if not isinstance(chat_id, str) or len(chat_id) > MAX_TEXT:
        return None
    if _PERSON_ID.fullmatch(chat_id):
        return PHONE
    if _LID.fullmatch(chat_id):
        return LID
    if _GROUP_ID.fullmatch(chat_id):
        return GROUP
    return None


def _parse_phone(text: str, region: str | None) -> ParsedCell:
    if not _PHONE_TEXT.fullmatch(text):
        return _invalid(_("this is not a phone number: only digits, spaces, +, dashes and brackets are expected"))
    return _parse_phone_cached(text, region, language())


@functools.lru_cache(maxsize=262_144)
def _parse_phone_cached(text: str, region: str | None, _language: str) -> ParsedCell:
    # Cached by (text, region): sheets repeat numbers, and phonenumbers is the slow part of planning. And by
    # the language in force: the reason is text in that language.
    digits = _NOT_DIGITS.sub("", text)
    if not digits:
        return _invalid(_("there are no digits in this cell; type the phone number"))
    if text.count("+") > 1 or ("+" in text and not text.startswith("+")):
        return _invalid(_("a + belongs only at the start of the number; check the cell"))
    international = text.startswith("+")
    if not international and digits.startswith("00"):
        digits = digits[2:]  # 00 is the international call prefix of most countries
        international = True
    if not digits or len(digits) > MAX_PHONE_DIGITS:
        return _invalid(_("a phone number has at most 15 digits with the country code; check the cell"))

    quick = _quick_reading(digits, international, region)
    if quick is not None:
        return ParsedCell(f"{quick}@c.us", None)

    chat_number, parsed_any = _slow_reading(text, digits, international, region)
    if chat_number is not None:
        return ParsedCell(f"{chat_number}@c.us", None)

    if not international and not region and digits.startswith(("0", "8")):
        return _invalid(
            _("this looks like a local number: write it with the country code (7 900 123 45 67), "
              "or set a default region (--region RU)")
        )
    if parsed_any is None:
        return _invalid(_("this is not a phone number; write it with the country code, like 7 900 123 45 67"))
    if not phonenumbers.is_possible_number(parsed_any):
        return _invalid(
            _("this has the wrong number of digits for a number of country code {code}; "
              "check it, or set a default region for local numbers").format(code=parsed_any.country_code)
        )
    return _invalid(
        _("this is not a valid number of country code {code}; "
          "check the digits, or set a default region for local numbers").format(code=parsed_any.country_code)
    )


def _slow_reading(text: str, digits: str, international: bool, region: str | None):
    """phonenumbers' own reading: (number in GREEN-API's form or None, the first PhoneNumber it parsed)."""
    candidates = []
    if region and not international:
        candidates.append((text, region))  # as people of that region write it, national prefix and all
    candidates.append(("+" + digits, None))
    parsed_any = None
    for candidate, default_region in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        parsed_any = parsed_any or number
        if phonenumbers.is_valid_number(number):
            if default_region and digits.startswith(str(number.country_code)) and _valid_international(digits):
                # "491701234567" with region DE already carries the country code; phonenumbers
                # would read it as a German number 49 49 170... for some regions.
                return digits, number
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return e164[1:], number
    return None, parsed_any


def _valid_international(digits: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None))
    except phonenumbers.NumberParseException:
        return False


# --- a fast validity check ------------------------------------------------------------------------
# phonenumbers.parse + is_valid_number cost ~50 us a number, too slow for 100,000 rows. The check
# below runs the same metadata patterns, compiled once per country code, on plain digits. It may say
# "no" where phonenumbers says "yes" (the slow path then decides), never the other way round.

_NUMBER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
                 "voicemail", "fixed_line", "mobile")
_rules_by_country_code: dict[int, list] = {}


def _quick_reading(digits: str, international: bool, region: str | None) -> str | None:
    """The number in GREEN-API's form when the fast check settles it, else None (the slow path decides).

    Mirrors the slow path's order: with a region, the region's own way of writing comes first
    (national prefix such as 8 or 0, or no prefix at all), then the international reading.
    """
    if international or not region:
        return digits if _quick_valid(digits) else None
    country_code = str(phonenumbers.country_code_for_region(region) or "")
    if not country_code:
        return None
    if digits.startswith(country_code) and _quick_valid(digits):
        return digits  # already carries the region's country code (see the slow path's note)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    prefix = getattr(metadata, "national_prefix", None) or ""
    if prefix and digits.startswith(prefix) and _quick_valid(country_code + digits[len(prefix):]):
        return country_code + digits[len(prefix):]
    return None  # other regional forms and the international fallback: phonenumbers decides


def _rules(country_code: int) -> list:
    rules = _rules_by_country_code.get(country_code)
    if rules is None:
        rules = []
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
            metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
            general = getattr(metadata, "general_desc", None)
            if general is None or general.national_number_pattern is None:
                continue
            general_lengths = frozenset(general.possible_length or ())
            by_length: dict[int, list[str]] = {}
            for name in _NUMBER_TYPES:
                desc = getattr(metadata, name, None)
                if desc is None or desc.national_number_pattern is None:
                    continue
                lengths = frozenset(desc.possible_length or ()) or general_lengths
                for length in lengths:
                    if length > 0:  # -1 marks a type that does not exist in this region
                        by_length.setdefault(length, []).append(desc.national_number_pattern)
            # One alternation per length: a number is valid when some type of that length matches.
            kinds = {length: re.compile("|".join(f"(?:{p})" for p in patterns))
                     for length, patterns in by_length.items()}
            rules.append((re.compile(general.national_number_pattern), kinds))
        _rules_by_country_code[country_code] = rules
    return rules


def _quick_valid(digits: str) -> bool:
    """True only if phonenumbers would call ``+digits`` a valid number written exactly so."""
    if digits.startswith("0"):
        return False  # no country code starts with 0: int("07") would read one that is not written
    for size in (1, 2, 3):
        if len(digits) <= size:
            return False
        country_code = int(digits[:size])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if national.startswith("0"):
                return False  # Italian leading zeros and national prefixes: the slow path knows them
            length = len(national)
            for general, kinds in _rules(country_code):
                by_type = kinds.get(length)
                if by_type is not None and by_type.fullmatch(national) and general.fullmatch(national):
                    return True
            return False
    return False
