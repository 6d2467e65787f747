"""Imports go one way (docs/architecture.md): each package imports nothing of the layers above it.

The device layer cannot tell a virtual handset from a real one, the scenario engine reaches a handset
through the device layer alone, traffic and policy do no I/O of the layers that run things, and the
report reads records without bringing up anything.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import phonehome

ROOT = Path(phonehome.__file__).parent
RUNNERS = ("phonehome.compliance", "phonehome.run", "phonehome.links", "phonehome.pytest_", "phonehome.cli")
FORBIDDEN = {
    "traffic": ("phonehome.policy", "phonehome.report", "phonehome.bench", "phonehome.device",
                "phonehome.scenario", "phonehome.virtual", *RUNNERS),
    "policy": ("phonehome.report", "phonehome.bench", "phonehome.device", "phonehome.scenario",
               "phonehome.virtual", *RUNNERS),
    "report": ("phonehome.bench", "phonehome.device", "phonehome.virtual", "phonehome.scenario", *RUNNERS),
    "device": ("phonehome.virtual", "phonehome.bench", "phonehome.scenario", "phonehome.report", *RUNNERS),
    "scenario": ("phonehome.virtual", "phonehome.bench", "phonehome.report", *RUNNERS),
    "store": ("phonehome.bench", "phonehome.device", "phonehome.virtual", "phonehome.scenario", *RUNNERS),
    "virtual": ("phonehome.bench", "phonehome.device", "phonehome.scenario", "phonehome.report", *RUNNERS),
}  # fmt: skip


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth of its code (lazy imports inside functions too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_of_the_layers_above_it(package: str) -> None:
    modules = list((ROOT / package).rglob("*.py"))
    assert len(modules) > 5, "the scan saw the package"
    offending = {
        f"{p.relative_to(ROOT)}: {name}"
        for p in modules
        for name in imports(p)
        if name.startswith(FORBIDDEN[package])
    }
    assert offending == set()


def test_importing_the_scenario_engine_loads_no_virtual_module() -> None:
    probe = (
        "import sys, phonehome.scenario; print([m for m in sys.modules if m.startswith('phonehome.virtual')])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
