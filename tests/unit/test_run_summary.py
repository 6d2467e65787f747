"""`phonehome run`'s summary and exit status, from the per-handset results it collects."""

from __future__ import annotations

from pathlib import Path

from phonehome.run import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_NO_VERDICT,
    EXIT_PASS,
    DeviceResult,
    _status,
    _table,
)


def _result(device: str, result: str | None, findings: int = 0) -> DeviceResult:
    evaluation = None
    if result is not None:
        evaluation = {
            "result": result,
            "verdicts": [{"assertion": "declared-endpoints", "result": result}],
            "findings": [{"rule": "undeclared-endpoint", "detail": "zzhc.vnet.cn:80/tcp is not declared"}]
            * findings,
        }
    return DeviceResult(device, 1 if result == "FAIL" else 0, Path("/r") / device, evaluation)


def test_the_worst_verdict_decides_the_exit_status() -> None:
    assert _status([_result("a", "PASS"), _result("b", "NOT_APPLICABLE")]) == EXIT_PASS
    assert _status([_result("a", "PASS"), _result("b", "INCONCLUSIVE")]) == EXIT_INCONCLUSIVE
    assert _status([_result("a", "INCONCLUSIVE"), _result("b", "FAIL")]) == EXIT_FAIL


def test_a_handset_without_verdicts_is_never_summed_up_as_a_pass() -> None:
    assert _status([_result("a", "PASS"), _result("b", None)]) == EXIT_NO_VERDICT
    lines = _table([_result("b", None)])
    assert any(line.startswith("b: NO VERDICT") for line in lines)


def test_repeated_findings_are_one_line_with_a_count() -> None:
    lines = _table([_result("nokia", "FAIL", findings=10)])
    shown = [line for line in lines if "undeclared-endpoint" in line]
    assert shown == ["    undeclared-endpoint: zzhc.vnet.cn:80/tcp is not declared (x10)"]
