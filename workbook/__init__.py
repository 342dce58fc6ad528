"""Text sources of GreenApi.xlsm (VBA modules, ribbon XML, sheet contents) and its build: ``python -m workbook.build``."""
