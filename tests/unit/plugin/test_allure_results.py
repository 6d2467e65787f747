"""allure's own result files tell the truth: FAIL is failed, INCONCLUSIVE broken, and handsets never merge.

allure-pytest 2.16 computes a result's historyId as md5(fullName, parameter values): without the
device among the parameters, two handsets' results of one test share a historyId, and a report
shows one handset's FAIL as a retry of the other's PASS. These run real child sessions of the real
suite and plugin, with the bench faked (`fake_suite`), into one allure results folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from phonehome.policy import registry
from tests.unit.plugin.fake_suite import ENV, fake, make_suite

NOKIA, AOSP = "virtual:nokia-7-plus-2019", "virtual:aosp-clean"
QUICK = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def _child(suite: Path, device: str, allure: Path, results: Path, spec: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), f"--device={device}", f"--results={results}",
         f"--alluredir={allure}", "-q", *QUICK],
        env={**os.environ, ENV: spec}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def allure_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("allure")
    suite = make_suite(root / "suite")
    verdicts = {"declared-endpoints": "FAIL", "consent": "INCONCLUSIVE", "visible-dns": "NOT_APPLICABLE"}
    _child(suite, NOKIA, root / "allure", root / "results", fake(verdicts=verdicts))
    _child(suite, AOSP, root / "allure", root / "results", fake())
    return [json.loads(p.read_text()) for p in (root / "allure").glob("*-result.json")]


def _by(results: list[dict[str, Any]], device: str) -> dict[str, dict[str, Any]]:
    mine = [r for r in results if {"name": "device", "value": device} in r["labels"]]
    return {next(p["value"].strip("'") for p in r["parameters"] if p["name"] == "assertion"): r for r in mine}


def test_every_assertion_has_a_result_per_handset(allure_results: list[dict[str, Any]]) -> None:
    names = {a.name for a in registry()}
    assert set(_by(allure_results, NOKIA)) == names
    assert set(_by(allure_results, AOSP)) == names
    assert len(allure_results) == 2 * len(names)


def test_fail_is_failed_inconclusive_is_broken_not_applicable_is_skipped(
    allure_results: list[dict[str, Any]],
) -> None:
    nokia = _by(allure_results, NOKIA)
    assert nokia["declared-endpoints"]["status"] == "failed"
    assert nokia["consent"]["status"] == "broken"
    assert "INCONCLUSIVE" in nokia["consent"]["statusDetails"]["message"]
    assert nokia["visible-dns"]["status"] == "skipped"
    assert nokia["transport"]["status"] == "passed"
    assert {r["status"] for r in _by(allure_results, AOSP).values()} == {"passed"}


def test_two_handsets_never_share_a_history_id(allure_results: list[dict[str, Any]]) -> None:
    nokia, aosp = _by(allure_results, NOKIA), _by(allure_results, AOSP)
    assert len({r["historyId"] for r in allure_results}) == len(allure_results)
    assert all(nokia[name]["historyId"] != aosp[name]["historyId"] for name in nokia)


def test_device_and_profile_are_parameters_and_labels(allure_results: list[dict[str, Any]]) -> None:
    result = _by(allure_results, NOKIA)["transport"]
    parameters = {p["name"]: p["value"] for p in result["parameters"]}
    assert parameters["device"] == repr(NOKIA)
    assert parameters["profile"] == repr("nokia-7-plus-2019")
    labels = {(label["name"], label["value"]) for label in result["labels"]}
    assert {("device", NOKIA), ("profile", "nokia-7-plus-2019"), ("parentSuite", NOKIA)} <= labels
