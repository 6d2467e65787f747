"""Merging what was read with what the inventory and the bench declare: every value kept, conflicts told."""

from __future__ import annotations

from phonehome.device.identity import (
    BENCH,
    DUMPSYS,
    INVENTORY,
    IP_LINK,
    SERVICE_CALL,
    Reading,
    Unread,
    merge,
)
from phonehome.device.inventory import InventoryEntry
from phonehome.device.reader import read_identity
from phonehome.device.testing import RecordedShell
from phonehome.policy.identity import Cell, Identity, Location

IMEI_A, IMEI_B, IMEI_X = "353867091234562", "353867091234570", "355684112345675"


def _entry(**identity: object) -> InventoryEntry:
    return InventoryEntry(serial="S1", identity=Identity.model_validate(identity))


def _imei(value: str) -> Reading:
    return Reading("imei", value, SERVICE_CALL, "service call iphonesubinfo 3 i32 0")


def test_declared_values_fill_what_the_shell_could_not_read() -> None:
    denied = Unread("imei", "service call iphonesubinfo 4 i32 0", "SecurityException: ...")
    report = merge("S1", [], [denied], entry=_entry(imei=IMEI_X), inventory_path="devices/inventory.yaml")
    assert report.identity.imei == [IMEI_X]
    assert report.identity.sources == {"imei": INVENTORY}
    assert report.provenance == (Reading("imei", IMEI_X, INVENTORY, "devices/inventory.yaml: S1"),)
    assert report.inventory_entry == "devices/inventory.yaml: S1"
    assert report.warnings == ()  # read nowhere, but declared: leak detection has it


def test_an_unread_undeclared_identifier_is_warned_about() -> None:
    report = merge("S1", [], [Unread("imei", "service call", "SecurityException")])
    assert report.warnings[-1].startswith("imei could not be read over ADB and no inventory declares it")


def test_a_declared_value_the_phone_contradicts_is_a_conflict_and_both_are_kept() -> None:
    report = merge("S1", [_imei(IMEI_A)], entry=_entry(imei=IMEI_X))
    assert report.identity.imei == [IMEI_A, IMEI_X]
    assert report.identity.sources["imei"] == f"{SERVICE_CALL}+{INVENTORY}"
    (conflict,) = report.conflicts
    assert (conflict.key, conflict.read, conflict.declared, conflict.declared_by) == (
        "imei",
        (IMEI_A,),
        (IMEI_X,),
        INVENTORY,
    )
    assert str(conflict) == f"imei: the handset reports {IMEI_A} but the inventory declares {IMEI_X}"


def test_a_box_label_with_both_imeis_and_a_shell_that_reads_one_agree() -> None:
    assert merge("S1", [_imei(IMEI_A)], entry=_entry(imei=[IMEI_A, IMEI_B])).conflicts == ()


def test_a_randomized_mac_does_not_contradict_the_declared_factory_mac() -> None:
    read = [Reading("wifi_mac", "da7f3b5e21c4", IP_LINK, "ip link (wlan0)")]
    report = merge("S1", read, entry=_entry(wifi_mac="c0:ee:fb:4a:12:9c"))
    assert report.conflicts == ()
    assert report.identity.wifi_mac == ["da7f3b5e21c4", "c0eefb4a129c"]


def test_a_different_factory_mac_is_a_conflict() -> None:
    read = [Reading("wifi_mac", "c0eefb4a1200", IP_LINK, "ip link (wlan0)")]
    assert [c.key for c in merge("S1", read, entry=_entry(wifi_mac="c0:ee:fb:4a:12:9c")).conflicts] == [
        "wifi_mac"
    ]


def test_the_bench_ap_and_the_phones_association_must_agree() -> None:
    read = [Reading("ssid", "Vodafone Homespot", DUMPSYS, "dumpsys wifi")]
    report = merge("S1", read, bench=Identity(ssid=["phonehome-bench-1"]))
    assert [(c.key, c.declared_by) for c in report.conflicts] == [("ssid", BENCH)]
    assert report.identity.sources["ssid"] == f"{DUMPSYS}+{BENCH}"


