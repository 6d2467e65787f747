"""``cmd wifi connect-network`` (joining a bench's AP) and ``cmd testharness enable`` on the virtual shell."""

from __future__ import annotations

import time

from phonehome.virtual import VirtualHandset
from tests.unit.virtual.helpers import run_shell


def test_connect_network_joins_the_ssid_and_status_and_dumpsys_report_it(pixel: VirtualHandset) -> None:
    status, out, err = run_shell(pixel, "cmd wifi connect-network phonehome-lab wpa2 'a passphrase'")
    assert (status, out, err) == (0, "Connection initiated \n", "")
    assert 'Wifi is connected to "phonehome-lab"' in run_shell(pixel, "cmd wifi status")[1]
    assert 'SSID: "phonehome-lab"' in run_shell(pixel, "dumpsys wifi")[1]
    assert "phonehome-lab" in run_shell(pixel, "cmd wifi list-networks")[1]


def test_connect_network_refuses_a_short_passphrase_and_an_unknown_security(pixel: VirtualHandset) -> None:
    status, _, err = run_shell(pixel, "cmd wifi connect-network lab wpa2 short")
    assert status == 255
    assert "8 to 63" in err
    status, _, err = run_shell(pixel, "cmd wifi connect-network lab wep 1234567890")
    assert status == 255
    assert "open|owe|wpa2|wpa3" in err
    assert "not connected" in run_shell(pixel, "cmd wifi status")[1]


def test_connect_network_is_unknown_before_android_11(nokia: VirtualHandset) -> None:
    status, _, err = run_shell(nokia, "cmd wifi connect-network lab open")
    assert status == 255
    assert "Unknown command: connect-network" in err


def test_connect_network_with_wifi_off_fails_to_connect(pixel: VirtualHandset) -> None:
    run_shell(pixel, "svc wifi disable")
    assert run_shell(pixel, "cmd wifi connect-network lab open")[1] == "Connection failed\n"


def test_testharness_enable_wipes_and_the_next_boot_skips_setup_with_adb_on(pixel: VirtualHandset) -> None:
    android_id = pixel.identity.android_id
    assert run_shell(pixel, "cmd testharness enable")[0] == 0
    deadline = time.monotonic() + 10
    while pixel.identity.android_id == android_id and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    pixel.wait_boot_completed(10)
    assert pixel.identity.android_id != android_id
    read = {
        key: run_shell(pixel, f"settings get {ns} {key}")[1].strip()
        for ns, key in (
            ("secure", "user_setup_complete"),
            ("global", "device_provisioned"),
            ("global", "adb_enabled"),
            ("global", "package_verifier_enable"),
        )
    }
    assert read == {
        "user_setup_complete": "1",
        "device_provisioned": "1",
        "adb_enabled": "1",
        "package_verifier_enable": "0",
    }
    assert pixel.adb_online


def test_testharness_is_unknown_before_android_10(nokia: VirtualHandset) -> None:
    status, _, err = run_shell(nokia, "cmd testharness enable")
    assert status == 20
    assert "Can't find service: testharness" in err
