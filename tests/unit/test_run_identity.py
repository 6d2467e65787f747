"""The run's judged identity: the inventory and what the scenario learned, and a problem where it fell short."""

from __future__ import annotations

from pathlib import Path

from phonehome.compliance import ComplianceRun, DeviceSpec
from phonehome.policy import Identity
from phonehome.run_identity import read_run_identity, with_learned
from phonehome.scenario import ScenarioResult


def test_a_new_sim_the_operator_named_is_looked_for_beside_the_old_one() -> None:
    problems: list[str] = []
    old = Identity.model_validate({"iccid": "8947010000001234568", "sources": {"iccid": "inventory"}})
    new = with_learned(old, {"iccid": ["8947 0100 0000 9999 995"], "imsi": ["242019999999999"]}, problems)
    assert new.iccid == ["8947010000001234568", "8947010000009999995"]
    assert new.imsi == ["242019999999999"]
    assert new.sources == {"iccid": "inventory, scenario", "imsi": "scenario"}
    assert problems == []
    again = with_learned(new, {"iccid": ["8947010000009999995"]}, problems)
    assert again.iccid == new.iccid  # read over ADB and typed by the operator: one card


def test_a_typo_at_the_prompt_is_a_problem_not_an_identifier() -> None:
    problems: list[str] = []
    new = with_learned(Identity(), {"iccid": ["89470"]}, problems)
    assert new.iccid == []
    (problem,) = problems
    assert "iccid='89470'" in problem
    assert "cannot be looked for" in problem


def test_without_an_adb_connection_the_inventory_is_used_and_the_run_cannot_pass(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "handsets:\n  - serial: R58M41ABCDE\n    adb_serial: 192.0.2.41:5555\n    identity: {imei: '352608058712344'}\n"
    )
    run = ComplianceRun(
        DeviceSpec.parse("adb:192.0.2.41:5555"), results_parent=tmp_path, inventory_file=inventory
    )
    run.scenario_result = ScenarioResult("first-boot", ["boot"], learned={"iccid": ["8947010000001234568"]})
    identity = read_run_identity(run)
    assert identity.imei == ["352608058712344"]
    assert identity.iccid == ["8947010000001234568"]
    assert identity.sources["imei"] == "inventory"
    assert any("never reached the handset" in p for p in run.problems)
    assert (run.claim() / "identity.json").exists()


class SerialOnly:
    """A handset over ADB that answers only ``getprop ro.serialno``."""

    def __init__(self, serial: str) -> None:
        self.serial = serial

    def getprop(self, name: str, *, step: str = "getprop", timeout: float | None = None) -> str:
        assert name == "ro.serialno"
        return self.serial


def _retail_run(tmp_path: Path, serial_over_adb: str) -> ComplianceRun:
    from phonehome.run_identity import confirm_after_setup

    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "handsets:\n  - serial: PT-0001\n    adb_serial: 10.0.0.5:5555\n    adb: after-setup\n"
    )
    run = ComplianceRun(
        DeviceSpec.parse("adb:10.0.0.5:5555"), inventory_file=inventory, results_parent=tmp_path
    )
    run.handset = SerialOnly(serial_over_adb)  # type: ignore[assignment]
    confirm_after_setup(run)
    return run


def test_a_retail_build_known_by_its_inventory_entry_is_confirmed_over_adb_after_setup(
    tmp_path: Path,
) -> None:
    run = _retail_run(tmp_path, "PT-0001")
    assert run.problems == []
    assert any("confirmed over ADB after setup (ro.serialno PT-0001)" in note for note in run.notes)


def test_another_unit_over_adb_after_setup_is_a_problem_no_pass_can_hide(tmp_path: Path) -> None:
    run = _retail_run(tmp_path, "PT-0002")
    (problem,) = run.problems
    assert "is PT-0002, not the inventory's PT-0001" in problem
