"""The ADB steps: screen, keyguard, SIM, network and mobile data, read as Android 9-14 print them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phonehome.scenario import (
    ChangeSim,
    Context,
    MobileAttach,
    PowerOn,
    ScreenOff,
    ScreenOn,
    ScriptedOperator,
    StepFailed,
    StepTimeout,
    Unlock,
    WaitNetwork,
)
from phonehome.scenario.steps import FactoryReset, keyguard_showing, sim_states
from tests.unit.scenario.fake_handset import FakeHandset


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def ctx(tmp_path: Path, handset: FakeHandset, operator: Any = None) -> Context:
    clock = Clock()
    return Context(
        mark=lambda *a, **k: None,
        operator=operator or ScriptedOperator(),
        evidence=tmp_path,
        handset=handset,
        clock=clock,
        sleep=clock.sleep,
    )


def test_screen_off_on_and_unlock_use_keyevents_and_read_the_state_back(tmp_path: Path) -> None:
    handset = FakeHandset()
    context = ctx(tmp_path, handset)
    assert ScreenOff().run(context) == {"wakefulness": "Asleep"}
    assert handset.keyguard
    assert ScreenOn().run(context) == {"wakefulness": "Awake"}
    assert Unlock().run(context) == {"unlocked_by": "wm dismiss-keyguard"}
    assert not handset.keyguard
    keys = [c for c in handset.commands if c.startswith(("input", "wm"))]
    assert keys == ["input keyevent KEYCODE_SLEEP", "input keyevent KEYCODE_WAKEUP", "wm dismiss-keyguard"]


def test_an_unlock_the_handset_cannot_confirm_is_a_failure(tmp_path: Path) -> None:
    handset = FakeHandset(keyguard_reported=False)
    with pytest.raises(StepFailed, match="no keyguard state"):
        Unlock().run(ctx(tmp_path, handset))


@pytest.mark.parametrize(
    ("text", "showing"),
    [
        ("  KeyguardController:\n    mKeyguardShowing=true\n", True),
        ("    mDreamingLockscreen=false mDreamingSleepToken=null\n", False),
        ("mKeyguardShowing=false\nmDreamingLockscreen=true\n", True),
        ("WINDOW MANAGER WINDOWS\n", None),
    ],
)
def test_keyguard_state_is_read_from_android_9_and_10_plus_lines(text: str, showing: bool | None) -> None:
    assert keyguard_showing(text) is showing


def test_a_new_sim_is_inserted_into_an_empty_slot_and_swapped_into_a_full_one(tmp_path: Path) -> None:
    operator = ScriptedOperator(
        {"sim.insert": "iccid=8947010000001234568 imsi=242011234567890", "sim.swap": ""}
    )
    handset = FakeHandset(sim_states=["ABSENT"])
    context = ctx(tmp_path, handset, operator)

    def insert(params: Any) -> str:
        handset.sim_states = ["READY"]
        return "iccid=8947010000001234568 imsi=242011234567890"

    operator.answers = {"sim.insert": insert}
    detail = ChangeSim().run(context)
    assert detail == {"sim": "sim.insert", "slot": 1, "sim_operator": "24201"}
    assert context.learned == {"iccid": ["8947010000001234568"], "imsi": ["242011234567890"]}
    assert context.doubts == []
    operator.answers = {"sim.swap": "8947010000009999995"}
    detail = ChangeSim().run(context)
    assert detail is not None
    assert detail["sim"] == "sim.swap"
    assert context.learned["iccid"] == ["8947010000001234568", "8947010000009999995"]
    assert context.doubts
    assert "no known imsi" in context.doubts[0]
    assert operator.log[1].params == {"slot": 1, "iccid": None}


def test_a_sim_that_never_becomes_ready_times_out(tmp_path: Path) -> None:
    handset = FakeHandset(sim_states=["ABSENT"])
    operator = ScriptedOperator({"sim.insert": "iccid=8947010000001234568 imsi=242011234567890"})
    with pytest.raises(StepTimeout, match="READY in slot 1"):
        ChangeSim().run(ctx(tmp_path, handset, operator))


def test_the_second_slot_is_read_from_a_dual_sim_state() -> None:
    assert sim_states("READY,ABSENT\n") == ["READY", "ABSENT"]
    assert sim_states("") == []


def test_network_attach_is_the_first_global_ipv4_address(tmp_path: Path) -> None:
    assert WaitNetwork().run(ctx(tmp_path, FakeHandset())) == {"address": "192.0.2.10"}
    with pytest.raises(StepTimeout, match="IPv4 address"):
        WaitNetwork(timeout=2).run(ctx(tmp_path, FakeHandset(address=None)))


def test_mobile_attach_waits_for_data_connected_or_is_skipped(tmp_path: Path) -> None:
    assert MobileAttach().run(ctx(tmp_path, FakeHandset())) == {"mobile": "attached"}
    with pytest.raises(StepTimeout):
        MobileAttach(timeout=1).run(ctx(tmp_path, FakeHandset(data_state=0)))
    assert MobileAttach(mode="skip").run(ctx(tmp_path, FakeHandset(data_state=0))) == {"mobile": "skipped"}


def test_a_factory_reset_over_adb_waits_for_the_reboot(tmp_path: Path) -> None:
    handset = FakeHandset()
    assert FactoryReset().run(ctx(tmp_path, handset)) == {"reset": "adb"}
    assert handset.reboots == 1
    assert "am broadcast -a android.intent.action.FACTORY_RESET -p android" in handset.commands


def test_a_first_boot_on_a_handset_already_on_is_a_doubt_until_a_reset_makes_a_new_boot(
    tmp_path: Path,
) -> None:
    handset = FakeHandset()
    context = Context(
        mark=lambda *a, **k: None,
        operator=ScriptedOperator(),
        evidence=tmp_path,
        connect=lambda timeout: handset,
        online=lambda: True,
    )
    assert PowerOn(captures_boot=True).run(context) == {"power": "already on"}
    assert context.doubts
    assert "already on" in context.doubts[0]
    FactoryReset().run(context)
    assert context.doubts == []
    quiet = Context(
        mark=lambda *a, **k: None, operator=ScriptedOperator(), evidence=tmp_path, handset=handset
    )
    PowerOn().run(quiet)  # activation, unlock, idle do not claim the boot
    assert quiet.doubts == []


def test_skipping_the_mobile_attach_is_a_doubt(tmp_path: Path) -> None:
    context = ctx(tmp_path, FakeHandset(data_state=0))
    MobileAttach(mode="skip").run(context)
    assert "not exercised" in context.doubts[0]
