"""Scenarios by name: ``scenarios/NAME.py`` scripts, each a ``scenario(options)`` function.

A lab adds its own the same way: a Python file in ``scenarios/`` (or in
``$PHONEHOME_SCENARIOS``, or any path given instead of a name) that builds a
`phonehome.scenario.Scenario` from the `phonehome.scenario.Options` it is
given. Several names run as one scenario, in order (`Scenario.then`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

from phonehome.scenario.context import OptionError, Options
from phonehome.scenario.model import Scenario
from phonehome.scenario.screenmap import scenario_dirs
from phonehome.scenario.wizard import consent_choice

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class ScenarioError(ValueError):
    """A scenario that cannot be used: an unknown name, a script that does not build, a bad option."""


def scenario_names() -> list[str]:
    """Every scenario a name finds, from every folder searched (the first folder wins a clash)."""
    names: dict[str, Path] = {}
    for folder in scenario_dirs():
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
            if _NAME.match(path.stem):
                names.setdefault(path.stem, path)
    return sorted(names)


def find_scenario(name: str) -> Path:
    """The script for ``name`` (or ``name`` itself when it is a path to a .py file)."""
    if name.endswith(".py") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise ScenarioError(f"--scenario {name}: no such file")
        return path
    if not _NAME.match(name):
        raise ScenarioError(
            f"--scenario {name!r}: a name is lower-case letters, digits, - and _ (or a .py path)"
        )
    for folder in scenario_dirs():
        path = folder / f"{name}.py"
        if path.is_file():
            return path
    raise ScenarioError(
        f"--scenario {name}: no such scenario (known: {', '.join(scenario_names()) or 'none'})"
    )


def load_scenario(name: str, options: Options) -> Scenario:
    """Runs the script's ``scenario(options)``; `ScenarioError` names the file for anything that fails."""
    path = find_scenario(name)
    module_name = f"phonehome_scenario_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        build = getattr(module, "scenario", None)
        if not callable(build):
            raise ScenarioError(f"{path}: defines no scenario(options) function")
        built = build(options)
    except ScenarioError:
        raise
    except OptionError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    except Exception as exc:  # a lab's script: any error is bad input, named with its file
        raise ScenarioError(f"{path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(built, Scenario):
        raise ScenarioError(f"{path}: scenario(options) returned {type(built).__name__}, not a Scenario")
    return built


def build_scenario(names: Sequence[str], options: Options) -> Scenario:
    """The scenarios ``names`` as one, in order; every option given must be one a scenario reads."""
    if not names:
        raise ScenarioError("no scenario named")
    try:
        consent_choice(options.consent)
    except ValueError as exc:
        raise ScenarioError(f"--consent: {exc}") from None
    loaded = [load_scenario(name, options) for name in names]
    unknown = options.unknown()
    if unknown:
        raise ScenarioError(
            f"--scenario-option {', '.join(unknown)}: not an option of {', '.join(names)} "
            f"(they read: {', '.join(sorted(options.read)) or 'none'})"
        )
    return loaded[0].then(*loaded[1:]) if len(loaded) > 1 else loaded[0]
