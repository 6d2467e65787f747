"""Batches of virtual handsets on real benches: at once (``phonehome run --jobs``, ``pytest -n``) with the
verdicts of one after another, and differential detection across units of one build.

One batch of eight handsets (four builds, two units each, with different identities) runs four at a
time; three of its handsets run again one after another and under ``pytest -n 3``: every verdict must
be the same. ``phonehome differential`` must flag the build that XORs its IMEI with a fixed key, and
nothing in the clean build, the one sending random ids, or the one sending the IMEI in clear (which
leak detection FAILs instead).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from phonehome.links import virtual_inventory
from phonehome.report import folder as results

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
XOR, NONCE, CLEAN, PLAIN = "oem-xor-imei", "oem-nonce", "aosp-clean", "nokia-7-plus-2019"
UNITS = [f"{build}{unit}" for build in (XOR, NONCE, CLEAN, PLAIN) for unit in ("", f"@{build}-unit-2")]
THREE = [f"virtual:{CLEAN}", f"virtual:{PLAIN}", f"virtual:{XOR}"]
TIMEOUT_S = 900


def _benches_under(parent: Path) -> list[str]:
    """Benches still recorded whose results are under ``parent`` (other helpers' benches may come and go)."""
    from phonehome.bench.runtime import read_states

    return [s.run_id for s in read_states() if str(s.data.get("workdir", "")).startswith(str(parent))]


def _phonehome(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phonehome.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every unit's box label and SIM card, as a lab lists its batch."""
    path = tmp_path_factory.mktemp("inventory") / "inventory.yaml"
    path.write_text(virtual_inventory(UNITS))
    return path


def _batch(parent: Path, devices: list[str], inventory: Path, jobs: int) -> tuple[int, dict[str, Any]]:
    args = [a for d in devices for a in ("--device", d)]
    done = _phonehome("run", *args, "--jobs", str(jobs), "--inventory", str(inventory), "--results", str(parent),
                      "--format", "json")  # fmt: skip
    assert _benches_under(parent) == [], "the batch left benches behind"
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, inventory: Path) -> tuple[int, dict[str, Any]]:
    return _batch(tmp_path_factory.mktemp("batch"), [f"virtual:{u}" for u in UNITS], inventory, jobs=4)


def _verdicts(summary: dict[str, Any]) -> dict[str, tuple[str | None, dict[str, str]]]:
    return {h["device"]: (h["result"], h["verdicts"]) for h in summary["handsets"]}


def _folder(summary: dict[str, Any], device: str) -> str:
    return next(h["results"] for h in summary["handsets"] if h["device"] == device)


def test_a_batch_at_once_gives_every_handset_its_own_folder_and_verdicts(
    batch: tuple[int, dict[str, Any]],
) -> None:
    status, summary = batch
    verdicts = _verdicts(summary)
    assert list(verdicts) == [f"virtual:{u}" for u in UNITS]  # in --device order
    assert all(result is not None for result, _v in verdicts.values()), summary
    folders = [h["results"] for h in summary["handsets"]]
    assert len(set(folders)) == len(UNITS)
    for h in summary["handsets"]:
        evaluation = json.loads((Path(h["results"]) / results.EVALUATION).read_text())
        assert evaluation["device"] == h["device"]
    assert verdicts[f"virtual:{PLAIN}"][1]["no-cleartext-identifiers"] == "FAIL"
    assert verdicts[f"virtual:{CLEAN}"][0] == "PASS"
    # Both pass every assertion on their traffic: only differential detection sees the XOR. Their manifest
    # declares no release, so the build gate cannot pass them (it says so) and sets the overall result.
    for build in (XOR, NONCE):
        for unit in (f"virtual:{build}", f"virtual:{build}@{build}-unit-2"):
            result, listed = verdicts[unit]
            by_assertion = dict(listed)  # the batch is the module's: read it, never change it
            assert by_assertion.pop("build-identity") == "INCONCLUSIVE"
            assert set(by_assertion.values()) <= {"PASS", "NOT_APPLICABLE"}, by_assertion
            assert result == "INCONCLUSIVE"
    assert status == 1
    page = (Path(summary["results"]) / "report.html").read_text()
    assert all(f"virtual:{u}" in page for u in UNITS)


def test_three_handsets_at_once_one_after_another_and_under_pytest_n_agree(
    batch: tuple[int, dict[str, Any]], inventory: Path, tmp_path: Path
) -> None:
    _status, summary = batch
    together = {d: v for d, v in _verdicts(summary).items() if d in THREE}
    _status, sequential = _batch(tmp_path / "seq", THREE, inventory, jobs=1)
    assert _verdicts(sequential) == together
    xdist = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/compliance", *(f"--device={d}" for d in THREE), "-n", "3",
         f"--inventory={inventory}", f"--results={tmp_path / 'xdist'}", "-p", "no:cacheprovider", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    assert _benches_under(tmp_path / "xdist") == [], "pytest -n left benches behind"
    found: dict[str, tuple[str | None, dict[str, str]]] = {}
    pids = set()
    for path in (tmp_path / "xdist").glob(f"*/{results.EVALUATION}"):
        doc = json.loads(path.read_text())
        assert doc["device"] not in found, f"{doc['device']} was judged twice: {xdist.stdout[-2000:]}"
        found[doc["device"]] = (doc["result"], {v["assertion"]: v["result"] for v in doc["verdicts"]})
        pids.add(json.loads((path.parent / results.SESSION).read_text())["pid"])
    assert found == together, xdist.stdout[-3000:]
    assert len(pids) == 3  # a worker per handset
    assert xdist.returncode == 1


def _differential(summary: dict[str, Any], build: str) -> tuple[int, dict[str, Any]]:
    folders = [_folder(summary, f"virtual:{build}"), _folder(summary, f"virtual:{build}@{build}-unit-2")]
    done = _phonehome("differential", *folders, "--format", "json")
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_differential_detection_flags_the_xor_build_with_both_excerpts(
    batch: tuple[int, dict[str, Any]],
) -> None:
    status, found = _differential(batch[1], XOR)
    assert status == 1, found
    (suspect,) = found["suspects"]
    assert suspect["endpoint"] == "activation.oem.example:80/tcp"
    assert (suspect["field"], suspect["method"], suspect["identifiers"]) == (
        "header:x-device-token",
        "xor",
        ["imei"],
    )
    assert "5a17c3e9a4b2d8016e3f9c7b21d4a8" in suspect["detail"]  # the firmware's key, recovered
    assert len({e["excerpt"] for e in suspect["excerpts"]}) == 2


@pytest.mark.parametrize("build", [NONCE, CLEAN, PLAIN])
def test_differential_detection_flags_nothing_in_the_controls(
    batch: tuple[int, dict[str, Any]], build: str
) -> None:
    status, found = _differential(batch[1], build)
    assert (status, found["suspects"]) == (0, []), found


def test_a_whole_batch_folder_can_be_compared(batch: tuple[int, dict[str, Any]]) -> None:
    done = _phonehome("differential", batch[1]["results"], "--format", "json")
    found = json.loads(done.stdout)
    assert done.returncode == 1
    assert {(s["endpoint"], s["field"]) for s in found["suspects"]} == {
        ("activation.oem.example:80/tcp", "header:x-device-token")
    }
