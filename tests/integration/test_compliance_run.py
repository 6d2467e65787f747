"""The end-to-end compliance run: real bench, virtual handsets over the real adb server, real capture.

`phonehome run` drives `pytest tests/compliance` once per handset; the 2019
Nokia firmware must FAIL with the self-registration's evidence, the clean AOSP
build must PASS, and the run must leave nothing of the bench behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from phonehome.traffic.capture import file_sha256

REPO = Path(__file__).resolve().parents[2]
NOKIA, AOSP = "virtual:nokia-7-plus-2019", "virtual:aosp-clean"


def _namespaces() -> set[str]:
    from pyroute2 import netns

    return set(netns.listnetns())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, str]:
    results = tmp_path_factory.mktemp("results")
    before = _namespaces()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "phonehome.cli",
            "run",
            "--device",
            NOKIA,
            "--device",
            AOSP,
            "--results",
            str(results),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert _namespaces() <= before, "the run left network namespaces behind"
    (run_dir,) = results.iterdir()
    return done.returncode, run_dir, done.stdout + done.stderr


def _device(run_dir: Path, device: str) -> dict:  # type: ignore[type-arg]
    summary = json.loads((run_dir / "summary.json").read_text())
    return next(d for d in summary if d["device"] == device)


def _evaluation(run_dir: Path, device: str) -> dict:  # type: ignore[type-arg]
    return json.loads((Path(_device(run_dir, device)["results"]) / "evaluation.json").read_text())


@pytest.mark.root
def test_run_exits_fail_and_prints_verdicts_and_the_report_path(run: tuple[int, Path, str]) -> None:
    status, run_dir, output = run
    assert status == 1, output
    assert f"{NOKIA}: FAIL" in output
    assert f"{AOSP}: PASS" in output
    assert f"report: {run_dir}" in output


@pytest.mark.root
def test_nokia_2019_fails_on_zzhc_and_identifiers_in_clear(run: tuple[int, Path, str]) -> None:
    _, run_dir, output = run
    verdicts = _device(run_dir, NOKIA)["verdicts"]
    for assertion in ("declared-endpoints", "no-cleartext-identifiers", "identifier-recipients"):
        assert verdicts[assertion] == "FAIL", output
    findings = _evaluation(run_dir, NOKIA)["findings"]
    undeclared = {f["flow"]["server_name"] for f in findings if f["rule"] == "undeclared-endpoint"}
    assert undeclared == {"zzhc.vnet.cn"}
    leaked = {
        f["identifier"]: f
        for f in findings
        if f["rule"] == "cleartext-identifier" and f["flow"]["server_name"] == "zzhc.vnet.cn"
    }
    assert {"imei", "iccid", "wifi_mac"} <= set(leaked)
    assert leaked["imei"]["decode"].startswith("http-body>base64>json:IMEI")
    assert leaked["iccid"]["decode"] == "http-body>base64>json:SIM1ICCID"
    assert all(f["frames"] and f["phase"] == "network-attach" for f in leaked.values())


@pytest.mark.root
def test_aosp_clean_passes_every_first_boot_assertion(run: tuple[int, Path, str]) -> None:
    _, run_dir, output = run
    verdicts = _device(run_dir, AOSP)["verdicts"]
    for assertion in (
        "declared-endpoints",
        "no-cleartext-identifiers",
        "identifier-recipients",
        "transport",
        "visible-dns",
    ):
        assert verdicts[assertion] == "PASS", output
    assert verdicts["consent"] == "NOT_APPLICABLE"  # the first-boot window never shows the wizard


@pytest.mark.root
def test_results_hold_the_capture_identity_and_junit(run: tuple[int, Path, str]) -> None:
    _, run_dir, _ = run
    folder = Path(_device(run_dir, NOKIA)["results"])
    capture = json.loads((folder / "capture.json").read_text())
    for digest in capture["files"]:
        assert file_sha256(Path(digest["path"])) == digest["sha256"]
    identity = json.loads((folder / "identity.json").read_text())
    assert {r["source"] for r in identity["provenance"]} >= {"adb:service-call", "adb:getprop"}
    cases = ET.parse(run_dir / "virtual-nokia-7-plus-2019-junit.xml").getroot().iter("testcase")
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert "test_every_endpoint_reached_is_declared" in failed
    assert "test_no_identifier_travels_in_clear" in failed
