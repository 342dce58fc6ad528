"""The add-in in the analyst's real Excel (issue 21), through the xlwings stand-in as real Excel and xlwings behave:
RunPython finding its book on a Mac, where Excel never lists an add-in among the open workbooks, and books whose
FullName is a OneDrive or SharePoint URL."""

from __future__ import annotations

import sys
import types

import pytest
import xlwings

import addin
from greenapi_excel.excel import live, macros
import xlwings_standin as xls
from greenapi_excel import statuses as st
from test_addin import OPEN_CHATS, env, keychain, sandbox_env  # noqa: F401 - fixtures
from test_workbook import ADDIN, BOOK, MAC, WINDOWS, built_modules, caller_book_expression

# The ribbon's runs go to a worker process; here it runs in this process (see conftest.inline_worker).
pytestmark = pytest.mark.usefixtures("inline_worker")

PLATFORMS = {"win": WINDOWS, "mac": MAC}


@pytest.fixture
def excel(monkeypatch):
    """One running Excel (no App of an earlier test is found by Book.caller()); make(platform) starts it."""
    monkeypatch.setattr(xls, "APPS", [])

    def make(platform: str) -> xls.App:
        if platform == "mac":
            module, reference = xls.fake_appscript()
            monkeypatch.setitem(sys.modules, "appscript", module)
            monkeypatch.setitem(sys.modules, "appscript.reference", reference)
        monkeypatch.setattr(live, "is_mac", lambda: platform == "mac")
        return xls.App(platform)

    return make


def customers_book(app: xls.App, name: str = "Customers.xlsx", **kwargs) -> tuple[xls.Book, xls.Sheet]:
    """The analyst's own book: a header and one open chat."""
    book = xls.Book(name, app, **kwargs)
    sheet = book.add_sheet("Customers", [["Name", "Chat ID"], ["Anna", OPEN_CHATS[0]]])
    return book, sheet


def press_button_of(file, app: xls.App, this_workbook: xls.Book, monkeypatch) -> None:
    """What a ribbon button of the built ``file`` does in ``app``: its xlwings module names a workbook to
    Python (ThisWorkbook or ActiveWorkbook, read from the module as compiled for the App's platform), and
    the macro runs there with no book handed to it (``addin.archive_chats()``), so Book.caller() decides."""
    [named] = caller_book_expression(built_modules(file)["xlwings"], PLATFORMS[app.platform])
    book = {"ThisWorkbook": this_workbook, "ActiveWorkbook": app.books.active}[named]
    monkeypatch.setattr(sys, "argv", xls.runpython_argv(book))
    monkeypatch.setattr(macros, "xw", types.SimpleNamespace(Book=xls.Book, apps=None))
    addin.archive_chats()


@pytest.mark.parametrize("platform", ["win", "mac"])
def test_the_add_ins_buttons_act_on_the_active_workbook(sandbox_env, excel, monkeypatch, platform):
    app = excel(platform)
    add_in = xls.Book("GreenApi.xlam", app)
    customers, sheet = customers_book(app)
    assert app.books.active is customers and add_in not in list(app.books)
    press_button_of(ADDIN, app, add_in, monkeypatch)
    assert sheet.stored("C2") == st.ARCHIVED
    assert [call["chatId"] for call in sandbox_env.calls("archiveChat")] == [OPEN_CHATS[0]]


@pytest.mark.parametrize("platform", ["win", "mac"])
def test_the_workbooks_own_buttons_act_on_the_workbook(sandbox_env, excel, monkeypatch, platform):
    app = excel(platform)
    book = xls.Book.from_file(BOOK, app)
    chats = book.sheets["Chats"]
    for key in [key for key in chats.cells if key[1] <= 4 and key[0] > 1]:
        del chats.cells[key]
    chats.cells[(2, 1)] = OPEN_CHATS[1]
    customers_book(app)                      # opened after it, so active: the book's own tab is not shown then,
    app.books.active = book                  # but the standalone module names ThisWorkbook either way
    press_button_of(BOOK, app, book, monkeypatch)
    assert chats.stored("B2") == st.ARCHIVED


def test_on_a_mac_python_cannot_find_an_add_in_by_its_name(excel, monkeypatch):
    """Why the add-in needs xlwings' custom add-in module: the standalone module (ThisWorkbook) names the add-in
    itself, which xlwings then looks for among the open workbooks on a Mac, in vain, and tries to open as a file
    (xlwings #1746). On Windows, COM finds an add-in by its name."""
    mac = excel("mac")
    add_in = xls.Book("GreenApi.xlam", mac)
    customers_book(mac)
    monkeypatch.setattr(sys, "argv", xls.runpython_argv(add_in))
    with pytest.raises(FileNotFoundError, match=r"No such file: 'greenapi.xlam'"):
        xls.Book.caller()
    windows = excel("win")
    windows_add_in = xls.Book("GreenApi.xlam", windows)
    monkeypatch.setattr(sys, "argv", xls.runpython_argv(windows_add_in))
    assert xls.Book.caller() is windows_add_in


def test_the_standins_caller_reads_the_arguments_as_xlwings_does(excel, monkeypatch):
    app = excel("mac")
    customers, _ = customers_book(app)
    monkeypatch.setattr(sys, "argv", ["-c", "--wb=CUSTOMERS.XLSX", "--from_xl=1", "--app=Microsoft Excel"])
    assert xls.Book.caller() is customers   # by name, in any case
    monkeypatch.setattr(sys, "argv", ["-c"])
    with pytest.raises(Exception, match="must not be called directly"):
        xls.Book.caller()


