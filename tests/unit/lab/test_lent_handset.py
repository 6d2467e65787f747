"""An exporter's PhonehomeHandset, checked against the lab's inventory and bench (phonehome.lab.handset):
what it repeats must agree, what it lacks comes from the inventory, and every misfit is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome import exits
from phonehome.lab.handset import LabHandset, LendError, resolve

REPO = Path(__file__).resolve().parents[3]
WHERE = "exp/desk/PhonehomeHandset/PhonehomeHandset"


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A bench on cable enx0001 (port desk) and an inventory with one handset on it."""
    bench = tmp_path / "lab.yaml"
    bench.write_text((REPO / "benches" / "lab-rig.yaml").read_text().replace("phrig0", "enx0001"))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "handsets:\n"
        "  - serial: B2NGAAL9SNN8HV81\n"
        "    adb_serial: 10.0.0.5:5555\n"
        "    reset: {method: fastboot-wipe, fastboot_serial: 'tcp:10.0.0.5:5554'}\n"
        f"    bench: {bench}\n"
        "    port: desk\n"
        "  - serial: PLAIN0002\n"
    )
    return inventory


def _bad(params: dict[str, object]) -> LendError:
    with pytest.raises(LendError) as caught:
        resolve(params, WHERE)
    assert caught.value.status == exits.BAD_INPUT
    assert str(caught.value).startswith(f"resource: {WHERE}: ")
    assert "\n" not in str(caught.value)
    return caught.value


def test_a_handset_named_by_serial_and_inventory_is_the_inventory_entrys(lab: Path) -> None:
    handset = resolve({"serial": "B2NGAAL9SNN8HV81", "inventory": str(lab), "extra": {"proxy": "h"}}, WHERE)
    assert handset == LabHandset("adb:10.0.0.5:5555", lab, bench=None, port="desk", interface=None)


def test_what_the_resource_repeats_is_accepted_when_it_agrees(lab: Path) -> None:
    handset = resolve(
        {"serial": "B2NGAAL9SNN8HV81", "inventory": str(lab), "adb_serial": "10.0.0.5:5555",
         "fastboot_serial": "tcp:10.0.0.5:5554", "port": "desk", "interface": "enx0001"},
        WHERE,
    )  # fmt: skip
    assert handset.device == "adb:10.0.0.5:5555"
    assert handset.interface == "enx0001"


def test_a_handset_without_an_adb_serial_of_its_own_is_run_by_its_serial(lab: Path) -> None:
    assert resolve({"serial": "PLAIN0002", "inventory": str(lab)}, WHERE).device == "adb:PLAIN0002"


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("adb_serial", "10.0.0.6:5555", "adb serial"),
        ("fastboot_serial", "tcp:10.0.0.6:5554", "fastboot serial"),
        ("port", "lab", "port the inventory puts it on"),
        ("interface", "enx0002", "host interface of port 'desk'"),
    ],
)
def test_a_repeated_value_that_disagrees_with_the_lab_is_refused(
    lab: Path, key: str, value: str, named: str
) -> None:
    error = _bad({"serial": "B2NGAAL9SNN8HV81", "inventory": str(lab), key: value})
    assert f"{key} {value!r} disagrees with" in error.message
    assert named in error.message


def test_a_bench_the_inventory_entry_lacks_comes_from_the_resource(lab: Path, tmp_path: Path) -> None:
    bench = tmp_path / "lab.yaml"
    handset = resolve(
        {"serial": "PLAIN0002", "inventory": str(lab), "bench": str(bench), "port": "desk"}, WHERE
    )
    assert handset.bench == bench
    assert handset.port == "desk"  # the bench's only port


def test_a_bench_that_differs_from_the_inventorys_is_refused(lab: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text((tmp_path / "lab.yaml").read_text())
    error = _bad({"serial": "B2NGAAL9SNN8HV81", "inventory": str(lab), "bench": str(other)})
    assert "the inventory's bench" in error.message


def test_an_unknown_parameter_is_a_typo_in_the_exporters_configuration(lab: Path) -> None:
    error = _bad({"serial": "B2NGAAL9SNN8HV81", "inventory": str(lab), "adb_serail": "x"})
    assert "'adb_serail' is not a parameter of PhonehomeHandset" in error.message
    assert "adb_serial" in error.message  # what it has


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"inventory": "/srv/lab.yaml"}, "serial is missing"),
        ({"serial": "X"}, "inventory is missing"),
        ({"serial": 12345678, "inventory": "/srv/lab.yaml"}, "quote it"),
        ({"serial": "X", "inventory": "lab.yaml"}, "not an absolute path"),
    ],
)
def test_a_resource_without_a_usable_serial_or_inventory_is_refused(
    params: dict[str, object], said: str
) -> None:
    assert said in _bad(params).message


def test_an_inventory_that_is_not_on_this_host_says_to_run_where_the_handset_is_cabled(
    tmp_path: Path,
) -> None:
    error = _bad({"serial": "X", "inventory": str(tmp_path / "elsewhere.yaml")})
    assert "is not on this host" in error.message
    assert "the bench needs the handset's cable" in error.message


def test_a_serial_the_inventory_does_not_list_is_refused(lab: Path) -> None:
    error = _bad({"serial": "NOTLISTED", "inventory": str(lab)})
    assert f"inventory {lab} lists no handset with serial 'NOTLISTED'" in error.message


def test_an_inventory_with_an_error_is_named_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "inventory.yaml"
    broken.write_text("handsets:\n  - serial: A\n    colour: red\n")
    error = _bad({"serial": "A", "inventory": str(broken)})
    assert str(broken) in error.message
    assert "colour" in error.message
