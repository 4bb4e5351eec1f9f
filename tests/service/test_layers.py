"""The service's layers, checked on its imports: the core knows no door and no backend, the store
knows no door, a door reaches the core and never a backend; no module grows past ~300 lines."""

from __future__ import annotations

import ast

import pytest

from tests.utils import ROOT

SERVICE = ROOT / "service"
ALLOWED = {
    "core": ("service.core", "service.errors", "service.metrics", "service.store.record"),
    "store": ("service.store", "service.core.futures", "service.errors", "service.metrics", "service.settings"),
    "api": ("service.api", "service.core", "service.errors", "service.metrics", "service.settings"),
}


def _imports(layer: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in (SERVICE / layer).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        out[str(path.relative_to(SERVICE))] = {n for n in names if n == "service" or n.startswith("service.")}
    return out


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_is_below_it(layer: str) -> None:
    wrong = {
        module: sorted(n for n in names if not n.startswith(ALLOWED[layer]))
        for module, names in _imports(layer).items()
    }
    assert {m: n for m, n in wrong.items() if n} == {}


def test_no_module_is_over_300_lines() -> None:
    sizes = {str(p.relative_to(SERVICE)): len(p.read_text().splitlines()) for p in SERVICE.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > 300} == {}
