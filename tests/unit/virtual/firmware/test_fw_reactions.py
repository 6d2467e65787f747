"""Firmware reacting to what happens to the handset: SIM cards, the screen, unlocks, a factory reset."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.firmware import Behaviour, Firmware
from phonehome.virtual.testing import RecordingScreen

QUICK = {"network_wait_s": 0.05}


def behaviour(**phases: Any) -> Behaviour:
    return Behaviour.model_validate({**QUICK, **phases})


def lookup(name: str, **extra: Any) -> dict[str, Any]:
    return {"label": name, "dns": {"name": f"{name}.example"}, **extra}


EVERY_PHASE = behaviour(
    **{
        phase: [lookup(phase.replace("-", ""))]
        for phase in ("sim-inserted", "sim-change", "unlock", "screen-on", "screen-off")
    }
)


class Markers:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []

    def __call__(self, phase: str, **detail: object) -> None:
        self.seen.append((phase, detail))

    def after(self, count: int) -> list[str]:
        return [p for p, _ in self.seen[count:] if p not in ("boot", "setup-wizard")]


def settle(firmware: Firmware, markers: Markers, count: int, timeout: float = 5.0) -> None:
    """Until ``count`` markers were seen and every phase started is done."""
    deadline = time.monotonic() + timeout
    while len(markers.seen) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    firmware.wait_settled(timeout)


@pytest.fixture
def nokia(tmp_path: Path) -> Iterator[VirtualHandset]:
    handset = VirtualHandset(
        "nokia-7-plus-2019", seed="react", screen=RecordingScreen(), time_scale=0, workdir=tmp_path / "d"
    )
    yield handset
    handset.stop()


def start(handset: VirtualHandset, markers: Markers, **kwargs: Any) -> Firmware:
    firmware = Firmware(handset, kwargs.pop("behaviour", EVERY_PHASE), on_marker=markers)
    handset.start()
    handset.wait_boot_completed(5)
    firmware.wait_phase("boot", 5)
    firmware.wait_settled(5)
    return firmware


def runs(firmware: Firmware) -> list[str]:
    return [r.phase for r in firmware.runs if r.phase != "boot" and not r.phase.startswith("screen:")]


def test_a_sim_at_boot_is_inserted_but_not_a_change_and_not_a_marker_of_its_own(
    nokia: VirtualHandset,
) -> None:
    markers = Markers()
    firmware = start(nokia, markers)
    assert runs(firmware) == ["sim-inserted"]
    assert [r.detail for r in firmware.runs if r.phase == "sim-inserted"] == [{"slot": 0}]
    assert markers.after(0) == [], "boot traffic stays in the boot phase on the timeline"


def test_a_swap_is_an_insert_and_a_change_a_reinsert_only_an_insert(nokia: VirtualHandset) -> None:
    markers = Markers()
    firmware = start(nokia, markers)
    mark = len(markers.seen)
    card = nokia.sim_swap(0)
    settle(firmware, markers, mark + 2)
    assert markers.after(mark) == ["sim-inserted", "sim-change"]
    mark = len(markers.seen)
    nokia.sim_remove(0)
    nokia.sim_insert(0, card.iccid)
    settle(firmware, markers, mark + 1)
    time.sleep(0.05)
    assert markers.after(mark) == ["sim-inserted"], "the same card again is no new ICCID"
    assert [o.label for o in firmware.outcomes("sim-change")] == ["simchange"]


def test_a_first_sim_in_a_handset_that_booted_without_one_is_a_change(tmp_path: Path) -> None:
    markers = Markers()
    handset = VirtualHandset(
        "nokia-7-plus-2019",
        seed="bare",
        screen=RecordingScreen(),
        time_scale=0,
        workdir=tmp_path,
        sims_at_boot=(),
    )
    try:
        firmware = start(handset, markers)
        assert markers.after(0) == []
        mark = len(markers.seen)
        handset.sim_insert(1)
        settle(firmware, markers, mark + 2)
        assert markers.after(mark) == ["sim-inserted", "sim-change"]
        assert ("sim-change", {"slot": 1}) in markers.seen
    finally:
        handset.stop()


def test_a_card_swapped_while_powered_off_is_a_change_at_the_next_boot(nokia: VirtualHandset) -> None:
    markers = Markers()
    firmware = start(nokia, markers)
    nokia.stop()
    nokia.sim_swap(0)
    mark = len(markers.seen)
    nokia.start()
    nokia.wait_boot_completed(5)
    settle(firmware, markers, mark + 2)
    assert markers.after(mark) == ["sim-change"]
    assert runs(firmware)[-2:] == ["sim-inserted", "sim-change"]


def test_screen_and_unlock_phases_follow_the_broadcasts(nokia: VirtualHandset) -> None:
    markers = Markers()
    firmware = start(nokia, markers)
    nokia.state.settings.put("global", "device_provisioned", "1")
    mark = len(markers.seen)
    nokia.press_power()
    nokia.press_power()
    nokia.display.dismiss_keyguard()
    settle(firmware, markers, mark + 3)
    assert markers.after(mark) == ["screen-off", "screen-on", "unlock"]
    assert [o.label for o in firmware.outcomes("unlock")] == ["unlock"]


def test_the_nokia_registers_only_with_a_sim(tmp_path: Path) -> None:
    """Self-registration's trigger is boot + SIM + attach: no SIM, no registration, until one comes."""
    handset = VirtualHandset(
        "nokia-7-plus-2019",
        seed="reg",
        screen=RecordingScreen(),
        time_scale=0,
        workdir=tmp_path,
        sims_at_boot=(),
    )
    register = handset.profile.behaviour.actions("unlock")
    assert [a.label for a in register] == ["com.qualcomm.qti.autoregistration"]
    quick = handset.profile.behaviour.model_copy(update={"network_wait_s": 0.05})
    firmware = Firmware(handset, quick)
    try:
        handset.start()
        handset.wait_boot_completed(5)
        handset.state.settings.put("global", "device_provisioned", "1")
        handset.press_power()
        handset.press_power()
        handset.display.dismiss_keyguard()
        firmware.wait_phase("unlock", 5)
        assert firmware.outcomes("unlock") == [], "no SIM: nothing sent on unlock"
        logs, _ = handset.state.logs.since(0)
        assert any("unlock: com.qualcomm.qti.autoregistration not sent (no SIM)" in line for line in logs)
        handset.sim_insert(0)
        firmware.wait_phase("sim-change", 5)
        [attempt, *_] = firmware.outcomes("sim-change")
        assert attempt.label == "com.qualcomm.qti.autoregistration"
        assert "no network" in attempt.detail
    finally:
        firmware.stop()
        handset.stop()


def test_a_factory_reset_restarts_boot_and_forgets_the_sims_seen(nokia: VirtualHandset) -> None:
    markers = Markers()
    firmware = start(nokia, markers)
    boots = [r for r in firmware.runs if r.phase == "boot"]
    mark = len(markers.seen)
    nokia.factory_reset(wait=True, timeout=10)
    settle(firmware, markers, mark + 1)
    # The second boot's SIM reaction may start a moment after its boot marker on a busy machine.
    deadline = time.monotonic() + 20
    while runs(firmware) != ["sim-inserted", "sim-inserted"] and time.monotonic() < deadline:
        time.sleep(0.01)
    firmware.wait_settled(10)
    assert [r.detail for r in firmware.runs if r.phase == "boot"] == [
        *(r.detail for r in boots),
        {"boot_count": 2},
    ]
    assert runs(firmware) == ["sim-inserted", "sim-inserted"], "after a wipe the SIM in is the new baseline"
