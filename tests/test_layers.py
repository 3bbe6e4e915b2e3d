"""Dependencies point down: which sigxfer modules may import which, read from the sources with ast.

Every ``import`` counts, at module level or inside a function: an import deferred into a function
to dodge a cycle is still the same dependency.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

# find_spec locates the package without running it: these tests need no torch.
SRC = Path(importlib.util.find_spec("sigxfer").origin).resolve().parent
ROOT = "sigxfer"

# Each package (or module) and what it must never import. Packages match their submodules too.
_ABOVE_LEARNING = ("sigxfer.estimators", "sigxfer.evaluation", "sigxfer.deploy", "sigxfer.cli", "sigxfer.demo")
FORBIDDEN = {
    "sigxfer.data": ("sigxfer.imaging", "sigxfer.backbones", "sigxfer.learning", *_ABOVE_LEARNING),
    "sigxfer.imaging": ("sigxfer.backbones", "sigxfer.learning", *_ABOVE_LEARNING),
    "sigxfer.backbones": ("sigxfer.learning", *_ABOVE_LEARNING),
    "sigxfer.learning": _ABOVE_LEARNING,
    "sigxfer.estimators": ("sigxfer.evaluation", "sigxfer.deploy", "sigxfer.cli", "sigxfer.demo"),
}
# The bottom layer: these modules import nothing of sigxfer but each other.
BASE = ("sigxfer._version", "sigxfer.errors", "sigxfer._atomic", "sigxfer._fsio", "sigxfer._json", "sigxfer._checks")
# Modules allowed to import names from the package root (``from sigxfer import X``).
MAY_IMPORT_ROOT = ("sigxfer", "sigxfer.cli")

# Known violations outside this change, as (importer, imported) pairs, each to be fixed and then
# removed here; a pair listed but no longer found fails the test, so the list cannot go stale.
KNOWN = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if _is_package(importer) else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(name: str) -> list[tuple[str, str | None]]:
    """``(module, imported name)`` for each sigxfer import in ``name``'s source.

    ``from a.b import c`` gives ``("a.b.c", None)`` when ``a/b/c`` is a module, else ``("a.b", "c")``.
    """
    found = []
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == ROOT]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(name, node)
            if module.split(".")[0] != ROOT:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append((sub, None) if sub in MODULES else (module, alias.name))
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations() -> set[tuple[str, str]]:
    bad = set()
    for name in MODULES:
        for module, item in imports_of(name):
            for layer, banned in FORBIDDEN.items():
                if _within(name, layer):
                    bad |= {(name, module) for ban in banned if _within(module, ban)}
            if name in BASE and module not in BASE:
                bad.add((name, module))
            if module == ROOT and name not in MAY_IMPORT_ROOT:
                bad.add((name, f"{ROOT}.{item}" if item else ROOT))
    return bad


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    graph = {name: sorted({m for m, _ in imports_of(name) if m in MODULES and m != name}) for name in MODULES}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_module_list_covers_the_packages():
    names = set(MODULES)
    assert {"sigxfer.backbones.registry", "sigxfer.learning.strategies.base", "sigxfer.imaging.imager",
            "sigxfer.data.signals", "sigxfer.cli"} <= names


def test_lower_layers_never_import_higher_ones():
    found = _violations()
    assert found - KNOWN == set(), "new imports against the layering"
    assert KNOWN - found == set(), "fixed: remove these pairs from KNOWN"


def test_no_import_cycles():
    # Package __init__ files import their submodules; a submodule importing a name from its own
    # package's __init__ would close a cycle, and is caught here too.
    assert _cycles() == []


@pytest.mark.parametrize("source, expected", [
    ("from sigxfer import TransferClassifier\n", [("sigxfer", "TransferClassifier")]),
    ("from sigxfer import errors\n", [("sigxfer.errors", None)]),
    ("from . import registry\n", [("sigxfer.backbones.registry", None)]),
    ("def f():\n    import sigxfer.learning.loop\n", [("sigxfer.learning.loop", None)]),
    ("import numpy\n", []),
])
def test_imports_are_read_from_source(monkeypatch, tmp_path, source, expected):
    """The reader itself: relative, deferred and root imports are all seen, other packages are not."""
    fake = tmp_path / "probe.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, "sigxfer.backbones.probe", fake)
    assert imports_of("sigxfer.backbones.probe") == expected


def test_a_violation_would_be_found(monkeypatch, tmp_path):
    fake = tmp_path / "probe.py"
    fake.write_text("from sigxfer.learning.strategies import FineTune\nfrom sigxfer import load\n")
    monkeypatch.setitem(MODULES, "sigxfer.backbones.probe", fake)
    found = _violations()
    assert ("sigxfer.backbones.probe", "sigxfer.learning.strategies") in found
    assert ("sigxfer.backbones.probe", "sigxfer.load") in found


def test_a_cycle_would_be_found(monkeypatch, tmp_path):
    fake = tmp_path / "registry.py"
    fake.write_text(MODULES["sigxfer.backbones.registry"].read_text()
                    + "\ndef _late():\n    from sigxfer.backbones.external import register_file_backbone\n")
    monkeypatch.setitem(MODULES, "sigxfer.backbones.registry", fake)
    assert any({"sigxfer.backbones.registry", "sigxfer.backbones.external"} <= set(c) for c in _cycles())
