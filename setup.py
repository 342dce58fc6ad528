"""The one build step pyproject.toml cannot declare: compile the gettext catalogues.

Every ``greenapi_excel/locale/<lang>/LC_MESSAGES/greenapi_excel.po`` is compiled to the ``.mo`` beside it
with Babel (a build requirement only, see pyproject.toml's [build-system]) before the package is copied:
a wheel carries the compiled catalogues as package data, and an editable install (``./run`` uses
``pip install -e``) finds them in the source tree, where this step writes them. The ``.mo`` files are
build output (.gitignore); the ``.po`` files are the source.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE = Path(__file__).resolve().parent / "greenapi_excel" / "locale"


def compile_catalogues() -> list[Path]:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        with open(po_path, "rb") as source:
            catalog = read_po(source, locale=po_path.parts[-3])
        mo_path = po_path.with_suffix(".mo")
        with open(mo_path, "wb") as target:
            write_mo(target, catalog, use_fuzzy=False)   # a fuzzy entry is no translation yet
        written.append(mo_path)
    return written


class build_py_with_catalogues(build_py):
    def run(self):
        compile_catalogues()
        self.__dict__.pop("data_files", None)   # setuptools lists package data lazily: list the new .mo too
        super().run()


setup(cmdclass={"build_py": build_py_with_catalogues})
