"""Where the chat IDs are and where the results go: the same rules for a live book and a file.

Pure functions over a header row and column values (no openpyxl, no xlwings), so the add-in
(``addin.py``) and the file side (``sheets.py``) place results identically. Columns are 1-based
numbers, as in Excel (A = 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

from functools import lru_cache

from greenapi_excel import statuses
from greenapi_excel.errors import ConfigError
from greenapi_excel.i18n import N_, _, spellings

CHAT_HEADER = N_("Chat ID")    # the header the workbook and Load chats write above the chats
PHONE_HEADER = N_("Phone")
CHAT_HEADERS = ("chat id", "chatid", "phone")
MAX_COLUMN = 16384  # XFD: Excel's last column
_LETTERS = re.compile(r"^[A-Za-z]{1,3}$")


def column_letter(column: int) -> str:
    """1 -> "A", 27 -> "AA"."""
    if not 1 <= column <= MAX_COLUMN:
        raise ValueError(f"column {column} is outside Excel's A..XFD")
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_number(letters: str) -> int | None:
    """"A" -> 1, "aa" -> 27; None when the text is not a column letter of Excel."""
    text = letters.strip()
    if not _LETTERS.match(text):
        return None
    number = 0
    for char in text.upper():
        number = number * 26 + ord(char) - ord("A") + 1
    return number if number <= MAX_COLUMN else None


def _header_text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def selected_column(top: int, bottom: int, left: int, right: int) -> int | None:
    """The column a selection points at, or None when it points at none.

    It counts when it lies in one column and covers at least two rows (a whole column counts too):
    Excel always has an active cell, so one selected cell is more often where the cursor was left
    than a choice.
    """
    if left != right or bottom <= top or bottom < 2:
        return None
    return left


CHAT_COLUMN_SETTING = "chat column"  # its label on the Settings sheet


def explicit_chat_column(flag: object = None, settings: Mapping | None = None) -> str | None:
    """The analyst's explicit choice of chat column, for ``find_chat_column(setting=...)``: the command
    line's ``--column``, else a non-empty "chat column" on the book's Settings sheet, else None."""
    for value in (flag, (settings or {}).get(CHAT_COLUMN_SETTING)):
        if value is None or isinstance(value, bool):
            continue
        text = value.strip() if isinstance(value, str) else str(value)
        if text:
            return text
    return None


def find_chat_column(
    headers: Sequence[object],
    *,
    setting: object = None,
    selection: int | None = None,
) -> int:
    """The chat column: the setting (a header or a letter; see explicit_chat_column), else the selected
    column (see selected_column), else the column headed Chat ID / chatId / Phone (case and spaces
    ignored), else A. The one rule of the command line, the ribbon and anything else that places chats.

    A setting that names neither a header nor a column raises ConfigError.
    """
    wanted = _header_text(setting) if isinstance(setting, str) else ""
    if wanted:
        for index, header in enumerate(headers, start=1):
            if _header_text(header).casefold() == wanted.casefold():
                return index
        number = column_number(wanted)
        if number is None:
            raise ConfigError(
                _("the chat column setting {setting!r} is neither a header in row 1 nor a column letter such as "
                  "B").format(setting=wanted)
            )
        return number
    if selection is not None:
        return selection
    known = chat_headers()
    for index, header in enumerate(headers, start=1):
        if _header_text(header).casefold() in known:
            return index
    return 1


@lru_cache(maxsize=1)
def chat_headers() -> frozenset[str]:
    """The chat column's headers, case-folded, in every language we ship ("Chat ID", "ID чата", ...)."""
    return frozenset(CHAT_HEADERS) | {s.casefold() for h in (CHAT_HEADER, PHONE_HEADER) for s in spellings(h)}


_PHONE_LIKE = re.compile(r"^[\d\s+()\-./]+$")


