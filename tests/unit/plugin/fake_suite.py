"""The real compliance suite and plugin with the bench and handset faked: a child pytest without root.

`make_suite` copies ``tests/compliance/test_assertions.py`` beside a conftest
that replaces the ``evaluation`` fixture. What the fake evaluation says, or
how it breaks, comes from the ``PHONEHOME_FAKE`` environment variable (JSON):

    {"verdicts": {"declared-endpoints": "FAIL"}}   unnamed assertions PASS
    {"error": "bad-input" | "no-verdict" | "internal"}   the fixture raises
    {"die_after_evaluation": true}   the child is killed once evaluation.json is written
    {"swallow": true}   the suite hides every outcome: its tests pass whatever the verdict
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SUITE = REPO / "tests" / "compliance" / "test_assertions.py"
ENV = "PHONEHOME_FAKE"

CONFTEST = """
import json
import os

import pytest

from phonehome.policy import Evaluation, Verdict, registry, worst
from phonehome.pytest_fixtures import record_evaluation
from phonehome.pytest_plugin import Verdicts

FAKE = json.loads(os.environ.get("PHONEHOME_FAKE", "{}"))


@pytest.fixture(scope="session")
def evaluation(phonehome_run):
    error = FAKE.get("error")
    if error == "bad-input":
        from phonehome.yamlconf import ConfigError

        raise ConfigError("m.yaml", ["m.yaml:3: endpoints.0.host: Field required"])
    if error == "no-verdict":
        from phonehome.bench.netops import BenchError

        raise BenchError("dnsmasq on port wlan did not start")
    if error == "internal":
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    wanted = FAKE.get("verdicts", {})
    verdicts = [Verdict(a.name, wanted.get(a.name, "PASS"), "as faked") for a in registry()]
    judged = Evaluation(verdicts, [], worst(v.result for v in verdicts), "10.0.0.2", "given", None)
    record_evaluation(phonehome_run, judged)
    if FAKE.get("die_after_evaluation"):
        os._exit(9)
    return judged


if FAKE.get("swallow"):
    _require = Verdicts.require

    def _swallowing(self, assertion):
        try:
            _require(self, assertion)
        except BaseException:
            pass

    Verdicts.require = _swallowing
"""


def make_suite(root: Path) -> Path:
    """A compliance folder under ``root``: the real suite file and the faking conftest."""
    suite = root / "compliance"
    suite.mkdir(parents=True)
    (suite / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    shutil.copy(SUITE, suite / SUITE.name)
    return suite


def fake(**spec: object) -> str:
    """The ``PHONEHOME_FAKE`` value for ``spec``."""
    return json.dumps(spec)
