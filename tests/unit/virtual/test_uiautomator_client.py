"""uiautomator2's own Device, unchanged, driving the wizard through the server over loopback TCP.

Only adb is replaced: `LoopbackDevice` is an adbutils device whose ``tcp:9008``
streams are loopback connections to the server, and whose shell answers the
one command ``uiautomator2`` issues before it talks HTTP (the jar's md5). The
integration test does the same through the real adb server and adbd.
"""

from __future__ import annotations

import hashlib
import io
import socket
from collections.abc import Iterator
from typing import Any

import adbutils
import pytest
import uiautomator2
from adbutils._proto import ShellReturn, WindowSize
from PIL import Image
from uiautomator2.utils import with_package_resource

from phonehome.virtual.screen import UiEvent
from phonehome.virtual.ui import LAUNCHER, SetupWizard, WifiNetwork
from phonehome.virtual.uiautomator import UiAutomatorServer, serving

BENCH = WifiNetwork("bench-1", "hunter2hunter2")


def jar_md5() -> str:
    with with_package_resource("assets/u2.jar") as path:
        return hashlib.md5(path.read_bytes()).hexdigest()


class LoopbackDevice(adbutils.AdbDevice):
    """Stands in for adb in unit tests: streams go to a loopback port, the jar is already 'pushed'."""

    def __init__(self, port: int, size: tuple[int, int]) -> None:
        super().__init__(adbutils.AdbClient(port=1), serial="loopback")  # never contacted
        self.port = port
        self.size = size
        self.commands: list[str] = []

    def create_connection(self, network: Any, address: Any) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def shell(self, cmdargs: Any, **_: Any) -> Any:
        command = cmdargs if isinstance(cmdargs, str) else " ".join(cmdargs)
        self.commands.append(command)
        if "md5sum" in command:
            return f"{jar_md5()}  /data/local/tmp/u2.jar"
        return ""

    def shell2(self, cmdargs: Any, **_: Any) -> ShellReturn:
        """No IME, no apps: every other command succeeds with no output (send_keys then uses the clipboard)."""
        return ShellReturn(command=str(cmdargs), returncode=0, output=self.shell(cmdargs))

    def window_size(self, landscape: bool | None = None) -> WindowSize:
        return WindowSize(*self.size)


Handset = tuple[uiautomator2.Device, SetupWizard, list[UiEvent]]


def handset(flavour: str, **kwargs: Any) -> Iterator[Handset]:
    wizard = SetupWizard(flavour, networks=[BENCH, WifiNetwork("Cafe")], time_scale=0, **kwargs)
    events: list[UiEvent] = []
    wizard.subscribe(events.append)
    with serving(UiAutomatorServer(wizard)) as (_, port):
        device = uiautomator2.Device(LoopbackDevice(port, wizard.display_size()))
        device.settings["wait_timeout"] = 5.0
        yield device, wizard, events


@pytest.fixture
def aosp() -> Iterator[Handset]:
    yield from handset("aosp")


@pytest.fixture
def oem() -> Iterator[Handset]:
    yield from handset("oem")


def screens(events: list[UiEvent]) -> list[str]:
    return [str(e.detail["screen"]) for e in events if e.kind == "screen"]


def test_uiautomator2_connects_without_launching_a_server_that_already_answers(aosp: Handset) -> None:
    d, _, _ = aosp
    assert d.info["currentPackageName"] == "com.google.android.setupwizard"
    assert d.device_info is not None


def test_aosp_walk_with_selectors_and_xpath(aosp: Handset) -> None:
    d, wizard, events = aosp
    d(resourceId="com.google.android.setupwizard:id/start").click()
    assert d(text="Connect to Wi-Fi").exists
    d.xpath('//*[@resource-id="android:id/title" and @text="bench-1"]').click()
    d(resourceId="com.android.settings:id/password").set_text(BENCH.password)
    d(resourceId="android:id/button1", text="Connect").click()
    d(resourceId="com.google.android.setupwizard:id/next_button").click()  # waits out "Checking for updates…"
    d(resourceId="com.google.android.gms:id/skip_button").click()
    d.xpath("Skip account setup?").wait()
    d(resourceId="android:id/button1").click()
    d(scrollable=True).scroll.to(resourceId="com.google.android.gms:id/location_toggle")
    d(resourceId="com.google.android.gms:id/location_toggle").click()
    d(scrollable=True).scroll.to(resourceId="com.google.android.gms:id/usage_reporting_toggle")
    d(resourceId="com.google.android.gms:id/usage_reporting_toggle").click()
    assert d(resourceId="com.google.android.gms:id/usage_reporting_toggle").info["checked"] is False
    while d(resourceId="com.google.android.gms:id/accept_button", text="More").exists:
        d(text="More").click()
    d(text="Accept").click()
    d(resourceId="com.android.settings:id/skip_button").click()
    d.xpath("%Skip anyway%").click()
    d(text="Done").click()
    assert d(description="Chrome").wait(timeout=5)
    assert d.info["currentPackageName"] == "com.google.android.apps.nexuslauncher"
    assert screens(events)[-1] == LAUNCHER
    consent = [e.detail for e in events if e.kind == "consent"]
    assert consent == [
        {
            "screen": "google_services",
            "accepted": True,
            "location": False,
            "scanning": True,
            "diagnostics": False,
        }
    ]
    assert [e.kind for e in events][-2] == "setup-complete"
    assert wizard.state().wifi == "bench-1"


