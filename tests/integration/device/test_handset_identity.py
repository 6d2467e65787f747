"""Identity read over the real adb server equals the virtual handset's own, with the right provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.device import (
    DUMPSYS,
    GETPROP,
    INVENTORY,
    IP_LINK,
    SERVICE_CALL,
    SETTINGS,
    load_inventory,
)
from phonehome.policy.identity import Identity, normalize_mac
from phonehome.virtual import HandsetIdentity
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.device.conftest import Pair, connected


def _box_label(tmp_path: Path, serial: str, ident: HandsetIdentity, imei: str | None = None) -> Path:
    """What a lab types from the box and the SIM card into devices/inventory.yaml."""
    sim = ident.sims[0]
    path = tmp_path / "inventory.yaml"
    imeis = ", ".join(f"'{i}'" for i in ([imei] if imei else ident.imeis))
    path.write_text(
        f"handsets:\n  - serial: {serial}\n    identity:\n      imei: [{imeis}]\n"
        f"      imsi: '{sim.imsi}'\n      iccid: '{sim.iccid}'\n",
        encoding="utf-8",
    )
    return path


def _expect_readable(ident: HandsetIdentity) -> dict[str, list[str]]:
    sim = ident.sims[0]
    return {
        "serial": [ident.serial],
        "imsi": [sim.imsi],
        "iccid": [sim.iccid],
        "msisdn": [sim.msisdn],
        "android_id": [ident.android_id],
        "bt_mac": [normalize_mac(ident.bt_mac)],
        "imeisv": [ident.imeisv],
    }


def test_android9_identity_read_equals_the_handsets_own(any_adb_server: PrivateAdbServer) -> None:
    with connected(any_adb_server, "nokia-7-plus-2019", seed="identity-9") as (virtual, handset):
        report = handset.read_identity()
    ident = virtual.identity
    assert report.identity.imei == list(ident.imeis)
    for key, values in _expect_readable(ident).items():
        assert getattr(report.identity, key) == values, key
    assert report.identity.wifi_mac == [normalize_mac(ident.wifi_mac)]  # no randomization on Android 9
    cell = report.identity.cell
    assert cell is not None
    assert (cell.mcc, cell.mnc, cell.tac, cell.cid) == (
        int(ident.cell.mcc),
        int(ident.cell.mnc),
        ident.cell.tac,
        ident.cell.cid,
    )
    assert report.conflicts == ()


def test_android9_provenance(nokia: Pair) -> None:
    _, handset = nokia
    report = handset.read_identity()
    assert report.sources("imei") == [SERVICE_CALL]
    assert report.sources("imsi") == [SERVICE_CALL]
    assert report.sources("serial") == [GETPROP]
    assert report.sources("android_id") == [SETTINGS]
    assert report.sources("wifi_mac") == [IP_LINK, DUMPSYS]
    assert report.sources("cell") == [DUMPSYS]
    imei_rows = [r for r in report.provenance if r.key == "imei"]
    assert [r.detail.split(" (")[0] for r in imei_rows] == [
        "service call iphonesubinfo 3 i32 0 s16 com.android.shell",
        "service call iphonesubinfo 3 i32 1 s16 com.android.shell",
    ]
    assert [u.key for u in report.unread] == ["location"]  # location is off until the wizard's consent


def test_android14_denies_device_identifiers_and_says_so(aosp: Pair) -> None:
    _, handset = aosp
    report = handset.read_identity()
    assert (report.identity.imei, report.identity.imsi, report.identity.iccid) == ([], [], [])
    denied = {u.key for u in report.unread if u.reason.startswith("SecurityException")}
    assert denied == {"imei", "imsi", "iccid"}
    assert set(report.identity.unread) == {"imei", "imsi", "iccid"}  # what the verdicts must not ignore
    assert any(w.startswith("imei could not be read over ADB") for w in report.warnings)


def test_android14_with_the_inventory_has_the_whole_identity(aosp: Pair, tmp_path: Path) -> None:
    virtual, handset = aosp
    ident = virtual.identity
    report = handset.read_identity(load_inventory(_box_label(tmp_path, ident.serial, ident)))
    assert report.identity.imei == list(ident.imeis)
    for key, values in _expect_readable(ident).items():
        assert getattr(report.identity, key) == values, key
    assert report.sources("imei") == [INVENTORY]
    assert report.sources("iccid") == [INVENTORY]
    assert report.sources("msisdn") == [SERVICE_CALL]  # Line1Number is not a device identifier
    assert report.identity.sources["imeisv"] == f"{SERVICE_CALL}+{INVENTORY}"
    assert set(report.identity.wifi_mac) == {
        normalize_mac(ident.wifi_mac_randomized),
        normalize_mac(ident.wifi_mac),
    }
    assert report.conflicts == ()
    # No fix is no location to leak (not a read that failed): said, but not a gap in the identity.
    assert report.warnings == ("location: not present (location off, or never fixed); if the handset has "
                               "one, declare it in the inventory",)  # fmt: skip
    assert report.identity.unread == {}


def test_a_mistyped_inventory_imei_is_a_conflict_not_a_choice(nokia: Pair, tmp_path: Path) -> None:
    virtual, handset = nokia
    ident = virtual.identity
    wrong = "355684112345675"
    report = handset.read_identity(load_inventory(_box_label(tmp_path, ident.serial, ident, imei=wrong)))
    (conflict,) = report.conflicts
    assert (conflict.key, conflict.read, conflict.declared) == ("imei", tuple(ident.imeis), (wrong,))
    assert report.identity.imei == [*ident.imeis, wrong]


def test_location_and_association_once_the_phone_has_them(nokia: Pair) -> None:
    virtual, handset = nokia
    handset.shell(["settings", "put", "secure", "location_mode", "3"])
    virtual.set_wifi("phonehome-bench-1", "02:50:48:00:00:01")
    try:
        bench = Identity(ssid=["phonehome-bench-1"], bssid=["02:50:48:00:00:01"])
        report = handset.read_identity(bench=bench)
    finally:
        virtual.set_wifi(None)
        handset.shell(["settings", "put", "secure", "location_mode", "0"])
    location = report.identity.location
    assert location is not None
    assert (location.lat, location.lon) == pytest.approx(
        (virtual.identity.location.latitude, virtual.identity.location.longitude), abs=1e-6
    )
    assert report.sources("location") == [DUMPSYS]
    assert report.sources("ssid") == [DUMPSYS, "bench"]
    assert report.identity.bssid == ["025048000001"]
    assert report.conflicts == ()
