"""The shape of the package holds (docs/ARCHITECTURE.md): no import circle at run time,
nothing below the router imports it, no module over 600 lines."""
from __future__ import annotations

import ast
import pathlib
from typing import Dict, List, Set

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "geventio"

#: the modules above the router, which may import it
ABOVE_THE_ROUTER = {"geventio", "geventio.app", "geventio.server", "geventio.cli"}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: pathlib.Path, *, runtime_only: bool) -> Set[str]:
    """The geventio modules ``path`` imports (at run time only: not under TYPE_CHECKING)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[str] = set()

    def visit(nodes: List[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                if not runtime_only:
                    visit(node.body)
                visit(node.orelse)
                continue
            for child in ast.walk(node):
                if isinstance(child, ast.Import):
                    found.update(a.name for a in child.names if a.name.startswith("geventio"))
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = package.split(".")
                        base = base[:len(base) - child.level + 1]
                        target = ".".join(base + ([child.module] if child.module else []))
                    else:
                        target = child.module or ""
                    if not target.startswith("geventio"):
                        continue
                    found.add(target)
                    for alias in child.names:
                        found.add(target + "." + alias.name)  # a submodule, if it is one

    visit(ast.parse(path.read_text()).body)
    return found


def _graph(*, runtime_only: bool) -> Dict[str, Set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {t for t in _imports(path, runtime_only=runtime_only) if t in paths
                   and t != name}
            for name, path in paths.items()}


def test_no_import_circle_at_run_time():
    graph = _graph(runtime_only=True)
    done: Set[str] = set()

    def visit(name: str, stack: List[str]) -> None:
        if name in stack:
            raise AssertionError("import circle: " + " -> ".join(stack[stack.index(name):]
                                                               + [name]))
        if name in done:
            return
        for target in sorted(graph[name]):
            if target.startswith(name + "."):
                continue  # a package importing its own submodules
            visit(target, stack + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_nothing_below_the_router_imports_it_not_even_for_type_hints():
    graph = _graph(runtime_only=False)
    importers = sorted(name for name, targets in graph.items()
                       if "geventio.router" in targets and name not in ABOVE_THE_ROUTER)
    assert importers == []


def test_no_module_is_over_600_lines():
    long = {_module_name(p): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}
