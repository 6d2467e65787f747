"""What scenarios do to a handset, through the real adb server, adbutils, uiautomator2 and the device layer.

The device layer sees a virtual handset as a real one: a SIM swap changes the
identity its reader gets, ``input keyevent`` locks and unlocks as ``dumpsys``
reports, and a factory reset (``adb root`` + ``recovery --wipe_data`` on a
userdebug build, or the operator's hands) is a reboot to ``handle_reboot``,
with a new boot id and the Setup Wizard back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import adbutils
import pytest

from phonehome.device import AdbServer, Handset
from phonehome.virtual import VirtualHandset, VirtualOperator
from phonehome.virtual.profile import Profile, load_profile
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.virtual.conftest import client

BOOT_ID = ["cat", "/proc/sys/kernel/random/boot_id"]


def userdebug(name: str) -> Profile:
    """A profile as its userdebug build (adbd may run as root, as labs use for resets)."""
    profile = load_profile(name)
    return profile.model_copy(update={"build": profile.build.model_copy(update={"type": "userdebug"})})


@contextmanager
def device_layer(
    adb_server: PrivateAdbServer, profile: Profile | str, **options: object
) -> Iterator[tuple[VirtualHandset, Handset]]:
    """A booted virtual handset (its real Setup Wizard) and the device layer's `Handset` on it."""
    with VirtualHandset(profile, time_scale=0.05, **options) as virtual:  # type: ignore[arg-type]
        virtual.wait_boot_completed(10)
        server = AdbServer(host="127.0.0.1", port=adb_server.port, binary=adb_server.binary)
        try:
            yield virtual, Handset.connect(virtual.adb_serial, server, timeout=15)
        finally:
            adb_server.run("disconnect", virtual.adb_serial)


def test_a_sim_swap_is_seen_by_the_device_layers_identity_reader(adb_server: PrivateAdbServer) -> None:
    with device_layer(adb_server, "nokia-7-plus-2019", seed="it-swap") as (virtual, handset):
        old = virtual.identity.sims[0]
        assert handset.read_identity().identity.iccid == [old.iccid]
        new = virtual.sim_swap(0)
        report = handset.read_identity()
        assert report.identity.iccid == [new.iccid] != [old.iccid]
        assert report.identity.imsi == [new.imsi]
        assert handset.getprop("gsm.sim.state") == "READY,ABSENT"
        virtual.sim_remove(0)
        assert handset.getprop("gsm.sim.state") == "ABSENT,ABSENT"
        assert handset.read_identity().identity.iccid == []
        broadcasts = handset.shell(["dumpsys", "activity", "broadcasts"]).stdout
        assert broadcasts.count("android.intent.action.SIM_STATE_CHANGED}") >= 4


def test_lock_and_unlock_through_input_keyevent_show_in_dumpsys(adb_server: PrivateAdbServer) -> None:
    with VirtualHandset("aosp-clean", seed="it-lock", time_scale=0) as virtual:
        virtual.wait_boot_completed(10)
        adb_server.connect(virtual.adb_serial)
        try:
            d = client(adb_server).device(virtual.adb_serial)
            d.shell("settings put global device_provisioned 1")  # setup done (the wizard or a lab's build)

            def dump(service: str) -> str:
                return d.shell(["dumpsys", service])

            d.shell("input keyevent KEYCODE_SLEEP")
            assert "mWakefulness=Asleep" in dump("power")
            d.shell("input keyevent KEYCODE_WAKEUP")
            assert "mWakefulness=Awake" in dump("power")
            assert re.search(r"mKeyguardShowing=true", dump("window"))
            assert "mDreamingLockscreen=true" in dump("window")
            assert d.app_current().package == "com.google.android.setupwizard", "the app behind the keyguard"
            d.shell("input keyevent KEYCODE_MENU")
            assert "mKeyguardShowing=false" in dump("window")
            d.shell("input keyevent 26")
            d.shell("input keyevent 26")
            assert "mDreamingLockscreen=true" in dump("window")
            d.shell("wm dismiss-keyguard")
            assert "mDreamingLockscreen=false" in dump("window")
            history = d.shell("dumpsys activity broadcasts")
            sent = re.findall(r"BroadcastRecord\{\w+ u-1 android\.intent\.action\.(\w+)\}", history)
            assert [s for s in reversed(sent) if s in ("SCREEN_OFF", "SCREEN_ON", "USER_PRESENT")] == [
                "SCREEN_OFF", "SCREEN_ON", "USER_PRESENT", "SCREEN_OFF", "SCREEN_ON", "USER_PRESENT",
            ]  # fmt: skip
        finally:
            adb_server.run("disconnect", virtual.adb_serial)


