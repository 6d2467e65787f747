"""The scenario engine imports only what DESIGN.md allows: scenario -> device -> policy -> traffic.

It reaches a handset through the device layer alone, so it cannot take a
shortcut through the virtual handset; the run hands it a virtual handset's
operator, the engine never imports one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import phonehome.scenario

PACKAGE = Path(phonehome.scenario.__file__).parent
FORBIDDEN = (
    "phonehome.virtual",
    "phonehome.bench",
    "phonehome.report",
    "phonehome.pytest",
    "phonehome.compliance",
)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_module_of_the_engine_imports_virtual_bench_or_the_run() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in PACKAGE.glob("*.py")
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    }
    assert offending == set()
    assert len(list(PACKAGE.glob("*.py"))) > 8  # the scan saw the package


def test_importing_the_engine_loads_no_virtual_module() -> None:
    probe = (
        "import sys, phonehome.scenario; print([m for m in sys.modules if m.startswith('phonehome.virtual')])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
