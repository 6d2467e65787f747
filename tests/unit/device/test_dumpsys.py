"""dumpsys, ip link and settings output as phones of several releases print it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.device import dumps
from tests.unit.device.phones import output

NR_ANDROID13 = (
    "  mCellIdentity=CellIdentityNr:{ mPci = 412 mTac = 24104 mNrArfcn = 636666 mBands = [78] "
    "mMcc = 262 mMnc = 01 mNci = 4194317 mAlphaLong = Telekom.de mAlphaShort = Telekom.de "
    "mAdditionalPlmns = {}}\n"
)
GSM_ANDROID7 = (
    "  mCellInfo=[CellInfoGsm:{mRegistered=YES mTimeStampType=oem_ril mTimeStamp=1234ns "
    "CellIdentityGsm:{ mLac=2101 mCid=14153 mArfcn=62 mBsic=0x2c mMcc=244 mMnc=05 mAlphaLong=elisa "
    "mAlphaShort=elisa} CellSignalStrengthGsm: ss=19 ber=99 mTa=2147483647}]\n"
)


def test_android9_serving_cell_comes_from_the_registered_cell_info() -> None:
    cell = dumps.serving_cell(output("nokia-7-plus-android9", "dumpsys telephony.registry"))
    assert cell == dumps.CellDump(kind="Lte", mcc=242, mnc=1, tac=3201, cid=25412366)


def test_android14_cell_id_redacted_by_rlog_pii_is_reported_not_guessed() -> None:
    cell = dumps.serving_cell(output("pixel-7-android14", "dumpsys telephony.registry"))
    assert cell is not None
    assert (cell.mcc, cell.mnc, cell.tac, cell.cid) == (262, 2, 40551, None)
    assert cell.redacted == ("Ci",)


def test_android44_wcdma_cell_has_lac_and_cid() -> None:
    cell = dumps.serving_cell(output("galaxy-s4-android4.4", "dumpsys telephony.registry"))
    assert cell == dumps.CellDump(kind="Wcdma", mcc=234, mnc=15, lac=1234, cid=56789012)


def test_nr_cell_printed_with_spaces_around_equals() -> None:
    cell = dumps.serving_cell(NR_ANDROID13)
    assert cell == dumps.CellDump(kind="Nr", mcc=262, mnc=1, tac=24104, cid=4194317)


def test_gsm_cell_of_android7() -> None:
    assert dumps.serving_cell(GSM_ANDROID7) == dumps.CellDump(kind="Gsm", mcc=244, mnc=5, lac=2101, cid=14153)


def test_unavailable_fields_are_none() -> None:
    text = "  mCellIdentity=CellIdentityLte:{ mCi=2147483647 mPci=1 mTac=2147483647 mMcc=null mMnc=null}"
    cell = dumps.serving_cell(text)
    assert cell is not None
    assert (cell.cid, cell.tac, cell.mcc) == (None, None, None)


def test_no_sim_no_cell() -> None:
    assert dumps.serving_cell("last known state:\n  Phone Id=0\n  mCellInfo=null\n") is None


def test_wifi_android9_station_and_association() -> None:
    wifi = dumps.wifi(output("nokia-7-plus-android9", "dumpsys wifi"))
    assert wifi.macs == ("c0:ee:fb:4a:12:9c",)
    assert wifi.ssids == ("phonehome-lab",)
    assert wifi.bssids == ("7c:39:53:11:22:33",)


def test_wifi_android14_randomized_mac_and_long_info_line() -> None:
    wifi = dumps.wifi(output("pixel-7-android14", "dumpsys wifi"))
    assert wifi.macs == ("da:7f:3b:5e:21:c4",)
    assert wifi.ssids == ("phonehome-lab",)  # scan results list other networks: not associations


def test_wifi_android44_prints_the_ssid_unquoted() -> None:
    assert dumps.wifi(output("galaxy-s4-android4.4", "dumpsys wifi")).ssids == ("phonehome-lab",)


def test_wifi_disconnected_has_no_ssid_and_the_placeholder_mac_is_no_mac() -> None:
    text = (
        "mWifiInfo SSID: <unknown ssid>, BSSID: <none>, MAC: 02:00:00:00:00:00, Supplicant state: "
        "DISCONNECTED, RSSI: -127, Link speed: -1Mbps, Frequency: -1MHz, Net ID: -1\n"
    )
    assert dumps.wifi(text) == dumps.WifiDump()


def test_wifi_ssid_with_comma_and_quote_inside_quotes() -> None:
    text = (
        'mWifiInfo SSID: "Lab, 2nd "floor"", BSSID: 7c:39:53:11:22:33, MAC: c0:ee:fb:4a:12:9c, '
        "Supplicant state: COMPLETED, RSSI: -40\n"
    )
    assert dumps.wifi(text).ssids == ('Lab, 2nd "floor"',)


def test_factory_mac_line() -> None:
    assert dumps.wifi("mFactoryMacAddress=C0:EE:FB:4A:12:9C\n").factory_macs == ("c0:ee:fb:4a:12:9c",)


def test_location_in_a_comma_decimal_locale() -> None:
    fixes = dumps.locations(output("nokia-7-plus-android9", "dumpsys location"))
    assert fixes[0] == dumps.Fix("network", 59.913868, 10.752245)
    assert dumps.Fix("network", 59.91157, 10.749011) == fixes[-1]  # the coarse one last


def test_location_android14_prefers_the_precise_fix() -> None:
    fixes = dumps.locations(output("pixel-7-android14", "dumpsys location"))
    assert fixes[0] == dumps.Fix("gps", 52.520008, 13.404954)
    assert fixes[-1] == dumps.Fix("gps", 52.523617, 13.411224)


def test_location_android44_prefers_gps_to_network() -> None:
    fixes = dumps.locations(output("galaxy-s4-android4.4", "dumpsys location"))
    assert fixes[0] == dumps.Fix("gps", 51.507412, -0.127643)


def test_location_off_gives_no_fix() -> None:
    assert dumps.locations("Location Manager State:\n  Location Setting: OFF\n") == []


def test_ip_link_reads_only_the_wifi_interface() -> None:
    text = output("nokia-7-plus-android9", "ip link")
    assert dumps.link_macs(text, "wlan0") == ["c0:ee:fb:4a:12:9c"]
    assert dumps.link_macs(text, "p2p0") == ["c2:ee:fb:4a:12:9c"]


def test_ip_link_placeholder_mac_of_a_down_interface_is_no_mac() -> None:
    assert dumps.link_macs(output("pixel-7-android14", "ip link"), "wlan1") == []


def test_iphonesubinfo_dump_of_android44() -> None:
    assert dumps.device_ids(output("galaxy-s4-android4.4", "dumpsys iphonesubinfo")) == ["354654051234561"]


@pytest.mark.parametrize(
    ("text", "value"), [("null\n", None), ("\n", None), ("3f2a9c81d04be7a5\n", "3f2a9c81d04be7a5")]
)
def test_settings_get_prints_null_for_unset(text: str, value: str | None) -> None:
    assert dumps.settings_value(text) == value


def test_package_paths_may_hold_equals_signs() -> None:
    listed = dumps.packages(output("pixel-7-android14", "pm list packages -f -U"))
    gms = next(p for p in listed if p.name == "com.google.android.gms")
    assert (
        gms.path
        == "/data/app/~~k2Jb5Wq0E4vM3cN9xT-2hA==/com.google.android.gms-Yx3Q1uJ6aB9Lm0nP2rS8tQ==/base.apk"
    )
    assert gms.uids == (10144,)


def test_packages_without_uids_before_android8() -> None:
    listed = dumps.packages(output("galaxy-s4-android4.4", "pm list packages -f"))
    assert [p.uids for p in listed] == [()] * 5


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_parsers_never_raise_on_arbitrary_text(text: str) -> None:
    dumps.serving_cell(text)
    dumps.serving_cell("mCellIdentity=CellIdentityLte:{ " + text + "}")
    dumps.wifi("mWifiInfo SSID: " + text)
    dumps.locations("Location[gps " + text)
    dumps.link_macs(text, "wlan0")
    dumps.device_ids(text)
    dumps.packages("package:" + text)
