"""The compliance suite: one test per registered assertion, so an assertion cannot exist without its test.

What a lab runs per firmware batch, e.g.

    pytest tests/compliance --device virtual:nokia-7-plus-2019
    pytest tests/compliance --device adb:0123ABC --manifest manifests/M.yaml --inventory devices/inventory.yaml

The tests come from `phonehome.policy.assertions.registry()` (ids are the
assertions' names). A FAIL prints the offending flows with their evidence
(frames, decode chain, excerpt) and requirement clauses; an INCONCLUSIVE is
*broken* in allure, with what to supply; a NOT_APPLICABLE skips.
"""

from __future__ import annotations

import pytest

from phonehome.policy import registry
from phonehome.pytest_plugin import Verdicts

ASSERTIONS = [assertion.name for assertion in registry()]


@pytest.mark.parametrize("assertion", ASSERTIONS, ids=ASSERTIONS)
def test_assertion(verdicts: Verdicts, assertion: str) -> None:
    verdicts.require(assertion)
