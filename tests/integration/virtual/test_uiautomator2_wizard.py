"""A real uiautomator2.connect(serial) session walks each Setup Wizard flavour through the real adb server.

Everything a lab's scenario uses is the production path: adbutils and the adb
server (a private one, see conftest.py), the handset's adbd, its shell
launching the u2 server, HTTP over ``tcp:9008`` streams, and the Setup
Wizard model behind it. The walks use selectors and xpath, toggle the
optional consents, and check the UiEvents the wizard emitted and that the
handset's settings followed them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import adbutils
import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.screen import UiEvent
from phonehome.virtual.testing import PrivateAdbServer
from phonehome.virtual.ui import LAUNCHER, SetupWizard, WifiNetwork

u2 = pytest.importorskip("uiautomator2")

BENCH = WifiNetwork("phonehome-bench", "bench-password")
PROFILES = {"aosp": "aosp-clean", "oem": "nokia-7-plus-2019"}
Session = tuple["u2.Device", SetupWizard, list[UiEvent]]


@pytest.fixture(params=sorted(PROFILES))
def session(
    request: pytest.FixtureRequest, adb_server: PrivateAdbServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Session]:
    flavour = request.param
    wizard = SetupWizard(
        flavour, networks=[BENCH, WifiNetwork("Neighbour")], device_name="phone", time_scale=0.25
    )
    events: list[UiEvent] = []
    wizard.subscribe(events.append)
    # uiautomator2.connect(serial) looks the serial up through adbutils' module-level client, made at import
    # time for the default port: point it at the private server, never at 5037.
    monkeypatch.setattr(
        adbutils, "adb", adbutils.AdbClient(host="127.0.0.1", port=adb_server.port, socket_timeout=30)
    )
    with VirtualHandset(PROFILES[flavour], seed=f"u2-{flavour}", screen=wizard, time_scale=0) as handset:
        handset.wait_boot_completed(10)
        adb_server.connect(handset.adb_serial)
        d = u2.connect(handset.adb_serial)
        d.settings["wait_timeout"] = 10.0
        try:
            yield d, wizard, events
        finally:
            d.stop_uiautomator()
            adb_server.run("disconnect", handset.adb_serial)


def screens(events: list[UiEvent]) -> list[str]:
    return list(dict.fromkeys(str(e.detail["screen"]) for e in events if e.kind == "screen"))


def walk_aosp(d: u2.Device) -> None:
    d(resourceId="com.google.android.setupwizard:id/start").click()
    d.xpath(f'//*[@resource-id="android:id/title" and @text="{BENCH.ssid}"]').click()
    d(resourceId="com.android.settings:id/password").set_text(BENCH.password)
    d(resourceId="android:id/button1", text="Connect").click()
    d(resourceId="com.google.android.setupwizard:id/next_button").click()  # after "Checking for updates…"
    d(resourceId="com.google.android.gms:id/skip_button").click()
    d.xpath("Skip account setup?").wait()
    d.xpath('//*[@resource-id="android:id/button1"]').click()
    d(resourceId="com.google.android.gms:id/location_toggle").click()  # off
    d(scrollable=True).scroll.to(resourceId="com.google.android.gms:id/usage_reporting_toggle")
    d(resourceId="com.google.android.gms:id/usage_reporting_toggle").click()  # off
    assert d(resourceId="com.google.android.gms:id/usage_reporting_toggle").info["checked"] is False
    while d(resourceId="com.google.android.gms:id/accept_button", text="More").exists:
        d(text="More").click()
    d(resourceId="com.google.android.gms:id/accept_button", text="Accept").click()
    d(resourceId="com.android.settings:id/skip_button").click()
    d.xpath("Skip anyway").click()
    d(text="Done").click()


def walk_oem(d: u2.Device) -> None:
    d(resourceId="com.android.provision:id/btn_start").click()
    d(resourceId="com.android.provision:id/cb_agree").click()
    d(resourceId="com.android.provision:id/btn_next", enabled=True).click()
    d(resourceId="com.android.provision:id/sim_operator").wait()
    d(text="Next").click()
    d(text=BENCH.ssid).click()
    d(resourceId="com.android.provision:id/et_password").set_text(BENCH.password)
    d(text="Connect").click()
    assert d(text="Connected").wait(timeout=10)
    d.xpath('//*[@resource-id="com.android.provision:id/btn_next"]').click()
    d(resourceId="com.google.android.gms:id/btn_skip").click()
    d(resourceId="android:id/button1", text="Skip").click()
    d(resourceId="com.android.provision:id/cb_location").click()  # off
    d(scrollable=True).scroll.to(resourceId="com.android.provision:id/cb_diagnostics")
    d(resourceId="com.android.provision:id/cb_diagnostics").click()  # off
    d(scrollable=True).scroll.to(text="Accept")
    d.xpath('//android.widget.Button[@text="Accept"]').click()
    d(resourceId="com.android.provision:id/btn_skip").click()
    d(resourceId="com.android.provision:id/btn_not_now").click()
    d(resourceId="com.android.provision:id/et_pin").wait()
    d(text="Skip").click()
    d(text="Finish").click()


def test_uiautomator2_walks_the_wizard_to_the_launcher_and_the_handset_follows(session: Session) -> None:
    d, wizard, events = session
    flavour = wizard.flavour.name
    started = time.monotonic()
    (walk_aosp if flavour == "aosp" else walk_oem)(d)
    assert d(resourceIdMatches=r".*:id/workspace").wait(timeout=10)
    assert time.monotonic() - started < 60
    assert d.app_current()["package"] == wizard.flavour.launcher.package
    seen = screens(events)
    assert seen[0] == "welcome"
    assert seen[-1] == LAUNCHER
    assert "wifi_password" in seen
    assert "sim" in seen
    consents = {str(e.detail["screen"]): e.detail for e in events if e.kind == "consent"}
    services = consents["google_services" if flavour == "aosp" else "services"]
    assert services["accepted"] is True
    assert (services["location"], services["diagnostics"], services["scanning"]) == (False, False, True)
    if flavour == "oem":
        assert consents["improve"] == {
            "screen": "improve",
            "accepted": False,
            "experience_program": False,
            "crash_reports": False,
        }
    kinds = [e.kind for e in events]
    assert kinds.count("setup-complete") == 1
    assert kinds.index("setup-complete") > max(i for i, k in enumerate(kinds) if k == "consent")
    assert wizard.state().wifi == BENCH.ssid
    assert d.shell("settings get secure user_setup_complete").output.strip() == "1"
    assert d.shell("settings get secure location_mode").output.strip() == "0"


def test_a_missing_selector_is_ui_object_not_found_through_adb(session: Session) -> None:
    d, _, _ = session
    with pytest.raises(u2.UiObjectNotFoundError):
        d(text="No such button").click(timeout=0.5)


def test_screenshot_and_dump_agree_through_adb(session: Session) -> None:
    d, wizard, _ = session
    image = d.screenshot()
    assert image.size == wizard.display_size()
    xml = d.dump_hierarchy()
    assert wizard.flavour.package in xml
    start = d.xpath('//*[@clickable="true" and @enabled="true"]').all()
    assert start
