"""The desktop edition's side of Excel, through open-source xlwings: the only part of the engine that
imports xlwings (tests/test_layers.py holds every other module to that).

- ``live``: a live sheet as the jobs see it (the one read, the block writer, the status bar, hidden rows,
  Load chats' sheet);
- ``macros``: what each ribbon button does with it, and the worker process that carries runs out.
"""
