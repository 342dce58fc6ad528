"""Books for tests, made part by part, and the independent readers they are checked with.

``package`` writes a zip from parts; ``sheet_book`` makes a one-sheet book around a sheet's XML;
``bomb_part`` makes a deflated part of any size in a blink; ``well_formed`` parses every XML part with
expat; ``libreoffice_csv`` has LibreOffice read books back (one call for many books); ``peak_rss`` runs a
command and says how much memory it peaked at.
"""

from __future__ import annotations

import csv
import os
import shutil
import struct
import subprocess
import sys
import zlib
import zipfile
from pathlib import Path
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


def python_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update(extra)
    return env
