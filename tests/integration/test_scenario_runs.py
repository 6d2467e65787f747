"""Scenarios inside the compliance run: real benches, the real adb server, uiautomator2, virtual handsets.

Each test is one ``phonehome run`` (the pytest suite in a child per handset),
read back from its results folder: the verdicts, the findings with their
phases, the timeline's markers, the scenario's record and its evidence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from phonehome.policy import registry
from phonehome.report import folder as results
from phonehome.traffic.timeline import load_timeline

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
INVENTORY = str(REPO / "devices" / "virtual-inventory.yaml")
RUN_TIMEOUT_S = 600


def _phonehome(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phonehome.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


class Ran:
    """One handset's run, read from its folder."""

    def __init__(self, done: subprocess.CompletedProcess[str], parent: Path) -> None:
        self.status = done.returncode
        self.output = done.stdout + done.stderr
        (run_dir,) = tuple(
            p for p in parent.iterdir() if p.is_dir()
        )  # the results store's file sits beside them
        (self.summary,) = json.loads((run_dir / "summary.json").read_text())
        assert self.summary["results"], self.output
        self.folder = Path(self.summary["results"])
        self.evaluation: dict[str, Any] = json.loads((self.folder / results.EVALUATION).read_text())
        self.markers = load_timeline(self.folder / "bench" / "timeline.jsonl")

    def verdict(self, assertion: str) -> dict[str, Any]:
        return next(v for v in self.evaluation["verdicts"] if v["assertion"] == assertion)

    def findings(self, **where: Any) -> list[dict[str, Any]]:
        return [f for f in self.evaluation["findings"] if all(f.get(k) == v for k, v in where.items())]

    def junit_failure(self, assertion: str) -> str:
        for case in ET.parse(self.folder / "junit.xml").getroot().iter("testcase"):
            if case.get("name") == f"test_assertion[{assertion}]":
                failure = case.find("failure")
                return "" if failure is None else (failure.get("message", "") + (failure.text or ""))
        raise AssertionError(f"no test for {assertion}")


def run(tmp_path: Path, device: str, *args: str, env: dict[str, str] | None = None) -> Ran:
    parent = tmp_path / "results"
    return Ran(_phonehome("run", "--device", device, "--results", str(parent), *args, env=env), parent)


def test_pre_consent_telemetry_fails_consent_with_the_marker_and_the_flows_as_evidence(
    tmp_path: Path,
) -> None:
    ran = run(tmp_path, "virtual:oem-pre-consent-telemetry", "--inventory", INVENTORY)
    assert ran.status == 1, ran.output
    assert ran.verdict("consent")["result"] == "FAIL"
    (early,) = [
        f for f in ran.findings(rule="before-consent") if f["flow"]["server_name"] == "telemetry.oem.example"
    ]
    consent = [m for m in ran.markers if m.phase == "consent"]
    assert consent
    assert consent[0].detail["accepted"] is True
    assert early["ts"] < consent[0].ts
    assert early["phase"] == "boot"
    evidence = ran.junit_failure("consent")
    assert "telemetry.oem.example" in evidence
    assert "consent marker:" in evidence
    assert "accepted=true" in evidence
    assert "consent" in ran.evaluation["phases"]
    assert ran.evaluation["phases_needed"]["consent"][-1] == "consent"


def test_aosp_clean_declining_everything_passes_every_assertion(tmp_path: Path) -> None:
    ran = run(tmp_path, "virtual:aosp-clean", "--consent", "decline-all", "--inventory", INVENTORY)
    verdicts = {v["assertion"]: v["result"] for v in ran.evaluation["verdicts"]}
    # It makes no TLS connection (NTP and the cleartext portal probe): nothing to validate.
    assert verdicts.pop("certificate-validation") == "NOT_APPLICABLE", ran.output
    assert set(verdicts.values()) == {"PASS"}, ran.output
    assert set(verdicts) == {a.name for a in registry()} - {"certificate-validation"}
    assert ran.evaluation["result"] == "PASS"
    assert ran.status == 0
    assert [m.detail["accepted"] for m in ran.markers if m.phase == "consent"] == [False]
    assert ran.evaluation["scenario"]["covered"] == [
        "boot",
        "setup-wizard",
        "network-attach",
        "settle",
        "consent",
    ]
    assert "test_assertion[consent]" in (ran.folder / "junit.xml").read_text()


def test_nokia_activation_fails_with_findings_in_the_activation_phase(tmp_path: Path) -> None:
    """Needs the virtual handset's SIM (virtual-scenarios): a new ICCID re-triggers the registration."""
    ran = run(tmp_path, "virtual:nokia-7-plus-2019", "--scenario", "activation", "--inventory", INVENTORY)
    assert ran.status == 1, ran.output
    assert ran.evaluation["scenario"]["unreached"] == [], ran.evaluation["scenario"]
    in_activation = [
        f for f in ran.findings(rule="cleartext-identifier", phase="activation")
        if f["flow"]["server_name"] == "zzhc.vnet.cn"
    ]  # fmt: skip
    assert {"iccid", "imei"} <= {f["identifier"] for f in in_activation}
    identity = json.loads((ran.folder / results.IDENTITY).read_text())
    assert len(set(identity["iccid"])) == len(identity["iccid"]) == 2  # the inventory's card and the new one


def test_nokia_unlock_resends_the_registration(tmp_path: Path) -> None:
    """Needs the virtual handset's screen lock (virtual-scenarios): the Nokia client re-sends on unlock."""
    ran = run(
        tmp_path, "virtual:nokia-7-plus-2019", "--scenario", "first-boot,unlock", "--inventory", INVENTORY,
        "--scenario-option", "settle=60",
    )  # fmt: skip
    assert ran.status == 1, ran.output
    assert ran.evaluation["scenario"]["unreached"] == [], ran.evaluation["scenario"]
    resent = [
        f for f in ran.findings(rule="cleartext-identifier", identifier="imei", phase="unlock")
        if f["flow"]["server_name"] == "zzhc.vnet.cn"
    ]  # fmt: skip
    assert resent


