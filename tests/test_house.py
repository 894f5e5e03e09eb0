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
    # (a module's own parent packages are left out: ``from . import common`` names the
    # sibling, not the package)
    return {name: {t for t in _imports(path, runtime_only=runtime_only) if t in paths
                   and t != name and not name.startswith(t + ".")}
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


def _architecture_order() -> Dict[str, int]:
    """Module -> its rank in docs/ARCHITECTURE.md's layer list (top = 0; modules named on
    one line share a rank; a package's line stands for its __init__)."""
    text = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text()
    block = text.split("## Layers", 1)[1].split("```", 2)[1]
    order: Dict[str, int] = {}
    stack: List[tuple] = []  # (indent, package path)
    for rank, line in enumerate(block.splitlines()):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        words = stripped.split()
        if not words or not (words[0].endswith(".py") or words[0].endswith("/")):
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        prefix = stack[-1][1] if stack else ""
        if words[0] == "geventio/":
            stack.append((indent, "geventio"))
            continue
        names = [w for w in words if w.endswith(".py")] if words[0].endswith(".py") \
            else [words[0]]
        for word in names:
            if word.endswith("/"):
                package = prefix + "." + word[:-1]
                order[package] = rank
                stack.append((indent, package))
            else:
                order[prefix + "." + word[:-3]] = rank
    return order


def test_architecture_lists_every_module_above_the_modules_it_imports():
    order = _architecture_order()
    graph = _graph(runtime_only=True)
    unlisted = sorted(n for n in graph if n not in order and n != "geventio")
    assert unlisted == [], "modules missing from docs/ARCHITECTURE.md's layer list"
    upward = sorted("%s -> %s" % (name, target) for name, targets in graph.items()
                    if name in order for target in targets
                    if target in order and not target.startswith(name + ".")
                    and order[target] < order[name])
    assert upward == [], "imports that go up docs/ARCHITECTURE.md's layer list"
