"""What a scenario is: declared phases, in order, each a list of steps.

A step is automated (ADB commands, uiautomator2, waits with deadlines) or
manual (an act asked of the `phonehome.scenario.operator.Operator`). The
runner (`phonehome.scenario.runner`) marks every phase's start and end on the
bench timeline and stops at the first step that cannot complete.

    Scenario("unlock", "screen off, on, unlock", [
        Phase("boot", [PowerOn(), WaitBootCompleted()], once=True),
        Phase("unlock", [ScreenOff(), ScreenOn(), Unlock()]),
    ])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from phonehome.scenario.context import Context

StepKind = Literal["automated", "manual"]
Detail = dict[str, object]
"""What a step chose or saw, written into its phase's end marker (small JSON values only)."""

RESERVED_PHASES = frozenset({"consent"})
"""Phase names only a decision marker may carry: the consent marker must say accepted true or false."""
RESERVED_KEYS = frozenset({"ts", "phase", "end", "scenario", "completed"})
"""Marker keys the timeline and the runner use; no detail may carry them."""


class StepFailed(Exception):
    """A step could not complete; the message says what it saw and what to do (it becomes the problem)."""


class StepTimeout(StepFailed):
    """A step's deadline passed before the handset showed what it waited for."""


class Step(Protocol):
    """One thing a scenario does to the handset."""

    label: str
    """What it does, in a few words: the phase's markers and any problem name the step by it."""
    kind: StepKind

    def run(self, ctx: Context) -> Detail | None:
        """Does the step; returns what it chose or saw. Raises (anything) when it cannot complete."""
        ...


@dataclass(frozen=True)
class Phase:
    """A named part of a scenario; its start and end are markers on the bench timeline."""

    name: str
    steps: Sequence[Step]
    once: bool = False
    """In a sequence of scenarios, only the first phase of this name runs (``boot``: the handset is on)."""
    detail: Mapping[str, object] = field(default_factory=dict)
    """Written into the start marker (what the scenario set out to do, e.g. ``consent: decline-all``)."""

    def __post_init__(self) -> None:
        if (
            not self.name
            or len(self.name) > 64
            or not self.name.isprintable()
            or self.name != self.name.strip()
        ):
            raise ValueError(f"a phase name is 1-64 printable characters, got {self.name!r}")
        if self.name in RESERVED_PHASES:
            raise ValueError(
                f"{self.name!r} is a decision marker the Setup Wizard step writes, not a phase to declare"
            )
        clash = RESERVED_KEYS & set(self.detail)
        if clash:
            raise ValueError(f"phase {self.name}: detail may not use {', '.join(sorted(clash))}")


@dataclass(frozen=True)
class Scenario:
    """Phases in the order they run; a run covers a phase only when all its steps completed."""

    name: str
    description: str
    phases: Sequence[Phase]

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError(f"scenario {self.name}: declares no phase")

    @property
    def phase_names(self) -> list[str]:
        return [p.name for p in self.phases]

    def then(self, *others: Scenario) -> Scenario:
        """This scenario followed by ``others``, as one: a ``once`` phase that already ran is dropped."""
        phases = list(self.phases)
        for other in others:
            seen = {p.name for p in phases}
            phases += [p for p in other.phases if not (p.once and p.name in seen)]
        names = "+".join([self.name, *(o.name for o in others)])
        described = "; then ".join([self.description, *(o.description for o in others)])
        return Scenario(names, described, phases)
