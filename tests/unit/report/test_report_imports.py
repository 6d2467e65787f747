"""The report package sits above policy and traffic only, and nothing below it reaches back up."""

from __future__ import annotations

import ast
from pathlib import Path

import phonehome

ROOT = Path(phonehome.__file__).parent
ABOVE = ("phonehome.bench", "phonehome.device", "phonehome.virtual", "phonehome.scenario", "phonehome.compliance",
         "phonehome.run", "phonehome.links", "phonehome.pytest_", "phonehome.cli")  # fmt: skip


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_the_report_imports_nothing_above_policy_and_traffic() -> None:
    modules = list((ROOT / "report").glob("*.py"))
    assert len(modules) > 10
    assert {f"{p.name}: {n}" for p in modules for n in _imports(p) if n.startswith(ABOVE)} == set()


def test_traffic_and_policy_never_import_the_report() -> None:
    modules = [*(ROOT / "traffic").rglob("*.py"), *(ROOT / "policy").rglob("*.py")]
    assert {
        f"{p.name}: {n}" for p in modules for n in _imports(p) if n.startswith("phonehome.report")
    } == set()
