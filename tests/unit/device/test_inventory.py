"""Inventory files: the shipped example loads, mistakes name file and line, entries are found by serial."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.device import schema
from phonehome.device.inventory import load_inventory
from phonehome.yamlconf import ConfigError

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "devices" / "inventory.example.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_example_loads() -> None:
    inventory = load_inventory(EXAMPLE)
    assert inventory.path == str(EXAMPLE)
    pixel = inventory.find("28031FDH2005CW")
    assert pixel is not None
    assert pixel.identity.imei == ["355684112345675"]


def test_found_by_hardware_serial_before_adb_serial() -> None:
    inventory = load_inventory(EXAMPLE)
    assert inventory.find("R58M41ABCDE", "192.0.2.99:5555") is inventory.handsets[2]
    assert inventory.find("unknown", "192.0.2.41:5555") is inventory.handsets[2]
    assert inventory.find("unknown", "also-unknown") is None


def test_unknown_key_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "handsets:\n  - serial: A1\n    identity:\n      imie: '353867091234562'\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert f"{path}:4: handsets.0.identity.imie: unknown key" in str(err.value)


def test_an_imei_typo_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "handsets:\n  - serial: A1\n    identity: {imei: '353867091234563'}\n")
    with pytest.raises(ConfigError, match=r"handset A1: imei 353867091234563 fails its Luhn check digit"):
        load_inventory(path)


def test_duplicate_serials_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "handsets:\n  - serial: A1\n  - serial: B2\n    adb_serial: A1\n")
    with pytest.raises(ConfigError, match=r"'A1' is listed twice"):
        load_inventory(path)


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r":3:"):
        load_inventory(_write(tmp_path, "handsets:\n  - serial: A1\n    serial: A2\n"))


def test_sources_are_not_declared(tmp_path: Path) -> None:
    path = _write(tmp_path, "handsets:\n  - serial: A1\n    identity: {sources: {imei: adb}}\n")
    with pytest.raises(ConfigError, match="'sources' is filled in when they are merged"):
        load_inventory(path)


def test_an_entry_may_hold_only_its_serial(tmp_path: Path) -> None:
    assert load_inventory(_write(tmp_path, "handsets:\n  - serial: A1\n")).handsets[0].identity.keys() == []


def test_shipped_schema_is_current() -> None:
    shipped = schema.SCHEMA_PATH.read_text(encoding="utf-8")
    assert shipped == schema.render(), "regenerate with: python -m phonehome.device.schema"
