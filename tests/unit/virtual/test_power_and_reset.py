"""Screen power and the keyguard over the shell, consent settings that persist, and the factory reset."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.profile import load_profile
from phonehome.virtual.ui import SetupWizard
from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.hierarchy import parse_xml
from tests.unit.virtual.helpers import run_shell

Sh = Callable[[str], tuple[int, str, str]]
SETTLE_S = 5.0


def tap(handset: VirtualHandset, **selector: str) -> None:
    screen = handset.screen
    node = sel.find(parse_xml(screen.hierarchy_xml()), sel.parse(selector))
    assert node is not None, f"{selector} not on screen"
    screen.tap(*node.bounds.center)


@pytest.fixture
def oem(tmp_path: Path) -> Iterator[VirtualHandset]:
    """The Nokia (OEM wizard), userdebug so that adbd may run as root, opened at its last consent screen."""
    profile = load_profile("nokia-7-plus-2019")
    profile = profile.model_copy(update={"build": profile.build.model_copy(update={"type": "userdebug"})})
    wizard = SetupWizard("oem", start="improve", time_scale=0, device_name="Nokia 7 plus")
    handset = VirtualHandset(profile, seed="reset", screen=wizard, time_scale=0, workdir=tmp_path / "d")
    handset.start()
    handset.wait_boot_completed(5)
    yield handset
    handset.stop()


def shell_of(handset: VirtualHandset) -> Sh:
    return lambda script: run_shell(handset, script)


def provision(sh: Sh) -> None:
    """As the wizard's end does (and as labs do on a test build)."""
    assert sh("settings put global device_provisioned 1; settings put secure user_setup_complete 1")[0] == 0


def test_keyevents_sleep_wake_and_unlock_show_in_dumpsys(oem: VirtualHandset) -> None:
    sh = shell_of(oem)
    provision(sh)
    assert "mWakefulness=Awake" in sh("dumpsys power")[1]
    assert sh("input keyevent KEYCODE_SLEEP")[0] == 0
    assert "mWakefulness=Asleep" in sh("dumpsys power")[1]
    assert "Display Power: state=OFF" in sh("dumpsys power")[1]
    sh("input keyevent KEYCODE_WAKEUP")
    window = sh("dumpsys window")[1]
    assert "mDreamingLockscreen=true" in window
    assert re.search(r"KeyguardController:\n\s+mKeyguardShowing=true", window)
    assert "mCurrentFocus=Window{2f1b3c4 u0 StatusBar}" in window
    assert "com.android.systemui:id/keyguard_indication_text" in sh("uiautomator dump /dev/tty")[1]
    assert sh("wm dismiss-keyguard") == (0, "", "")
    window = sh("dumpsys window")[1]
    assert "mDreamingLockscreen=false" in window
    assert "mKeyguardShowing=false" in window
    history = sh("dumpsys activity broadcasts")[1]
    order = [
        history.index(f"android.intent.action.{a}}}") for a in ("USER_PRESENT", "SCREEN_ON", "SCREEN_OFF")
    ]
    assert order == sorted(order), "newest first"


def test_keycode_power_toggles_and_82_unlocks(oem: VirtualHandset) -> None:
    sh = shell_of(oem)
    provision(sh)
    sh("input keyevent 26")
    assert not oem.display.awake
    sh("input keyevent 82")
    assert (oem.display.awake, oem.display.keyguard_showing) == (True, True)
    sh("input keyevent 82")
    assert not oem.display.keyguard_showing
    oem.press_power()
    assert "mWakefulness=Asleep" in sh("dumpsys power")[1]
    actions = oem.state.broadcasts.actions()
    assert [a.rsplit(".", 1)[1] for a in actions if "SCREEN" in a or "PRESENT" in a] == [
        "SCREEN_OFF", "SCREEN_ON", "USER_PRESENT", "SCREEN_OFF",
    ]  # fmt: skip


def test_consent_choices_persist_as_settings_across_a_reboot(oem: VirtualHandset) -> None:
    sh = shell_of(oem)
    assert sh("settings get global user_experience_program_enabled")[1] == "null\n"
    tap(oem, resourceId="com.android.provision:id/btn_not_now")
    expected = {"global user_experience_program_enabled": "0\n", "secure send_action_app_error": "0\n"}
    assert {k: sh(f"settings get {k}")[1] for k in expected} == expected
    oem.reboot("", wait=True, timeout=10)
    assert {k: sh(f"settings get {k}")[1] for k in expected} == expected