def test_oem_walk_with_selectors_and_xpath(oem: Handset) -> None:
    d, wizard, events = oem
    d(resourceId="com.android.provision:id/btn_start").click()
    assert not d(resourceId="com.android.provision:id/btn_next").info["enabled"]
    d(resourceId="com.android.provision:id/cb_agree").click()
    d(resourceId="com.android.provision:id/btn_next", enabled=True).click()
    d(resourceId="com.android.provision:id/sim_operator").wait()
    d(text="Next").click()
    d(text="bench-1").click()
    d(resourceId="com.android.provision:id/et_password").set_text(BENCH.password)
    d(text="Connect").click()
    assert d(text="Connected").wait(timeout=5)
    d(resourceId="com.android.provision:id/btn_next").click()
    d(resourceId="com.google.android.gms:id/btn_skip").click()
    d(resourceId="android:id/button1", text="Skip").click()
    d(resourceId="com.android.provision:id/cb_scanning").click()
    d(scrollable=True).scroll.to(resourceId="com.android.provision:id/cb_diagnostics")
    d(resourceId="com.android.provision:id/cb_diagnostics").click()
    d(scrollable=True).scroll.to(text="Accept")
    d.xpath('//android.widget.Button[@text="Accept"]').click()
    d(resourceId="com.android.provision:id/btn_skip").click()  # the vendor account
    d(resourceId="com.android.provision:id/cb_crash_reports").click()
    d(text="Agree").click()
    d(resourceId="com.android.provision:id/et_pin").wait()
    d(text="Skip").click()
    d(text="Finish").click()
    assert d(resourceId="com.android.launcher3:id/workspace").wait(timeout=5)
    consents = [e.detail for e in events if e.kind == "consent"]
    assert consents == [
        {"screen": "services", "accepted": True, "location": True, "scanning": False, "diagnostics": False},
        {"screen": "improve", "accepted": True, "experience_program": True, "crash_reports": False},
    ]
    assert wizard.state().completed


def test_a_missing_object_raises_ui_object_not_found(aosp: Handset) -> None:
    d, _, _ = aosp
    with pytest.raises(uiautomator2.UiObjectNotFoundError):
        d(text="Nowhere").click(timeout=0.2)
    with pytest.raises(uiautomator2.UiObjectNotFoundError):
        d.jsonrpc.objInfo({"mask": 1, "text": "Nowhere", "childOrSibling": [], "childOrSiblingSelector": []})


def test_an_unknown_method_raises_rpc_unknown_error(aosp: Handset) -> None:
    d, _, _ = aosp
    with pytest.raises(uiautomator2.RPCUnknownError):
        d.jsonrpc.noSuchMethod()


def test_screenshot_is_the_screen_as_a_jpeg(aosp: Handset) -> None:
    d, _, _ = aosp
    image = d.screenshot()
    assert image.size == (1080, 2400)
    b = d(text="Start").info["bounds"]
    assert d(text="Start").screenshot().size == (b["right"] - b["left"], b["bottom"] - b["top"])
    raw = io.BytesIO()
    image.save(raw, "PNG")
    assert Image.open(raw).getpixel((5, 5)) == (255, 255, 255)


def test_send_keys_types_through_the_clipboard(oem: Handset) -> None:
    d, wizard, _ = oem
    d(resourceId="com.android.provision:id/btn_start").click()
    d(resourceId="com.android.provision:id/cb_agree").click()
    d(text="Next").click()
    d(text="Next").click()
    d(text="bench-1").click()
    d.send_keys("hunter2hunter2")
    assert wizard.state().fields["wifi_password"] == "hunter2hunter2"


def test_press_and_swipe_ext_reach_the_screen(oem: Handset) -> None:
    d, wizard, _ = oem
    d(text="Get started").click()
    d.press("back")
    assert wizard.screen_name == "welcome"
    d(text="Get started").click()
    d(resourceId="com.android.provision:id/cb_agree").click()
    d(text="Next").click()
    d(text="Next").click()
    d(text="Skip").click()
    d(text="Skip").click()
    d(text="Skip").click()
    assert wizard.screen_name == "services"
    d.swipe_ext("up", scale=0.8)
    d.swipe_ext("up", scale=0.8)
    assert d(text="Accept").exists


def test_child_by_text_finds_a_settings_row_by_its_title() -> None:
    for d, _, _ in handset("aosp", start="google_services"):
        row = d(scrollable=True).child_by_text(
            "Send usage and diagnostic data",
            allow_scroll_search=True,
            className="android.widget.LinearLayout",
            clickable=True,
        )
        row.click()
        d(scrollable=True).scroll.to(resourceId="com.google.android.gms:id/usage_reporting_toggle")
        assert d(resourceId="com.google.android.gms:id/usage_reporting_toggle").info["checked"] is False
