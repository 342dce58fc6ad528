"""Books for tests, made part by part, and the independent readers they are checked with.

``package`` writes a zip from parts; ``sheet_book`` makes a one-sheet book around a sheet's XML;
``bomb_part`` makes a deflated part of any size in a blink; ``well_formed`` parses every XML part with
expat; ``libreoffice_csv`` has LibreOffice read books back (one call for many books); ``peak_rss`` runs a
command and says how much memory it peaked at.
"""

from __future__ import annotations

import csv
import re
import shutil
import struct
import subprocess
import sys
import zlib
import zipfile
from pathlib import Path
from xml.etree import ElementTree
from xml.parsers import expat

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
    '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
    'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
    'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>{more}</Types>')
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
    '<sheet name="Chats" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship '
    'Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/>{more}</Relationships>')
STYLES = (
    f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{MAIN}"><fonts count="1"><font/></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyFill="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def sheet_xml(rows: str, *, before: str = "", after: str = "", root: str = f'xmlns="{MAIN}"',
              prefix: str = "") -> str:
    p = prefix
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}worksheet {root}>{before}'
            f'<{p}sheetData>{rows}</{p}sheetData>{after}</{p}worksheet>')


def text_cell(ref: str, text: str, prefix: str = "") -> str:
    p = prefix
    return f'<{p}c r="{ref}" t="inlineStr"><{p}is><{p}t>{text}</{p}t></{p}is></{p}c>'


def chat_rows(chats, *, first_row: int = 2, header: str = "Chat ID") -> str:
    rows = [f'<row r="1">{text_cell("A1", header)}</row>'] if header else []
    rows += [f'<row r="{n}">{text_cell(f"A{n}", chat)}</row>' for n, chat in enumerate(chats, start=first_row)]
    return "".join(rows)


def sheet_book(path: Path, sheet: str | bytes, *, styles: str | bytes = STYLES,
               extra: dict[str, bytes | str] | None = None) -> Path:
    """A one-sheet book ("Chats") around the given worksheet XML."""
    parts = {"[Content_Types].xml": CONTENT_TYPES.format(more=""), "_rels/.rels": ROOT_RELS,
             "xl/workbook.xml": WORKBOOK, "xl/_rels/workbook.xml.rels": WORKBOOK_RELS.format(more=""),
             "xl/styles.xml": styles, "xl/worksheets/sheet1.xml": sheet, **(extra or {})}
    return package(path, parts)


def package(path: Path, parts: dict[str, bytes | str | "Bomb"]) -> Path:
    """A zip of the parts, in order; a Bomb part is written from its ready-made deflated bytes."""
    entries = []
    with open(path, "wb") as out:
        for name, data in parts.items():
            if isinstance(data, Bomb):
                packed, crc, size = data.packed, data.crc, data.size
            else:
                raw = data.encode() if isinstance(data, str) else data
                squeeze = zlib.compressobj(6, zlib.DEFLATED, -15)
                packed = squeeze.compress(raw) + squeeze.flush()
                crc, size = zlib.crc32(raw), len(raw)
            encoded = name.encode()
            offset = out.tell()
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(packed), size,
                                  len(encoded), 0) + encoded)
            out.write(packed)
            entries.append((encoded, crc, len(packed), size, offset))
        directory = out.tell()
        for encoded, crc, packed_size, size, offset in entries:
            out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, packed_size,
                                  size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
        length = out.tell() - directory
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), length, directory, 0))
    return path


