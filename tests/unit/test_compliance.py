"""The compliance run as a library object, without root: its scenario, its records, its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from phonehome.compliance import SCENARIO, BadInput, ComplianceRun, DeviceSpec, lab_bench, scenario_options
from phonehome.device import load_inventory
from phonehome.policy import Evaluation, Finding, Verdict, registry, worst
from phonehome.pytest_plugin import Run, Verdicts
from phonehome.report import folder as results
from phonehome.run import check_inputs
from phonehome.scenario import ScriptedOperator
from phonehome.traffic.capture import Capture
from phonehome.traffic.timeline import PhaseMarker
from tests.unit.scenario.fake_handset import FakeHandset

REPO = Path(__file__).resolve().parents[2]


class FakeBench:
    def __init__(self) -> None:
        self.markers: list[PhaseMarker] = []

    def mark(self, phase: str, **detail: object) -> PhaseMarker:
        marker = PhaseMarker(float(len(self.markers)), phase, dict(detail))
        self.markers.append(marker)
        return marker


class FakeLink:
    def __init__(self, handset: FakeHandset | None) -> None:
        self.operator = ScriptedOperator({"power.on": ""})
        self.time_scale = 1e-4
        self.handset: Any = None
        self._handset = handset
        self.adb_mode = "at-boot"

    def lifecycle(self, method: str | None) -> None:
        return None

    def online(self) -> bool:
        return self.handset is not None

    def connect(self, timeout: float) -> Any:
        if self._handset is None:
            raise TimeoutError("no such handset")
        self.handset = self._handset
        return self.handset

    def settle(self) -> list[str]:
        return ["settled"]


def _run(tmp_path: Path, **kwargs: Any) -> ComplianceRun:
    return ComplianceRun(DeviceSpec.parse("virtual:aosp-clean"), results_parent=tmp_path, **kwargs)


def _evaluation(result: str = "PASS") -> Evaluation:
    verdicts = [Verdict(a.name, result if a.name == "consent" else "PASS", "as judged") for a in registry()]
    return Evaluation(
        verdicts, [], worst(v.result for v in verdicts), "10.0.0.2", "given", None, phases=["boot"]
    )


def test_the_consent_assertion_needs_the_consent_decision_besides_the_scenarios_phases(
    tmp_path: Path,
) -> None:
    run = _run(tmp_path, scenarios=("first-boot",))
    run.scenario()
    needed = run.phases_needed()
    assert set(needed) == {a.name for a in registry()}
    assert needed["consent"] == ["boot", "setup-wizard", "network-attach", "settle", "consent"]
    assert needed["declared-endpoints"] == ["boot", "setup-wizard", "network-attach", "settle"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenarios": ("frist-boot",)}, "no such scenario"),
        ({"consent": "accept-some"}, "--consent"),
        ({"scenario_options": {"setle": "1"}}, "not an option"),
    ],
)
def test_a_wrong_scenario_variant_or_option_is_bad_input(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadInput, match=message):
        _run(tmp_path, **kwargs).scenario()


def test_scenario_options_are_key_value_pairs() -> None:
    assert scenario_options(["settle=60", " idle = 7200 "]) == {"settle": "60", "idle": "7200"}
    with pytest.raises(BadInput, match="KEY=VALUE"):
        scenario_options(["settle"])


def test_driving_records_the_phases_covered_and_writes_scenario_json(tmp_path: Path) -> None:
    run = _run(tmp_path, scenarios=("first-boot",), consent="decline-all", scenario_options={"settle": "1"})
    bench = FakeBench()
    done = run.drive(bench, FakeLink(FakeHandset()))  # type: ignore[arg-type]
    assert done.ok, done.problems()
    assert run.phases == ("boot", "setup-wizard", "network-attach", "settle", "consent")
    assert run.problems == []
    assert run.notes[0] == "settled"
    assert run.sockets is not None  # the fake's shell prints no socket tables: the run says so, once
    assert run.notes[1:] == run.sockets.notes
    assert all("socket table" in note for note in run.notes[1:])
    phases = [(m.phase, m.detail.get("end", False)) for m in bench.markers if m.phase != "consent"]
    assert phases == [
        (p, e) for p in ("boot", "setup-wizard", "network-attach", "settle") for e in (False, True)
    ]
    record = json.loads((run.claim() / SCENARIO).read_text())
    assert record["consent"] == "decline-all"
    assert record["covered"][-1] == "consent"
    assert record["reports"]["wizard"]["flavour"] == "aosp"


def test_a_handset_that_never_answers_leaves_every_phase_unreached_as_a_problem(tmp_path: Path) -> None:
    run = _run(tmp_path, scenarios=("first-boot",))
    done = run.drive(FakeBench(), FakeLink(None))  # type: ignore[arg-type]
    assert done.failure is not None
    assert done.failure.step == "power on"
    (problem,) = run.problems
    assert "phases not reached: boot, setup-wizard, network-attach, settle" in problem
    assert run.phases == ()


def test_evaluation_json_holds_the_scenario_and_phases_needed_and_follows_the_schema(tmp_path: Path) -> None:
    run = _run(tmp_path, scenarios=("first-boot",))
    run.drive(FakeBench(), FakeLink(None))  # type: ignore[arg-type]
    run.record_evaluation(_evaluation())
    doc = json.loads((run.claim() / results.EVALUATION).read_text())
    schema = json.loads(results.EVALUATION_SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["scenario"]["name"] == "first-boot"
    assert doc["scenario"]["failure"]["step"] == "power on"
    assert doc["phases_needed"]["consent"][-1] == "consent"
    assert results.EVALUATION_SCHEMA.read_text() == results.render_schema()


def test_a_consent_fail_shows_the_consent_markers_it_was_judged_against(tmp_path: Path) -> None:
    run = Run(DeviceSpec.parse("virtual:oem-pre-consent-telemetry"), results_parent=tmp_path)
    run.scenario()
    run.drive(FakeBench(), FakeLink(FakeHandset()))  # type: ignore[arg-type]
    marker = PhaseMarker(
        1_700_000_000.25, "consent", {"accepted": True, "screen": "google_services", "location": True}
    )
    run.capture = Capture(
        files=[], interface="x", port="wlan", format="pcapng", tool="dumpcap", started=0.0, markers=[marker]
    )
    evaluation = _evaluation("FAIL")
    evaluation.findings.append(
        Finding(
            rule="before-consent", assertion="consent", detail="telemetry.oem.example was contacted before"
        )
    )
    with pytest.raises(pytest.fail.Exception) as info:
        Verdicts(evaluation, run).require("consent")
    text = str(info.value)
    assert (
        "consent marker: 22:13:20.250Z (ts 1700000000.250) accepted=true screen=google_services location=true"
        in text
    )
    assert "scenario: first-boot (consent accept-all)" in text


def test_phonehome_run_refuses_a_wrong_scenario_before_any_bench() -> None:
    problems = check_inputs(
        ["virtual:aosp-clean"],
        bench="benches/virtual.yaml",
        manifest=None,
        inventory=None,
        scenarios=["nope"],
    )
    assert any("no such scenario" in p for p in problems)
    problems = check_inputs(
        ["virtual:aosp-clean"],
        bench="benches/virtual.yaml",
        manifest=None,
        inventory=None,
        scenarios=["first-boot", "idle"],
        consent="minimal",
        scenario_options=["idle=60"],
    )
    assert problems == []


def test_pytest_refuses_a_wrong_scenario_with_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/compliance",
         "--device", "virtual:aosp-clean", "--results", str(tmp_path), "--scenario", "first-boot,nope"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout + done.stderr
    assert "no such scenario" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_handset_over_adb_needs_a_bench_the_virtual_one_has_no_cable_to_it() -> None:
    with pytest.raises(BadInput, match="--bench is required for a handset over ADB"):
        lab_bench(DeviceSpec.parse("adb:PT-0001"), None, None)
    assert lab_bench(DeviceSpec.parse("virtual:aosp-clean"), None, None) == (
        Path("benches/virtual.yaml"),
        None,
    )


def test_the_inventory_places_a_handset_on_its_bench_and_a_port_the_bench_lacks_is_bad_input(
    tmp_path: Path,
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "handsets:\n  - serial: PT-0001\n    bench: benches/lab-example.yaml\n    port: ap1\n"
        "  - serial: PT-0002\n    bench: benches/lab-example.yaml\n    port: desk\n"
    )
    lab = load_inventory(inventory)
    placed = lab_bench(DeviceSpec.parse("adb:PT-0001"), None, lab.find("PT-0001"))
    assert placed == (Path("benches/lab-example.yaml"), "ap1")
    with pytest.raises(BadInput, match=r"bench port 'desk', which benches/lab-example\.yaml does not have"):
        lab_bench(DeviceSpec.parse("adb:PT-0002"), None, lab.find("PT-0002"))


class _LabLink:
    """An adb handset as `ComplianceRun.install_lab_ca` sees it: its ADB mode and whether it answers."""

    def __init__(self, adb_mode: str = "at-boot", online: bool = True) -> None:
        self.adb_mode, self._online = adb_mode, online
        self.connected = 0

    def online(self) -> bool:
        return self._online

    def connect(self, timeout: float) -> object:
        self.connected += 1
        return object()


@pytest.fixture
def lab_ca_pem(tmp_path: Path) -> bytes:
    from phonehome.bench.certs import lab_authority

    return lab_authority(tmp_path / "ca").pem


def test_a_real_handsets_lab_ca_is_installed_through_the_device_layer(
    tmp_path: Path, lab_ca_pem: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phonehome.device import trust

    calls: list[str] = []

    def install(handset: object, pem: bytes, name: str) -> trust.InstalledCa:
        calls.append(name)
        return trust.InstalledCa(f"{trust.SYSTEM_CACERTS}/{name}", apex=True)

    monkeypatch.setattr(trust, "install_system_ca", install)
    run = ComplianceRun(DeviceSpec.parse("adb:0123ABC"), results_parent=tmp_path)
    said = run.install_lab_ca(_LabLink(), lab_ca_pem)  # type: ignore[arg-type]
    assert calls
    assert said.startswith(f"installed in {trust.SYSTEM_CACERTS}/{calls[0]}")
    assert "Conscrypt APEX" in said


@pytest.mark.parametrize(
    ("link", "says"),
    [(_LabLink(adb_mode="after-setup"), "only after setup"), (_LabLink(online=False), "not on ADB")],
)
def test_a_lab_ca_that_cannot_go_in_is_recorded_never_tried_blind(
    tmp_path: Path, lab_ca_pem: bytes, link: _LabLink, says: str
) -> None:
    run = ComplianceRun(DeviceSpec.parse("adb:0123ABC"), results_parent=tmp_path)
    said = run.install_lab_ca(link, lab_ca_pem)  # type: ignore[arg-type]
    assert said.startswith("not installed")
    assert says in said
    assert link.connected == 0


def test_a_user_builds_refusal_is_recorded_not_a_crash(
    tmp_path: Path, lab_ca_pem: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phonehome.device import trust

    def refuse(handset: object, pem: bytes, name: str) -> trust.InstalledCa:
        raise trust.TrustError(
            "0123ABC", trust.STEP, "a user build: its system trust store cannot be written"
        )

    monkeypatch.setattr(trust, "install_system_ca", refuse)
    run = ComplianceRun(DeviceSpec.parse("adb:0123ABC"), results_parent=tmp_path)
    said = run.install_lab_ca(_LabLink(), lab_ca_pem)  # type: ignore[arg-type]
    assert said.startswith("not installed")
    assert "a user build" in said


@pytest.mark.parametrize(
    ("cause", "ends_the_run"),
    [
        ("locked", True),  # fastboot getvar unlocked: no: nothing was erased
        ("refused", True),  # another unit in fastboot mode, no ADB for recovery: nothing was erased
        ("after-erase", False),  # ADB did not come back after the wipe: the first boot may be in the capture
        ("wizard", False),
    ],
)
def test_a_reset_refused_before_any_erase_ends_the_run_without_verdicts(
    cause: str, ends_the_run: bool
) -> None:
    from phonehome.compliance import _refused_reset
    from phonehome.device import DeviceError
    from phonehome.device.fastboot import LOCKED_HINT, BootloaderLockedError
    from phonehome.device.lifecycle import ResetRefused
    from phonehome.pytest_session import error_kind
    from phonehome.scenario import ScenarioResult

    step = "reset to first boot (fastboot-wipe)"
    error = {
        "locked": BootloaderLockedError("tcp:127.0.0.1:5554", step, "the bootloader is locked", LOCKED_HINT),
        "refused": ResetRefused("PT-0001", step, "the device in fastboot mode is PT-0002, not PT-0001"),
        "after-erase": DeviceError("PT-0001", step, "not listed by the adb server"),
        "wizard": DeviceError("PT-0001", "walk the Setup Wizard", "the device is 'offline'"),
    }[cause]
    done = ScenarioResult("first-boot", ["boot"], cause=error)
    if not ends_the_run:
        _refused_reset(done)
        return
    with pytest.raises(DeviceError) as raised:
        _refused_reset(done)
    assert raised.value is error
    assert error_kind(raised.value) == "no-verdict"
