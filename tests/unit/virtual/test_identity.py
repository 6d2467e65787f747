from __future__ import annotations

import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual.identity import Carrier, IdentitySpec, generate_identity, luhn_check_digit, luhn_valid

TELENOR = Carrier("Telenor", "242", "01", "no", iccid_prefix="894701", msisdn_prefix="+474", msisdn_length=10)
CT = Carrier(
    "China Telecom", "460", "11", "cn", iccid_prefix="898611", msisdn_prefix="+86133", msisdn_length=13
)
SPEC = IdentitySpec(
    tac="35386709", svn="03", serial_prefix="B2NGAA", serial_length=16, wifi_oui="c0:ee:fb",
    carriers=(TELENOR, CT), imei_slots=2, latitude=59.9, longitude=10.75, radius_km=4,
)  # fmt: skip


def test_luhn_matches_the_published_imei_example() -> None:
    # 3GPP TS 23.003 Annex B example: IMEI 49015420323751 has check digit 8.
    assert luhn_check_digit("49015420323751") == "8"
    assert luhn_valid("490154203237518")
    assert not luhn_valid("490154203237519")


def test_same_seed_gives_the_same_handset_and_another_seed_another() -> None:
    assert generate_identity("a", SPEC) == generate_identity("a", SPEC)
    a, b = generate_identity("a", SPEC), generate_identity("b", SPEC)
    assert a.imei != b.imei
    assert a.serial != b.serial
    assert a.android_id != b.android_id


def test_dual_sim_imeis_share_the_tac_and_are_luhn_valid() -> None:
    ident = generate_identity("dual", SPEC)
    assert len(ident.imeis) == 2
    for imei in ident.imeis:
        assert len(imei) == 15
        assert imei.startswith("35386709")
        assert luhn_valid(imei)
    assert ident.imeisv == ident.imei[:14] + "03"
    assert len(ident.imeisv) == 16


def test_sims_carry_their_carriers_codes() -> None:
    ident = generate_identity("sims", SPEC)
    first, second = ident.sims
    assert first.imsi.startswith("24201")
    assert len(first.imsi) == 15
    assert second.imsi.startswith("46011")
    assert len(second.imsi) == 15
    assert first.iccid.startswith("894701")
    assert len(first.iccid) == 19
    assert luhn_valid(first.iccid)
    assert second.msisdn.startswith("+86133")
    assert len(second.msisdn) == 14
    assert (ident.cell.mcc, ident.cell.mnc) == ("242", "01")


def test_macs_factory_has_the_oui_randomized_is_local_unicast() -> None:
    ident = generate_identity("mac", SPEC)
    assert ident.wifi_mac.startswith("c0:ee:fb:")
    first = int(ident.wifi_mac_randomized[:2], 16)
    assert first & 0x02
    assert not first & 0x01
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", ident.bt_mac)


def test_location_lies_within_the_radius() -> None:
    for seed in map(str, range(50)):
        loc = generate_identity(seed, SPEC).location
        dy = (loc.latitude - 59.9) * 111.32
        dx = (loc.longitude - 10.75) * 111.32 * math.cos(math.radians(59.9))
        assert math.hypot(dx, dy) <= 4.01


def test_as_dict_names_every_identifier_for_templates() -> None:
    values = generate_identity("tpl", SPEC).as_dict()
    for key in (
        "imei1",
        "imei2",
        "iccid1",
        "imsi2",
        "wifi_mac",
        "android_id",
        "cell_id",
        "serial",
        "latitude",
    ):
        assert values[key]
    assert values["imei"] == values["imei1"]
    assert values["iccid"] == values["iccid1"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_every_seed_gives_well_formed_identifiers(seed: str) -> None:
    ident = generate_identity(seed, SPEC)
    assert all(luhn_valid(i) for i in ident.imeis)
    assert all(luhn_valid(s.iccid) for s in ident.sims)
    assert re.fullmatch(r"[0-9a-f]{16}", ident.android_id)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", ident.advertising_id
    )
    assert re.fullmatch(r"B2NGAA[0-9A-Z]{10}", ident.serial)
    assert re.fullmatch(r"A0[0-9A-F]{12}", ident.meid)
    assert 0 < ident.cell.cid < 1 << 28
