"""The runner marks every phase, ends the scenario at the first failing step, and saves its evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phonehome.scenario import (
    Context,
    Options,
    Phase,
    PowerOn,
    Scenario,
    ScriptedOperator,
    StepFailed,
    Wait,
    WaitBootCompleted,
    WalkSetupWizard,
    run_scenario,
)
from phonehome.scenario.model import Detail
from tests.unit.scenario.fake_handset import FakeHandset


class Marks(list[tuple[str, dict[str, Any]]]):
    def __call__(self, phase: str, **detail: Any) -> None:
        self.append((phase, detail))


class Boom:
    label = "boom"
    kind = "automated"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or StepFailed("the button is not there")

    def run(self, ctx: Context) -> Detail | None:
        raise self.error


class Note:
    kind = "automated"

    def __init__(self, label: str, **detail: Any) -> None:
        self.label = label
        self.detail = detail
        self.ran = False

    def run(self, ctx: Context) -> Detail | None:
        self.ran = True
        return dict(self.detail)


def context(tmp_path: Path, handset: FakeHandset | None = None, **kwargs: Any) -> tuple[Context, Marks]:
    marks = Marks()
    ctx = Context(
        mark=marks,
        operator=ScriptedOperator(),
        evidence=tmp_path / "evidence",
        handset=handset,
        sleep=lambda s: None,
        **kwargs,
    )
    return ctx, marks


def test_every_phase_has_a_start_and_an_end_marker_with_what_its_steps_chose(tmp_path: Path) -> None:
    ctx, marks = context(tmp_path, FakeHandset())
    scenario = Scenario(
        "s",
        "two phases",
        [Phase("one", [Note("a", chosen="x")], detail={"goal": 1}), Phase("two", [Note("b", n=2)])],
    )
    result = run_scenario(scenario, ctx)
    assert marks == [
        ("one", {"scenario": "s", "goal": 1}),
        ("one", {"end": True, "completed": True, "chosen": "x"}),
        ("two", {"scenario": "s"}),
        ("two", {"end": True, "completed": True, "n": 2}),
    ]
    assert result.ok
    assert result.covered == ["one", "two"]
    assert result.problems() == []


def test_a_failing_step_ends_the_scenario_with_a_screenshot_and_the_hierarchy(tmp_path: Path) -> None:
    handset = FakeHandset()
    ctx, marks = context(tmp_path, handset)
    ctx.ui()  # a uiautomator2 session is running, as in a wizard walk
    later = Note("never")
    scenario = Scenario(
        "s", "", [Phase("boot", [Note("ok")]), Phase("setup-wizard", [Boom()]), Phase("settle", [later])]
    )
    result = run_scenario(scenario, ctx)
    assert not later.ran
    assert result.completed == ["boot"]
    assert result.unreached == ["setup-wizard", "settle"]
    assert result.failure is not None
    assert result.failure.evidence == [
        "evidence/02-setup-wizard-boom-screenshot.png",
        "evidence/02-setup-wizard-boom-hierarchy.xml",
    ]
    shot, dump = (tmp_path / f for f in result.failure.evidence)
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert "com.google.android.setupwizard" in dump.read_text()
    assert oct(shot.stat().st_mode & 0o777) == "0o600"
    assert marks[-1] == (
        "setup-wizard",
        {
            "end": True,
            "completed": False,
            "failed_step": "boom",
            "error": "the button is not there",
            "evidence": result.failure.evidence,
        },
    )
    (problem,) = result.problems()
    for part in ("setup-wizard: boom", "the button is not there", "setup-wizard, settle", "hierarchy.xml"):
        assert part in problem


def test_without_a_uiautomator2_session_the_evidence_comes_over_plain_adb(tmp_path: Path) -> None:
    handset = FakeHandset()
    ctx, _ = context(tmp_path, handset)
    result = run_scenario(Scenario("s", "", [Phase("p", [Boom()])]), ctx)
    assert result.failure is not None
    assert result.failure.evidence == ["evidence/01-p-boom-hierarchy.xml"]
    assert "uiautomator dump /dev/tty" in handset.commands
    assert any(note.startswith("no screenshot") for note in result.failure.notes)


def test_a_handset_that_is_gone_leaves_no_evidence_and_the_problem_says_so(tmp_path: Path) -> None:
    handset = FakeHandset()
    ctx, _ = context(tmp_path, handset)
    ctx.ui()
    handset.gone()
    result = run_scenario(Scenario("s", "", [Phase("p", [WaitBootCompleted()])]), ctx)
    assert result.failure is not None
    assert result.failure.evidence == []
    (problem,) = result.problems()
    assert "evidence: none (no screenshot" in problem
    assert "DeviceNotFoundError" in problem or "dropped" in problem


def test_an_unexpected_error_in_a_step_is_a_failure_too_never_a_crash(tmp_path: Path) -> None:
    ctx, _ = context(tmp_path)
    boom = KeyError("x")
    result = run_scenario(Scenario("s", "", [Phase("p", [Boom(boom)])]), ctx)
    assert result.failure is not None
    assert result.failure.error == "KeyError: 'x'"
    assert result.unreached == ["p"]
    assert result.cause is boom  # the run decides whether it leaves anything to judge
    assert "cause" not in result.to_dict()


def test_a_decision_marker_counts_as_a_covered_phase(tmp_path: Path) -> None:
    handset = FakeHandset()
    ctx, marks = context(tmp_path, handset)
    scenario = Scenario("first-boot", "", [Phase("setup-wizard", [WalkSetupWizard("decline-all")])])
    result = run_scenario(scenario, ctx)
    assert result.ok, result.problems()
    assert result.covered == ["setup-wizard", "consent"]
    consent = [d for p, d in marks if p == "consent"]
    assert consent
    assert all(d["accepted"] is False for d in consent)
    end = marks[-1][1]
    assert end["consent"] == "decline-all"
    assert end["flavour"] == "aosp"
    assert result.reports["wizard"]["visits"]


def test_walking_a_wizard_that_already_completed_fails_instead_of_passing_a_first_boot(
    tmp_path: Path,
) -> None:
    handset = FakeHandset()
    handset.settings[("secure", "user_setup_complete")] = "1"
    handset.settings[("global", "device_provisioned")] = "1"
    ctx, _ = context(tmp_path, handset)
    result = run_scenario(Scenario("s", "", [Phase("setup-wizard", [WalkSetupWizard()])]), ctx)
    assert result.failure is not None
    assert "already completed" in result.failure.error


def test_phases_that_run_once_are_dropped_from_a_later_scenario() -> None:
    first = Scenario("a", "A", [Phase("boot", [], once=True), Phase("x", [])])
    second = Scenario("b", "B", [Phase("boot", [], once=True), Phase("x", []), Phase("y", [])])
    both = first.then(second)
    assert both.name == "a+b"
    assert both.phase_names == ["boot", "x", "x", "y"]


def test_consent_is_not_a_phase_a_scenario_may_declare() -> None:
    with pytest.raises(ValueError, match="decision marker"):
        Phase("consent", [])
    with pytest.raises(ValueError, match="may not use"):
        Phase("p", [], detail={"end": True})


def test_waits_are_in_handset_time(tmp_path: Path) -> None:
    slept: list[float] = []
    ctx = Context(
        mark=Marks(), operator=ScriptedOperator(), evidence=tmp_path, time_scale=1e-4, sleep=slept.append
    )
    run_scenario(
        Scenario("s", "", [Phase("idle", [Wait(3600, "idle"), Wait(10, "settle", at_least=1.0)])]), ctx
    )
    assert slept == [pytest.approx(0.36), 1.0]


def test_power_on_asks_the_operator_only_for_a_handset_that_is_off(tmp_path: Path) -> None:
    operator = ScriptedOperator({"power.on": ""})
    handset = FakeHandset()
    ctx = Context(
        mark=Marks(),
        operator=operator,
        evidence=tmp_path,
        connect=lambda timeout: handset,
        online=lambda: False,
    )
    result = run_scenario(Scenario("s", "", [Phase("boot", [PowerOn(), WaitBootCompleted()])]), ctx)
    assert result.ok
    assert operator.acts == ["power.on"]
    assert result.steps[0].detail == {"power": "switched on"}
    operator = ScriptedOperator()
    ctx = Context(
        mark=Marks(), operator=operator, evidence=tmp_path, connect=lambda t: handset, online=lambda: True
    )
    result = run_scenario(Scenario("s", "", [Phase("boot", [PowerOn()])]), ctx)
    assert result.steps[0].detail == {"power": "already on"}
    assert operator.acts == []


def test_options_that_no_scenario_reads_are_reported() -> None:
    options = Options(values={"settle": "5", "setle": "5"})
    assert options.number("settle", 1.0) == 5.0
    assert options.unknown() == ["setle"]


def test_a_scenario_without_a_boot_phase_connects_on_first_use(tmp_path: Path) -> None:
    handset = FakeHandset()
    ctx = Context(
        mark=Marks(), operator=ScriptedOperator(), evidence=tmp_path, connect=lambda timeout: handset
    )
    assert ctx.handset is handset
    lone = Context(mark=Marks(), operator=ScriptedOperator(), evidence=tmp_path)
    with pytest.raises(StepFailed, match="no ADB connection"):
        lone.handset  # noqa: B018
