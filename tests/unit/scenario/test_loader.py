"""Scenarios are found by name in scenarios/ (or a lab's folder, or a path), and built from options."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.scenario import Options, ScenarioError, WalkSetupWizard, build_scenario, scenario_names
from phonehome.scenario.screenmap import SCENARIO_DIR_ENV

SHIPPED = {
    "first-boot": ["boot", "setup-wizard", "network-attach", "settle"],
    "activation": ["boot", "activation"],
    "unlock": ["boot", "screen-off", "unlock"],
    "idle": ["boot", "idle"],
}


def test_the_shipped_scenarios_are_found_by_name() -> None:
    assert set(SHIPPED) <= set(scenario_names())


@pytest.mark.parametrize(("name", "phases"), SHIPPED.items())
def test_each_shipped_scenario_declares_its_phases_in_order(name: str, phases: list[str]) -> None:
    assert build_scenario([name], Options()).phase_names == phases


def test_first_boot_walks_the_wizard_with_the_consent_variant_given() -> None:
    scenario = build_scenario(["first-boot"], Options(consent="minimal"))
    wizard = scenario.phases[1]
    assert wizard.detail == {"consent": "minimal"}
    (step,) = wizard.steps
    assert isinstance(step, WalkSetupWizard)
    assert step.consent == "minimal"


def test_scenarios_run_in_sequence_with_one_boot() -> None:
    scenario = build_scenario(["first-boot", "activation", "idle"], Options())
    assert scenario.name == "first-boot+activation+idle"
    assert scenario.phase_names == [
        "boot", "setup-wizard", "network-attach", "settle", "activation", "idle"
    ]  # fmt: skip


def test_an_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no such scenario.*first-boot"):
        build_scenario(["frist-boot"], Options())


def test_an_option_no_scenario_reads_is_refused_as_a_typo() -> None:
    with pytest.raises(ScenarioError, match="--scenario-option setle: not an option of idle"):
        build_scenario(["idle"], Options(values={"setle": "1"}))


def test_an_option_with_a_bad_value_names_the_file() -> None:
    with pytest.raises(ScenarioError, match=r"idle\.py: scenario option idle='soon'"):
        build_scenario(["idle"], Options(values={"idle": "soon"}))
    with pytest.raises(ScenarioError, match="choose one of inventory, never, fastboot-wipe"):
        build_scenario(["first-boot"], Options(values={"reset": "yes"}))


def test_an_unknown_consent_variant_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"--consent.*accept-all, decline-all, minimal"):
        build_scenario(["first-boot"], Options(consent="accept-some"))


def test_a_lab_adds_its_own_scenario_beside_the_shipped_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "reboot-twice.py").write_text(
        "from phonehome.scenario import Options, Phase, Scenario, Shell\n"
        "def scenario(options: Options) -> Scenario:\n"
        "    return Scenario('reboot-twice', 'x', [Phase('work', [Shell(['true'])])])\n"
    )
    monkeypatch.setenv(SCENARIO_DIR_ENV, str(tmp_path))
    assert "reboot-twice" in scenario_names()
    assert build_scenario(["reboot-twice"], Options()).phase_names == ["work"]
    assert build_scenario([str(tmp_path / "reboot-twice.py")], Options()).name == "reboot-twice"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x = 1\n", "defines no scenario"),
        ("def scenario(options):\n    return 42\n", "returned int, not a Scenario"),
        ("import nonexistent_module_xyz\n", "ModuleNotFoundError"),
        ("def scenario(options):\n    raise RuntimeError('boom')\n", "RuntimeError: boom"),
    ],
)
def test_a_broken_script_is_bad_input_naming_its_file(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "mine.py"
    path.write_text(body)
    with pytest.raises(ScenarioError, match=f"mine.py.*{message}"):
        build_scenario([str(path)], Options())


def test_the_readmes_own_scenario_builds(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    blocks = readme.split("```python\n")[1:]
    (script,) = [b.split("```", 1)[0] for b in blocks if "def scenario(options" in b]
    (tmp_path / "night.py").write_text(script)
    built = build_scenario([str(tmp_path / "night.py")], Options(values={"hours": "1"}))
    assert built.phase_names == ["boot", "night"]
