"""labgrid's side of a lent handset (phonehome.lab.labgrid): the resource holds the exporter's data, the
driver bound to it says what a run takes, and both work in a lab's own labgrid environment file."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("labgrid", reason="the labgrid extra: pip install 'phonehome[labgrid]'")

from labgrid import Environment, Target
from labgrid.binding import StateError
from labgrid.exceptions import InvalidConfigError
from labgrid.factory import target_factory

from phonehome.lab.handset import LabHandset, LendError
from phonehome.lab.labgrid import PhonehomeDriver, PhonehomeHandset


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        f"handsets:\n  - serial: B2NG0001\n    adb_serial: 10.0.0.5:5555\n    bench: {tmp_path}/lab.yaml\n"
    )
    return path


def test_both_classes_are_registered_under_the_names_an_exporter_and_an_environment_use() -> None:
    assert target_factory.resources["PhonehomeHandset"] is PhonehomeHandset
    assert target_factory.drivers["PhonehomeDriver"] is PhonehomeDriver


def test_the_driver_bound_to_a_handset_gives_the_run_its_device_and_inventory(inventory: Path) -> None:
    target = Target("desk-1")
    PhonehomeHandset(target, "phone", serial="B2NG0001", inventory=str(inventory))
    driver = PhonehomeDriver(target, "phonehome")
    target.activate(driver)
    assert driver.lab_handset() == LabHandset("adb:10.0.0.5:5555", inventory, None, None, None)


def test_a_lab_environment_file_names_the_handset_and_the_driver(inventory: Path, tmp_path: Path) -> None:
    config = tmp_path / "env.yaml"
    config.write_text(
        "imports: [phonehome.lab.labgrid]\n"
        "targets:\n  desk-1:\n    resources:\n      PhonehomeHandset:\n        serial: B2NG0001\n"
        f"        inventory: {inventory}\n    drivers:\n      PhonehomeDriver: {{}}\n"
    )
    target = Environment(str(config)).get_target("desk-1")
    assert target.get_driver("PhonehomeDriver").lab_handset().device == "adb:10.0.0.5:5555"


def test_an_inactive_driver_says_nothing(inventory: Path) -> None:
    target = Target("desk-1")
    PhonehomeHandset(target, "phone", serial="B2NG0001", inventory=str(inventory))
    with pytest.raises(StateError):
        PhonehomeDriver(target, "phonehome").lab_handset()


def test_a_misfit_description_is_a_lend_error_naming_target_and_resource(tmp_path: Path) -> None:
    target = Target("desk-1")
    PhonehomeHandset(target, "phone", serial="B2NG0001", inventory=str(tmp_path / "absent.yaml"))
    driver = PhonehomeDriver(target, "phonehome")
    target.activate(driver)
    with pytest.raises(LendError, match=r"^resource: desk-1/phone: inventory .* is not on this host"):
        driver.lab_handset()


def test_a_serial_that_is_not_text_is_refused_when_the_resource_is_made() -> None:
    with pytest.raises(InvalidConfigError):
        target_factory.make_resource(
            Target("t"), "PhonehomeHandset", "phone", {"serial": 1, "inventory": "/x"}
        )
