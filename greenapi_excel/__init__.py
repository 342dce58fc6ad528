"""GreenApi for Excel: archive WhatsApp chats in bulk through GREEN-API.

The engine lives here and never imports xlwings; the Excel layer (``addin.py``,
``udfs/``) and the command line (``greenapi_excel.cli``) are thin wiring over it.
"""

__version__ = "0.1.0"

import logging as _logging

# Retries and slow-downs are logged; a library stays quiet unless the application (the CLI's
# --verbose, or the user's own logging set-up) asks to see them.
_logging.getLogger("greenapi_excel").addHandler(_logging.NullHandler())
