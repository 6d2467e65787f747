"""Several handsets in one pytest session, and pytest-xdist with one worker per handset.

``--device A --device B`` gives each handset a `Run` of its own (bench, adb server, results folder,
``session.json``). The tests that use the ``phonehome_run`` fixture are parametrized over the
handsets at session scope, so pytest runs one handset's tests together and tears its bench down
before the next handset's comes up. Every such test is marked ``xdist_group(<handset>)`` and the
distribution is ``loadgroup``: under ``pytest -n N`` a handset's tests never leave the worker that
brought its bench up, and ``-n 3`` with three handsets judges each on its own worker, concurrently.
Any other distribution would split one handset over several benches and is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from phonehome.compliance import BadInput
from phonehome.report import folder as results

if TYPE_CHECKING:
    from phonehome.pytest_plugin import Run

FIXTURE = "phonehome_run"
GROUPED = ("no", "loadgroup")
"""The xdist distributions that keep a handset on one worker (``no``: not distributed)."""


def choose_distribution(config: pytest.Config) -> None:
    """Before xdist reads its options: ``-n`` with ``--device`` distributes by handset (``loadgroup``);
    a distribution that would split a handset over workers is a usage error."""
    if not config.getoption("device", None):
        return
    option = config.option
    if hasattr(config, "workerinput"):
        # A worker parses the command line again, without the --dist chosen here: it must still name
        # its tests by group (xdist appends ``@group`` to node ids), or the controller's scheduler
        # would see one group per test.
        option.loadgroup = True
        return
    if getattr(option, "distload", False):  # xdist's -d means --dist load
        option.dist = "load"
    dist = getattr(option, "dist", "no")
    if getattr(option, "numprocesses", None) and dist == "no":
        option.dist = dist = "loadgroup"
    if dist not in GROUPED:
        raise pytest.UsageError(
            f"--device with pytest-xdist --dist {dist} would split one handset's tests over several "
            "workers, each with a bench of its own: use -n N alone (one worker per handset, --dist "
            "loadgroup), or `phonehome run --device A --device B --jobs N`"
        )


def distributed_controller(config: pytest.Config) -> bool:
    """Whether this process hands tests to xdist workers instead of running them (it claims no folder)."""
    if hasattr(config, "workerinput"):
        return False
    option = config.option
    return bool(getattr(option, "numprocesses", None)) or bool(getattr(option, "tx", None))


def refuse_taken(folder: Path) -> None:
    """`BadInput` when ``folder`` holds a run's results (the controller checks; a worker claims)."""
    found = [name for name in results.CLAIMS if (folder / name).exists()]
    if found:
        raise BadInput(f"--results-dir: {folder} already holds a run's results ({', '.join(found)})")


def slug_of(device: str) -> str:
    """A handset's xdist group name (xdist splits node ids at ``@``, so it never holds one)."""
    return "phonehome-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in device)


def parametrize(metafunc: pytest.Metafunc, runs: dict[str, Run]) -> None:
    """Parametrizes ``phonehome_run`` over several handsets (one handset: no parameter, ids unchanged)."""
    if len(runs) < 2 or FIXTURE not in metafunc.fixturenames:
        return
    metafunc.parametrize(
        FIXTURE,
        [pytest.param(device, id=device) for device in runs],
        indirect=True,
        scope="session",
    )


def run_of(item: pytest.Item, runs: dict[str, Run]) -> Run | None:
    """The handset ``item`` judges: its ``phonehome_run`` parameter, or the one handset of the session."""
    callspec = getattr(item, "callspec", None)
    device = callspec.params.get(FIXTURE) if callspec is not None else None
    if isinstance(device, str):
        return runs.get(device)
    if len(runs) == 1:
        return next(iter(runs.values()))
    return None


def group_items(items: list[pytest.Item], runs: dict[str, Run]) -> None:
    """Marks each test that uses a handset with that handset's xdist group."""
    for item in items:
        if FIXTURE not in getattr(item, "fixturenames", ()):
            continue
        run = run_of(item, runs)
        if run is not None:
            item.add_marker(pytest.mark.xdist_group(slug_of(run.device.text)))


def exit_status(run: Run, exitstatus: int, several: bool) -> int:
    """The session's exit status as one handset's: with several handsets, a test of another handset
    that failed does not make this one's fail (``phonehome run`` compares it with its verdicts)."""
    if not several or exitstatus not in (0, 1):
        return exitstatus
    return 1 if any(t.outcome in ("failed", "broken", "error") for t in run.tests.values()) else 0
