"""certificate-validation from the bench's TLS service records: an accepted bad certificate FAILs with the
certificate and what was sent; a full set of refusals PASSes and names the pinned endpoints; everything
short of that (no validate mode, an untested flow, an endpoint not offered every probe, a lab CA never
shown to be trusted, QUIC) is INCONCLUSIVE saying what to do; no TLS at all is NOT_APPLICABLE."""

from __future__ import annotations

from phonehome.policy.evaluate import Evaluation
from phonehome.traffic.flow import Flow
from phonehome.traffic.interception import (
    CONTROL,
    PROBES_IN_TURN,
    CertificateInfo,
    Interception,
    TlsOffer,
)
from tests.unit.policy.builders import make_flow
from tests.unit.policy.test_verdicts import HANDSET, judge, tls_flow, verdict

NAME = "CERTIFICATE-VALIDATION".lower()


def cert(probe: str, name: str) -> CertificateInfo:
    return CertificateInfo(probe, f"CN={name}", "CN=issuer", (name,), "2026-01-01", "2026-02-01", "ab" * 32)


def offer(flow: Flow, probe: str, attempt: int, *, accepted: bool = False, hung_up: bool = False) -> TlsOffer:
    """What the TLS service recorded of ``flow``: ``probe`` offered, then refused, accepted with a request,
    or (``hung_up``) a completed handshake with nothing sent."""
    completed = accepted or hung_up
    return TlsOffer(
        client=(flow.src, flow.sport),
        dst=(flow.dst, flow.dport),
        ts=flow.first_ts,
        end=flow.last_ts,
        mode="validate",
        endpoint=f"{flow.server_name}:443",
        attempt=attempt,
        sni=flow.server_name,
        certificate=cert(probe, flow.server_name or flow.dst),
        handshake="completed" if completed else "refused",
        error="" if completed else "tlsv1 alert unknown ca",
        tls_version="TLSv1.3" if completed else None,
        app_bytes=200 if accepted else 0,
        app_head=b"POST /v1/register HTTP/1.1\r\nHost: api.oem.test\r\n\r\nimei=352099001761481"
        if accepted
        else b"",
        requests=1 if accepted else 0,
    )


def endpoint_round(name: str, *, control: str = "accepted") -> tuple[list[Flow], list[TlsOffer]]:
    """One connection per probe to ``name``: every bad one refused, the lab CA's as ``control`` says."""
    flows = [tls_flow(name, first_ts=1000.0 + i) for i in range(len(PROBES_IN_TURN))]
    offers = [
        offer(
            f,
            p,
            i + 1,
            accepted=p == CONTROL and control == "accepted",
            hung_up=p == CONTROL and control == "pinned",
        )
        for i, (f, p) in enumerate(zip(flows, PROBES_IN_TURN, strict=True))
    ]
    return flows, offers


def judged(flows: list[Flow], offers: list[TlsOffer], mode: str = "validate") -> Evaluation:
    return judge(flows, interception=Interception(mode, offers))


def test_a_handset_that_accepts_a_self_signed_certificate_and_sends_fails_with_the_certificate_and_bytes() -> (
    None
):
    flow = tls_flow("api.oem.test")
    result = judged([flow], [offer(flow, "self-signed", 1, accepted=True)])
    assert verdict(result, NAME) == "FAIL"
    found = next(f for f in result.findings if f.assertion == NAME)
    assert found.rule == "accepted-bad-certificate"
    assert found.form == "self-signed"
    assert "CN=api.oem.test" in found.detail
    assert "200 byte(s)" in found.detail
    assert found.excerpt is not None
    assert "imei=352099001761481" in found.excerpt
    assert found.flow is not None
    assert found.flow.id == flow.id


def test_refusing_every_bad_certificate_on_every_endpoint_passes() -> None:
    flows, offers = endpoint_round("api.oem.test")
    assert verdict(judged(flows, offers), NAME) == "PASS"