# --- books on OneDrive and SharePoint: FullName is a URL ---------------------------------------------------

@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home folder of its own and no OneDrive variables: each test says where its synced folders are."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    for name in ("OneDrive", "OneDriveConsumer", "OneDriveCommercial"):
        monkeypatch.delenv(name, raising=False)
    return folder


def synced(folder, *parts) -> str:
    path = folder.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK")   # what is in it does not matter: xlwings only asks whether it is a file
    return str(path)


@pytest.mark.parametrize("platform", ["win", "mac"])
def test_a_onedrive_book_maps_to_its_synced_file_else_raises_xlwings_error(home, excel, monkeypatch, platform):
    app = excel(platform)
    url = "https://d.docs.live.net/4ffb1cf57289ab33/Chats/Customers.xlsx"
    book, _ = customers_book(app, fullname=url)
    with pytest.raises(xlwings.XlwingsError, match="Couldn't find your local OneDrive file"):
        book.fullname
    local = synced(home / "OneDrive Personal", "Chats", "Customers.xlsx")
    monkeypatch.setenv("OneDrive", str(home / "OneDrive Personal"))
    assert book.fullname == local
    # Excel's own FullName stays the URL.
    if platform == "win":
        assert book.api.FullName == url
    else:
        assert book.api.properties()[xls.Keyword("full_name")] == url


@pytest.mark.parametrize("platform", ["win", "mac"])
def test_onedrive_for_business_and_the_books_xlwings_conf_rows(home, excel, monkeypatch, platform):
    app = excel(platform)
    url = "https://contoso-my.sharepoint.com/personal/ann_contoso_com/Documents/Team/Customers.xlsx"
    book, _ = customers_book(app, fullname=url)
    with pytest.raises(xlwings.XlwingsError, match="local OneDrive for Business folder"):
        book.fullname
    monkeypatch.setenv("OneDriveCommercial", str(home / "nowhere"))
    with pytest.raises(xlwings.XlwingsError, match="local OneDrive for Business file"):
        book.fullname
    # The book's own xlwings.conf sheet outranks the environment, with the platform's key.
    local = synced(home / "OneDrive - Contoso", "Team", "Customers.xlsx")
    own, other = ("WIN", "MAC") if platform == "win" else ("MAC", "WIN")
    book.add_sheet("xlwings.conf", [[f"ONEDRIVE_COMMERCIAL_{other}", "/elsewhere"],
                                    [f"ONEDRIVE_COMMERCIAL_{own}", str(home / "OneDrive - Contoso")]])
    assert book.fullname == local


def test_a_sharepoint_site_maps_through_the_setting_and_otherwise_fails_as_xlwings_does(home, excel):
    app = excel("win")
    url = "https://contoso.sharepoint.com/sites/Sales/Shared Documents/Chats/Customers.xlsx"
    book, _ = customers_book(app, fullname=url)
    # xlwings 0.37.8 with no SharePoint setting and no OneDriveCommercial variable reaches an unset variable.
    with pytest.raises(UnboundLocalError):
        book.fullname
    local = synced(home / "Contoso", "Sales - Documents", "Chats", "Customers.xlsx")
    book.add_sheet("xlwings.conf", [["SHAREPOINT_WIN", str(home / "Contoso")]])
    assert book.fullname == local
    teams = xls.Book("Team.xlsx", app, fullname="https://contoso.sharepoint.com/teams/Sales Team/Team.xlsx")
    with pytest.raises(xlwings.XlwingsError, match="not recognized as valid OneDrive/SharePoint link"):
        teams.fullname


def test_a_onedrive_book_without_a_synced_copy_still_gets_its_results(home, sandbox_env, excel):
    app = excel("win")
    book, sheet = customers_book(app, fullname="https://d.docs.live.net/4ffb1cf57289ab33/Customers.xlsx")
    addin.archive_chats(book)
    assert sheet.stored("C2") == st.ARCHIVED
    assert not any("Something went wrong" in alert["prompt"] for alert in app.alerts)


def test_a_onedrive_book_is_known_by_its_url_for_its_lock_its_runs_and_undo(home, sandbox_env, excel, tmp_path):
    """With no synced copy, the book's URL is its one name: the journal's run records it, a second start on
    it is refused while a run holds it, Stop finds it, and Undo last run writes back into that very book."""
    from greenapi_excel import background, paths
    from greenapi_excel.journal import Journal

    url = "https://d.docs.live.net/4ffb1cf57289ab33/Customers.xlsx"
    app = excel("win")
    book, sheet = customers_book(app, fullname=url)
    addin.archive_chats(book)
    assert sheet.stored("C2") == st.ARCHIVED
    with Journal() as journal:
        assert journal.runs(limit=1)[0].book == url
    with paths.book_lock(url):                       # a run holds the book: the next press is refused
        assert background.book_busy(url)
        addin.archive_chats(book)
        assert "already going" in app.alerts[-1]["prompt"]
    addin.stop_run(book)                             # nothing runs now: Stop says so, by the same name
    assert "nothing to stop" in app.alerts[-1]["prompt"]
    app.answers = ["yes"]
    addin.undo_last_run(book)
    assert sheet.stored("C2") == st.UNARCHIVED
    assert sandbox_env.calls("unarchiveChat")[0]["chatId"] == OPEN_CHATS[0]
