"""Which files this tool wrote: the mark the workbook build puts into every GreenApi.xlsm, GreenApi.xlam and
GreenApi-Lite.xlsx, and
the one rule that recognises such a file, so that the set-up commands replace or remove only their own.

The mark is a custom document property (``docProps/custom.xml``, File > Info > Properties in Excel), which
Excel keeps when the analyst saves the book. Files written before the mark existed are recognised by what
every GreenApi file has held from the first release on: a VBA project and a ribbon with the tab
``GreenApiTab``. Anything else (another book, a file that is no package, a broken one) is not ours.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from xml.etree import ElementTree

MARK_PROPERTY = "GreenApiExcel"
WORKBOOK = "workbook"
ADDIN = "add-in"
LITE = "lite-workbook"        # GreenApi-Lite.xlsx (workbook/lite.py)
KINDS = (WORKBOOK, ADDIN, LITE)
RIBBON_TAB_ID = "GreenApiTab"
# The web extension GreenApi-Lite.xlsx holds (workbook/lite.py's WEBEXTENSION_ID): how a Lite book built before
# the mark is known.
LITE_WEBEXTENSION_ID = "{6D4F3A52-0C1B-4E5E-9B7A-3A1D2E6C7B21}"
_LITE_WEBEXTENSION_PART = "xl/webextensions/webextension1.xml"

_PACKAGE_RELS = "_rels/.rels"
_CUSTOM_PROPERTIES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
_RIBBON_RELATIONSHIPS = ("http://schemas.microsoft.com/office/2006/relationships/ui/extensibility",
                         "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility")
_ADDIN_CONTENT_TYPE = "application/vnd.ms-excel.addin.macroEnabled.main+xml"
_PART_LIMIT = 1 << 20    # the parts read here are a few KB; a larger one is no part we wrote


def kind_of(path: str | Path) -> str | None:
    """WORKBOOK or ADDIN when ``path`` is a file this tool wrote, by its mark or (older files) by its VBA
    project and GreenApi ribbon tab; None for anything else. Never raises for a file's content; a link is
    followed (callers that must not follow one check it first)."""
    try:
        with zipfile.ZipFile(path) as package:
            names = set(package.namelist())
            relationships = _relationships(package, names)
            marked = _mark(package, names, relationships)
            if marked is not None:
                return marked
            if "xl/vbaProject.bin" in names and _has_ribbon_tab(package, names, relationships):
                types = _part(package, names, "[Content_Types].xml") or b""
                return ADDIN if _ADDIN_CONTENT_TYPE.encode() in types else WORKBOOK
            extension = _part(package, names, _LITE_WEBEXTENSION_PART)
            if extension is not None and ElementTree.fromstring(extension).get("id") == LITE_WEBEXTENSION_ID:
                return LITE
    except (OSError, zipfile.BadZipFile, ElementTree.ParseError, RuntimeError, ValueError, EOFError):
        return None   # unreadable, encrypted, not a zip: not a file we can call ours
    return None


def _part(package: zipfile.ZipFile, names: set[str], name: str) -> bytes | None:
    if name not in names or package.getinfo(name).file_size > _PART_LIMIT:
        return None
    return package.read(name)


def _relationships(package: zipfile.ZipFile, names: set[str]) -> list[tuple[str, str]]:
    """(type, part name) of each package-level relationship."""
    data = _part(package, names, _PACKAGE_RELS)
    if data is None:
        return []
    found = []
    for element in ElementTree.fromstring(data):
        target = element.get("Target", "")
        if element.get("TargetMode") == "External" or not target:
            continue
        found.append((element.get("Type", ""), posixpath.normpath(target.lstrip("/"))))
    return found


def _mark(package, names, relationships) -> str | None:
    for kind, part in relationships:
        if kind != _CUSTOM_PROPERTIES:
            continue
        data = _part(package, names, part)
        if data is None:
            continue
        for element in ElementTree.fromstring(data):
            if element.get("name") == MARK_PROPERTY:
                values = [child.text for child in element]
                return next((value for value in values if value in KINDS), None)
    return None


def _has_ribbon_tab(package, names, relationships) -> bool:
    for kind, part in relationships:
        if kind not in _RIBBON_RELATIONSHIPS:
            continue
        data = _part(package, names, part)
        if data is None:
            continue
        if any(element.tag.endswith("}tab") and element.get("id") == RIBBON_TAB_ID
               for element in ElementTree.fromstring(data).iter()):
            return True
    return False