def test_a_completed_handshake_hung_up_on_without_data_is_a_refusal_not_an_acceptance() -> None:
    flows, offers = endpoint_round("api.oem.test")
    offers[1] = offer(flows[1], "wrong-name", 2, hung_up=True)  # HttpsURLConnection's hostname check
    assert verdict(judged(flows, offers), NAME) == "PASS"


def test_an_endpoint_refusing_the_lab_ca_where_another_accepts_it_is_pinned_and_passes() -> None:
    probe_flows, probe_offers = endpoint_round("connectivitycheck.gstatic.com")
    pinned_flows, pinned_offers = endpoint_round("api.oem.test", control="pinned")
    result = judged(probe_flows + pinned_flows, probe_offers + pinned_offers)
    passed = next(v for v in result.verdicts if v.assertion == NAME)
    assert passed.result == "PASS"
    assert "pinned" in passed.reason
    assert "api.oem.test:443" in passed.reason


def test_refusals_of_lab_ca_probes_prove_nothing_while_the_lab_ca_is_never_accepted() -> None:
    flows, offers = endpoint_round("api.oem.test", control="pinned")  # maybe not installed at all
    result = next(v for v in judged(flows, offers).verdicts if v.assertion == NAME)
    assert result.result == "INCONCLUSIVE"
    assert "install the lab CA" in result.reason


def test_an_endpoint_not_offered_every_bad_certificate_is_inconclusive() -> None:
    flows, offers = endpoint_round("api.oem.test")
    result = next(
        v for v in judged(flows[:2] + flows[4:], offers[:2] + offers[4:]).verdicts if v.assertion == NAME
    )
    assert result.result == "INCONCLUSIVE"
    assert "expired, untrusted-ca" in result.reason


def test_a_tls_flow_the_bench_offered_nothing_is_inconclusive() -> None:
    flows, offers = endpoint_round("api.oem.test")
    stray = tls_flow("t.oem.test", first_ts=1100.0)
    result = next(v for v in judged([*flows, stray], offers).verdicts if v.assertion == NAME)
    assert result.result == "INCONCLUSIVE"
    assert "offered no certificate" in result.reason


def test_quic_is_not_validated_and_says_how_to_make_it_fall_back() -> None:
    flows, offers = endpoint_round("api.oem.test")
    quic = make_flow("udp", 443, src=HANDSET, dst="198.18.0.1", app="quic", transport="quic",
                     server_name="api.oem.test", name_source="quic-sni")  # fmt: skip
    result = next(v for v in judged([*flows, quic], offers).verdicts if v.assertion == NAME)
    assert result.result == "INCONCLUSIVE"
    assert "block_quic" in result.reason


def test_without_validate_mode_tls_traffic_leaves_it_inconclusive_saying_what_to_run() -> None:
    flow = tls_flow("api.oem.test")
    for interception in (None, Interception("intercept", [offer(flow, CONTROL, 1, accepted=True)])):
        result = next(v for v in judge([flow], interception=interception).verdicts if v.assertion == NAME)
        assert result.result == "INCONCLUSIVE"
        assert "--tls validate" in result.reason


def test_a_handset_without_any_tls_connection_is_not_applicable() -> None:
    http = make_flow("tcp", 80, src=HANDSET, dst="198.18.0.1", server_name="connectivitycheck.gstatic.com")
    assert verdict(judge([http]), NAME) == "NOT_APPLICABLE"


def test_no_traffic_at_all_is_inconclusive_not_not_applicable() -> None:
    assert verdict(judge([]), NAME) == "INCONCLUSIVE"


def test_an_offer_for_another_flow_does_not_count_for_this_one() -> None:
    flows, offers = endpoint_round("api.oem.test")
    moved = list(offers)
    moved[0] = offer(flows[0], "self-signed", 1)
    moved[0].client = (moved[0].client[0], moved[0].client[1] + 1)  # another source port: not this flow
    result = next(v for v in judged(flows, moved).verdicts if v.assertion == NAME)
    assert result.result == "INCONCLUSIVE"
