"""The compliance suite: one test per registered assertion, collected only when --device names a handset."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome.policy import registry

pytest_plugins = ["pytester"]


def test_compliance_folder_is_skipped_without_a_device(pytester: pytest.Pytester) -> None:
    pytester.mkdir("compliance")
    pytester.makepyfile(**{"compliance/test_x.py": "def test_x():\n    raise AssertionError('collected')\n"})
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_fixtures_without_a_device_fail_and_say_what_to_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_v="def test_v(verdicts):\n    verdicts.require('declared-endpoints')\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pass --device virtual:PROFILE or --device adb:SERIAL*"])


REPO = Path(__file__).resolve().parents[3]
QUICK = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def _collected(*args: str, cwd: Path = REPO) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *QUICK, *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return [line.split("[", 1)[1].rstrip("]") for line in done.stdout.splitlines() if "::test_" in line]


def test_the_suite_has_one_test_per_registered_assertion(tmp_path: Path) -> None:
    ids = _collected("tests/compliance", "--device", "virtual:aosp-clean", "--results", str(tmp_path))
    assert ids == [a.name for a in registry()]
    assert {"consent", "regions"} <= set(ids)
    assert list(tmp_path.iterdir()) == []  # collecting claims no results folder


def test_an_assertion_added_to_the_registry_gets_its_test(pytester: pytest.Pytester) -> None:
    pytester.mkdir("compliance")
    shutil.copy(REPO / "tests" / "compliance" / "test_assertions.py", pytester.path / "compliance")
    pytester.makeconftest(
        """
        from dataclasses import replace

        from phonehome.policy import assertions

        first = assertions.registry()[0]
        assertions._REGISTRY = (*assertions.registry(), replace(first, name="lab-added-assertion"))
        """
    )
    ids = _collected("compliance", "--device", "virtual:aosp-clean", cwd=pytester.path)
    assert ids[-1] == "lab-added-assertion"
    assert len(ids) == len(registry()) + 1