class Bomb:
    """A part that inflates from a couple of megabytes to ``size`` bytes: ``head``, then spaces, then ``tail``.

    Each megabyte of spaces is deflated on its own (a full flush resets the dictionary), so the same
    compressed block repeats and the bomb is made in a second."""

    def __init__(self, head: str, tail: str, size: int):
        block = b" " * (1 << 20)
        squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
        start = squeeze.compress(head.encode()) + squeeze.flush(zlib.Z_FULL_FLUSH)
        one = squeeze.compress(block) + squeeze.flush(zlib.Z_FULL_FLUSH)
        count = max(0, (size - len(head) - len(tail)) // len(block))
        end = squeeze.compress(tail.encode()) + squeeze.flush()
        self.packed = start + one * count + end
        crc = zlib.crc32(head.encode())
        for _block in range(count):
            crc = zlib.crc32(block, crc)
        self.crc = zlib.crc32(tail.encode(), crc)
        self.size = len(head) + count * len(block) + len(tail)


def well_formed(path: Path) -> list[str]:
    """The XML parts of a book that expat cannot parse (each with its error)."""
    problems = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not (name.endswith(".xml") or name.endswith(".rels")):
                continue
            parser = expat.ParserCreate()
            try:
                parser.Parse(z.read(name), True)
            except expat.ExpatError as error:
                problems.append(f"{name}: {error}")
    return problems


def libreoffice_csv(books: list[Path], folder: Path, *, sheet: int | None = None) -> dict[Path, list[list[str]]]:
    """LibreOffice's reading of each book (the first sheet, or the given 1-based one), as CSV rows."""
    out = folder / "csv"
    out.mkdir(exist_ok=True)
    profile = folder / "lo-profile"
    sheet_option = f",{sheet}" if sheet else ""
    csv_filter = f"csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false{sheet_option}"
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                    "--convert-to", csv_filter, "--outdir", str(out), *map(str, books)],
                   check=True, capture_output=True, timeout=300, cwd=folder)
    found = {}
    for book in books:
        path = out / f"{book.stem}.csv"
        if not path.exists():
            candidates = sorted(out.glob(f"{book.stem}-*.csv"))
            path = candidates[0] if candidates else path
        with open(path, newline="", encoding="utf-8") as handle:
            found[book] = list(csv.reader(handle))
    return found


# A process's peak memory is its own only with a launcher between it and this test process.
LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "sys.stderr.write(f'\\nmaxrss_kb={usage.ru_maxrss}\\n')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def peak_rss(command: list[str], *, env: dict, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``command`` and return it with its peak resident memory in MB (Linux's ru_maxrss)."""
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, env=env,
                          timeout=timeout)
    figure = proc.stderr.rstrip().rpartition("\n")[2]
    assert figure.startswith("maxrss_kb="), proc.stderr
    proc.stderr = proc.stderr.rstrip()[:-len(figure)]
    return proc, int(figure.split("=")[1]) / 1024


# --- comparing a book with what it was -------------------------------------------------------------------

def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {info.filename: z.read(info.filename) for info in z.infolist()}


def column_number(ref: str) -> int:
    number = 0
    for char in re.match(r"[A-Z]+", ref).group(0):
        number = number * 26 + ord(char) - 64
    return number


def canonical_sheet(xml: bytes, columns: set[int]) -> bytes:
    """The sheet without the result cells, the dimension, row spans, merges over result columns and the
    result columns' widths (each <col> range spelled out column by column, so a split range reads the same)."""
    root = ElementTree.fromstring(xml)
    main = root.tag[1:].split("}")[0] if root.tag.startswith("{") else MAIN
    for dimension in root.findall(f"{{{main}}}dimension"):
        root.remove(dimension)
    cols = root.find(f"{{{main}}}cols")
    if cols is not None:
        spelled = []
        for col in list(cols):
            cols.remove(col)
            for number in range(int(col.get("min")), int(col.get("max")) + 1):
                if number not in columns:
                    attrs = {k: v for k, v in col.attrib.items() if k not in ("min", "max")}
                    spelled.append(ElementTree.Element(f"{{{main}}}col", {"n": str(number), **attrs}))
        cols.extend(spelled)
        if len(cols) == 0:
            root.remove(cols)
    data = root.find(f"{{{main}}}sheetData")
    for row in list(data):
        row.attrib.pop("spans", None)
        column = 0
        for cell in list(row):
            column = column_number(cell.get("r")) if cell.get("r") else column + 1
            if column in columns:
                row.remove(cell)
        if len(row) == 0 and set(row.attrib) <= {"r"}:
            data.remove(row)
    merges = root.find(f"{{{main}}}mergeCells")
    if merges is not None:
        for merge in list(merges):
            refs = merge.get("ref").split(":")
            left, right = column_number(refs[0]), column_number(refs[-1])
            if left <= max(columns) and right >= min(columns):
                merges.remove(merge)
        merges.attrib.pop("count", None)
        if len(merges) == 0:
            root.remove(merges)
    for element in root.iter():   # whitespace between elements (a pretty-printed sheet) is no content
        if not element.tag.endswith("}t") and element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    return ElementTree.canonicalize(ElementTree.tostring(root))


