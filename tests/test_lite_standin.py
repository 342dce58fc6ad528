"""The xlwings Lite stand-in (tests/lite/standin) behaves as Lite's documentation says, in real Pyodide:
what the later Lite tests learn from it about writes, reads, alerts, buttons, functions and environment
variables is what Lite documents (docs/LITE.md lists where the stand-in had to assume)."""

from __future__ import annotations

import json
import textwrap

import pytest


@pytest.fixture(scope="module")
def pyodide(lite_pyodide):
    lite_pyodide.run("import json, lite_addin\nfrom lite_addin import Excel, Cells")
    return lite_pyodide


def _run(pyodide, code: str):
    return pyodide.run(textwrap.dedent(code))


def _main(source: str) -> str:
    return json.dumps(textwrap.dedent(source))


def test_writes_reach_the_sheet_at_flush_or_at_the_end_and_reads_keep_the_start(pyodide):
    main = _main('''
        import xlwings as xw
        from xlwings import script
        import lite_addin

        seen = []

        @script
        async def steps(book: xw.Book):
            excel, sheet = lite_addin.current, book.sheets["Chats"]
            sheet["B2"].value = "first"
            seen.append(["queued", excel.value("Chats", "B2"), sheet["B2"].value])
            await book.flush()
            seen.append(["flushed", excel.value("Chats", "B2"), sheet["B2"].value])
            await book.load()
            seen.append(["loaded", excel.value("Chats", "B2"), sheet["B2"].value])
            sheet["C2"].value = [["a", 1], ["b", 2]]
            seen.append(["queued again", excel.value("Chats", "C2")])
    ''')
    result = _run(pyodide, f'''
        excel = Excel({{"Chats": {{"A1": "Chat ID", "A2": "79001234567"}}}})
        module = excel.start({main})
        await excel.run_script("steps")
        [module.seen, excel.values("Chats", "B2:D3"), len(excel.applied)]
    ''')
    seen, cells, batches = result
    assert seen == [["queued", None, None], ["flushed", "first", None], ["loaded", "first", "first"],
                    ["queued again", None]]
    assert cells == [["first", "a", 1.0], [None, "b", 2.0]]     # numbers come back as Excel's doubles
    assert batches == 2


def test_a_script_that_raises_shows_nothing_it_did_not_flush(pyodide):
    main = _main('''
        import xlwings as xw
        from xlwings import script

        @script
        async def half(book: xw.Book):
            book.sheets[0]["A1"].value = "flushed"
            await book.flush()
            book.sheets[0]["A2"].value = "lost"
            raise RuntimeError("stop")
    ''')
    result = _run(pyodide, f'''
        excel = Excel()
        excel.start({main})
        try:
            await excel.run_script("half")
        except RuntimeError as exc:
            raised = str(exc)
        [raised, excel.values("Sheet1", "A1:A2")]
    ''')
    assert result == ["stop", [["flushed"], [None]]]


def test_alerts_are_queued_like_writes(pyodide):
    main = _main('''
        import xlwings as xw
        from xlwings import script
        import lite_addin

        shown = []

        @script
        async def tell(book: xw.Book):
            book.app.alert("Done: 3 chats", title="GreenApi")
            shown.append(len(lite_addin.current.alerts))
            await book.flush()
            shown.append(len(lite_addin.current.alerts))
    ''')
    result = _run(pyodide, f'''
        excel = Excel()
        module = excel.start({main})
        await excel.run_script("tell")
        [module.shown, excel.alerts[0]["prompt"], excel.alerts[0]["title"]]
    ''')
    assert result == [[0, 1], "Done: 3 chats", "GreenApi"]


def test_a_sheet_button_selects_its_cell_and_runs_its_script(pyodide):
    main = _main('''
        import xlwings as xw
        from xlwings import script

        @script(button="[btnArchive]Chats!H2")
        def archive(book: xw.Book):
            book.sheets["Chats"]["B2"].value = book.selection.address
    ''')
    result = _run(pyodide, f'''
        excel = Excel({{"Chats": {{}}}})
        excel.start({main})
        await excel.click("btnArchive")
        [excel.buttons, excel.value("Chats", "B2")]
    ''')
    assert result == [{"btnArchive": ["archive", "Chats!H2"]}, "$H$2"]


def test_a_malformed_button_is_refused_when_main_py_runs(pyodide):
    main = _main('''
        from xlwings import script

        @script(button="Chats!H2")
        def archive(book):
            pass
    ''')
    result = _run(pyodide, f'''
        try:
            Excel().start({main})
        except Exception as exc:
            refused = type(exc).__name__
        refused
    ''')
    assert result == "XlwingsError"


def test_custom_functions_get_a_value_a_list_or_a_list_of_lists(pyodide):
    main = _main('''
        from xlwings import func, arg

        @func
        def shape_of(value):
            return repr(value)

        @func
        @arg("value", ndim=2)
        def grid_of(value):
            return repr(value)

        @func
        async def later(value):
            return f"async {value}"
    ''')
    result = _run(pyodide, f'''
        excel = Excel({{"Chats": {{"A2": 79001234567, "A3": "x", "B2": True, "B3": None}}}})
        excel.start({main})
        [await excel.call("SHAPE_OF", Cells("Chats", "A2")),
         await excel.call("shape_of", Cells("Chats", "A2:A3")),
         await excel.call("SHAPE_OF", Cells("Chats", "A2:B3")),
         await excel.call("GRID_OF", Cells("Chats", "A2")),
         await excel.call("SHAPE_OF", "typed"),
         await excel.call("LATER", 1)]
    ''')
    assert result == ["79001234567.0", "[79001234567.0, 'x']", "[[79001234567.0, True], ['x', None]]",
                      "[[79001234567.0]]", "'typed'", "async 1"]


def test_environment_variables_local_scope_wins(pyodide):
    main = _main('''
        import os
        TOKEN, REGION = os.getenv("GREENAPI_API_TOKEN_INSTANCE"), os.getenv("GREENAPI_REGION")
    ''')
    result = _run(pyodide, f'''
        excel = Excel(local_environment={{"GREENAPI_API_TOKEN_INSTANCE": "local"}},
                      workbook_environment={{"GREENAPI_API_TOKEN_INSTANCE": "in-book", "GREENAPI_REGION": "RU"}})
        module = excel.start({main})
        [module.TOKEN, module.REGION]
    ''')
    assert result == ["local", "RU"]


def test_include_sends_only_those_sheets_and_an_async_book_reads_live(pyodide):
    main = _main('''
        import xlwings as xw
        from xlwings import script
        import lite_addin

        seen = []

        @script(include=["Chats"])
        def only_chats(book: xw.Book):
            seen.append([sheet.name for sheet in book.sheets])

        @script
        async def live(book: xw.BookAsync):
            lite_addin.current.type("Chats", "A2", "typed meanwhile")
            seen.append(await book.sheets["Chats"]["A2"].get_value())
            try:
                book.sheets["Chats"]["A2"].value
            except xw.XlwingsError:
                seen.append("sync read refused")
    ''')
    result = _run(pyodide, f'''
        excel = Excel({{"Chats": {{}}, "Settings": {{}}}})
        module = excel.start({main})
        await excel.run_script("only_chats")
        await excel.run_script("live")
        module.seen
    ''')
    assert result == [["Chats"], "typed meanwhile", "sync read refused"]
