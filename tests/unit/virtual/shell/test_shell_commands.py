"""The Android commands adb clients use, with the output formats they parse."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from phonehome.virtual import VirtualHandset, parcel
from phonehome.virtual.testing import RecordingScreen

Sh = Callable[..., tuple[int, str, str]]


def test_getprop_reports_the_profile_and_the_identity(sh: Sh, nokia: VirtualHandset) -> None:
    assert sh("getprop ro.product.model")[1] == "Nokia 7 plus\n"
    assert sh("getprop ro.serialno")[1] == nokia.identity.serial + "\n"
    assert sh("getprop ro.build.version.security_patch")[1] == "2019-01-01\n"
    assert sh("getprop sys.boot_completed")[1] == "1\n"
    assert sh("getprop no.such.prop fallback")[1] == "fallback\n"
    listing = sh("getprop")[1]
    assert f"[ro.build.fingerprint]: [{nokia.profile.build.computed_fingerprint}]\n" in listing
    assert "[gsm.sim.operator.numeric]: [24201,]\n" in listing


def test_setprop_refuses_read_only_properties(sh: Sh) -> None:
    assert sh("setprop persist.sys.test 1; getprop persist.sys.test")[1] == "1\n"
    status, _, err = sh("setprop ro.serialno X")
    assert status == 1
    assert "Failed to set property 'ro.serialno'" in err


def test_settings_get_put_and_the_identity(sh: Sh, nokia: VirtualHandset) -> None:
    assert sh("settings get secure android_id")[1] == nokia.identity.android_id + "\n"
    assert sh("settings get system nothing_here")[1] == "null\n"
    assert sh("settings put system screen_brightness 77; settings get system screen_brightness")[1] == "77\n"
    assert "bluetooth_address=" + nokia.identity.bt_mac.upper() in sh("settings list secure")[1]
    assert sh("settings bogus")[0] == 255


def test_service_call_returns_identifiers_on_android_9(sh: Sh, nokia: VirtualHandset) -> None:
    ident = nokia.identity
    out = sh("service call iphonesubinfo 1")[1]
    assert parcel.parse_parcel_text(out) == parcel.string_reply(ident.imei)
    iccid = sh("service call iphonesubinfo 11 i32 1")[1]  # getIccSerialNumberForSubscriber(subId 1)
    assert parcel.parse_parcel_text(iccid) == parcel.string_reply(ident.sims[0].iccid)
    imei2 = sh("service call iphonesubinfo 3 i32 1")[1]  # getDeviceIdForPhone(phoneId 1)
    assert parcel.parse_parcel_text(imei2) == parcel.string_reply(ident.imeis[1])
    assert 'Error: 0xffffffb6 "Not a data message"' in sh("service call iphonesubinfo 400")[1]


def test_service_call_is_a_security_exception_on_android_14(pixel_sh: Sh, pixel: VirtualHandset) -> None:
    out = pixel_sh("service call iphonesubinfo 1")[1]
    data = parcel.parse_parcel_text(out)
    assert data[:4] == b"\xff\xff\xff\xff"
    assert "does not meet the requirements to access device identifiers".encode("utf-16-le") in data
    assert pixel.identity.imei.encode("utf-16-le") not in data


def test_dumpsys_reports_cell_wifi_and_focus(sh: Sh, nokia: VirtualHandset) -> None:
    cell = nokia.identity.cell
    registry = sh("dumpsys telephony.registry")[1]
    assert f"mCi={cell.cid} mPci={cell.pci} mTac={cell.tac}" in registry
    assert "mMcc=242 mMnc=01" in registry
    nokia.set_wifi("bench-ap", "02:11:22:33:44:55")
    wifi = sh("dumpsys wifi")[1]
    assert 'SSID: "bench-ap", BSSID: 02:11:22:33:44:55' in wifi
    assert nokia.identity.wifi_mac in wifi
    window = sh("dumpsys window windows")[1]
    assert re.search(r"mCurrentFocus=Window\{\S+ u0 com\.example/com\.example\.MainActivity\}", window)
    assert "orientation=0" in sh("dumpsys display")[1]
    assert "mHoldingDisplaySuspendBlocker=true" in sh("dumpsys power")[1]
    assert sh("dumpsys nosuch")[2] == "Can't find service: nosuch\n"


def test_location_is_only_dumped_when_enabled(sh: Sh, nokia: VirtualHandset) -> None:
    loc = nokia.identity.location
    assert f"{loc.latitude:.6f}" not in sh("dumpsys location")[1]
    sh("settings put secure location_mode 3")
    assert f"gps {loc.latitude:.6f},{loc.longitude:.6f}" in sh("dumpsys location")[1]


def test_pm_lists_paths_and_dumps_the_way_adbutils_parses(sh: Sh) -> None:
    packages = sh("pm list packages")[1].splitlines()
    assert "package:com.qualcomm.qti.autoregistration" in packages
    assert sh("pm path com.android.settings")[1] == "package:/system/priv-app/Settings/Settings.apk\n"
    assert sh("pm path com.nope")[0] == 1
    dump = sh("dumpsys package com.android.settings")[1]
    assert "versionName=9" in dump
    assert "versionCode=28 " in dump
    assert re.search(r"PackageSignatures\{.*?\[(.*)\]\}", dump)
    assert re.search(r"firstInstallTime=[-\d]+\s+[:\d]+", dump)
    assert sh("pm uninstall com.android.settings")[1] == "Failure [DELETE_FAILED_INTERNAL_ERROR]\n"


def test_am_start_and_monkey_reach_the_screen(sh: Sh, screen: RecordingScreen) -> None:
    assert sh("am start -n com.android.settings/.Settings")[0] == 0
    assert ("start", "com.android.settings/.Settings") in screen.actions
    status, out, _ = sh("monkey -p com.evenwell.launcher3 -c android.intent.category.LAUNCHER 1")
    assert status == 0
    assert "Events injected: 1" in out
    assert ("start", "com.evenwell.launcher3/com.android.launcher3.Launcher") in screen.actions
    assert sh("monkey -p com.nope 1")[0] != 0


def test_input_and_wm_drive_the_screen(sh: Sh, screen: RecordingScreen) -> None:
    sh("input tap 540 1200; input swipe 1 2 3 4 500; input text hello%sworld; input keyevent KEYCODE_HOME 4")
    assert screen.actions == [
        ("tap", 540, 1200), ("swipe", 1, 2, 3, 4, 500), ("text", "hello world"), ("key", "home"), ("key", 4),
    ]  # fmt: skip
    assert sh("wm size")[1] == "Physical size: 1080x2160\n"


def test_screencap_and_uiautomator_dump(sh: Sh, nokia: VirtualHandset, screen: RecordingScreen) -> None:
    status, out, _ = sh("screencap -p")
    assert status == 0
    assert out.encode("utf-8", "surrogateescape").startswith(b"\x89PNG\r\n\x1a\n")
    assert (
        sh("rm -f /data/local/tmp/uidump.xml; uiautomator dump /data/local/tmp/uidump.xml && echo success")[1]
        == "UI hierchary dumped to: /data/local/tmp/uidump.xml\nsuccess\n"
    )
    assert nokia.state.fs.read_bytes("/data/local/tmp/uidump.xml").decode() == screen.xml


def test_md5sum_toybox_and_ls(sh: Sh, nokia: VirtualHandset) -> None:
    data = b"u2.jar bytes" * 1000
    nokia.state.fs.install_file("/data/local/tmp/u2.jar", data)
    digest = hashlib.md5(data).hexdigest()
    assert sh("toybox md5sum /data/local/tmp/u2.jar")[1] == f"{digest}  /data/local/tmp/u2.jar\n"
    assert sh("md5 /data/local/tmp/u2.jar")[1].startswith(digest)
    assert sh("md5sum /data/local/tmp/none")[0] == 1
    assert sh("ls /data/local/tmp")[1] == "u2.jar\n"
    assert re.match(r"-rw-r--r-- 1 shell shell +12000 ", sh("ls -l /data/local/tmp/u2.jar")[1])
    assert sh("which getprop; which nope")[1] == "/system/bin/getprop\n"


def test_ip_and_ifconfig_show_the_handsets_mac(sh: Sh, nokia: VirtualHandset) -> None:
    assert f"link/ether {nokia.wifi_mac} " in sh("ip addr show wlan0")[1]
    assert f"HWaddr {nokia.wifi_mac}" in sh("ifconfig wlan0")[1]
    assert sh("ip link show eth7")[0] == 1


def test_logcat_dump_and_ps(sh: Sh) -> None:
    assert "System now ready" in sh("logcat -d")[1]
    ps = sh("ps -A")[1]
    assert ps.startswith("USER ")
    assert " system_server\n" in ps


def test_uiautomator2_launch_fails_without_its_jar(sh: Sh) -> None:
    status, _, err = sh("CLASSPATH=/data/local/tmp/u2.jar app_process / com.wetest.uia2.Main -p 9008")
    assert status == 1
    assert "com.wetest.uia2.Main" in err


def test_text_filters_lab_scripts_pipe_into(sh) -> None:  # type: ignore[no-untyped-def]
    assert sh("seq 3")[1] == "1\n2\n3\n"
    assert sh("seq 10 -5 1")[1] == "10\n5\n"
    assert sh("printf 'b\\na\\nb\\n' | sort | uniq -c")[1] == "      1 a\n      2 b\n"
    assert sh("printf '10\\n9\\n100\\n' | sort -n")[1] == "9\n10\n100\n"
    assert sh("getprop gsm.sim.operator.numeric | cut -d, -f1")[1] == "24201\n"
    assert sh("echo READY,ABSENT | tr , ' '")[1] == "READY ABSENT\n"
    assert sh("echo abc | tr a-c A-C; echo a-b | tr -d -")[1] == "ABC\nab\n"
    assert sh("seq 1 2000000")[0] == 1
