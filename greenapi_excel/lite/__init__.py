"""The xlwings Lite edition's own pieces: what runs inside Pyodide, in Excel's browser engine.

- ``transport``: one request through ``pyodide.http.pyfetch`` (needs Pyodide);
- ``scripts``: the buttons and the worksheet functions main.py calls, on the asyncio driver;
- ``book``: a Lite book as the jobs see it (the one read, the block writer, the journal sheet, the progress and
  stop cells);
- ``journal``: ``journal.Journal`` kept in the book.

The desktop engine, the add-in and the CLI never import ``transport`` or ``scripts``
(tests/test_lite_transport.py checks it); the workbook builder reads the book's layout from ``book`` and
``journal``, which are plain Python.
"""
