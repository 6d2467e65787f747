"""The build identity read over ADB matches the virtual handset's profile."""

from __future__ import annotations

import pytest

from phonehome.virtual import load_profile
from tests.integration.device.conftest import Pair


@pytest.mark.parametrize("fixture", ["nokia", "aosp"])
def test_build_identity_matches_the_profile(fixture: str, request: pytest.FixtureRequest) -> None:
    virtual, handset = request.getfixturevalue(fixture)
    profile = load_profile(virtual.profile.name)
    build = handset.read_build()
    assert build.fingerprint == profile.build.computed_fingerprint
    assert (build.build_id, build.incremental, build.security_patch) == (
        profile.build.build_id,
        profile.build.incremental,
        profile.build.security_patch,
    )
    assert (build.release, build.sdk, build.model, build.brand) == (
        profile.build.release,
        profile.build.sdk,
        profile.build.model,
        profile.build.brand,
    )
    assert build.region["ro.product.locale"] == profile.region.locale
    assert build.region["persist.sys.timezone"] == profile.region.timezone
    assert (
        build.region["gsm.sim.operator.numeric"].split(",")[0]
        == profile.region.sims[0].mcc + profile.region.sims[0].mnc
    )
    assert build.package_names() == sorted(p.name for p in profile.packages)
    assert build.mixed_partitions() == {}


def test_the_nokia_build_carries_the_china_activation_client(nokia: Pair) -> None:
    _, handset = nokia
    package = next(p for p in handset.read_build().packages if p.name == "com.qualcomm.qti.autoregistration")
    assert package.path == "/system/app/AutoRegistration/AutoRegistration.apk"
