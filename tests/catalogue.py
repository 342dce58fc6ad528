"""The messages the code marks for translation, and the catalogue that must hold them.

Extraction is Babel's: ``_()``, ``ngettext()`` and ``N_()`` calls in the engine, the add-in and the
UDFs, plus the texts of the workbook's sources (the ribbon's labels and tips, the {"text": ...} cells of
sheets.json). Used by tests/test_i18n.py, and by hand after adding messages:

    .venv/bin/python tests/catalogue.py update    # adds new msgids (empty) to the .po, drops none
    .venv/bin/python tests/catalogue.py missing   # lists msgids without a Russian text
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "greenapi_excel" / "locale" / "ru" / "LC_MESSAGES" / "greenapi_excel.po"
SOURCES = [("greenapi_excel/**.py", "python"), ("addin.py", "python"), ("udfs/**.py", "python"),
           ("workbook/**.py", "python")]
PLURAL_FORMS_RU = ("nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
                   "(n%100<10 || n%100>=20) ? 1 : 2);")


CONTEXT = "\x04"   # gettext's own separator: "context\x04msgid" is a msgid meant in that context


def split(key):
    """(msgid or (singular, plural), context or None) of an extracted key."""
    if isinstance(key, str) and CONTEXT in key:
        context, message = key.split(CONTEXT, 1)
        return message, context
    return key, None


def lookup(catalog, key):
    message, context = split(key)
    return catalog.get(message[0] if isinstance(message, tuple) else message, context=context)


def extracted() -> dict[object, list[str]]:
    """msgid (a str, a (singular, plural) tuple, or "context\x04msgid") -> where it is used."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    keywords = {**DEFAULT_KEYWORDS, "NP_": ((1, "c"), 2)}   # i18n.NP_(context, message)
    found: dict[object, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map=SOURCES, options_map={}, keywords=keywords):
        key = tuple(message) if isinstance(message, (list, tuple)) else message
        if context:
            key = f"{context}{CONTEXT}{key}"
        found.setdefault(key, []).append(f"{filename}:{lineno}")
    sys.path.insert(0, str(ROOT))
    from greenapi_excel.workbook import build

    for text in build.sheet_texts():
        found.setdefault(text, []).append("workbook/sheets.json")
    for text in build.ribbon_texts():
        found.setdefault(text, []).append("workbook/customUI14.xml")
    return found


def read_catalogue(path: Path = PO):
    from babel.messages.pofile import read_po

    with open(path, "rb") as source:
        return read_po(source, locale="ru")


def update(path: Path = PO) -> int:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    catalog = read_catalogue(path) if path.exists() else Catalog(locale="ru", domain="greenapi_excel")
    added = 0
    wanted = extracted()
    keys = set()
    for key in wanted:
        message, context = split(key)
        keys.add((message[0] if isinstance(message, tuple) else message, context))
    for message in list(catalog):
        if message.id and ((message.id[0] if isinstance(message.id, (list, tuple)) else message.id),
                           message.context) not in keys:
            catalog.delete(message.id, context=message.context)   # no longer in the code
    for key, places in wanted.items():
        if lookup(catalog, key) is None:
            message, context = split(key)
            catalog.add(message, ("", "", "") if isinstance(message, tuple) else "", context=context)
            added += 1
    catalog.header_comment = "# Russian messages of GreenApi for Excel."
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as target:
        write_po(target, catalog, width=0, omit_header=False, sort_output=False, include_lineno=False)
    return added


def missing(path: Path = PO) -> list[object]:
    catalog = read_catalogue(path)
    out = []
    for key in extracted():
        message = lookup(catalog, key)
        strings = [] if message is None else (list(message.string) if isinstance(message.string, (list, tuple))
                                              else [message.string])
        if message is None or message.fuzzy or not all(strings):
            out.append(key)
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["update"]:
        print(f"added {update()} msgids to {PO}")
    elif sys.argv[1:] == ["missing"]:
        for key in missing():
            print(repr(key))
    else:
        print(__doc__)
        sys.exit(2)
