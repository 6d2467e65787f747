"""Build identity from recorded phones: fingerprint, patch, region properties, packages."""

from __future__ import annotations

from phonehome.device.build import build_from, read_build
from phonehome.device.testing import RecordedShell


def test_android9_build(nokia9: RecordedShell) -> None:
    build = read_build(nokia9)
    assert build.fingerprint == "Nokia/Onyx_00WW/B2N_sprout:9/PPR1.180610.011/00WW_3_22C:user/release-keys"
    assert (build.build_id, build.incremental, build.security_patch) == (
        "PPR1.180610.011",
        "00WW_3_22C",
        "2019-01-01",
    )
    assert (build.release, build.sdk, build.model, build.manufacturer) == (
        "9",
        28,
        "Nokia 7 plus",
        "HMD Global",
    )
    assert build.region["ro.cda.skuid.id_final"] == "00WW"
    assert build.region["gsm.sim.operator.numeric"] == "24201,"
    assert build.region["persist.sys.locale"] == "nb-NO"
    assert "com.qualcomm.qti.autoregistration" in build.package_names()


def test_android14_partitions_share_the_fingerprint(pixel14: RecordedShell) -> None:
    build = read_build(pixel14)
    assert set(build.partition_fingerprints) == {"system", "system_ext", "vendor", "odm", "bootimage"}
    assert build.mixed_partitions() == {}
    assert build.region["ro.boot.hardware.sku"] == "GVU6C"


def test_android44_samsung_csc_and_pm_without_uid(galaxy44: RecordedShell) -> None:
    build = read_build(galaxy44)
    assert {k: v for k, v in build.region.items() if k.startswith("ro.csc.")} == {
        "ro.csc.country_code": "UK",
        "ro.csc.countryiso_code": "GB",
        "ro.csc.sales_code": "VOD",
    }
    assert build.security_patch == ""  # Android < 6 has no patch level: a report must show it as absent
    assert galaxy44.calls[-2:] == ["pm list packages -f -U", "pm list packages -f"]
    assert len(build.packages) == 5


def test_a_vendor_partition_from_another_release_shows() -> None:
    build = build_from(
        {
            "ro.build.fingerprint": "Nokia/Onyx_00WW/B2N_sprout:9/PPR1.180610.011/00WW_3_22C:user/release-keys",
            "ro.vendor.build.fingerprint": "Nokia/Onyx_00CN/B2N_sprout:9/PPR1.180610.011/00CN_3_22C:user/release-keys",
        }
    )
    assert list(build.mixed_partitions()) == ["vendor"]


def test_as_dict_lists_packages() -> None:
    from phonehome.device.dumps import Package

    data = build_from(
        {"ro.build.version.sdk": "34"}, [Package("b", "/b.apk", (1000,)), Package("a", "/a.apk")]
    ).as_dict()
    assert [p["name"] for p in data["packages"]] == ["a", "b"]
    assert data["sdk"] == 34
