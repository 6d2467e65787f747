"""The firmware engine: which phase each handset and UI event starts, markers in order, waits that end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.firmware import Behaviour, Firmware, FirmwareError, FirmwareEvent
from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.hierarchy import parse_xml

QUICK = {"network_wait_s": 0.05}
"""No network in unit tests: an action waits this long for one, then fails (and is logged)."""


class Markers:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []

    def __call__(self, phase: str, **detail: object) -> None:
        self.seen.append((phase, detail))

    def phases(self) -> list[str]:
        return [p for p, _ in self.seen]


def behaviour(**phases: Any) -> Behaviour:
    return Behaviour.model_validate({**QUICK, **phases})


def lookup(name: str, **extra: Any) -> dict[str, Any]:
    return {"label": name, "dns": {"name": f"{name}.example"}, **extra}


@pytest.fixture
def handset(tmp_path: Path) -> Iterator[VirtualHandset]:
    """An AOSP handset with its Setup Wizard, not started (tests start it after wiring the firmware)."""
    device = VirtualHandset("aosp-clean", seed="engine", time_scale=0, workdir=tmp_path / "device")
    yield device
    device.stop()


def tap(handset: VirtualHandset, **selector: str) -> None:
    screen = handset.screen
    node = sel.find(parse_xml(screen.hierarchy_xml()), sel.parse(selector))
    assert node is not None, f"{selector} not on {screen.screen_name}"  # type: ignore[attr-defined]
    screen.tap(*node.bounds.center)


def walk_to_consent(handset: VirtualHandset) -> None:
    tap(handset, resourceId="com.google.android.setupwizard:id/start")
    tap(handset, text="Skip")
    tap(handset, resourceId="com.google.android.setupwizard:id/next_button")
    tap(handset, resourceId="com.google.android.gms:id/skip_button")
    tap(handset, resourceId="android:id/button1")


def accept(handset: VirtualHandset, *, diagnostics: bool = True) -> None:
    """On the consent screen: sets the diagnostics toggle, scrolls to the end, taps Accept."""
    toggle = {"resourceId": "com.google.android.gms:id/usage_reporting_toggle"}
    while (node := sel.find(parse_xml(handset.screen.hierarchy_xml()), sel.parse(toggle))) is None:
        tap(handset, text="More")
    if node.checked != diagnostics:
        tap(handset, **toggle)
    while sel.find(parse_xml(handset.screen.hierarchy_xml()), sel.parse({"text": "More"})) is not None:
        tap(handset, text="More")
    tap(handset, text="Accept")


def finish(handset: VirtualHandset) -> None:
    tap(handset, resourceId="com.android.settings:id/skip_button")
    tap(handset, text="Skip anyway")
    tap(handset, text="Done")


def test_boot_is_marked_and_done_when_it_has_nothing_to_send(handset: VirtualHandset) -> None:
    markers = Markers()
    firmware = Firmware(handset, behaviour(), on_marker=markers)
    handset.start()
    assert firmware.wait_phase("boot", 5) == []
    assert markers.seen[0] == ("boot", {"boot_count": 1})
    assert markers.seen[1] == ("setup-wizard", {"screen": "welcome"}), "the wizard shows once boot completes"


def test_boot_actions_without_a_network_fail_after_the_wait_and_the_handset_carries_on(
    handset: VirtualHandset,
) -> None:
    firmware = Firmware(handset, behaviour(boot=[lookup("ntp")]))
    handset.start()
    [outcome] = firmware.wait_phase("boot", 5)
    assert not outcome.ok
    assert "no network" in outcome.detail
    assert handset.adb_online
    logs, _ = handset.state.logs.since(0)
    assert any(" W ntp: dns ntp.example (attempt 1)" in line for line in logs)


def test_a_firmware_made_after_start_still_sees_boot(handset: VirtualHandset) -> None:
    handset.start()
    handset.wait_boot_completed(5)
    markers = Markers()
    firmware = Firmware(handset, behaviour(), on_marker=markers)
    firmware.wait_phase("boot", 5)
    assert markers.phases()[:2] == ["boot", "setup-wizard"]


def test_wizard_consent_and_completion_start_their_phases_in_order_then_idle(handset: VirtualHandset) -> None:
    markers = Markers()
    events: list[FirmwareEvent] = []
    firmware = Firmware(
        handset,
        behaviour(
            screens={"google_services": [lookup("consent-screen")]},
            **{
                "consent-accepted": [lookup("after")],
                "setup-complete": [lookup("done")],
                "idle": [lookup("idle")],
            },
        ),
        on_marker=markers,
    )
    firmware.subscribe(events.append)
    handset.start()
    firmware.wait_phase("boot", 5)
    walk_to_consent(handset)
    assert [o.label for o in firmware.wait_phase("screen:google_services", 5)] == ["consent-screen"]
    accept(handset)
    finish(handset)
    firmware.wait_phase("idle", 5)
    phases = markers.phases()
    assert phases.index("consent") < phases.index("setup-complete") < phases.index("idle")
    consent = dict(markers.seen)["consent"]
    assert consent["accepted"] is True
    assert consent["screen"] == "google_services"
    assert {"diagnostics", "location", "scanning"} <= set(consent)
    assert [o.label for o in firmware.outcomes("consent-accepted")] == ["after"]
    assert [o.label for o in firmware.outcomes("idle")] == ["idle"]
    started = [e.phase for e in events if e.kind == "phase-started"]
    assert started.index("consent-accepted") < started.index("setup-complete") < started.index("idle")
    assert [r.phase for r in firmware.runs if r.phase == "screen:launcher"] == [], "no phase after setup"


@pytest.mark.parametrize("diagnostics", [True, False])
def test_an_action_that_requires_a_consent_toggle_runs_only_when_it_was_left_on(
    handset: VirtualHandset, diagnostics: bool
) -> None:
    firmware = Firmware(
        handset, behaviour(**{"consent-accepted": [lookup("stats", requires_consent=["diagnostics"])]})
    )
    handset.start()
    firmware.wait_phase("boot", 5)
    walk_to_consent(handset)
    accept(handset, diagnostics=diagnostics)
    sent = [o.label for o in firmware.wait_phase("consent-accepted", 5)]
    assert sent == (["stats"] if diagnostics else [])
    if not diagnostics:
        logs, _ = handset.state.logs.since(0)
        assert any("stats not sent (diagnostics not consented)" in line for line in logs)


def test_sim_change_is_triggered_and_marked(handset: VirtualHandset) -> None:
    markers = Markers()
    firmware = Firmware(handset, behaviour(**{"sim-change": [lookup("register")]}), on_marker=markers)
    handset.start()
    firmware.wait_phase("boot", 5)
    firmware.trigger("sim-change", iccid="8949010000000000001")
    assert [o.label for o in firmware.wait_phase("sim-change", 5)] == ["register"]
    assert ("sim-change", {"iccid": "8949010000000000001"}) in markers.seen
    with pytest.raises(KeyError, match="unknown phase"):
        firmware.trigger("factory-reset")


def test_waiting_for_a_phase_that_never_starts_says_so(handset: VirtualHandset) -> None:
    firmware = Firmware(handset, behaviour())
    handset.start()
    started = time.monotonic()
    with pytest.raises(FirmwareError, match=r"network-attach not done within 0.2 s \(never started\)"):
        firmware.wait_window(0.2)
    assert time.monotonic() - started < 2


def test_a_reboot_runs_boot_again(handset: VirtualHandset) -> None:
    markers = Markers()
    firmware = Firmware(handset, behaviour(), on_marker=markers)
    handset.start()
    firmware.wait_phase("boot", 5)
    handset.reboot(wait=True, timeout=10)
    deadline = time.monotonic() + 5
    while sum(p == "boot" for p in markers.phases()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [d for p, d in markers.seen if p == "boot"] == [{"boot_count": 1}, {"boot_count": 2}]


def test_stop_cancels_what_is_still_waiting_to_be_sent(tmp_path: Path) -> None:
    slow = VirtualHandset("aosp-clean", seed="slow", time_scale=1.0, workdir=tmp_path / "slow")
    firmware = Firmware(slow, behaviour(boot=[lookup("later", delay_s=3600)]))
    with slow as handset:
        handset.wait_boot_completed(5)
        with pytest.raises(
            FirmwareError, match=r"phase boot not done within 0.2 s \(1 run\(s\) still sending\)"
        ):
            firmware.wait_phase("boot", 0.2)
        firmware.stop()
        assert firmware.wait_phase("boot", 2) == [], "a cancelled phase is done, with nothing sent"
        assert handset.adb_online


def test_attach_needs_a_namespace(handset: VirtualHandset) -> None:
    firmware = Firmware(handset, behaviour())
    handset.start()
    with pytest.raises(FirmwareError, match="no network namespace"):
        firmware.attach_network()


def test_declining_consent_starts_the_declined_phase_and_marks_it(tmp_path: Path) -> None:
    from phonehome.virtual.ui import SetupWizard

    wizard = SetupWizard("oem", start="improve", time_scale=0)
    device = VirtualHandset(
        "nokia-7-plus-2019", seed="decline", screen=wizard, time_scale=0, workdir=tmp_path
    )
    markers = Markers()
    firmware = Firmware(
        device,
        behaviour(**{"consent-accepted": [lookup("stats")], "consent-declined": [lookup("opt-out")]}),
        on_marker=markers,
    )
    with device as handset:
        firmware.wait_phase("boot", 5)
        tap(handset, text="Not now")
        assert [o.label for o in firmware.wait_phase("consent-declined", 5)] == ["opt-out"]
    consent = dict(markers.seen)["consent"]
    assert consent["accepted"] is False
    assert consent["screen"] == "improve"
    assert not [r for r in firmware.runs if r.phase == "consent-accepted"]
