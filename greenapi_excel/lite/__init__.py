"""The xlwings Lite edition's own pieces: what runs inside Pyodide, in Excel's browser engine.

Nothing here is imported by the desktop engine, the add-in or the CLI (tests/test_lite_transport.py checks
it): these modules use ``pyodide`` and ``js``, which exist only inside Pyodide.
"""
