"""The device layer imports only what DESIGN.md allows: it must not be able to tell a virtual handset."""

from __future__ import annotations

import ast
from pathlib import Path

import phonehome.device

PACKAGE = Path(phonehome.device.__file__).parent
FORBIDDEN = ("phonehome.virtual", "phonehome.bench", "phonehome.scenario", "phonehome.report")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_module_of_the_device_layer_imports_virtual_bench_scenario_or_report() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in PACKAGE.glob("*.py")
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    }
    assert offending == set()
    assert len(list(PACKAGE.glob("*.py"))) > 10  # the scan saw the package
