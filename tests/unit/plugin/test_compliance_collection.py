"""The compliance folder needs a handset: without --device it is not collected at all."""

from __future__ import annotations

import pytest

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
