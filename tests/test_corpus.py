"""Books others made (tests/books/corpus, origins in its MANIFEST.json), each run in place through the real
command line, then compared part by part with what it was and read back by LibreOffice.

The books come from nine projects' test data and were written by Excel for Windows and for the Mac, Excel
Online, LibreOffice, WPS, gnumeric, ONLYOFFICE, Hancom, Apache POI and others; they hold tables, pivot
tables, charts and chart sheets, pictures, comments and threaded comments, VBA, external links, data
validation and conditional formats with Excel 2010 extensions, strict OOXML, 1904 dates, prefixed XML.
A book that comes back must be whole (tests/book_helpers.changes_outside_results); one with nothing to
write must be byte for byte as it was; one that is refused must be refused in one clear line.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from book_helpers import SOFFICE, changes_outside_results
from cli_helpers import run_cli, sandbox_env

from greenapi_excel import statuses
from greenapi_excel.sandbox import Sandbox

CORPUS = Path(__file__).resolve().parent / "books" / "corpus"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))
BOOKS = {entry["file"]: entry for entry in MANIFEST}
WRITTEN = re.compile(r"Results written to .+ \(sheet (.+), columns ([A-Z]+):([A-Z]+)\)$", re.M)


def column_number(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number


def libreoffice(books: list[Path], out: Path, folder: Path) -> None:
    import subprocess

    csv_filter = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{folder / 'lo-profile'}", "--headless", "--norestore",
                    "--convert-to", csv_filter, "--outdir", str(out), *map(str, books)],
                   check=True, capture_output=True, timeout=600, cwd=folder)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if SOFFICE is None:
        pytest.fail("LibreOffice (soffice) is missing: apt-get install libreoffice-calc-nogui")
    folder = tmp_path_factory.mktemp("corpus")
    before, after = folder / "before", folder / "after"
    before.mkdir()
    after.mkdir()
    for name in BOOKS:
        shutil.copyfile(CORPUS / name, before / name)
        shutil.copyfile(CORPUS / name, after / name)
    with Sandbox([], rps=5000, read_rps=5000) as sandbox:
        def run(name):
            work = folder / "runs" / name
            work.mkdir(parents=True)
            column = BOOKS[name]["column"]
            return name, run_cli("archive", after / name, "--no-progress", *(("--column", column) if column else ()),
                                 env=sandbox_env(sandbox, work), timeout=300)

        with ThreadPoolExecutor(3) as pool:
            found = dict(pool.map(run, BOOKS))
    whole = [name for name, entry in BOOKS.items() if entry["expect"] == "whole"]
    libreoffice([before / name for name in whole], before / "csv", folder)
    libreoffice([after / name for name in whole], after / "csv", folder)
    return {"before": before, "after": after, "proc": found}


def sheets_read(folder: Path, name: str) -> dict[str, list[list[str]]]:
    """LibreOffice's CSV of every sheet of a book: sheet name -> rows (one file per sheet)."""
    stem = Path(name).stem
    found = {}
    for path in folder.glob(f"{glob_escape(stem)}*.csv"):
        sheet = path.stem[len(stem) + 1:] if path.stem != stem else ""
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            found[sheet] = list(csv.reader(handle))
    return found


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", text)


@pytest.mark.parametrize("name", [n for n, e in BOOKS.items() if e["expect"] == "whole"])
def test_a_book_others_made_comes_back_whole(runs, name):
    proc = runs["proc"][name]
    assert proc.returncode in (0, 1), (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    written = WRITTEN.search(proc.stdout)
    assert written, proc.stdout
    sheet, first, last = written.group(1), column_number(written.group(2)), column_number(written.group(3))
    columns = set(range(first, last + 1))
    assert changes_outside_results(runs["before"] / name, runs["after"] / name, sheet, columns) == []
    # LibreOffice reads every sheet as before, the target sheet plus the result cells.
    before = sheets_read(runs["before"] / "csv", name)
    after = sheets_read(runs["after"] / "csv", name)
    assert set(after) == set(before) and before
    # LibreOffice names each file after its sheet (now and then with a suffix such as " -1").
    target = sheet if sheet in after else next((key for key in sorted(after) if key.startswith(sheet)), "")
    for title, rows in before.items():
        if title != target:
            assert after[title] == rows, title
            continue
        got = after[title]
        width = max([last, *(len(r) for r in rows), *(len(r) for r in got)])
        old = [r + [""] * (width - len(r)) for r in rows]
        new = [r + [""] * (width - len(r)) for r in got]
        assert len(new) >= len(old)
        kept = lambda row: [c for i, c in enumerate(row, start=1) if i not in columns]   # noqa: E731
        assert [kept(r) for r in new[:len(old)]] == [kept(r) for r in old]
        assert all(not any(kept(r)) for r in new[len(old):])
        assert new[0][first - 1:last] == ["Status", "Details", "Updated"]
        shown = [r[first - 1] for r in new[1:] if r[first - 1]]
        assert shown and all(statuses.canonical(text) in statuses.ALL for text in shown), shown[:5]


@pytest.mark.parametrize("name", [n for n, e in BOOKS.items() if e["expect"] == "nothing"])
def test_a_book_with_nothing_to_write_stays_byte_for_byte(runs, name):
    proc = runs["proc"][name]
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Nothing was written" in proc.stdout
    assert (runs["after"] / name).read_bytes() == (CORPUS / name).read_bytes()


@pytest.mark.parametrize("name", [n for n, e in BOOKS.items() if e["expect"] == "refused"])
def test_a_book_that_cannot_be_read_is_refused_in_one_clear_line(runs, name):
    proc = runs["proc"][name]
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert (runs["after"] / name).read_bytes() == (CORPUS / name).read_bytes()


def test_the_corpus_is_small_and_every_book_has_its_origin():
    assert sum((CORPUS / name).stat().st_size for name in BOOKS) < 3_000_000
    assert {p.name for p in CORPUS.iterdir()} == set(BOOKS) | {"MANIFEST.json", "README.md"}
    producers = {entry["producer"].split("/")[0].split()[0] for entry in MANIFEST}
    assert {"Microsoft", "LibreOffice", "WPS", "gnumeric", "ONLYOFFICE", "Hancom"} <= producers
    for entry in MANIFEST:
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"]) and entry["repository"] and entry["licence"]
