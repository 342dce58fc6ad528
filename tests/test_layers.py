"""The layout holds: only greenapi_excel/excel imports xlwings; layers talk one way (edges -> jobs -> run ->
client); no module imports itself back through others; the edges are thin. Read from the source with ast,
every import counted (those inside functions too: a circle through a late import is still a circle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "greenapi_excel"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "locale" not in p.parts}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, resolved to our modules where it names one (a submodule imported from
    its package counts as that submodule)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found


GRAPH = {name: {i for i in _imports(path) if i in MODULES and i != name} for name, path in MODULES.items()}


def test_only_the_excel_package_imports_xlwings():
    importers = sorted(name for name, path in MODULES.items()
                       if any(i == "xlwings" or i.startswith("xlwings.") for i in _imports(path)))
    assert importers and all(name.startswith("greenapi_excel.excel") for name in importers), importers


def test_no_import_circle():
    circles = []

    def visit(node, trail):
        for nxt in sorted(GRAPH[node]):
            if nxt in trail:
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, trail + [nxt])
        done.add(node)

    done: set[str] = set()
    for name in sorted(GRAPH):
        if name not in done:
            visit(name, [name])
    # A package's __init__ re-exporting its own submodules is how a package is made, not a circle.
    circles = [c for c in circles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)
               and not all(c[-1].startswith(m) or m.startswith(c[-1]) for m in c)]
    assert circles == []


def _reaches(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_layers_talk_one_way():
    edges = {"greenapi_excel.cli", "greenapi_excel.cli.commands", "greenapi_excel.console", "greenapi_excel.demo",
             "greenapi_excel.excel.live", "greenapi_excel.excel.macros", "greenapi_excel.livebook",
             "greenapi_excel.lite.book", "greenapi_excel.lite.scripts"}
    run = {name for name in MODULES if name.startswith("greenapi_excel.run")}
    for module in run | {"greenapi_excel.calls", "greenapi_excel.client", "greenapi_excel.client_async"}:
        reached = _reaches(module)
        assert not reached & (edges | {"greenapi_excel.jobs"}), (module, reached & (edges | {"greenapi_excel.jobs"}))
    for module in {"greenapi_excel.calls", "greenapi_excel.client", "greenapi_excel.client_async"}:
        assert not _reaches(module) & run, module
    assert not _reaches("greenapi_excel.jobs") & edges


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_the_edges_are_wiring():
    assert _lines(ROOT / "addin.py") <= 150
    assert len((ROOT / "udfs" / "__init__.py").read_text(encoding="utf-8").splitlines()) <= 80
