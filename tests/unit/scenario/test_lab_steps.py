"""The lab's steps: reset by the inventory's method, join the bench's Wi-Fi over ADB, and a retail build's
first boot walked by a person because its ADB exists only after setup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phonehome.device.lifecycle import TEST_HARNESS_DOUBT, ResetRecord
from phonehome.scenario import JoinWifi, PowerOn, Reset, ScriptedOperator, StepFailed, WaitBootCompleted
from phonehome.scenario.context import Context
from phonehome.scenario.operator import CONFIRM, POWER_ON, SETUP_WIZARD, USB_DEBUGGING
from phonehome.scenario.setup_wizard import WalkSetupWizard
from phonehome.scenario.steps import BOOT_NOT_CAPTURED
from tests.unit.scenario.fake_handset import FakeHandset


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeLifecycle:
    def __init__(self, record: ResetRecord) -> None:
        self.record = record
        self.resets = 0

    def reset(self) -> ResetRecord:
        self.resets += 1
        return self.record


class WifiHandset(FakeHandset):
    """Answers ``cmd wifi`` as Android 11+ does; ``joins`` says whether the AP lets it associate."""

    joins: bool = True

    def _answer(self, argv: list[str]) -> tuple[int, str]:
        match argv:
            case ["cmd", "wifi", "connect-network", ssid, *_]:
                self.ssid = ssid
                return 0, "Connection initiated\n"
            case ["cmd", "wifi", "status"]:
                if self.joins and getattr(self, "ssid", None):
                    return 0, f'Wifi is connected to "{self.ssid}"\n'
                return 0, "Wifi is enabled\nWifi is not connected\n"
        return super()._answer(argv)


def context(tmp_path: Path, **kwargs: Any) -> tuple[Context, list[tuple[str, dict[str, object]]]]:
    marks: list[tuple[str, dict[str, object]]] = []
    clock = Clock()
    ctx = Context(
        mark=lambda phase, **detail: marks.append((phase, detail)),
        operator=kwargs.pop("operator", ScriptedOperator()),
        evidence=tmp_path,
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )
    return ctx, marks


def test_a_reset_with_no_method_named_anywhere_says_so_and_does_nothing(tmp_path: Path) -> None:
    ctx, _ = context(tmp_path, lifecycle=lambda method: None)
    assert Reset().run(ctx) == {"reset": "none: the inventory names no reset method for this handset"}
    with pytest.raises(StepFailed, match="reset fastboot-wipe: this run has no way to reset"):
        Reset(method="fastboot-wipe").run(ctx)


def test_a_reset_to_first_boot_clears_the_boot_doubt_and_is_recorded(tmp_path: Path) -> None:
    record = ResetRecord(
        "fastboot-wipe", done=["fastboot -w"], bootloader={"unlocked": "yes"}, adb="re-acquired"
    )
    asked: list[str | None] = []
    lifecycle = FakeLifecycle(record)

    def named(method: str | None) -> FakeLifecycle:
        asked.append(method)
        return lifecycle

    ctx, _ = context(tmp_path, lifecycle=named)
    ctx.doubt(BOOT_NOT_CAPTURED)
    detail = Reset().run(ctx)
    assert asked == [None]  # the inventory's method
    assert detail is not None
    assert detail["reset"] == "fastboot-wipe"
    assert detail["bootloader_unlocked"] == "yes"
    assert BOOT_NOT_CAPTURED not in ctx.doubts
    assert ctx.reports["resets"][0]["done"] == ["fastboot -w"]
    assert not ctx.adb_gone


def test_test_harness_mode_leaves_its_doubt_and_the_boot_doubt(tmp_path: Path) -> None:
    record = ResetRecord("test-harness", first_boot=False, doubts=[TEST_HARNESS_DOUBT])
    ctx, _ = context(tmp_path, lifecycle=lambda method: FakeLifecycle(record))
    ctx.doubt(BOOT_NOT_CAPTURED)
    Reset(method="test-harness").run(ctx)
    assert ctx.doubts == [BOOT_NOT_CAPTURED, TEST_HARNESS_DOUBT]


def test_a_reset_that_leaves_adb_off_until_setup_hands_the_first_boot_to_a_person(tmp_path: Path) -> None:
    record = ResetRecord("fastboot-wipe", adb="not yet: this build's ADB runs only once setup is done")
    ctx, _ = context(
        tmp_path, handset=FakeHandset(), adb="after-setup", lifecycle=lambda m: FakeLifecycle(record)
    )
    Reset().run(ctx)
    assert ctx.adb_gone
    assert ctx.waits_for_setup
    assert not ctx.online()


def test_joining_the_bench_wifi_uses_cmd_wifi_and_waits_for_the_association(tmp_path: Path) -> None:
    handset = WifiHandset()
    ctx, _ = context(tmp_path, handset=handset)
    assert JoinWifi("lab-ap", "correct horse").run(ctx) == {"wifi": "lab-ap", "security": "wpa2"}
    assert "cmd wifi connect-network lab-ap wpa2 'correct horse'" in handset.commands


def test_a_wifi_that_never_associates_times_out_naming_the_network(tmp_path: Path) -> None:
    handset = WifiHandset()
    handset.joins = False
    ctx, _ = context(tmp_path, handset=handset)
    with pytest.raises(Exception, match="Wi-Fi associated with 'lab-ap'"):
        JoinWifi("lab-ap", "correct horse", timeout=5).run(ctx)


def test_an_android_without_cmd_wifi_fails_saying_to_join_on_the_wizard(tmp_path: Path) -> None:
    ctx, _ = context(tmp_path, handset=FakeHandset())
    with pytest.raises(StepFailed, match="wifi=join"):
        JoinWifi("lab-ap").run(ctx)


def test_a_wpa2_passphrase_of_the_wrong_length_is_refused_before_the_run() -> None:
    with pytest.raises(ValueError, match="8 to 63"):
        JoinWifi("lab-ap", "short")


def test_a_retail_first_boot_is_walked_by_a_person_and_confirmed_over_adb_after_setup(tmp_path: Path) -> None:
    handset = FakeHandset()
    handset.settings[("secure", "user_setup_complete")] = "1"
    handset.settings[("global", "device_provisioned")] = "1"
    operator = ScriptedOperator({POWER_ON: "", CONFIRM: "", SETUP_WIZARD: "", USB_DEBUGGING: ""})
    connected: list[float] = []

    def connect(timeout: float) -> FakeHandset:
        connected.append(timeout)
        return handset

    ctx, marks = context(tmp_path, operator=operator, connect=connect, adb="after-setup")
    assert PowerOn().run(ctx) == {"power": "switched on", "adb": "after setup"}
    assert WaitBootCompleted().run(ctx) == {"build_type": "read over ADB after setup"}
    assert connected == []  # no ADB before setup: nothing tried
    detail = WalkSetupWizard(consent="decline-all").run(ctx)
    assert detail is not None
    assert detail["walked_by"] == "operator"
    assert operator.acts == [POWER_ON, CONFIRM, SETUP_WIZARD, SETUP_WIZARD, USB_DEBUGGING]
    assert [p.params.get("stage") for p in operator.log if p.act == SETUP_WIZARD] == ["consent", "finish"]
    assert len(connected) == 1
    consent = [d for phase, d in marks if phase == "consent"]
    assert consent
    assert consent[0]["accepted"] is False
    assert consent[0]["by"] == "operator"


def test_a_retail_wizard_the_handset_does_not_record_as_finished_fails(tmp_path: Path) -> None:
    handset = FakeHandset()  # user_setup_complete stays unset
    operator = ScriptedOperator({SETUP_WIZARD: "", USB_DEBUGGING: ""})
    ctx, _ = context(tmp_path, operator=operator, connect=lambda timeout: handset, adb="after-setup")
    with pytest.raises(Exception, match="user_setup_complete"):
        WalkSetupWizard(consent="accept-all").run(ctx)
