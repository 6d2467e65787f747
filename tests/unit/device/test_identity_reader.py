"""Identity read from recorded phones: values, their sources, and what the shell could not read."""

from __future__ import annotations

import dataclasses
import re

import pytest

from phonehome.device.errors import AdbTimeoutError
from phonehome.device.identity import DUMPSYS, GETPROP, IP_LINK, SERVICE_CALL, SETTINGS
from phonehome.device.inventory import Inventory, InventoryEntry
from phonehome.device.reader import collect, read_identity
from phonehome.device.testing import RecordedShell
from phonehome.device.transport import ShellResult
from phonehome.policy.identity import Identity
from tests.unit.device.phones import PKG, recorded


def _rows(shell: RecordedShell) -> set[tuple[str, str, str]]:
    return {(r.key, r.value, r.source) for r in read_identity(shell).provenance}


def _answer(shell: RecordedShell, cmd: str, stdout: str, exit_code: int = 0) -> RecordedShell:
    shell.results[cmd] = ShellResult(cmd, exit_code, stdout, "")
    return shell


def test_android9_reads_every_identifier_with_its_source(nokia9: RecordedShell) -> None:
    report = read_identity(nokia9)
    ident = report.identity
    assert ident.imei == ["353867091234562", "353867091234570"]
    assert ident.imsi == ["242016123456789"]
    assert ident.iccid == ["8947010000001234568"]
    assert ident.msisdn == ["+4791234567"]
    assert ident.imeisv == ["3538670912345603"]
    assert ident.serial == ["B2NGAA1881902345"]
    assert ident.android_id == ["3f2a9c81d04be7a5"]
    assert ident.wifi_mac == ["c0eefb4a129c"]
    assert ident.bt_mac == ["c0eefb4a129d"]
    assert (ident.ssid, ident.bssid) == (["phonehome-lab"], ["7c3953112233"])
    assert ident.cell is not None
    assert (ident.cell.mcc, ident.cell.mnc, ident.cell.tac, ident.cell.cid) == (242, 1, 3201, 25412366)
    assert ident.location is not None
    assert (ident.location.lat, ident.location.lon) == (59.913868, 10.752245)
    assert report.unread == ()
    assert report.warnings == ()


def test_android9_provenance_names_the_command(nokia9: RecordedShell) -> None:
    report = read_identity(nokia9)
    first_imei = next(r for r in report.provenance if r.key == "imei")
    assert first_imei.source == SERVICE_CALL
    assert first_imei.detail == f"service call iphonesubinfo 3 i32 0 {PKG} (getDeviceIdForPhone)"
    assert report.sources("wifi_mac") == [IP_LINK, DUMPSYS]
    assert report.sources("android_id") == [SETTINGS]
    assert report.sources("serial") == [GETPROP]
    assert report.identity.sources["wifi_mac"] == "adb:ip-link+adb:dumpsys"


def test_android9_runs_no_command_twice(nokia9: RecordedShell) -> None:
    read_identity(nokia9)
    assert len(nokia9.calls) == len(set(nokia9.calls))


def test_android14_denied_identifiers_are_unread_with_the_security_exception(pixel14: RecordedShell) -> None:
    report = read_identity(pixel14)
    ident = report.identity
    assert (ident.imei, ident.imsi, ident.iccid, ident.imeisv) == ([], [], [], [])
    denied = {u.key: u.reason for u in report.unread if "SecurityException" in u.reason}
    assert set(denied) == {"imei", "imsi", "iccid"}
    assert "The user 2000 does not meet the requirements" in denied["imei"]
    assert [w.split(" ")[0] for w in report.warnings] == ["imei", "imsi", "iccid"]


def test_android14_redacted_cell_id_is_unread_and_the_rest_kept(pixel14: RecordedShell) -> None:
    report = read_identity(pixel14)
    assert report.identity.cell is not None
    assert report.identity.cell.cid is None
    assert report.identity.cell.tac == 40551
    assert any(u.key == "cell" and u.reason == "redacted by Android" for u in report.unread)


