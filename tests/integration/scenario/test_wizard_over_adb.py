"""Both wizard flavours, each consent variant, walked by the engine through the real adb server and uiautomator2.

The engine sees an adb serial and nothing else (`phonehome.device.Handset`,
its uiautomator2 session over ``tcp:9008`` streams); the virtual handset
behind it shows its own Setup Wizard and keeps the settings the wizard
writes, so what the markers claim is checked against what the handset did.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phonehome.device import Handset
from phonehome.scenario import (
    CONSENT_VARIANTS,
    Context,
    Phase,
    Scenario,
    ScriptedOperator,
    WaitBootCompleted,
    WalkSetupWizard,
    consent_choice,
    run_scenario,
)
from phonehome.virtual import VirtualHandset
from phonehome.virtual.screen import UiEvent
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.scenario.conftest import server_of

PROFILES = {"aosp": "aosp-clean", "oem": "nokia-7-plus-2019"}
CONSENT_SCREENS = {"aosp": ["google_services"], "oem": ["services", "improve"]}


class Marks(list[tuple[str, dict[str, Any]]]):
    def __call__(self, phase: str, **detail: Any) -> None:
        self.append((phase, detail))


@pytest.fixture
def virtual(request: pytest.FixtureRequest, adb_server: PrivateAdbServer) -> Iterator[VirtualHandset]:
    flavour = request.param
    with VirtualHandset(PROFILES[flavour], seed=f"wizard-{flavour}", time_scale=0.01) as handset:
        handset.wait_boot_completed(10)
        try:
            yield handset
        finally:
            adb_server.run("disconnect", handset.adb_serial)


@pytest.mark.parametrize(
    ("virtual", "variant"), list(itertools.product(sorted(PROFILES), CONSENT_VARIANTS)), indirect=["virtual"]
)
def test_the_engine_walks_the_wizard_over_adb_with_each_variant(
    virtual: VirtualHandset, variant: str, adb_server: PrivateAdbServer, tmp_path: Path
) -> None:
    flavour = virtual.profile.wizard
    events: list[UiEvent] = []
    virtual.screen.subscribe(events.append)
    handset = Handset.connect(virtual.adb_serial, server_of(adb_server), timeout=15)
    marks = Marks()
    ctx = Context(mark=marks, operator=ScriptedOperator(), evidence=tmp_path / "evidence", handset=handset)
    scenario = Scenario(
        "wizard",
        "",
        [Phase("boot", [WaitBootCompleted()]), Phase("setup-wizard", [WalkSetupWizard(variant)])],
    )
    result = run_scenario(scenario, ctx)
    ctx.close()
    assert result.ok, result.problems()
    assert result.covered == ["boot", "setup-wizard", "consent"]
    choice = consent_choice(variant)
    markers = [d for p, d in marks if p == "consent"]
    assert [m["screen"] for m in markers] == CONSENT_SCREENS[flavour]
    seen = {str(e.detail["screen"]): e.detail for e in events if e.kind == "consent"}
    for marker in markers:
        assert marker["accepted"] is choice.accepted
        toggles = {k: v for k, v in marker.items() if k not in ("accepted", "variant", "screen", "flavour")}
        assert toggles
        assert set(toggles.values()) == {choice.toggles}
        assert {k: seen[str(marker["screen"])][k] for k in toggles} == toggles  # the handset got them
    assert any(e.kind == "setup-complete" for e in events)
    for namespace, key in (("secure", "user_setup_complete"), ("global", "device_provisioned")):
        assert handset.shell(["settings", "get", namespace, key]).stdout.strip() == "1"
    location = handset.shell(["settings", "get", "secure", "location_mode"]).stdout.strip()
    assert location == ("3" if choice.toggles else "0")
    walk = result.reports["wizard"]
    assert walk["flavour"] == flavour
    assert all(v["calls"] >= 1 for v in walk["visits"])
    assert result.ui_calls == sum(v["calls"] for v in walk["visits"]) + walk["launcher_calls"]