def header_problem(value: object) -> str | None:
    """Why row 1's value in the chat column is no header, or None when it is one (or empty).

    Row 1 is the header row: the results' headers go there and the chats start in row 2. A value there
    that no one writes as a label (a number, a date, a chat ID, text made of a phone number's characters)
    means the header row is missing, and the first chat would be skipped.
    """
    from greenapi_excel.results import cell_text

    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)   # 79001234567.0 as Excel gives a number: shown as typed
    if not isinstance(value, str):
        return _("holds {value}").format(value=cell_text(getattr(value, 'code', value), 40))
    text = value.strip()
    if not any(char.isdigit() for char in text):
        return None  # no digit, no chat: a label (and the phone number rules need not be loaded)
    from greenapi_excel import chat_ids

    try:
        chat = chat_ids.parse_cell(text).chat_id is not None
    except Exception:  # a header is never worth a traceback
        chat = False
    if chat or (_PHONE_LIKE.match(text) and sum(ch.isdigit() for ch in text) >= 5):
        return _("holds a chat ({value})").format(value=cell_text(text, 40))
    return None


def check_header_row(first: object, chat_column: int) -> None:
    """ConfigError when row 1 of the chat column is no header (header_problem): the run refuses and says to
    add one, on every edge, rather than skip that row in silence."""
    problem = header_problem(first)
    if problem:
        letter = column_letter(chat_column)
        raise ConfigError(_("row 1 of column {letter} {problem}, not a header: insert a header row with Chat ID "
                            "in {letter}1 above the chats and run again").format(letter=letter, problem=problem))


@dataclass(frozen=True)
class ResultPlacement:
    """Where Status, Details and Updated go, and why when it is not right of the chat column."""

    status_column: int  # Details and Updated follow it
    reuses_earlier: bool  # the block holds an earlier run's results (their statuses count as previous)
    note: str | None = None

    @property
    def columns(self) -> tuple[int, int, int]:
        return (self.status_column, self.status_column + 1, self.status_column + 2)


def place_results(
    headers: Sequence[object],
    chat_column: int,
    values: Mapping[int, Sequence[object]],
    *,
    last_used_column: int | None = None,
    hidden_columns: Collection[int] = (),
    used_columns: Collection[int] | None = None,
) -> ResultPlacement:
    """Put the results in the three columns right of the chat column when they are free or ours.

    ``values`` maps a column number to the values below its header (all of them, or a sample);
    a missing column counts as empty. Free: no header and no value. Ours: headed exactly Status,
    Details, Updated (or empty) with only status texts in the Status column. Otherwise the results
    go to the first three columns after the used range (``last_used_column``, else the header row's
    length), so nothing the user wrote is overwritten. Hidden columns (``hidden_columns``) never receive
    results. When the used range reaches XFD, the first three free columns that ``used_columns`` (the
    columns holding any value) leaves are taken; only when there are none is there no room.
    """
    hidden = set(hidden_columns)

    def visible(start: int) -> bool:
        return start + 2 <= MAX_COLUMN and not hidden.intersection(range(start, start + 3))

    wanted = range(chat_column + 1, chat_column + 4)
    fits, earlier = _block_fits(headers, wanted[0], values, allow_blank=True)
    if fits and visible(wanted[0]):
        return ResultPlacement(wanted[0], earlier)
    # A re-run finds the block an earlier run put after the used range, instead of adding another.
    for start in range(chat_column + 1, len(headers) - 1):
        if visible(start) and _block_fits(headers, start, values, allow_blank=False)[0]:
            return ResultPlacement(start, True, _moved_note(start, wanted))
    used = last_used_column if last_used_column is not None else len(headers)
    start = max(used, chat_column) + 1
    while start + 2 <= MAX_COLUMN and not visible(start):
        start += 1
    if start + 2 <= MAX_COLUMN:
        return ResultPlacement(start, False, _moved_note(start, wanted))
    if used_columns is not None:   # the used range reaches XFD: three free columns between the data
        taken = set(used_columns) | hidden | {c for c, header in enumerate(headers, start=1) if not _blank(header)}
        taken |= {c for c, cells in values.items() if any(not _blank(v) for v in cells)}
        for start in [*range(chat_column + 1, MAX_COLUMN - 1), *range(1, chat_column - 2)]:
            if not taken.intersection(range(start, start + 3)):
                return ResultPlacement(start, False, _moved_note(start, wanted))
    raise ConfigError(_("there is no room left of column XFD for the Status, Details and Updated columns"))


