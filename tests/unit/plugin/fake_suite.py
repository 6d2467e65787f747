"""The real compliance suite and plugin with the bench and handset faked: a child pytest without root.

`make_suite` copies ``tests/compliance/test_assertions.py`` beside a conftest
that replaces the ``evaluation`` fixture. What the fake evaluation says, or
how it breaks, comes from the ``PHONEHOME_FAKE`` environment variable (JSON):

    {"verdicts": {"declared-endpoints": "FAIL"}}   unnamed assertions PASS
    {"error": "bad-input" | "no-verdict" | "internal"}   the fixture raises
    {"die_after_evaluation": true}   the child is killed once evaluation.json is written
    {"swallow": true}   the suite hides every outcome: its tests pass whatever the verdict
    {"evidence": true}   the folder gets a capture (phase markers, its commented copy), a build record,
                         findings of each FAILed assertion sent in the boot phase, and the HTML report
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
    verdicts = [Verdict(a.name, wanted.get(a.name, "PASS"), "as faked", clauses=list(a.clauses))
                for a in registry()]
    findings = []
    if FAKE.get("evidence"):
        findings = _evidence(phonehome_run, [v.assertion for v in verdicts if v.result == "FAIL"])
    judged = Evaluation(verdicts, findings, worst(v.result for v in verdicts), "10.0.0.2", "given", None,
                        phases=["boot", "setup-wizard"])
    if FAKE.get("evidence"):  # as the run's judge does: the report is written before allure attaches it
        from phonehome.pytest_fixtures import _attach_to_allure
        from phonehome.report.html import write_run_report

        phonehome_run.record_evaluation(judged)
        write_run_report(phonehome_run.claim(), judged)
        _attach_to_allure(phonehome_run)
    else:
        record_evaluation(phonehome_run, judged)
    if FAKE.get("die_after_evaluation"):
        os._exit(9)
    return judged


def _evidence(run, failed):
    from phonehome.policy import Finding
    from phonehome.report import folder as results
    from phonehome.traffic.capture import Capture, CaptureDrops, file_digest
    from phonehome.traffic.factory import UdpConversation, pcapng_bytes
    from phonehome.traffic.timeline import PhaseMarker

    where = run.claim()
    (where / "bench").mkdir(exist_ok=True)
    conv = UdpConversation(("10.0.0.2", 40000), ("10.0.0.1", 53), ts=1_700_000_000.0)
    for i in range(4):
        conv.send(b"q%d" % i)
    (where / "bench" / "wlan.pcapng").write_bytes(pcapng_bytes(conv.packets, drops={0: 0}))
    markers = [PhaseMarker(1_699_999_999.0, "boot"), PhaseMarker(1_700_000_000.5, "setup-wizard")]
    capture = Capture([file_digest(where / "bench" / "wlan.pcapng")], "ph-wlan", "wlan", "pcapng", "dumpcap",
                      1_699_999_999.0, 1_700_000_002.0, markers=markers,
                      drops=[CaptureDrops("dumpcap", "ph-wlan", 4, 4, 0, link_packets=4)])
    run.capture = capture
    run.write_json(results.CAPTURE, results.relative_paths(capture.to_dict(), where, ("timeline", "resolver_log")))
    run._mark_phases(capture)
    run.phases = ("boot", "setup-wizard")
    run.write_json(results.RUN, run.run_record())
    run.write_json("build.json", {"fingerprint": f"Fake/{run.device.name}/x:14/U1/1:user/release-keys",
                                  "build_type": "user", "security_patch": "2024-01-05"})
    return [Finding("undeclared-endpoint", name, "zzhc.vnet.cn:80/tcp is not declared", frames=[2, 3],
                    decode="http-body>base64>json:IMEI1", phase="boot") for name in failed]


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
