"""build-identity: the build judged against the release for its SKU, and another market's packages flagged
from the package list alone, with no traffic at all."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from phonehome.policy import Identity, evaluate, load_manifest
from phonehome.policy.build import BuildIdentity, Package
from phonehome.policy.findings import BUILD_IDENTITY
from phonehome.policy.manifest import Manifest
from phonehome.policy.markets import DATA, foreign, market_packages
from phonehome.yamlconf import ConfigError

REPO = Path(__file__).resolve().parents[3]
NOKIA_MANIFEST = REPO / "manifests" / "nokia-7-plus-global-2019.yaml"
PIXEL_MANIFEST = REPO / "manifests" / "aosp-google-first-boot.yaml"
NOKIA_FINGERPRINT = "Nokia/Onyx_00WW/B2N_sprout:9/PPR1.180610.011/00WW_3_22C:user/release-keys"
NOKIA_PACKAGES = (
    "com.android.settings",
    "com.hmdglobal.setupwizard",
    "com.google.android.gms",
    "com.qualcomm.qti.autoregistration",
)


def build(
    fingerprint: str = NOKIA_FINGERPRINT,
    packages: tuple[str, ...] = NOKIA_PACKAGES,
    region: dict[str, str] | None = None,
    patch: str = "2019-01-01",
) -> BuildIdentity:
    return BuildIdentity(
        fingerprint=fingerprint,
        build_id="PPR1.180610.011",
        display_id="00WW_3_22C",
        incremental="00WW_3_22C",
        release="9",
        sdk=28,
        security_patch=patch,
        vendor_security_patch=patch,
        build_type="user",
        tags="release-keys",
        brand="Nokia",
        manufacturer="HMD Global",
        model="Nokia 7 plus",
        device="B2N_sprout",
        product="Onyx_00WW",
        baseband="",
        region={"ro.product.locale": "nb-NO"} if region is None else region,
        packages=tuple(Package(n, f"/system/app/{n}.apk", (1000,)) for n in packages),
    )


def judged(manifest: Manifest | None, built: BuildIdentity | None):  # type: ignore[no-untyped-def]
    evaluation = evaluate([], [], identity=Identity(), manifest=manifest, build=built)
    verdict = next(v for v in evaluation.verdicts if v.assertion == BUILD_IDENTITY)
    findings = [f for f in evaluation.findings if f.assertion == BUILD_IDENTITY]
    return verdict, findings, evaluation


def test_the_china_self_registration_client_in_a_global_build_fails_without_any_traffic() -> None:
    verdict, findings, evaluation = judged(load_manifest(NOKIA_MANIFEST), build())
    assert verdict.result == "FAIL"
    assert [f.rule for f in findings] == ["foreign-package"]
    assert (
        "com.qualcomm.qti.autoregistration is installed: it belongs to cn builds only" in findings[0].detail
    )
    assert "market global" in findings[0].detail
    assert evaluation.to_json()["build"] == {
        "fingerprint": NOKIA_FINGERPRINT,
        "build_type": "user",
        "tags": "release-keys",
    }
    other = {v.assertion: v.result for v in evaluation.verdicts if v.assertion != BUILD_IDENTITY}
    assert set(other.values()) <= {"INCONCLUSIVE", "NOT_APPLICABLE"}  # no traffic: nothing else is earned


def test_the_same_build_without_it_passes_and_says_what_was_compared() -> None:
    clean = tuple(p for p in NOKIA_PACKAGES if "autoregistration" not in p)
    verdict, findings, _ = judged(load_manifest(NOKIA_MANIFEST), build(packages=clean))
    assert (verdict.result, findings) == ("PASS", [])
    assert "market packages, fingerprint, security patch, region properties compared" in verdict.reason
    assert "(user/release-keys)" in verdict.reason


def test_a_china_release_may_carry_its_own_self_registration_client() -> None:
    manifest = load_manifest(NOKIA_MANIFEST)
    assert manifest.release is not None
    china = manifest.model_copy(update={"release": manifest.release.model_copy(update={"market": "cn"})})
    verdict, findings, _ = judged(china, build())
    assert verdict.result == "PASS", verdict.reason
    assert findings == []


@pytest.mark.parametrize(
    ("changed", "rule", "words"),
    [
        (
            {"fingerprint": NOKIA_FINGERPRINT.replace("22C", "39B")},
            "fingerprint",
            "not a certified build of SKU 00WW",
        ),
        ({"patch": "2018-12-01"}, "security-patch", "the release has 2019-01-01"),
        ({"region": {"ro.product.locale": "zh-CN"}}, "region", "ro.product.locale is 'zh-CN'"),
        ({"region": {}}, "region", "ro.product.locale is None"),
    ],
)
def test_a_build_that_differs_from_the_release_fails_naming_what(
    changed: dict, rule: str, words: str
) -> None:  # type: ignore[type-arg]
    clean = tuple(p for p in NOKIA_PACKAGES if "autoregistration" not in p)
    verdict, findings, _ = judged(load_manifest(NOKIA_MANIFEST), build(packages=clean, **changed))
    assert verdict.result == "FAIL"
    assert [f.rule for f in findings] == [rule]
    assert words in findings[0].detail


def test_partitions_from_another_build_are_a_finding() -> None:
    clean = tuple(p for p in NOKIA_PACKAGES if "autoregistration" not in p)
    mixed = dataclasses.replace(
        build(packages=clean), partition_fingerprints={"vendor": "Nokia/other:9/X/Y:user/release-keys"}
    )
    verdict, findings, _ = judged(load_manifest(NOKIA_MANIFEST), mixed)
    assert [f.rule for f in findings] == ["mixed-partitions"]
    assert verdict.result == "FAIL"


def test_a_release_package_list_finds_an_added_and_a_missing_package() -> None:
    manifest = load_manifest(PIXEL_MANIFEST)
    assert manifest.release is not None
    listed = [p for p in manifest.release.packages or [] if p != "com.android.chrome"] + ["com.example.spy"]
    pixel = build(
        fingerprint=manifest.release.fingerprints[0],
        packages=tuple(listed),
        region={"ro.product.locale": "de-DE"},
        patch="2024-02-05",
    )
    verdict, findings, _ = judged(manifest, pixel)
    assert verdict.result == "FAIL"
    assert sorted((f.rule, f.detail.split()[0]) for f in findings) == [
        ("package-missing", "com.android.chrome"),
        ("package-not-in-release", "com.example.spy"),
    ]


def test_without_a_release_section_it_is_inconclusive_and_names_the_stray_package() -> None:
    manifest = load_manifest(NOKIA_MANIFEST).model_copy(update={"release": None})
    verdict, findings, _ = judged(manifest, build())
    assert verdict.result == "INCONCLUSIVE"
    assert findings == []
    assert "no release: section" in verdict.reason
    assert "com.qualcomm.qti.autoregistration" in verdict.reason


def test_without_a_build_read_it_is_inconclusive_never_pass() -> None:
    verdict, _, _ = judged(load_manifest(NOKIA_MANIFEST), None)
    assert verdict.result == "INCONCLUSIVE"
    assert "build was not read" in verdict.reason


def test_an_empty_package_list_is_no_proof_of_the_build() -> None:
    verdict, findings, _ = judged(load_manifest(NOKIA_MANIFEST), build(packages=()))
    assert (verdict.result, findings) == ("INCONCLUSIVE", [])
    assert "listed no packages" in verdict.reason


def test_every_market_package_names_its_source_and_only_other_markets_are_foreign() -> None:
    known = market_packages(DATA)
    assert "com.qualcomm.qti.autoregistration" in known
    assert all(p.source.strip() and p.markets for p in known.values())
    assert [
        p.name for p in foreign(["com.qualcomm.qti.autoregistration", "com.android.phone"], "global")
    ] == ["com.qualcomm.qti.autoregistration"]
    assert foreign(["com.qualcomm.qti.autoregistration"], "cn") == []


def test_the_build_record_round_trips_and_junk_is_refused() -> None:
    original = build()
    assert BuildIdentity.from_dict(original.to_dict()) == original
    with pytest.raises(ValueError, match="not a build identity record"):
        BuildIdentity.from_dict({"fingerprint": "x"})


@pytest.mark.parametrize(
    ("release", "words"),
    [
        ("  sku: A\n  market: Global Market\n", "market 'Global Market'"),
        ("  sku: A\n  market: eu\n  security_patch: 2019/01/01\n", "YYYY-MM-DD"),
        ("  sku: A\n  market: eu\n  packages: [not a package]\n", "not a package name"),
        ("  sku: A\n  market: eu\n  fingerprnts: [x]\n", "fingerprnts"),
        ("  market: eu\n", "sku"),
    ],
)
def test_a_release_section_with_a_mistake_names_its_line(tmp_path: Path, release: str, words: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("firmware: x\nrelease:\n" + release)
    with pytest.raises(ConfigError) as err:
        load_manifest(path)
    assert words in str(err.value)
    assert f"{path}:" in str(err.value)