def target_part(path: Path, sheet: str) -> str:
    """The part that holds a sheet, found through the package's relationships (ElementTree, any prefix)."""
    import posixpath

    with zipfile.ZipFile(path) as z:
        names = {n.lower(): n for n in z.namelist()}

        def rels_of(part: str) -> dict[str, str]:
            folder, name = posixpath.split(part)
            rels = names.get(posixpath.join(folder, "_rels", name + ".rels").lower())
            found = {}
            if rels:
                for rel in ElementTree.fromstring(z.read(rels)):
                    target = rel.get("Target", "")
                    target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                        posixpath.join(folder, target))
                    found[rel.get("Id")] = names.get(target.lower(), target)
            return found

        main = names.get("xl/workbook.xml", "xl/workbook.xml")
        for rel in ElementTree.fromstring(z.read(names["_rels/.rels"])):
            if rel.get("Type", "").endswith("/officeDocument"):
                main = names.get(rel.get("Target").lstrip("/").lower(), rel.get("Target").lstrip("/"))
        workbook = ElementTree.fromstring(z.read(main))
        by_id = rels_of(main)
        for element in workbook.iter():
            if element.tag.endswith("}sheet") and element.get("name") == sheet:
                rel_id = next(v for k, v in element.attrib.items() if k.endswith("}id"))
                return by_id[rel_id]
    raise KeyError(sheet)


# --- a book run in place, checked part by part ---------------------------------------------------------------

def styles_counts(data: bytes) -> dict[str, int]:
    """How many entries each list of styles.xml holds, as Excel counts them (an mc:AlternateContent counts
    its mc:Fallback), read with ElementTree."""
    counts: dict[str, int] = {}
    mc = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
    for child in ElementTree.fromstring(data):
        local = child.tag.rpartition("}")[2]
        count = 0
        for entry in child:
            if entry.tag == f"{mc}AlternateContent":
                fallback = entry.find(f"{mc}Fallback")
                count += len(fallback) if fallback is not None else 0
            else:
                count += 1
        counts[local] = count
    return counts


def first_worksheet(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        names = {n.lower(): n for n in z.namelist()}
        main = "xl/workbook.xml"
        for rel in ElementTree.fromstring(z.read(names["_rels/.rels"])):
            if rel.get("Type", "").endswith("/officeDocument"):
                main = names.get(rel.get("Target").lstrip("/").lower(), main)
        for element in ElementTree.fromstring(z.read(main)).iter():
            if element.tag.endswith("}sheet"):
                return element.get("name")
    raise KeyError("no sheet")


def changes_outside_results(before: Path, after: Path, sheet: str, columns: set[int]) -> list[str]:
    """What changed in ``after`` beyond the result cells of ``sheet``, as a list of short texts (empty when
    the book came back whole): parts added or reordered, parts other than the sheet, styles.xml, the calc chain
    and its lists changed, the sheet's other cells, styles lists other than cellXfs/numFmts, more than one
    new cell format, or XML that is not well-formed."""
    problems = well_formed(after)
    old, new = parts(before), parts(after)
    if [p for p in new if p in old] != [p for p in old if p in new] or set(new) - set(old):
        problems.append(f"parts added or reordered: {sorted(set(new) ^ set(old))}")
    part = target_part(before, sheet)
    allowed = ("styles.xml", "calcchain.xml", "workbook.xml.rels", "[content_types].xml")
    for name in old:
        if name in new and old[name] != new[name] and name != part and not name.lower().endswith(allowed):
            problems.append(f"{name} changed")
    if {name for name in set(old) - set(new) if not name.lower().endswith("calcchain.xml")}:
        problems.append(f"parts lost: {sorted(set(old) - set(new))}")
    if old[part] != new[part] and canonical_sheet(new[part], columns) != canonical_sheet(old[part], columns):
        problems.append("the sheet's other cells changed")
    styles = next((n for n in old if n.lower().endswith("styles.xml")), None)
    if styles and old[styles] != new.get(styles):
        was, now = styles_counts(old[styles]), styles_counts(new[styles])
        for name in set(was) | set(now):
            grew = now.get(name, 0) - was.get(name, 0)
            if name == "cellXfs" and grew > (2 if not was.get(name) else 1):
                problems.append(f"styles.xml gained {grew} cell formats")
            elif name not in ("cellXfs", "numFmts") and grew:
                problems.append(f"styles.xml's {name} changed by {grew}")
    return problems
