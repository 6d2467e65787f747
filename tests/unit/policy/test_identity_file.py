"""Identity files: values normalised, bad ones rejected at their line, check-digit typos kept with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.policy.identity import Identity, load_identity, luhn_digit, luhn_ok
from phonehome.yamlconf import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "id.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_values_are_normalised(tmp_path: Path) -> None:
    identity = load_identity(
        write(
            tmp_path,
            (
                "imei: 35-209900-176148-1\n"
                "wifi_mac: [AA-BB-CC-DD-EE-0F, aabb.ccdd.ee10]\n"
                "iccid: 8986031234567890123F\n"
                "gsf_id: 4363330512301331575\n"
                "cell: {cid: '0x0D196A13', lac: 2301}\n"
                "location: {lat: 59.9, lon: 10.75}\n"
            ),
        )
    )
    assert identity.imei == ["352099001761481"]
    assert identity.wifi_mac == ["aabbccddee0f", "aabbccddee10"]
    assert identity.iccid == ["8986031234567890123"]
    assert identity.gsf_id == [f"{4363330512301331575:016x}"]
    assert identity.cell is not None
    assert identity.cell.cid == 0x0D196A13
    assert identity.keys() == ["imei", "iccid", "wifi_mac", "gsf_id", "location", "cell"]


def test_luhn_failure_is_a_warning_not_an_error() -> None:
    identity = Identity.model_validate({"imei": "352099001761482"})
    assert identity.imei == ["352099001761482"]
    assert any("Luhn" in w for w in identity.warnings())


def test_luhn_check_digit() -> None:
    assert luhn_ok("352099001761481")
    assert not luhn_ok("352099001761482")
    assert luhn_digit("35209900176148") == "1"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("imei: 352099001761481\nimie: 1\n", ":2: imie: unknown key"),
        ("imei: 352099001761481\nwifi_mac: zz:zz\n", ":2: wifi_mac"),
        ("imei:\n  - 352099001761481\n  - 12345\n", ":3: imei.1: "),
        ("cell:\n  cid: 5\n  lac: -1\n", ":3: cell.lac: "),
        ("location: {lat: 91, lon: 0}\n", ":1: location.lat: "),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_identity(path)
    assert str(caught.value).startswith(f"{path}{where}")


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"id.yaml:\d: .*duplicate"):
        load_identity(write(tmp_path, "imei: 352099001761481\nimei: 352099001761481\n"))


def test_broken_yaml_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"id.yaml:\d+: "):
        load_identity(write(tmp_path, "imei: [1,\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_identity(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match=r"id\.yaml"):
        load_identity(write(tmp_path, "- imei\n"))


def test_empty_identity_warns_that_nothing_will_be_found(tmp_path: Path) -> None:
    assert any("no identifiers" in w for w in load_identity(write(tmp_path, "")).warnings())