def test_uiautomator2_dumps_the_keyguard_and_unlocks_it(adb_server: PrivateAdbServer) -> None:
    u2 = pytest.importorskip("uiautomator2")
    with VirtualHandset("aosp-clean", seed="it-u2lock", time_scale=0) as virtual:
        virtual.wait_boot_completed(10)
        adb_server.connect(virtual.adb_serial)
        try:
            device = adbutils.AdbClient(port=adb_server.port).device(virtual.adb_serial)
            device.shell("settings put global device_provisioned 1")
            d = u2.connect(device)
            try:
                d.screen_off()
                assert d.info["screenOn"] is False
                d.screen_on()
                xml = d.dump_hierarchy()
                assert 'resource-id="com.android.systemui:id/keyguard_indication_text"' in xml
                assert not d(text="Start").exists, "the wizard is behind the keyguard"
                d.screen_off()
                d.unlock()  # uiautomator2 3.7: POWER when the screen is off, then a swipe up
                assert d(text="Start").wait(timeout=5)
                assert not virtual.display.keyguard_showing
            finally:
                d.stop_uiautomator()
        finally:
            adb_server.run("disconnect", virtual.adb_serial)


def test_a_factory_reset_over_adb_is_a_reboot_with_a_new_boot_and_the_wizard_back(
    adb_server: PrivateAdbServer,
) -> None:
    with device_layer(adb_server, userdebug("nokia-7-plus-2019"), seed="it-wipe") as (virtual, handset):
        handset.shell(["settings", "put", "global", "device_provisioned", "1"])
        handset.shell(["settings", "put", "secure", "user_setup_complete", "1"])
        before = {
            "boot_id": handset.shell(BOOT_ID).stdout,
            "android_id": handset.shell(["settings", "get", "secure", "android_id"]).stdout,
        }
        root = client(adb_server).device(virtual.adb_serial).root()
        assert "restarting adbd as root" in root
        assert handset.shell(["id", "-u"]).stdout == "0\n"
        transport = handset.transport_id
        with handset.handle_reboot(timeout=60):
            handset.shell(["recovery", "--wipe_data"], check=False)
        assert handset.transport_id != transport
        assert handset.shell(BOOT_ID).stdout != before["boot_id"]
        assert handset.shell(["settings", "get", "secure", "android_id"]).stdout != before["android_id"]
        assert handset.shell(["settings", "get", "secure", "user_setup_complete"]).stdout == "0\n"
        assert handset.shell(["getprop", "sys.boot.reason"]).stdout == "reboot,factory_reset\n"
        assert handset.shell(["id", "-u"]).stdout == "2000\n", "adbd starts unprivileged again"
        focus = handset.shell(["dumpsys", "window", "windows"]).stdout
        assert (
            "mCurrentFocus=Window{7d3c5e1 u0 com.android.provision/com.android.provision.DefaultActivity}"
            in focus
        )


def test_the_operators_factory_reset_is_a_reboot_to_the_device_layer(adb_server: PrivateAdbServer) -> None:
    with device_layer(adb_server, "aosp-clean", seed="it-hands") as (virtual, handset):
        operator = VirtualOperator(virtual)
        boot_id = handset.shell(BOOT_ID).stdout
        with handset.handle_reboot(timeout=60):
            said = operator.perform("factory-reset", {}, "Settings > System > Reset options > Erase all data")
        assert said.startswith("erased all data")
        assert handset.shell(BOOT_ID).stdout != boot_id
        assert handset.shell(["settings", "get", "global", "device_provisioned"]).stdout == "0\n"
        assert "com.google.android.setupwizard" in handset.shell(["dumpsys", "window", "windows"]).stdout