def test_android14_randomized_mac_is_what_the_interface_uses(pixel14: RecordedShell) -> None:
    assert read_identity(pixel14).identity.wifi_mac == ["da7f3b5e21c4"]


def test_android44_imei_from_service_call_and_dumpsys(galaxy44: RecordedShell) -> None:
    report = read_identity(galaxy44)
    assert report.identity.imei == ["354654051234561"]
    assert report.identity.sources["imei"] == "adb:service-call+adb:dumpsys"
    assert report.identity.serial == [
        "4d00abcd1234b0c1",
        "R31D812ABCD",
    ]  # ro.serialno and Samsung's box serial
    assert report.identity.iccid == ["8944102101234567893"]


def test_an_oem_table_shift_does_not_turn_an_imei_into_an_imsi(nokia9: RecordedShell) -> None:
    # An OEM build with one more IPhoneSubInfo method answers getSubscriberId's number with an IMEI.
    imei_reply = nokia9.results[f"service call iphonesubinfo 3 i32 0 {PKG}"].stdout
    for cmd in (f"service call iphonesubinfo 7 {PKG}", f"service call iphonesubinfo 8 i32 1 {PKG}"):
        _answer(nokia9, cmd, imei_reply)
    report = read_identity(nokia9)
    assert report.identity.imsi == []
    assert any(u.key == "imsi" and "does not look like one" in u.reason for u in report.unread)


def test_an_imei_failing_its_check_digit_from_service_call_is_rejected(nokia9: RecordedShell) -> None:
    bad = nokia9.results[f"service call iphonesubinfo 3 i32 1 {PKG}"].stdout.replace("00370035", "00380035")
    _answer(nokia9, f"service call iphonesubinfo 3 i32 1 {PKG}", bad)
    assert read_identity(nokia9).identity.imei == ["353867091234562"]


def test_an_oem_imei_property_is_read(nokia9: RecordedShell) -> None:
    props = nokia9.results["getprop"].stdout + "[ro.ril.oem.imei1]: [353867091234562]\n"
    _answer(nokia9, "getprop", props)
    report = read_identity(nokia9)
    assert ("imei", "353867091234562", GETPROP) in _rows(nokia9)
    assert report.identity.sources["imei"] == "adb:getprop+adb:service-call"


def test_a_failing_dump_is_noted_and_the_rest_still_read(nokia9: RecordedShell) -> None:
    _answer(nokia9, "dumpsys location", "", exit_code=1)
    report = read_identity(nokia9)
    assert report.identity.location is None
    assert any(u.key == "location" and u.reason.startswith("exit 1") for u in report.unread)
    assert report.identity.imei


def test_a_timeout_is_not_swallowed(nokia9: RecordedShell) -> None:
    @dataclasses.dataclass
    class Stalling(RecordedShell):
        def shell(self, argv, *, timeout=None, step="shell", check=True):  # type: ignore[no-untyped-def]
            if argv[:2] == ["dumpsys", "wifi"]:
                raise AdbTimeoutError(self.serial, step, "dumpsys wifi timed out after 30 s")
            return super().shell(argv, timeout=timeout, step=step, check=check)

    with pytest.raises(AdbTimeoutError, match=r"<Handset nokia-7-plus-android9> read identity: dumpsys wifi"):
        read_identity(Stalling(nokia9.serial, nokia9.results))


def test_collect_keeps_the_svn_and_the_hardware_serial(galaxy44: RecordedShell) -> None:
    found = collect(galaxy44)
    assert (found.svn, found.hardware_serial) == ("05", "4d00abcd1234b0c1")


@pytest.mark.parametrize("name", ["nokia-7-plus-android9", "pixel-7-android14", "galaxy-s4-android4.4"])
def test_every_value_read_is_in_the_identity(name: str) -> None:
    report = read_identity(recorded(name))
    for row in report.provenance:
        if row.key not in ("cell", "location"):
            assert row.value in getattr(report.identity, row.key), row


# -- what the handset has but nobody read (Identity.unread) vs what it does not have ------------------


