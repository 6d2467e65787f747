"""How a verdict becomes a test outcome: only PASS passes; INCONCLUSIVE is broken; NOT_APPLICABLE skips."""

from __future__ import annotations

from pathlib import Path

import pytest
from allure_commons.model2 import Status
from allure_pytest.utils import get_status

from phonehome.compliance import BadInput
from phonehome.policy import Evaluation, Finding, FlowRef, Verdict
from phonehome.pytest_plugin import DeviceSpec, Inconclusive, Run, Verdicts
from phonehome.results import CaseRecord


def _evaluation(result: str, findings: list[Finding] | None = None) -> Evaluation:
    verdict = Verdict(
        "declared-endpoints", result, f"because {result}", len(findings or []), ["EN 18031 GEC-4"]
    )  # type: ignore[arg-type]
    return Evaluation([verdict], findings or [], result, "10.0.0.2", "given", None)  # type: ignore[arg-type]


def test_pass_passes() -> None:
    Verdicts(_evaluation("PASS")).require("declared-endpoints")


def test_inconclusive_raises_an_error_that_is_not_a_failed_assertion() -> None:
    with pytest.raises(Inconclusive, match="INCONCLUSIVE: because INCONCLUSIVE") as info:
        Verdicts(_evaluation("INCONCLUSIVE")).require("declared-endpoints")
    # allure-pytest calls a test whose exception is neither of these *broken*, not *failed*
    assert not isinstance(info.value, AssertionError | pytest.fail.Exception)
    assert get_status(info.value) == Status.BROKEN


def test_fail_is_a_failed_test_in_allure() -> None:
    with pytest.raises(pytest.fail.Exception) as info:
        Verdicts(_evaluation("FAIL")).require("declared-endpoints")
    assert get_status(info.value) == Status.FAILED


def test_require_records_which_assertion_the_running_test_asked_for(tmp_path: Path) -> None:
    run = Run(
        DeviceSpec("virtual", "aosp-clean"),
        bench_file=Path("b.yaml"),
        results_parent=tmp_path,
        time_scale=1.0,
    )
    run.current = CaseRecord("t[transport]")
    Verdicts(_evaluation("PASS"), run).require("declared-endpoints")
    assert run.current.assertions == ["declared-endpoints"]


def test_not_applicable_skips_with_its_reason() -> None:
    with pytest.raises(pytest.skip.Exception, match="NOT_APPLICABLE: because NOT_APPLICABLE"):
        Verdicts(_evaluation("NOT_APPLICABLE")).require("declared-endpoints")


def test_fail_prints_the_offending_flow_and_the_clauses() -> None:
    flow = FlowRef(
        3, "tcp", "10.0.0.2", 40000, "203.0.113.5", 80, "zzhc.vnet.cn", "http-host", "cleartext", "http"
    )
    finding = Finding(
        "undeclared-endpoint",
        "declared-endpoints",
        "zzhc.vnet.cn:80/tcp is not in the manifest",
        flow,
        frames=[7, 9],
    )
    with pytest.raises(pytest.fail.Exception) as info:
        Verdicts(_evaluation("FAIL", [finding])).require("declared-endpoints")
    text = str(info.value)
    assert "declared-endpoints: FAIL" in text
    assert "tcp 10.0.0.2:40000 -> 203.0.113.5:80 zzhc.vnet.cn" in text
    assert "frames 7,9" in text
    assert "EN 18031 GEC-4" in text


def test_an_unknown_assertion_fails_rather_than_passing() -> None:
    with pytest.raises(pytest.fail.Exception, match="no such assertion"):
        Verdicts(_evaluation("PASS")).require("declared-endpoint")


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("virtual:aosp-clean", "virtual", "aosp-clean"),
        ("adb:0123ABC", "adb", "0123ABC"),
        ("127.0.0.1:5555", "adb", "127.0.0.1:5555"),
        ("adb:127.0.0.1:5555", "adb", "127.0.0.1:5555"),
    ],
)
def test_device_specs(text: str, kind: str, name: str) -> None:
    assert DeviceSpec.parse(text) == DeviceSpec(kind, name)
    assert DeviceSpec.parse(text).text == (
        text if ":" in text and text.startswith(("virtual:", "adb:")) else f"adb:{text}"
    )


def test_a_virtual_unit_of_a_build_has_its_own_seed_name_and_folder() -> None:
    spec = DeviceSpec.parse("virtual:oem-xor-imei@unit-2")
    assert (spec.kind, spec.name, spec.seed, spec.profile) == (
        "virtual",
        "oem-xor-imei",
        "unit-2",
        "oem-xor-imei",
    )
    assert spec.text == "virtual:oem-xor-imei@unit-2"
    assert spec.slug == "virtual-oem-xor-imei_unit-2"


@pytest.mark.parametrize("text", ["", "virtual:", "virtual", "virtual:aosp-clean@", "virtual:@seed"])
def test_bad_device_spec_is_bad_input(text: str) -> None:
    with pytest.raises(BadInput, match="virtual:PROFILE or adb:SERIAL"):
        DeviceSpec.parse(text)