def test_the_phones_cell_wins_and_a_declared_other_cell_is_a_conflict() -> None:
    read = [Reading("cell", "mcc=242 mnc=1 tac=3201 cid=25412366", DUMPSYS, "dumpsys telephony.registry")]
    report = merge("S1", read, entry=_entry(cell={"mcc": 242, "mnc": 1, "cid": 999}))
    assert report.identity.cell == Cell(mcc=242, mnc=1, tac=3201, cid=25412366)
    assert [c.key for c in report.conflicts] == ["cell"]


def test_a_declared_cell_with_fewer_fields_that_match_is_no_conflict() -> None:
    read = [Reading("cell", "mcc=242 mnc=1 tac=3201 cid=25412366", DUMPSYS, "dumpsys telephony.registry")]
    assert merge("S1", read, entry=_entry(cell={"cid": 25412366})).conflicts == ()


def test_location_within_a_kilometre_of_the_bench_fix_is_the_same_place() -> None:
    read = [Reading("location", "52.520008,13.404954", DUMPSYS, "dumpsys location (gps)")]
    near = merge("S1", read, bench=Identity(location=Location(lat=52.521, lon=13.405)))
    far = merge("S1", read, bench=Identity(location=Location(lat=48.137, lon=11.575)))
    assert near.conflicts == ()
    assert [c.key for c in far.conflicts] == ["location"]
    assert far.identity.location == Location(lat=52.520008, lon=13.404954)


def test_imeisv_from_the_read_svn_and_a_declared_imei() -> None:
    report = merge("S1", [], entry=_entry(imei=IMEI_X), svn="12")
    assert report.identity.imeisv == [IMEI_X[:14] + "12"]
    assert report.identity.sources["imeisv"] == f"{SERVICE_CALL}+{INVENTORY}"


def test_recorded_android14_phone_with_its_inventory_entry(pixel14: RecordedShell, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from phonehome.device.inventory import load_inventory

    path = tmp_path / "inventory.yaml"
    path.write_text(
        "handsets:\n  - serial: 28031FDH2005CW\n    identity:\n"
        "      imei: '355684112345675'\n      iccid: '8949201234567890126'\n      imsi: '262021234567890'\n"
    )
    report = read_identity(pixel14, inventory=load_inventory(path))
    assert report.identity.imei == [IMEI_X]
    assert report.identity.imeisv == [IMEI_X[:14] + "12"]  # the SVN is readable on Android 14
    assert report.sources("imsi") == [INVENTORY]
    assert report.warnings == ()
    assert report.conflicts == ()


def test_the_table_lists_every_row_conflict_and_unread() -> None:
    report = merge(
        "S1",
        [_imei(IMEI_A)],
        [Unread("iccid", "service call iphonesubinfo 12", "SecurityException: no")],
        entry=_entry(imei=IMEI_X),
    )
    table = report.table().splitlines()
    assert table[0].split() == ["key", "value", "source", "detail"]
    assert table[1].split()[:3] == ["imei", IMEI_A, SERVICE_CALL]
    assert table[2].split()[:3] == ["imei", IMEI_X, INVENTORY]
    assert table[3].startswith("CONFLICT imei: the handset reports")
    assert table[4] == "unread   iccid: service call iphonesubinfo 12: SecurityException: no"


def test_as_dict_is_json_ready() -> None:
    import json

    report = merge("S1", [_imei(IMEI_A)], entry=_entry(imei=IMEI_X))
    data = json.loads(json.dumps(report.as_dict()))
    assert data["identity"]["imei"] == [IMEI_A, IMEI_X]
    assert data["conflicts"][0]["declared_by"] == INVENTORY
