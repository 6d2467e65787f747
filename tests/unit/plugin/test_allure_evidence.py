"""allure's own result files from a batch of one FAILing and one PASSing handset, and their JUnit XML.

Two real child sessions of the real suite and plugin (the bench faked, `fake_suite` with evidence) write
into one allure results folder, as `phonehome run` does. What allure would count and show is read from
its files: results per handset, environment.properties, categories.json, the phase steps of each test,
and the attachments (evaluation, HTML report, capture).
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

from tests.unit.plugin.fake_suite import ENV, fake, make_suite

NOKIA, AOSP = "virtual:nokia-7-plus-2019", "virtual:aosp-clean"
QUICK = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    suite = make_suite(root / "suite")
    for device, verdicts in ((NOKIA, {"declared-endpoints": "FAIL", "consent": "INCONCLUSIVE"}), (AOSP, {})):
        slug = device.replace(":", "-")
        subprocess.run(
            [sys.executable, "-m", "pytest", str(suite), f"--device={device}", f"--results-dir={root / slug}",
             f"--alluredir={root / 'allure'}", f"--junitxml={root / slug / 'junit.xml'}", "-q", *QUICK],
            env={**os.environ, ENV: fake(verdicts=verdicts, evidence=True)},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    return root


def _results(batch: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in (batch / "allure").glob("*-result.json")]


def _containers(batch: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in (batch / "allure").glob("*-container.json")]


def _device(result: dict[str, Any]) -> str:
    return next(label["value"] for label in result["labels"] if label["name"] == "device")


def _assertion(result: dict[str, Any]) -> str:
    return next(p["value"].strip("'") for p in result["parameters"] if p["name"] == "assertion")


def test_allure_counts_one_failed_handset_and_one_passed(batch: Path) -> None:
    by_device: dict[str, set[str]] = {}
    for result in _results(batch):
        by_device.setdefault(_device(result), set()).add(result["status"])
    failed = [d for d, statuses in by_device.items() if "failed" in statuses]
    passed = [d for d, statuses in by_device.items() if statuses == {"passed"}]
    assert failed == [NOKIA]
    assert passed == [AOSP]
    nokia = {_assertion(r): r["status"] for r in _results(batch) if _device(r) == NOKIA}
    assert nokia["declared-endpoints"] == "failed"
    assert nokia["consent"] == "broken"


def test_the_environment_names_the_version_each_build_its_bench_and_manifest(batch: Path) -> None:
    text = (batch / "allure" / "environment.properties").read_text(encoding="latin-1")
    entries = dict(line.split("=", 1) for line in text.splitlines())
    assert entries["phonehome"]
    assert entries["virtual\\:nokia-7-plus-2019\\ build\\ fingerprint"] == (
        "Fake/nokia-7-plus-2019/x\\:14/U1/1\\:user/release-keys".replace("\\:", ":")
    )
    assert entries["virtual\\:aosp-clean\\ build\\ type"] == "user"
    assert "virtual\\:nokia-7-plus-2019\\ bench" in entries
    assert "virtual\\:aosp-clean\\ manifest\\ sha256" in entries


def test_categories_tell_fail_from_inconclusive_from_errors(batch: Path) -> None:
    categories = json.loads((batch / "allure" / "categories.json").read_text())
    names = [c["name"] for c in categories]
    assert names[0].startswith("FAIL")
    assert names[1].startswith("INCONCLUSIVE")
    assert categories[0]["matchedStatuses"] == ["failed"]
    assert categories[1]["matchedStatuses"] == ["broken"]


def test_each_test_has_a_step_per_phase_failed_where_a_fail_was_sent(batch: Path) -> None:
    nokia = {_assertion(r): r for r in _results(batch) if _device(r) == NOKIA}
    steps = {s["name"]: s for s in nokia["declared-endpoints"]["steps"]}
    assert steps["phase boot: 1 finding of declared-endpoints"]["status"] == "failed"
    assert steps["phase setup-wizard: 0 findings of declared-endpoints"]["status"] == "passed"
    (finding,) = steps["phase boot: 1 finding of declared-endpoints"]["steps"]
    assert "undeclared-endpoint" in finding["name"]
    assert "frames 2,3" in finding["name"]
    consent = {s["name"]: s["status"] for s in nokia["consent"]["steps"]}
    assert consent["phase consent: not reached (needed by consent)"] == "broken"


def test_evaluation_html_report_and_capture_are_attached(batch: Path) -> None:
    attached: dict[str, dict[str, Any]] = {}
    for container in _containers(batch):
        for before in container.get("befores", []):
            for attachment in before.get("attachments", []):
                attached[attachment["name"]] = attachment
    names = " | ".join(attached)
    assert "evaluation.json" in attached
    (html,) = [a for n, a in attached.items() if n.startswith("report.html") and a["type"] == "text/html"][:1]
    assert (batch / "allure" / html["source"]).read_text().startswith("<!DOCTYPE html>")
    pcaps = [a for a in attached.values() if a["type"] == "application/vnd.tcpdump.pcap"]
    assert any("sealed" in a["name"] for a in pcaps), names
    assert any("capture-phases.pcapng" in a["name"] for a in pcaps), names
    for attachment in pcaps:
        assert (batch / "allure" / attachment["source"]).stat().st_size > 0


def test_junit_names_each_suite_after_its_handset_with_its_properties(batch: Path) -> None:
    for device in (NOKIA, AOSP):
        suite = ET.parse(batch / device.replace(":", "-") / "junit.xml").getroot().find("testsuite")
        assert suite is not None
        assert suite.get("name") == device
        properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert properties["device"] == device
        assert properties["fingerprint"].startswith("Fake/")
        assert properties["build_type"] == "user"
        assert "manifest_sha256" in properties
        assert properties["phonehome"]


def test_junit_failure_text_carries_the_evidence(batch: Path) -> None:
    root = ET.parse(batch / "virtual-nokia-7-plus-2019" / "junit.xml").getroot()
    (case,) = [c for c in root.iter("testcase") if "declared-endpoints" in (c.get("name") or "")]
    failure = case.find("failure")
    assert failure is not None
    text = (failure.get("message") or "") + (failure.text or "")
    for part in ("declared-endpoints: FAIL", "zzhc.vnet.cn:80/tcp is not declared", "frames 2,3",
                 "http-body>base64>json:IMEI1", "in phase boot", "requirements:"):  # fmt: skip
        assert part in text, part