def test_idle_keeps_the_screen_off_for_handset_hours_and_sees_the_hourly_retries(tmp_path: Path) -> None:
    """Needs the virtual handset's screen (virtual-scenarios): two hours of handset time in 0.72 s."""
    ran = run(tmp_path, "virtual:nokia-7-plus-2019", "--scenario", "idle", "--scenario-option", "idle=7200")
    assert ran.status == 1, ran.output
    assert ran.evaluation["scenario"]["covered"] == ["boot", "idle"]
    start = next(m for m in ran.markers if m.phase == "idle" and not m.is_end)
    end = next(m for m in ran.markers if m.phase == "idle" and m.is_end)
    assert start.detail["idle_s"] == 7200
    assert end.detail["wakefulness"] in ("Asleep", "Dozing")
    assert 0.7 <= end.ts - start.ts < 10  # time-scaled: 7200 s * 1e-4, at least the one-second floor
    retries = [
        f
        for f in ran.findings(rule="undeclared-recipient", phase="idle")
        if f["flow"]["server_name"] == "zzhc.vnet.cn"
    ]
    assert retries


def test_an_unknown_screen_is_inconclusive_with_a_screenshot_and_the_hierarchy(tmp_path: Path) -> None:
    yaml = YAML()
    doc = yaml.load((REPO / "scenarios" / "screenmaps" / "aosp.yaml").read_text())
    doc["screens"] = [s for s in doc["screens"] if s["name"] != "signin"]
    partial = tmp_path / "aosp.yaml"
    with partial.open("w") as out:
        yaml.dump(doc, out)
    ran = run(
        tmp_path, "virtual:aosp-clean", "--consent", "decline-all", "--inventory", INVENTORY,
        "--scenario-option", f"screenmap={partial}",
    )  # fmt: skip
    assert ran.status == 3, ran.output
    assert {v["result"] for v in ran.evaluation["verdicts"]} == {"INCONCLUSIVE"}
    failure = ran.evaluation["scenario"]["failure"]
    assert failure["phase"] == "setup-wizard"
    assert "unknown screen" in failure["error"]
    assert ran.evaluation["scenario"]["unreached"] == ["setup-wizard", "network-attach", "settle"]
    shot, dump = (ran.folder / f for f in failure["evidence"])
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert "com.google.android.gms:id/identifierId" in dump.read_text()
    reason = ran.verdict("declared-endpoints")["reason"]
    assert "phases not reached: setup-wizard, network-attach, settle" in reason
    assert failure["evidence"][0] in reason
    end = [m for m in ran.markers if m.phase == "setup-wizard" and m.is_end]
    assert end[0].detail["completed"] is False


SCRIPT = '''
"""The wizard only: boot and the Setup Wizard with the consent variant (a lab's own scenario)."""

from phonehome.scenario import Options, Phase, PowerOn, Scenario, Settle, WaitBootCompleted, WalkSetupWizard


def scenario(options: Options) -> Scenario:
    return Scenario("wizard-only", "boot and the wizard", [
        Phase("boot", [PowerOn(), WaitBootCompleted()], once=True),
        Phase("setup-wizard", [WalkSetupWizard(options.consent)]),
        Phase("settle", [Settle(1)]),
    ])
'''


def test_a_real_handset_path_drives_a_virtual_handset_treated_as_real(tmp_path: Path) -> None:
    """``--device adb:SERIAL``: no virtual link, no firmware, no operator of the virtual package; the
    handset started on its own is an adb serial like a phone on USB (not on the bench: no traffic)."""
    from phonehome.virtual.testing import PrivateAdbServer, bundled_adb

    script = tmp_path / "wizard-only.py"
    script.write_text(SCRIPT)
    env = {"PHONEHOME_RUN_DIR": str(tmp_path / "virtual-run")}
    name = f"treated-as-real-{os.getpid()}"
    started = _phonehome(
        "virtual", "start", "--profile", "aosp-clean", "--name", name, "--time-scale", "0.01", env=env
    )
    assert started.returncode == 0, started.stderr
    serial = started.stdout.split("\t")[1]
    server = PrivateAdbServer(bundled_adb(), tmp_path / "adb-home").start()
    try:
        ran = run(
            tmp_path, f"adb:{serial}", "--bench", "benches/virtual.yaml", "--scenario", str(script),
            "--consent", "decline-all", "--", f"--adb-port={server.port}", env=env,
        )  # fmt: skip
        settings = server.run("-s", serial, "shell", "settings", "get", "secure", "user_setup_complete")
    finally:
        server.stop()
        _phonehome("virtual", "stop", name, env=env)
    assert ran.status == 3, ran.output  # nothing it sent was on the bench: INCONCLUSIVE, never PASS
    # Only the build gate can pass: it reads the package list over ADB, not the traffic.
    assert "PASS" not in {
        v["result"] for v in ran.evaluation["verdicts"] if v["assertion"] != "build-identity"
    }
    assert ran.evaluation["scenario"]["covered"] == ["boot", "setup-wizard", "settle", "consent"]
    assert [m.detail["accepted"] for m in ran.markers if m.phase == "consent"] == [False]
    boot_end = next(m for m in ran.markers if m.phase == "boot" and m.is_end)
    assert boot_end.detail["power"] == "already on"
    assert not (ran.folder / "firmware-phases.jsonl").exists()
    assert settings.stdout.strip() == "1"
