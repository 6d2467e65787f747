"""End to end on a real bench: the TLS service in validate and intercept mode against virtual handsets whose
apps validate properly, accept any certificate, skip the host name, pin, or (the Nokia-like build) post
their registration over HTTPS with a broken trust manager. Every run leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from phonehome.bench import tls_service
from tests.integration.bench.conftest import leftovers
from tests.integration.virtual.firmware_run import ProfileRun, run_profile

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(tls_service.interpreter() is None, reason="no mitmproxy environment (./bootstrap.sh)"),
]
CERTIFICATE_VALIDATION = "certificate-validation"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], ProfileRun]:
    """Runs each profile once per mode (several tests read the same run)."""
    done: dict[tuple[str, str], ProfileRun] = {}

    def get(profile: str, tls: str) -> ProfileRun:
        if (profile, tls) not in done:
            result = run_profile(profile, tmp_path_factory.mktemp(f"{profile}-{tls}"), tls=tls)
            assert leftovers(result.run_id) == [], "the bench left something behind"
            done[(profile, tls)] = result
        return done[(profile, tls)]

    return get


def reason(result: ProfileRun, assertion: str) -> str:
    return next(v.reason for v in result.evaluation.verdicts if v.assertion == assertion)


def endpoints(result: ProfileRun) -> dict[str, object]:
    records = result.capture.tls_records
    assert records is not None
    doc = json.loads((records.parent / tls_service.ENDPOINTS_NAME).read_text())
    assert isinstance(doc, dict)
    return doc


def test_a_handset_accepting_any_certificate_fails_with_the_certificate_and_what_it_sent(
    run: Callable[[str, str], ProfileRun],
) -> None:
    result = run("tls-accept-any", "validate")
    assert result.verdict(CERTIFICATE_VALIDATION) == "FAIL", reason(result, CERTIFICATE_VALIDATION)
    found = [f for f in result.evaluation.findings if f.assertion == CERTIFICATE_VALIDATION]
    assert {f.form for f in found} == {"self-signed"}
    assert "config.oem.example" in found[0].detail
    assert found[0].excerpt is not None
    assert "GET /v1/config?device=panther" in found[0].excerpt
    assert found[0].flow is not None


def test_a_handset_whose_apps_validate_passes(run: Callable[[str, str], ProfileRun]) -> None:
    result = run("tls-validating", "validate")
    assert result.verdict(CERTIFICATE_VALIDATION) == "PASS", reason(result, CERTIFICATE_VALIDATION)
    table = endpoints(result)
    assert table["lab_ca_trusted"] is True
    assert {e["endpoint"] for e in table["endpoints"]} == {"www.google.com:443", "config.oem.example:443"}  # type: ignore[index]


def test_a_handset_skipping_the_hostname_check_fails_on_the_wrong_name_certificate(
    run: Callable[[str, str], ProfileRun],
) -> None:
    result = run("tls-no-hostname", "validate")
    assert result.verdict(CERTIFICATE_VALIDATION) == "FAIL"
    forms = {f.form for f in result.evaluation.findings if f.assertion == CERTIFICATE_VALIDATION}
    assert forms == {"wrong-name"}


def test_a_pinning_handset_passes_and_its_pinned_endpoint_is_named(
    run: Callable[[str, str], ProfileRun],
) -> None:
    result = run("tls-pinning", "validate")
    assert result.verdict(CERTIFICATE_VALIDATION) == "PASS", reason(result, CERTIFICATE_VALIDATION)
    assert "pinned" in reason(result, CERTIFICATE_VALIDATION)
    assert "account.oem.example:443" in reason(result, CERTIFICATE_VALIDATION)
    pinned = [e for e in endpoints(result)["endpoints"] if e["pinned"]]  # type: ignore[attr-defined]
    assert [e["endpoint"] for e in pinned] == ["account.oem.example:443"]


def test_in_intercept_mode_pinned_flows_are_listed_as_not_decrypted(
    run: Callable[[str, str], ProfileRun],
) -> None:
    result = run("tls-pinning", "intercept")
    table = endpoints(result)
    undecrypted = table["undecrypted"]
    assert undecrypted, "the pinning client's connections could not be decrypted"
    assert {u["endpoint"] for u in undecrypted} == {"account.oem.example:443"}  # type: ignore[attr-defined]
    assert all(u["why"].startswith("pinned") for u in undecrypted)  # type: ignore[attr-defined]
    assert result.verdict(CERTIFICATE_VALIDATION) == "INCONCLUSIVE"
    assert "--tls validate" in reason(result, CERTIFICATE_VALIDATION)
    keylog = result.capture.tls_keylog
    assert keylog is not None
    assert "CLIENT_TRAFFIC_SECRET_0" in keylog.read_text()
    pinned_out = [o.detail for o in result.outcomes if "account.oem.example" in o.target and not o.ok]
    assert pinned_out, "the pinning client's attempts are recorded"
    assert all("pinning failure" in d for d in pinned_out), pinned_out


def test_the_nokia_like_https_registration_is_inconclusive_without_interception(
    run: Callable[[str, str], ProfileRun],
) -> None:
    result = run("nokia-7-plus-https", "alert")
    assert result.verdict("identifier-recipients") == "INCONCLUSIVE"
    assert "interception" in reason(result, "identifier-recipients")
    assert result.verdict(CERTIFICATE_VALIDATION) == "INCONCLUSIVE"


def test_the_nokia_like_https_registration_takes_the_first_bad_certificate(
    run: Callable[[str, str], ProfileRun],
) -> None:
    result = run("nokia-7-plus-https", "validate")
    assert result.verdict(CERTIFICATE_VALIDATION) == "FAIL"
    assert any(
        "zzhc.vnet.cn" in f.detail for f in result.evaluation.findings if f.rule == "accepted-bad-certificate"
    )


def test_intercepted_the_nokia_like_registration_fails_identifier_recipients_with_the_decrypted_excerpt(
    run: Callable[[str, str], ProfileRun],
) -> None:
    result = run("nokia-7-plus-https", "intercept")
    assert result.verdict("identifier-recipients") == "FAIL", reason(result, "identifier-recipients")
    imei = [
        f
        for f in result.evaluation.findings
        if f.assertion == "identifier-recipients" and f.identifier == "imei" and "zzhc.vnet.cn" in f.detail
    ]
    assert imei
    assert "tls-decrypted" in (imei[0].decode or "")
    assert imei[0].excerpt
