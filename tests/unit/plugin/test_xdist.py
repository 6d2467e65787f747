"""``--device`` with pytest-xdist: one worker per handset, each handset's tests on its worker alone.

A distribution that would spread one handset's tests over workers (each bringing a bench up for it, or
judging one's capture in another's worker) is refused in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from phonehome.policy import registry
from phonehome.pytest_scheduler import handset_scope
from phonehome.report import folder as results
from tests.unit.plugin.fake_suite import ENV, fake, make_suite

QUICK = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
HANDSETS = ("virtual:aosp-clean", "virtual:nokia-7-plus-2019", "virtual:oem-ip-literal")
FAKED = {
    "virtual:nokia-7-plus-2019": {"transport": "FAIL"},
    "virtual:oem-ip-literal": {"consent": "INCONCLUSIVE"},
}


def _pytest(cwd: Path, *args: str, env: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *QUICK, *args],
        cwd=cwd, env={**os.environ, ENV: env or fake()}, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _sessions(parent: Path) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for path in sorted(parent.glob(f"*/{results.SESSION}")):
        doc = json.loads(path.read_text())
        found.setdefault(doc["device"], []).append({**doc, "folder": path.parent})
    return found


def _verdicts(folder: object) -> dict[str, str]:
    doc = json.loads((Path(str(folder)) / results.EVALUATION).read_text())
    return {v["assertion"]: v["result"] for v in doc["verdicts"]}


@pytest.mark.parametrize(
    "split",
    [["--dist", "load", "-n", "2"], ["--dist", "each", "-n", "2"], ["--dist", "load", "--tx", "popen"]],
)
def test_a_distribution_that_splits_a_handset_is_refused_in_one_clear_line(
    tmp_path: Path, split: list[str]
) -> None:
    suite = make_suite(tmp_path / "suite")
    done = _pytest(tmp_path, str(suite), "--device=virtual:aosp-clean", f"--results={tmp_path / 'r'}", *split)
    assert done.returncode == 4, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert "pytest-xdist" in errors[0]
    assert "-n N alone" in errors[0]
    assert not (tmp_path / "r").exists()  # refused before any folder, bench or handset


def test_one_handset_under_n_workers_is_one_session_on_one_worker(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    done = _pytest(
        tmp_path, str(suite), "--device=virtual:aosp-clean", f"--results={tmp_path / 'r'}", "-n", "2"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sessions = _sessions(tmp_path / "r")
    assert list(sessions) == ["virtual:aosp-clean"]
    assert len(sessions["virtual:aosp-clean"]) == 1  # one folder, one bench: not one per worker
    assert len(sessions["virtual:aosp-clean"][0]["tests"]) == len(registry())  # type: ignore[arg-type]


def test_three_handsets_under_three_workers_get_a_worker_each_and_their_own_verdicts(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    devices = [f"--device={d}" for d in HANDSETS]
    env = fake(by_device=FAKED)
    done = _pytest(tmp_path, str(suite), *devices, f"--results={tmp_path / 'par'}", "-n", "3",
                   f"--junitxml={tmp_path / 'junit.xml'}", env=env)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    parallel = _sessions(tmp_path / "par")
    assert sorted(parallel) == sorted(HANDSETS)
    assert all(len(s) == 1 for s in parallel.values())  # one folder per handset
    assert len({s[0]["pid"] for s in parallel.values()}) == 3  # each on a worker of its own
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    named = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    assert named["test_assertion[virtual:oem-ip-literal-consent]"] == {"device": "virtual:oem-ip-literal"}
    for device in HANDSETS:
        sequential = tmp_path / f"seq-{device.replace(':', '_')}"
        alone = _pytest(tmp_path, str(suite), f"--device={device}", f"--results={sequential}", env=env)
        (session,) = _sessions(sequential)[device]
        (together,) = parallel[device]
        assert _verdicts(together["folder"]) == _verdicts(session["folder"])
        assert together["exitstatus"] == session["exitstatus"] == alone.returncode
        assert len(together["tests"]) == len(session["tests"])  # type: ignore[arg-type]


def test_three_handsets_in_one_session_without_workers_are_judged_one_after_another(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    env = fake(by_device=FAKED)
    done = _pytest(
        tmp_path, str(suite), *(f"--device={d}" for d in HANDSETS), f"--results={tmp_path / 'r'}", env=env
    )
    assert done.returncode == 1, done.stdout + done.stderr
    sessions = _sessions(tmp_path / "r")
    assert {d: s[0]["exitstatus"] for d, s in sessions.items()} == {
        "virtual:aosp-clean": 0, "virtual:nokia-7-plus-2019": 1, "virtual:oem-ip-literal": 1,
    }  # fmt: skip
    assert _verdicts(sessions["virtual:nokia-7-plus-2019"][0]["folder"])["transport"] == "FAIL"
    assert _verdicts(sessions["virtual:aosp-clean"][0]["folder"])["transport"] == "PASS"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (["--device=virtual:aosp-clean", "--device=virtual:aosp-clean"], "given twice"),
        (
            ["--device=virtual:aosp-clean", "--device=virtual:oem-ip-literal", "--results-dir=x"],
            "--results-dir",
        ),
    ],
)
def test_several_handsets_refuse_what_cannot_be_split(tmp_path: Path, given: list[str], says: str) -> None:
    suite = make_suite(tmp_path / "suite")
    done = _pytest(tmp_path, str(suite), *given)
    assert done.returncode == 4, done.stdout + done.stderr
    assert says in done.stderr


def test_xdist_with_no_workers_is_one_session(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    done = _pytest(
        tmp_path, str(suite), "--device=virtual:aosp-clean", f"--results={tmp_path / 'r'}", "-n", "0"
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_xdist_without_a_device_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    done = _pytest(tmp_path, "-n", "2", "-p", "no:phonehome")
    assert done.returncode == 0, done.stdout + done.stderr
    done = _pytest(tmp_path, "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("nodeid", "scope"),
    [
        ("s/t.py::test_assertion[virtual:a-b-transport]", "handset:virtual:a-b"),
        ("s/t.py::test_assertion[virtual:a-transport]", "handset:virtual:a"),
        ("s/t.py::test_assertion[transport-virtual:a]", "handset:virtual:a"),
        ("s/t.py::test_assertion[virtual:a-transport]@phonehome-virtual_a", "handset:virtual:a"),
        ("s/t.py::test_plain", "s/t.py::test_plain"),
        ("s/t.py::test_other[virtual:c-x]", "s/t.py::test_other[virtual:c-x]"),
        ("s/t.py::test_assertion[virtual:a@unit2-consent]", "handset:virtual:a@unit2"),
        ("s/t.py::test_assertion[virtual:a@unit2-consent]@g", "handset:virtual:a@unit2"),
    ],
)
def test_the_scheduler_keeps_each_handsets_tests_together(nodeid: str, scope: str) -> None:
    assert handset_scope(nodeid, ["virtual:a", "virtual:a-b", "virtual:a@unit2"]) == scope


def test_with_one_handset_every_test_is_its(tmp_path: Path) -> None:
    assert handset_scope("s/t.py::test_assertion[transport]", ["virtual:a"]) == "handset:virtual:a"