def _block_fits(headers, start: int, values, *, allow_blank: bool) -> tuple[bool, bool]:
    """(free or ours, holds an earlier run's headers) for the three columns from ``start``."""
    earlier = False
    for position, column in enumerate(range(start, start + 3)):
        header = headers[column - 1] if column - 1 < len(headers) else None
        cells = [v for v in values.get(column, ()) if not _blank(v)]
        if _blank(header):
            if cells or not allow_blank:
                return False, False
        elif statuses.is_result_header(header, position):   # Status / Статус ...: an earlier run in either language
            if column == start:
                if not all(statuses.is_status_text(v) for v in cells):
                    return False, False
                earlier = True
        else:
            return False, False
    return True, earlier


def _moved_note(start: int, wanted: range) -> str:
    return _("Status, Details and Updated are in {here} because {there} hold other data").format(
        here=f"{column_letter(start)}:{column_letter(start + 2)}",
        there=f"{column_letter(wanted[0])}:{column_letter(min(wanted[-1], MAX_COLUMN))}"
    )


# --- the Settings sheet ---------------------------------------------------------------------------

SETTINGS_SHEET = N_("Settings")        # "Настройки" in a Russian book: see is_settings_sheet
SETTINGS_ROWS = 20                      # labels in A1:A20, values in B1:B20
TOKEN_LABELS = ("token", "apitokeninstance", "api_token", "apitoken")
TOKEN_LABEL = N_("Token (moved to the keychain by the Settings button)")
# Labels the Settings sheet shows in the book's language; read_settings_rows gives them as these keys.
REGION_LABEL = N_("region")
CHAT_COLUMN_LABEL = N_("chat column")
LANGUAGE_LABEL = N_("Language")
LANGUAGE_SETTING = "language"


def is_settings_sheet(name: object) -> bool:
    """True for the Settings sheet's name in any language we ship (case and outer spaces ignored)."""
    return isinstance(name, str) and name.strip().casefold() in {s.casefold() for s in spellings(SETTINGS_SHEET)}


def settings_language(values: Mapping | None) -> str | None:
    """The book's language from its Settings sheet's Language row ("en" / "ru"), or None when it has none."""
    from greenapi_excel.i18n import normalize

    return normalize((values or {}).get(LANGUAGE_SETTING))


def settings_sheet_name(names) -> str | None:
    """The name, as the book spells it, of the first sheet in ``names`` that is the Settings sheet."""
    return next((name for name in names if is_settings_sheet(name)), None)


@lru_cache(maxsize=1)
def _label_keys() -> dict[str, str]:
    """A translated label, lower case -> the English key the engine reads ("регион" -> "region")."""
    keys = {}
    for label in (REGION_LABEL, CHAT_COLUMN_LABEL, LANGUAGE_LABEL):
        for spelling in spellings(label):
            keys[spelling.strip().lower()] = label.lower()
    return keys


@lru_cache(maxsize=1)
def _token_words() -> frozenset[str]:
    return frozenset(TOKEN_LABELS) | {s.split(" ", 1)[0].lower() for s in spellings(TOKEN_LABEL)}


@dataclass(frozen=True)
class SettingsRows:
    """What a Settings sheet holds: lower-case label -> value, and the token's row kept apart."""

    values: dict
    token_row: int | None = None
    token: object = None


def read_settings_rows(rows) -> SettingsRows:
    """Labels (any case) and values from the Settings sheet's (label, value) rows, row 1 first.

    Labels in any language we ship are given by their English key ("Регион" -> "region", "Язык" ->
    "language"). A label whose first word is a token label ("Token (moved to the keychain ...)") is the token's row:
    its value never joins ``values``, so nothing that reads settings for the engine can pick it up.
    """
    values: dict = {}
    token_row = token = None
    for number, (label, value) in enumerate(rows, start=1):
        if not isinstance(label, str) or not label.strip():
            continue
        key = label.strip().lower()
        key = _label_keys().get(key, key)
        if key.split(" ", 1)[0] in _token_words():
            token_row, token = number, value
        else:
            values.setdefault(key, value)
    return SettingsRows(values, token_row, token)
