"""Verdicts per assertion: FAIL with findings, PASS only when earned, otherwise INCONCLUSIVE or NOT_APPLICABLE."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from phonehome.policy.evaluate import Evaluation, evaluate
from phonehome.policy.geo import Place, is_private
from phonehome.policy.handset import parse_handset
from phonehome.policy.identity import Identity
from phonehome.policy.manifest import Manifest
from phonehome.traffic.flow import DnsQuery, Flow, TlsHello
from phonehome.traffic.timeline import PhaseMarker
from tests.unit.policy.builders import IDENTITY, http_request, make_flow, resolved, run

HANDSET = "10.77.0.2"


class FakeGeo:
    version = "fake-geo 1"
    provides_as_numbers = True
    places: ClassVar[dict[str, tuple[str, int, str]]] = {
        "198.18.0.1": ("NO", 2119, "Telenor"),
        "203.0.113.5": ("CN", 4134, "Chinanet"),
        "93.184.216.34": ("US", 15133, "Edgecast"),
    }

    def lookup(self, address: str) -> Place:
        if address in self.places:
            country, number, name = self.places[address]
            return Place(address, country, number, name, None)
        return Place(address, None, None, None, None, private=is_private(address))


MANIFEST = Manifest.model_validate(
    {
        "firmware": "test",
        "endpoints": [
            {
                "name": "check",
                "hosts": "connectivitycheck.gstatic.com",
                "ports": [80, 443],
                "transport": ["tls", "cleartext"],
                "before_consent": True,
                "purpose": "captive portal check",
            },
            {
                "name": "api",
                "hosts": "api.oem.test",
                "ports": 443,
                "purpose": "updates",
                "identifiers": ["imei"],
                "legal_basis": "contract",
                "regions": ["NO"],
            },
            {"name": "telemetry", "hosts": "t.oem.test", "purpose": "analytics", "legal_basis": "consent"},
        ],
        "policy": {"personal_data_countries": ["NO", "SE"], "denied_networks": ["Chinanet"]},
    }
)


def tls_flow(
    name: str, dst: str = "198.18.0.1", *, versions: tuple[int, ...] = (0x0304, 0x0303), **kw: object
) -> Flow:
    flow = make_flow(
        "tcp",
        443,
        src=HANDSET,
        dst=dst,
        app="tls",
        transport="tls",
        server_name=name,
        name_source="sni",
        **kw,
    )
    flow.tls = TlsHello(name, versions=list(versions), legacy_version=0x0303, frame=3)
    flow.tls_server_version = 0x0304
    return flow


CONSENTED = [PhaseMarker(1000.0, "boot"), PhaseMarker(1000.0, "consent", {"accepted": True})]


def judge(
    flows: list[Flow], *, manifest: Manifest | None = MANIFEST, detector=None, **kw: object
) -> Evaluation:  # type: ignore[no-untyped-def]
    identity = Identity.model_validate(IDENTITY)
    kw.setdefault("analysis", resolved(flows))
    kw.setdefault("timeline", CONSENTED)
    return evaluate(
        flows,
        detector or [],
        identity=identity,
        manifest=manifest,
        handset=parse_handset(HANDSET),
        geo=FakeGeo(),
        **kw,
    )  # type: ignore[arg-type]


def verdict(evaluation: Evaluation, assertion: str) -> str:
    return next(v.result for v in evaluation.verdicts if v.assertion == assertion)


def with_dns(flows: list[Flow]) -> list[Flow]:
    dns = make_flow(
        "udp",
        53,
        src=HANDSET,
        dst="10.77.0.1",
        app="dns",
        server_name=None,
        name_source="none",
        packets_s2c=1,
    )
    dns.dns_queries = [DnsQuery(f.server_name, 1, 1, 999.0) for f in flows if f.server_name]
    return [dns, *flows]


def clean_run() -> list[Flow]:
    return with_dns([tls_flow("connectivitycheck.gstatic.com"), tls_flow("api.oem.test")])


def test_clean_run_passes_what_it_can_prove() -> None:
    result = judge(clean_run())
    assert verdict(result, "declared-endpoints") == "PASS"
    assert verdict(result, "no-cleartext-identifiers") == "PASS"
    assert verdict(result, "transport") == "PASS"
    assert verdict(result, "regions") == "PASS"
    assert verdict(result, "visible-dns") == "PASS"
    assert verdict(result, "consent") == "PASS"  # consent given before anything that needs it
    # api.oem.test may receive imei only; what the TLS flows carry is unseen
    assert verdict(result, "identifier-recipients") == "INCONCLUSIVE"


def test_no_traffic_from_the_handset_is_inconclusive_never_pass() -> None:
    result = judge([make_flow(src="10.77.0.99", dst="198.18.0.1")])
    assert {v.result for v in result.verdicts} <= {"INCONCLUSIVE", "NOT_APPLICABLE"}
    assert result.result == "INCONCLUSIVE"


@pytest.mark.parametrize(("kw", "words"), [({"drops": 3}, "dropped 3"), ({"truncated": True}, "truncated")])
def test_capture_drops_or_truncation_turn_every_pass_inconclusive(kw: dict[str, object], words: str) -> None:
    result = judge(clean_run(), **kw)
    assert "PASS" not in {v.result for v in result.verdicts}
    assert all(
        words in v.reason
        for v in result.verdicts
        if v.result == "INCONCLUSIVE" and v.assertion == "transport"
    )


def test_undeclared_endpoint_ip_literal_and_lookup_fail() -> None:
    flows = with_dns(
        [
            tls_flow("tracker.example"),
            make_flow(
                "tcp", 443, src=HANDSET, dst="198.18.0.99", server_name=None, name_source="none", app=None
            ),
        ]
    )
    result = judge(flows)
    assert verdict(result, "declared-endpoints") == "FAIL"
    rules = [f.rule for f in result.findings if f.assertion == "declared-endpoints"]
    assert rules.count("undeclared-endpoint") == 2
    assert "undeclared-lookup" in rules


def test_nokia_2019_case_fails_cleartext_recipients_transport_and_regions(detector_factory) -> None:
    body = b"IMEI1=352099001761481&MACID=AABBCCDDEE0F"
    wire, request = http_request(body)
    flow = make_flow("tcp", 80, src=HANDSET, dst="203.0.113.5", server_name="zzhc.vnet.cn")
    detector = run(detector_factory(), flow, wire, [request])
    result = judge([flow], detector=detector)
    for assertion in ("declared-endpoints", "no-cleartext-identifiers", "identifier-recipients", "regions"):
        assert verdict(result, assertion) == "FAIL", assertion
    leak = next(f for f in result.findings if f.rule == "cleartext-identifier" and f.identifier == "imei")
    payload = json.loads(json.dumps(leak.to_json()))
    assert payload["flow"]["dst"] == "203.0.113.5"
    assert payload["flow"]["dport"] == 80
    assert payload["decode"] == "http-body>form:IMEI1"
    assert payload["frames"]
    regions = {f.rule for f in result.findings if f.assertion == "regions"}
    assert regions == {"region", "denied-network"}


def test_identifier_to_a_declared_recipient_is_not_a_recipient_failure(detector_factory) -> None:
    wire, request = http_request(b"imei=352099001761481")
    flow = make_flow(
        "tcp", 443, src=HANDSET, dst="198.18.0.1", server_name="api.oem.test", transport="cleartext"
    )
    result = judge([flow], detector=run(detector_factory(), flow, wire, [request]))
    assert not [f for f in result.findings if f.rule == "undeclared-recipient"]
    assert verdict(result, "no-cleartext-identifiers") == "FAIL"
    assert verdict(result, "transport") == "FAIL"  # declared TLS, reached in clear


@pytest.mark.parametrize(
    ("versions", "server", "expected"),
    [((0x0304, 0x0303), 0x0304, "PASS"), ((0x0303, 0x0302, 0x0301), 0x0303, "FAIL"), ((), 0x0301, "FAIL")],
)
def test_tls_below_1_2_offered_or_selected_fails(
    versions: tuple[int, ...], server: int, expected: str
) -> None:
    flow = tls_flow("api.oem.test", versions=versions)
    flow.tls_server_version = server
    assert verdict(judge(with_dns([flow])), "transport") == expected


def test_consent_needs_a_marker_and_judges_before_and_after() -> None:
    early = tls_flow("t.oem.test", first_ts=1000.0)
    late = tls_flow("t.oem.test", first_ts=2000.0)
    needed = tls_flow("connectivitycheck.gstatic.com", first_ts=1000.0)
    assert verdict(judge([early], timeline=[PhaseMarker(900.0, "boot")]), "consent") == "INCONCLUSIVE"
    assert verdict(judge([early], timeline=None), "consent") == "INCONCLUSIVE"
    accepted = [PhaseMarker(900.0, "boot"), PhaseMarker(1500.0, "consent", {"accepted": True})]
    declined = [PhaseMarker(900.0, "boot"), PhaseMarker(1500.0, "consent", {"accepted": False})]
    assert verdict(judge([early, needed], timeline=accepted), "consent") == "FAIL"
    assert verdict(judge([needed, late], timeline=accepted), "consent") == "PASS"
    result = judge([needed, late], timeline=declined)
    assert verdict(result, "consent") == "FAIL"
    assert [f.rule for f in result.findings if f.assertion == "consent"] == ["after-decline"]


def test_dot_and_doh_are_hidden_dns_unless_the_policy_allows() -> None:
    dot = make_flow(
        "tcp", 853, src=HANDSET, dst="198.18.0.1", app="tls", transport="tls", server_name="dns.google"
    )
    doh = tls_flow("cloudflare-dns.com")
    result = judge(with_dns([dot, doh]))
    assert [f.rule for f in result.findings if f.assertion == "visible-dns"] == ["hidden-dns", "hidden-dns"]
    allowed = MANIFEST.model_copy(update={"policy": MANIFEST.policy.model_copy(update={"dot_allowed": True})})
    assert verdict(judge(with_dns([dot]), manifest=allowed), "visible-dns") == "PASS"


def test_without_a_manifest_the_assertions_that_need_one_are_inconclusive_and_say_what_to_supply() -> None:
    result = judge(clean_run(), manifest=None)
    for assertion in (
        "declared-endpoints",
        "identifier-recipients",
        "consent",
        "regions",
        "visible-dns",
        "transport",
    ):
        assert verdict(result, assertion) == "INCONCLUSIVE", assertion
        assert "--manifest" in next(v.reason for v in result.verdicts if v.assertion == assertion)
    assert verdict(result, "no-cleartext-identifiers") == "PASS"
    assert result.result == "INCONCLUSIVE"


def test_not_applicable_only_where_the_assertion_cannot_apply() -> None:
    no_policy = MANIFEST.model_copy(
        update={
            "policy": MANIFEST.policy.model_copy(
                update={"personal_data_countries": [], "denied_networks": []}
            )
        }
    )
    result = judge(clean_run(), manifest=no_policy)
    assert [v.assertion for v in result.verdicts if v.result == "NOT_APPLICABLE"] == ["regions"]


def test_unknown_sim_in_an_identifier_field_makes_cleartext_inconclusive(detector_factory) -> None:
    wire, request = http_request(b'{"SIM2ICCID": "89860399999999999990"}')
    flow = make_flow("tcp", 80, src=HANDSET, dst="198.18.0.1", server_name="connectivitycheck.gstatic.com")
    result = judge([flow], detector=run(detector_factory(), flow, wire, [request]))
    assert verdict(result, "no-cleartext-identifiers") == "INCONCLUSIVE"


def test_regions_inconclusive_when_personal_data_goes_to_an_unplaceable_address(detector_factory) -> None:
    wire, request = http_request(b"imei=352099001761481")
    flow = make_flow("tcp", 80, src=HANDSET, dst="192.0.2.80", server_name="t.oem.test")
    result = judge([flow], detector=run(detector_factory(), flow, wire, [request]))
    assert verdict(result, "regions") == "INCONCLUSIVE"


def test_only_what_the_handset_sends_counts(detector_factory) -> None:
    wire, request = http_request(b"imei=352099001761481")
    other = make_flow(
        "tcp", 80, src="10.77.0.50", dst="198.18.0.1", server_name="connectivitycheck.gstatic.com"
    )
    detector = run(detector_factory(), other, wire, [request])
    result = judge([*clean_run(), other], detector=detector)
    assert verdict(result, "no-cleartext-identifiers") == "PASS"


def test_manifest_without_identity_cannot_pass_the_identifier_assertions() -> None:
    flows = clean_run()
    result = evaluate(
        flows,
        [],
        identity=Identity(),
        manifest=MANIFEST,
        handset=parse_handset(HANDSET),
        geo=FakeGeo(),
        analysis=resolved(flows),
    )
    assert verdict(result, "declared-endpoints") == "PASS"
    assert verdict(result, "no-cleartext-identifiers") == "INCONCLUSIVE"
    assert verdict(result, "identifier-recipients") == "INCONCLUSIVE"
