"""What the session records: why it could not judge (bad input, no verdict, internal) and each test's outcome."""

from __future__ import annotations

import errno
import subprocess

import pytest

from phonehome.bench.netops import BenchError
from phonehome.device.errors import AdbTimeoutError, DeviceNotFoundError
from phonehome.pytest_session import BadInput, NoVerdict, error_kind
from phonehome.results import disagreements
from phonehome.traffic import CaptureError
from phonehome.virtual.handset import HandsetError
from phonehome.yamlconf import ConfigError


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConfigError("m.yaml", ["m.yaml:3: endpoints.0.host: Field required"]), "bad-input"),
        (BadInput("--results-dir: taken"), "bad-input"),
        (pytest.UsageError("--device 'x'"), "bad-input"),
        (DeviceNotFoundError("0123ABC", "connect", "not found (adb devices)"), "no-verdict"),
        (AdbTimeoutError("0123ABC", "read identity", "timed out after 30 s"), "no-verdict"),
        (BenchError("dnsmasq did not start"), "no-verdict"),
        (HandsetError("adbd did not come up"), "no-verdict"),
        (CaptureError("wlan.pcapng", "not a pcap or pcapng capture"), "no-verdict"),
        (subprocess.TimeoutExpired(["dumpcap"], 10), "no-verdict"),
        (NoVerdict("bench port has no handset namespace"), "no-verdict"),
        (OSError(errno.ENOSPC, "No space left on device"), "internal"),
        (TypeError("unsupported operand"), "internal"),
        (KeyError("imei"), "internal"),
    ],
)
def test_errors_are_classified_by_who_must_act(exc: BaseException, kind: str) -> None:
    assert error_kind(exc) == kind


def _session(*tests: dict[str, object], run_id: str = "r1") -> dict[str, object]:
    return {"run_id": run_id, "tests": list(tests)}


def _evaluation(result: str, **verdicts: str) -> dict[str, object]:
    return {
        "run_id": "r1",
        "result": result,
        "verdicts": [{"assertion": a, "result": r} for a, r in verdicts.items()],
    }


def _test(assertion: str | None, outcome: str) -> dict[str, object]:
    return {"nodeid": f"t[{assertion}]", "assertions": [assertion] if assertion else [], "outcome": outcome}


def test_a_failed_test_outside_any_verdict_contradicts_a_pass() -> None:
    session = _session(_test("transport", "passed"), _test(None, "failed"))
    contradictions, gaps = disagreements(session, _evaluation("PASS", transport="PASS"))
    assert contradictions
    assert "judged no assertion" in contradictions[0]
    assert gaps == []


def test_a_test_that_asked_for_an_unknown_assertion_and_failed_contradicts() -> None:
    session = _session(_test("transport", "passed"), _test("build-identity", "failed"))
    contradictions, _ = disagreements(session, _evaluation("PASS", transport="PASS"))
    assert any("asked for build-identity" in c for c in contradictions)


def test_an_unknown_result_is_never_read_as_a_pass() -> None:
    session = _session(_test("transport", "passed"))
    contradictions, _ = disagreements(session, _evaluation("PASS", transport="PASSED"))
    assert contradictions


def test_agreement_is_no_contradiction_and_no_gap() -> None:
    session = _session(_test("transport", "failed"), _test("consent", "broken"), _test("regions", "skipped"))
    evaluation = _evaluation("FAIL", transport="FAIL", consent="INCONCLUSIVE", regions="NOT_APPLICABLE")
    assert disagreements(session, evaluation) == ([], [])
