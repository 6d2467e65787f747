"""Runs a scenario: markers around every phase, steps in order, the first failure ends it with evidence.

Each phase writes ``{"phase": NAME, ...}`` when it starts and ``{"phase":
NAME, "end": true, ...}`` when it ends, the end carrying what its steps
chose (the consent variant, the new SIM's slot). A step that raises saves a
screenshot and the UI hierarchy, ends its phase with ``completed: false``
and ends the scenario: the phases it did not reach are named in the
`ScenarioResult`, whose `ScenarioResult.problems` the run hands to the
policy so that no assertion can PASS on a scenario that did not finish.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from phonehome.scenario import evidence
from phonehome.scenario.context import Context
from phonehome.scenario.model import RESERVED_KEYS, Detail, Scenario, StepFailed

MAX_DETAIL_TEXT = 300
"""Longest string a marker carries (an error message is cut; the whole of it is in scenario.json)."""


@dataclass
class StepRecord:
    """One step as it ran."""

    phase: str
    label: str
    kind: str
    started: float
    """Seconds since the epoch (the capture's clock)."""
    ended: float
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class Failure:
    """The step that could not complete, why, and the evidence saved."""

    phase: str
    step: str
    error: str
    evidence: list[str]
    """Files relative to the results folder (screenshot, hierarchy)."""
    notes: list[str]
    """Evidence that could not be taken, and why."""


@dataclass
class ScenarioResult:
    """What a scenario run covered, and what it could not."""

    scenario: str
    declared: list[str]
    completed: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    """Decision markers written inside completed or running phases (``consent``)."""
    failure: Failure | None = None
    steps: list[StepRecord] = field(default_factory=list)
    learned: dict[str, list[str]] = field(default_factory=dict)
    doubts: list[str] = field(default_factory=list)
    ui_calls: int = 0
    """uiautomator2 RPCs sent during the run."""
    reports: dict[str, Any] = field(default_factory=dict)
    """What steps reported (``wizard``: every screen, what was done on it, its RPCs and seconds)."""
    cause: BaseException | None = field(default=None, repr=False, compare=False)
    """The exception that ended the failed step (not recorded: its text is the failure's ``error``)."""

    @property
    def covered(self) -> list[str]:
        """The phases the run covered: completed phases and the decisions written, in order, once each."""
        return list(dict.fromkeys([*self.completed, *self.decisions]))

    @property
    def unreached(self) -> list[str]:
        """Declared phases that did not complete (the failed one first)."""
        done = list(self.completed)
        missing = []
        for name in self.declared:
            if name in done:
                done.remove(name)
            else:
                missing.append(name)
        return missing

    @property
    def ok(self) -> bool:
        return self.failure is None and not self.unreached

    def problems(self) -> list[str]:
        """What makes every would-be PASS of this run INCONCLUSIVE (empty for a run that finished)."""
        out = []
        if self.failure is not None:
            f = self.failure
            files = ", ".join(f.evidence) if f.evidence else "none (" + "; ".join(f.notes) + ")"
            out.append(
                f"scenario {self.scenario}: step '{f.phase}: {f.step}' did not complete: {f.error}; "
                f"phases not reached: {', '.join(self.unreached)}; evidence: {files}"
            )
        elif self.unreached:
            out.append(f"scenario {self.scenario}: phases not reached: {', '.join(self.unreached)}")
        return out + list(self.doubts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "declared": list(self.declared),
            "completed": list(self.completed),
            "covered": self.covered,
            "unreached": self.unreached,
            "failure": asdict(self.failure) if self.failure else None,
            "steps": [asdict(s) for s in self.steps],
            "learned": {k: list(v) for k, v in self.learned.items()},
            "doubts": list(self.doubts),
            "ui_calls": self.ui_calls,
            "reports": dict(self.reports),
        }


def run_scenario(scenario: Scenario, ctx: Context, *, clock: Any = time.time) -> ScenarioResult:
    """Runs every phase of ``scenario`` through ``ctx``; never raises for a step that fails."""
    result = ScenarioResult(scenario.name, scenario.phase_names)
    try:
        for number, phase in enumerate(scenario.phases, 1):
            ctx.mark(phase.name, scenario=scenario.name, **dict(phase.detail))
            chosen: Detail = {}
            for step in phase.steps:
                ctx.progress("step", f"{phase.name}: {step.label}")
                started = clock()
                try:
                    detail = step.run(ctx) or {}
                except Exception as exc:  # any step that cannot complete ends the scenario, with evidence
                    error = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
                    record = StepRecord(phase.name, step.label, step.kind, started, clock(), False, {}, error)
                    result.steps.append(record)
                    files, notes = evidence.save(ctx, f"{number:02d}-{_slug(phase.name)}-{_slug(step.label)}")
                    result.failure = Failure(phase.name, step.label, error, files, notes)
                    result.cause = exc
                    ctx.mark(
                        phase.name,
                        end=True,
                        completed=False,
                        failed_step=step.label,
                        error=_cut(error),
                        evidence=files,
                    )
                    return result
                result.steps.append(
                    StepRecord(phase.name, step.label, step.kind, started, clock(), True, dict(detail))
                )
                chosen.update(_clean(detail))
            ctx.mark(phase.name, end=True, completed=True, **chosen)
            result.completed.append(phase.name)
        return result
    finally:
        result.decisions = list(ctx.decisions)
        result.learned = {k: list(v) for k, v in ctx.learned.items()}
        result.doubts = list(ctx.doubts)
        result.reports = dict(ctx.reports)
        ui = ctx.ui_started
        result.ui_calls = ui.calls if ui is not None else 0


def _clean(detail: Detail) -> Detail:
    """A step's detail as marker keys: scalars and short lists of scalars; reserved keys dropped."""
    out: Detail = {}
    for key, value in detail.items():
        if key in RESERVED_KEYS:
            continue
        if isinstance(value, str):
            out[key] = _cut(value)
        elif value is None or isinstance(value, bool | int | float):
            out[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str | int | float | bool) for v in value):
            out[key] = [_cut(v) if isinstance(v, str) else v for v in value][:50]
    return out


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_TEXT else text[: MAX_DETAIL_TEXT - 1] + "…"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "step"
