from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.virtual.profile import available_profiles, load_profile
from phonehome.yamlconf import ConfigError


def test_shipped_profiles_load() -> None:
    assert {"aosp-clean", "nokia-7-plus-2019"} <= set(available_profiles())
    nokia = load_profile("nokia-7-plus-2019")
    assert nokia.build.computed_fingerprint == (
        "Nokia/Onyx_00WW/B2N_sprout:9/PPR1.180610.011/00WW_3_22C:user/release-keys"
    )
    assert nokia.wizard == "oem"
    assert load_profile("aosp-clean").wizard == "aosp"


def test_android_10_and_later_hide_identifiers_from_the_shell_by_default(tmp_path: Path) -> None:
    assert load_profile("nokia-7-plus-2019").shell_reads_identifiers
    assert not load_profile("aosp-clean").shell_reads_identifiers


def _copy(tmp_path: Path, old: str, new: str) -> Path:
    source = load_profile.__globals__["profile_dirs"]()[-1] / "nokia-7-plus-2019.yaml"
    text = source.read_text()
    assert old in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_unknown_key_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = _copy(tmp_path, "  security_patch:", "  security_pach:")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert f"{path}:" in str(info.value)
    assert "build.security_pach: unknown key" in str(info.value)


def test_a_malformed_mcc_is_an_error(tmp_path: Path) -> None:
    path = _copy(tmp_path, 'mcc: "242"', 'mcc: "24"')
    with pytest.raises(ConfigError, match=r"region.sims.0.mcc"):
        load_profile(path)


def test_an_unknown_profile_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no virtual handset profile 'nokia-8'.*aosp-clean"):
        load_profile("nokia-8")