def test_the_services_screen_writes_location_scanning_and_diagnostics(tmp_path: Path) -> None:
    wizard = SetupWizard("aosp", start="google_services", time_scale=0)
    with VirtualHandset(
        "aosp-clean", seed="consent", screen=wizard, time_scale=0, workdir=tmp_path
    ) as handset:
        handset.wait_boot_completed(5)
        toggle = {"resourceId": "com.google.android.gms:id/usage_reporting_toggle"}
        while sel.find(parse_xml(wizard.hierarchy_xml()), sel.parse(toggle)) is None:
            tap(handset, text="More")
        tap(handset, **toggle)
        while sel.find(parse_xml(wizard.hierarchy_xml()), sel.parse({"text": "More"})) is not None:
            tap(handset, text="More")
        tap(handset, text="Accept")
        sh = shell_of(handset)
        got = {k: sh(f"settings get {k}")[1].strip() for k in (
            "global usage_reporting_enabled", "secure location_mode", "global wifi_scan_always_enabled",
            "global ble_scan_always_enabled")}  # fmt: skip
        assert got == {
            "global usage_reporting_enabled": "0",
            "secure location_mode": "3",
            "global wifi_scan_always_enabled": "1",
            "global ble_scan_always_enabled": "1",
        }


def test_a_reboot_keeps_persist_properties_and_forgets_the_rest_with_a_new_boot_id(
    oem: VirtualHandset,
) -> None:
    sh = shell_of(oem)
    sh("setprop persist.lab.keep yes; setprop debug.lab.gone yes")
    boot_id = sh("cat /proc/sys/kernel/random/boot_id")[1]
    assert re.fullmatch(r"[0-9a-f-]{36}\n", boot_id)
    oem.reboot("", wait=True, timeout=10)
    assert sh("getprop persist.lab.keep; getprop debug.lab.gone")[1] == "yes\n\n"
    assert sh("cat /proc/sys/kernel/random/boot_id")[1] != boot_id


def test_factory_reset_is_a_first_boot_again(oem: VirtualHandset) -> None:
    sh = shell_of(oem)
    tap(oem, resourceId="com.android.provision:id/btn_not_now")
    provision(sh)
    sh("setprop persist.lab.keep yes; echo data > /data/local/tmp/f; settings put global lab 1")
    before = {
        "android_id": sh("settings get secure android_id")[1],
        "boot_id": sh("cat /proc/sys/kernel/random/boot_id")[1],
        "adid": oem.identity.advertising_id,
    }
    imei, sims = oem.identity.imei, oem.identity.sims
    oem.factory_reset(wait=True, timeout=10)
    after = {
        "android_id": sh("settings get secure android_id")[1],
        "boot_id": sh("cat /proc/sys/kernel/random/boot_id")[1],
        "adid": oem.identity.advertising_id,
    }
    assert all(before[k] != after[k] for k in before), (before, after)
    assert (oem.identity.imei, oem.identity.sims) == (imei, sims), "hardware and SIM cards stay"
    assert (
        sh("settings get secure user_setup_complete; settings get global device_provisioned")[1] == "0\n0\n"
    )
    assert (
        sh("settings get global lab; settings get global user_experience_program_enabled")[1]
        == "null\nnull\n"
    )
    assert sh("getprop persist.lab.keep; getprop sys.boot.reason")[1] == "\nreboot,factory_reset\n"
    assert sh("ls /data/local/tmp")[1] == ""
    assert isinstance(oem.screen, SetupWizard)
    assert oem.screen.screen_name == "improve", "the wizard is back at its first screen"
    oem.press_power()
    oem.press_power()
    assert not oem.display.keyguard_showing, "no keyguard before setup is done again"


def test_wipe_data_and_the_factory_reset_broadcast_need_root(oem: VirtualHandset) -> None:
    sh = shell_of(oem)
    status, _, err = sh("recovery --wipe_data")
    assert (status, err) == (126, "/system/bin/sh: recovery: can't execute: Permission denied\n")
    status, _, err = sh("am broadcast -a android.intent.action.FACTORY_RESET -p android")
    assert status == 255
    assert "Permission Denial: not allowed to send broadcast android.intent.action.FACTORY_RESET" in err
    assert sh("am broadcast -a android.intent.action.USER_PRESENT")[0] == 255
    assert oem.state.broadcasts.actions().count("android.intent.action.USER_PRESENT") == 0
    assert sh("id -u; whoami")[1] == "2000\nshell\n"
    oem.state.props.set("service.adb.root", "1")  # what `adb root` does on this userdebug build
    assert sh("id -u; whoami")[1] == "0\nroot\n"
    before = oem.identity.android_id
    assert sh("am broadcast -a android.intent.action.FACTORY_RESET")[0] == 0
    assert oem.identity.android_id == before, "an implicit FACTORY_RESET reaches no receiver on Android 8+"
    assert sh("am broadcast -a android.intent.action.FACTORY_RESET -p android")[0] == 0
    deadline = time.monotonic() + 10
    while not (oem.identity.android_id != before and oem.boot_completed) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert oem.identity.android_id != before
    assert oem.getprop("service.adb.root") == "0", "adbd starts unprivileged after a boot"
    oem.state.props.set("service.adb.root", "1")
    before = oem.identity.android_id
    assert sh("recovery --wipe_data")[0] == 0
    deadline = time.monotonic() + 10
    while not (oem.identity.android_id != before and oem.boot_completed) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert oem.identity.android_id != before