def _props(shell: RecordedShell, **changes: str) -> RecordedShell:
    """The shell's getprop with properties set (or added)."""
    text = shell.results["getprop"].stdout
    for name, value in changes.items():
        prop = name.replace("_", ".")
        line = f"[{prop}]: [{value}]\n"
        text = re.sub(rf"^\[{re.escape(prop)}\]: \[.*?\]\n", "", text, flags=re.MULTILINE) + line
    return _answer(shell, "getprop", text)


def test_android14_denied_identifiers_are_unread_in_the_identity(pixel14: RecordedShell) -> None:
    identity = read_identity(pixel14).identity
    assert set(identity.unread) == {"imei", "imsi", "iccid"}
    assert "SecurityException" in identity.unread["imei"]
    assert "service call iphonesubinfo" in identity.unread["iccid"]


def test_android9_reads_everything_so_nothing_is_unread(nokia9: RecordedShell) -> None:
    assert read_identity(nokia9).identity.unread == {}


def test_identifiers_the_inventory_declares_are_no_longer_unread(pixel14: RecordedShell) -> None:
    entry = InventoryEntry(
        serial="28031FDH2005CW",
        identity=Identity(imei=["355684112345675"], imsi=["262021234567890"], iccid=["8949201234567890126"]),
    )
    report = read_identity(pixel14, Inventory(handsets=(entry,)))
    assert report.identity.unread == {}
    assert report.identity.sources["iccid"] == "inventory"


def test_an_inventory_that_declares_only_the_imei_leaves_the_sim_unread(pixel14: RecordedShell) -> None:
    entry = InventoryEntry(serial="28031FDH2005CW", identity=Identity(imei=["355684112345675"]))
    assert set(read_identity(pixel14, Inventory(handsets=(entry,))).identity.unread) == {"imsi", "iccid"}


def test_without_a_sim_its_identifiers_are_not_present_rather_than_unread(pixel14: RecordedShell) -> None:
    report = read_identity(_props(pixel14, gsm_sim_state="ABSENT"))
    assert set(report.identity.unread) == {"imei"}  # the radio is there; the shell was denied its IMEI
    absent = {u.key: u.absent for u in report.unread if u.absent}
    assert absent["iccid"] == "no SIM: gsm.sim.state ABSENT"
    assert any(w.startswith("iccid: not present (no SIM") for w in report.warnings)


def test_one_sim_of_two_present_keeps_the_sim_identifiers_unread(pixel14: RecordedShell) -> None:
    report = read_identity(_props(pixel14, gsm_sim_state="ABSENT,LOADED"))
    assert {"imsi", "iccid"} <= set(report.identity.unread)


@pytest.mark.parametrize("state", ["NOT_READY", "UNKNOWN", "PIN_REQUIRED", ""])
def test_a_sim_state_that_may_hide_a_sim_keeps_its_identifiers_unread(
    pixel14: RecordedShell, state: str
) -> None:
    report = read_identity(_props(pixel14, gsm_sim_state=state))
    assert {"imsi", "iccid"} <= set(report.identity.unread)


def test_a_wifi_only_build_has_no_imei_to_read(pixel14: RecordedShell) -> None:
    report = read_identity(_props(pixel14, ro_radio_noril="yes", gsm_sim_state="ABSENT"))
    assert report.identity.unread == {}
    assert {u.key for u in report.unread if u.absent} >= {"imei", "imsi", "iccid"}


def test_a_failed_read_is_a_gap_not_an_absence(nokia9: RecordedShell) -> None:
    _answer(nokia9, "settings get secure android_id", "", exit_code=255)
    identity = read_identity(nokia9).identity
    assert "exit 255" in identity.unread["android_id"]


def test_no_location_fix_is_not_present_not_unread(nokia9: RecordedShell) -> None:
    _answer(nokia9, "dumpsys location", "Location Manager State:\n")
    report = read_identity(nokia9)
    assert report.identity.location is None
    assert "location" not in report.identity.unread
