"""GreenApi for Excel: archive WhatsApp chats in bulk through GREEN-API.

The engine lives here and never imports xlwings; the Excel layer (``addin.py``,
``udfs/``) and the command line (``greenapi_excel.cli``) are thin wiring over it.
"""

__version__ = "0.1.0"
