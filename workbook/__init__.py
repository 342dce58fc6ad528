"""Text sources of GreenApi.xlsm (VBA modules, ribbon XML, sheet contents) and its build:
``python -m greenapi_excel.workbook.build``. Installed as ``greenapi_excel.workbook`` (see pyproject.toml)."""
