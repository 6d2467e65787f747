"""No unearned PASS: each way a firmware could slip past a verdict, and a clean control beside it.

The flows here are the records the analyzer hands over (crafted-capture tests of
the same attacks run through the real analyzer in test_attack_captures.py).
"""

from __future__ import annotations

import pytest

from phonehome.policy.evaluate import Evaluation, evaluate
from phonehome.policy.handset import Handset, parse_handset
from phonehome.policy.identity import Identity
from phonehome.policy.infrastructure import BenchFacts, ResolverAnswer
from phonehome.policy.manifest import Manifest
from phonehome.traffic.analysis import Analysis, DnsAnswer, Stats
from phonehome.traffic.flow import DnsQuery, Flow, NameClaim, TlsHello, Tunnel
from phonehome.traffic.timeline import PhaseMarker
from tests.unit.policy.builders import IDENTITY, http_request, make_flow, run
from tests.unit.policy.test_verdicts import FakeGeo

HANDSET, HANDSET_MAC, ROUTER, ROUTER_MAC = (
    "172.16.3.10",
    "02:00:00:00:00:0a",
    "172.16.3.1",
    "02:00:00:00:00:01",
)
IMEI = "352099001761481"
T0 = 1000.0
CONSENTED = [PhaseMarker(T0 - 40, "boot"), PhaseMarker(T0 - 30, "consent", {"accepted": True})]
BENCH = BenchFacts(router_addresses=[ROUTER], router_macs=[ROUTER_MAC], subnets=["172.16.3.0/24"])
MANIFEST = Manifest.model_validate(
    {
        "firmware": "test",
        "endpoints": [
            {
                "name": "check",
                "hosts": ["connectivitycheck.gstatic.com"],
                "ports": [80, 443],
                "transport": ["tls", "cleartext"],
                "before_consent": True,
                "purpose": "captive portal",
            },
            {
                "name": "api",
                "hosts": ["api.oem.test"],
                "ports": [443],
                "purpose": "updates",
                "identifiers": ["imei"],
                "legal_basis": "contract",
                "regions": ["NO"],
            },
            {"name": "ntp", "hosts": ["time.android.com"], "ports": [123], "protocol": "udp",
             "transport": "cleartext", "before_consent": True, "purpose": "time"},
        ],
        "policy": {"personal_data_countries": ["NO", "SE"]},
    }
)  # fmt: skip


def flow(
    dst: str,
    dport: int,
    *,
    proto: str = "tcp",
    src: str = HANDSET,
    sport: int = 40000,
    name: str | None = None,
    source: str = "sni",
    ts: float = T0,
    **extra: object,
) -> Flow:
    made = make_flow(
        proto,
        dport,
        src=src,
        dst=dst,
        server_name=name,
        name_source=source if name else "none",
        app=extra.pop("app", "tls" if source == "sni" and name else None),  # type: ignore[arg-type]
        transport=extra.pop("transport", "tls" if source == "sni" and name else "cleartext"),  # type: ignore[arg-type]
        first_ts=ts,
        src_mac=HANDSET_MAC if src == HANDSET else ROUTER_MAC,
        dst_mac=ROUTER_MAC if src == HANDSET else HANDSET_MAC,
        **extra,
    )
    made.sport = sport
    made.packets_c2s = made.packets_c2s or 1  # both sides sent something, as on a real wire
    made.packets_s2c = made.packets_s2c or 1
    if made.transport == "tls" and made.tls is None:
        made.tls = TlsHello(name, versions=[0x0304], legacy_version=0x0303, frame=3)
    return made


def answer(
    name: str, address: str, *, ts: float = T0 - 1, server: str = ROUTER, server_mac: str = ROUTER_MAC
) -> DnsAnswer:
    return DnsAnswer(name, address, HANDSET, server, HANDSET_MAC, server_mac, 0, ts, 0)


def lookup(*names: str) -> Flow:
    dns = flow(ROUTER, 53, proto="udp", app="dns", transport="cleartext", ts=T0 - 40, packets_s2c=1)
    dns.dns_queries = [DnsQuery(n, 1, 1, T0 - 2) for n in names]
    return dns


def judge(
    flows: list[Flow],
    answers: list[DnsAnswer] = (),  # type: ignore[assignment]
    *,
    detector=None,  # type: ignore[no-untyped-def]
    identity: Identity | None = None,
    manifest: Manifest | None = MANIFEST,
    handset: Handset | None = None,
    bench: BenchFacts | None = BENCH,
    stats: Stats | None = None,
    macs: dict[str, int] | None = None,
    **kw: object,
) -> Evaluation:
    analysis = Analysis(
        flows=flows, files=[], stats=stats or Stats(), warnings=[], dns_answers=list(answers),
        macs=macs if macs is not None else {HANDSET_MAC: 10, ROUTER_MAC: 10},
    )  # fmt: skip
    kw.setdefault("timeline", CONSENTED)
    return evaluate(
        flows,
        detector or [],
        identity=identity or Identity.model_validate(IDENTITY),
        manifest=manifest,
        handset=handset or parse_handset(HANDSET),
        geo=FakeGeo(),
        analysis=analysis,
        bench=bench,
        **kw,
    )  # type: ignore[arg-type]


def result(evaluation: Evaluation, assertion: str) -> str:
    return next(v.result for v in evaluation.verdicts if v.assertion == assertion)


def reason(evaluation: Evaluation, assertion: str) -> str:
    return next(v.reason for v in evaluation.verdicts if v.assertion == assertion)


def clean() -> tuple[list[Flow], list[DnsAnswer]]:
    return (
        [
            lookup("connectivitycheck.gstatic.com"),
            flow("198.18.0.7", 443, name="connectivitycheck.gstatic.com"),
        ],
        [answer("connectivitycheck.gstatic.com", "198.18.0.7")],
    )


def test_control_clean_traffic_passes_declared_endpoints() -> None:
    evaluation = judge(*clean())
    assert result(evaluation, "declared-endpoints") == "PASS"
    assert result(evaluation, "no-cleartext-identifiers") == "PASS"
    assert result(evaluation, "transport") == "PASS"
    assert result(evaluation, "consent") == "PASS"
    assert result(evaluation, "visible-dns") == "PASS"


# -- 1. unknown identity is not a clean identity -----------------------------------------------------


def test_identifiers_the_handset_would_not_give_make_identifier_assertions_inconclusive() -> None:
    identity = Identity.model_validate(
        {
            "serial": "PNX7B1234567",
            "wifi_mac": "aa:bb:cc:dd:ee:0f",
            "unread": {"imei": "Android 14 denies it to the shell", "iccid": "denied", "imsi": "denied"},
        }
    )
    evaluation = judge(*clean(), identity=identity)
    for assertion in ("no-cleartext-identifiers", "identifier-recipients"):
        assert result(evaluation, assertion) == "INCONCLUSIVE"
        assert "iccid, imei, imsi" in reason(evaluation, assertion)
        assert "inventory" in reason(evaluation, assertion)
    assert result(evaluation, "declared-endpoints") == "PASS"


def test_an_identifier_the_inventory_supplied_is_no_longer_unread() -> None:
    identity = Identity.model_validate({"imei": IMEI, "unread": {"imei": "denied"}})
    assert identity.unread == {}


# -- 2. every flow to or from the handset is judged -----------------------------------------------------


def test_a_connection_the_peer_opened_and_the_handset_answered_is_judged() -> None:
    flows, answers = clean()
    inbound = flow(HANDSET, 5555, src="203.0.113.9", sport=41000, name=None)
    evaluation = judge([*flows, inbound], answers)
    assert result(evaluation, "declared-endpoints") == "FAIL"
    finding = next(f for f in evaluation.findings if f.rule == "undeclared-endpoint")
    assert "203.0.113.9:41000/tcp" in finding.detail
    assert "handset answered" in finding.detail


def test_a_leak_in_what_the_handset_sent_as_the_flows_server_counts(detector_factory) -> None:
    # UDP from the handset's port 53 to a high port: port rank would call the peer the client.
    reversed_flow = flow(
        HANDSET, 53, proto="udp", src="203.0.113.9", sport=40000, name=None, transport="unknown"
    )
    detector = run(detector_factory(), reversed_flow, b"imei=" + IMEI.encode(), from_client=False)
    evaluation = judge([*clean()[0], reversed_flow], clean()[1], detector=detector)
    assert result(evaluation, "no-cleartext-identifiers") == "FAIL"
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_a_leak_the_peer_sent_is_not_the_handsets(detector_factory) -> None:
    served = flow("203.0.113.9", 80, name=None, transport="cleartext")
    detector = run(detector_factory(), served, b"imei=" + IMEI.encode(), from_client=False)
    evaluation = judge([*clean()[0], served], clean()[1], detector=detector)
    assert not [f for f in evaluation.findings if f.rule == "cleartext-identifier"]


def test_an_ip_given_handset_owns_the_ipv6_addresses_of_its_mac() -> None:
    v6 = flow("2001:db8::9", 443, src="fe80::a", name=None)
    v6.src_mac = HANDSET_MAC
    evaluation = judge([*clean()[0], v6], clean()[1])
    assert result(evaluation, "declared-endpoints") == "FAIL"
    assert "fe80::a" in evaluation.handset


def test_another_mac_on_an_isolated_port_means_the_bench_was_not_one_handsets_world() -> None:
    evaluation = judge(*clean(), macs={HANDSET_MAC: 9, ROUTER_MAC: 9, "02:66:66:66:66:66": 3})
    assert evaluation.result == "INCONCLUSIVE"
    assert all(v.result != "PASS" for v in evaluation.verdicts)
    assert "02:66:66:66:66:66" in reason(evaluation, "declared-endpoints")


def test_a_tunnelled_flow_from_the_handset_is_judged_by_its_inner_destination() -> None:
    inner = flow("198.51.100.77", 80, src="10.99.0.1", name=None, transport="cleartext")
    inner.src_mac = inner.dst_mac = None
    inner.tunnel = Tunnel("gre", HANDSET, "203.0.113.40", 5)
    evaluation = judge([*clean()[0], inner], clean()[1])
    assert any("198.51.100.77:80" in f.detail for f in evaluation.findings if f.rule == "undeclared-endpoint")


# -- 3. every packet reaches the verdicts ------------------------------------------------------------------


def test_icmp_to_an_undeclared_address_fails_declared_endpoints() -> None:
    ping = flow("203.0.113.44", 0, proto="icmp", name=None, transport="unknown", icmp_types=[8])
    evaluation = judge([*clean()[0], ping], clean()[1])
    assert result(evaluation, "declared-endpoints") == "FAIL"
    assert any("203.0.113.44:0/icmp" in f.detail for f in evaluation.findings)


def test_neighbour_discovery_is_link_plumbing_not_an_endpoint() -> None:
    nd = flow(
        "ff02::2", 0, proto="icmpv6", src="fe80::a", name=None, transport="unknown", icmp_types=[133, 135]
    )
    evaluation = judge([*clean()[0], nd], clean()[1])
    assert result(evaluation, "declared-endpoints") == "PASS"


def test_an_echo_to_a_link_multicast_is_not_plumbing() -> None:
    echo = flow("ff02::1", 0, proto="icmpv6", src="fe80::a", name=None, transport="unknown", icmp_types=[128])
    assert result(judge([*clean()[0], echo], clean()[1]), "declared-endpoints") == "FAIL"


def test_a_frame_without_ip_fails_declared_endpoints() -> None:
    frame = flow("ff:ff:ff:ff:ff:ff", 0, proto="link-0x88b5", src=HANDSET_MAC, name=None, transport="unknown")
    assert result(judge([*clean()[0], frame], clean()[1]), "declared-endpoints") == "FAIL"


@pytest.mark.parametrize(
    ("stats", "words"),
    [
        (Stats(malformed={"ipv4-truncated": 1}), "could not be decoded"),
        (Stats(snaplen_cut_packets=2), "snap length"),
        (Stats(truncated_fragments=1), "fragments"),
        (Stats(clock_steps=1, largest_clock_step=3600.0), "clock"),
    ],
)
def test_what_the_analyzer_could_not_read_is_doubt_in_every_verdict(stats: Stats, words: str) -> None:
    evaluation = judge(*clean(), stats=stats)
    assert "PASS" not in {v.result for v in evaluation.verdicts}
    assert words in reason(evaluation, "declared-endpoints")


def test_a_capture_that_records_no_drop_counters_is_not_lossless() -> None:
    evaluation = judge(*clean(), drops=None)
    assert "PASS" not in {v.result for v in evaluation.verdicts}
    assert "unknown losses" in reason(evaluation, "transport")


# -- 4. no blanket exemptions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dst", "dport", "proto"),
    [
        ("8.8.8.8", 53, "udp"),
        ("203.0.113.9", 67, "udp"),
        ("172.16.3.255", 9999, "udp"),
        ("255.255.255.255", 7, "udp"),
    ],
)
def test_only_the_bench_routers_dhcp_and_dns_are_infrastructure(dst: str, dport: int, proto: str) -> None:
    sneaky = flow(dst, dport, proto=proto, name=None, transport="unknown")
    evaluation = judge([*clean()[0], sneaky], clean()[1])
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_plain_dns_to_the_bench_router_is_infrastructure_but_its_names_are_judged() -> None:
    evaluation = judge([lookup("connectivitycheck.gstatic.com", "zzhc.vnet.cn")], [])
    assert result(evaluation, "declared-endpoints") == "FAIL"
    assert [f.rule for f in evaluation.findings if f.assertion == "declared-endpoints"] == [
        "undeclared-lookup"
    ]


@pytest.mark.parametrize(
    ("name", "exempt"),
    [
        ("4.3.2.1.in-addr.arpa", True),
        ("b.a.9.8.7.6.5.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", True),
        (f"{IMEI}.in-addr.arpa", False),
        ("1.2.3.4.5.in-addr.arpa", False),
        ("01.2.3.4.in-addr.arpa", False),
        ("x.local", False),
    ],
)
def test_a_reverse_lookup_is_exempt_only_when_it_is_exactly_an_addresses_ptr_name(
    name: str, exempt: bool
) -> None:
    evaluation = judge([lookup(name)], [])
    assert (result(evaluation, "declared-endpoints") != "FAIL") == exempt


# -- 5. the destination is where the packets went ------------------------------------------------------------


def test_a_declared_sni_on_another_names_address_is_not_that_endpoint() -> None:
    flows = [
        lookup("connectivitycheck.gstatic.com", "zzhc.vnet.cn"),
        flow("198.18.0.9", 443, name="connectivitycheck.gstatic.com"),
    ]
    answers = [answer("connectivitycheck.gstatic.com", "198.18.0.7"), answer("zzhc.vnet.cn", "198.18.0.9")]
    evaluation = judge(flows, answers)
    endpoint = [f for f in evaluation.findings if f.rule == "undeclared-endpoint"]
    assert endpoint
    assert "zzhc.vnet.cn" in endpoint[0].detail


def test_a_declared_sni_to_an_address_no_resolver_gave_is_not_that_endpoint() -> None:
    evaluation = judge([flow("203.0.113.80", 443, name="api.oem.test")], [])
    assert result(evaluation, "declared-endpoints") == "FAIL"
    assert "never gave" in next(f.detail for f in evaluation.findings if f.rule == "undeclared-endpoint")


def test_an_answer_the_handset_sent_itself_names_nothing() -> None:
    forged = answer("api.oem.test", "203.0.113.80", server=ROUTER, server_mac=HANDSET_MAC)
    evaluation = judge([flow("203.0.113.80", 443, name="api.oem.test")], [forged])
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_an_answer_from_another_resolver_than_the_benchs_names_nothing() -> None:
    other = answer("api.oem.test", "203.0.113.80", server="203.0.113.53", server_mac=ROUTER_MAC)
    evaluation = judge([flow("203.0.113.80", 443, name="api.oem.test")], [other])
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_an_answer_after_the_flow_began_does_not_name_it() -> None:
    late = answer("api.oem.test", "198.18.0.8", ts=T0 + 5)
    assert (
        result(judge([flow("198.18.0.8", 443, name="api.oem.test")], [late]), "declared-endpoints") == "FAIL"
    )


def test_the_bench_resolvers_log_names_addresses_too() -> None:
    bench = BenchFacts(
        router_addresses=[ROUTER],
        router_macs=[ROUTER_MAC],
        subnets=["172.16.3.0/24"],
        resolver_answers=[ResolverAnswer(T0 - 1, HANDSET, "api.oem.test", ("198.18.0.8",))],
    )
    assert (
        result(judge([flow("198.18.0.8", 443, name="api.oem.test")], [], bench=bench), "declared-endpoints")
        == "PASS"
    )


def test_every_request_on_a_connection_counts_not_only_the_first() -> None:
    keepalive = flow("198.18.0.7", 80, name="connectivitycheck.gstatic.com", source="http-host", app="http")
    keepalive.claims.append(NameClaim("zzhc.vnet.cn", "http-host", 9))
    evaluation = judge(
        [lookup("connectivitycheck.gstatic.com"), keepalive],
        [answer("connectivitycheck.gstatic.com", "198.18.0.7")],
    )
    claims = [f for f in evaluation.findings if f.rule == "undeclared-claim"]
    assert claims
    assert "zzhc.vnet.cn" in claims[0].detail


def test_an_identifier_under_a_declared_recipient_but_a_fronted_host_is_a_recipient_failure(
    detector_factory,
) -> None:
    wire, request = http_request(b"imei=" + IMEI.encode())
    fronted = flow(
        "198.18.0.8", 443, name="api.oem.test", source="http-host", app="http", transport="cleartext"
    )
    fronted.claims.append(NameClaim("t.oem.test", "http-host", 3))
    detector = run(detector_factory(), fronted, wire, [request])
    evaluation = judge(
        [lookup("api.oem.test"), fronted], [answer("api.oem.test", "198.18.0.8")], detector=detector
    )
    assert result(evaluation, "identifier-recipients") == "FAIL"


def test_ech_hides_the_endpoint_so_declared_endpoints_cannot_pass() -> None:
    flows, answers = clean()
    flows[1].tls = TlsHello("connectivitycheck.gstatic.com", versions=[0x0304], ech=True, frame=3)
    evaluation = judge(flows, answers)
    assert result(evaluation, "declared-endpoints") == "INCONCLUSIVE"
    assert "Encrypted Client Hello" in reason(evaluation, "declared-endpoints")


# -- 8. consent and regions read all the evidence ------------------------------------------------------------------


def needs_consent(ts: float) -> Flow:
    return flow("198.18.0.8", 443, name="api.oem.test", ts=ts)


@pytest.mark.parametrize(
    ("markers", "expected"),
    [
        ([(T0 - 10, True), (T0 - 5, False)], "FAIL"),  # accepted, then declined: the latest decision wins
        ([(T0 - 10, False), (T0 - 5, True)], "PASS"),  # declined, then accepted
        ([(T0 - 10, True), (T0 + 5, False)], "FAIL"),  # still talking after the decline
    ],
)
def test_every_consent_marker_counts_and_the_latest_decision_wins(
    markers: list[tuple[float, bool]], expected: str
) -> None:
    flows = [lookup("api.oem.test"), needs_consent(T0)]
    flows[1].last_ts = T0 + 10
    timeline = [PhaseMarker(T0 - 20, "boot")] + [
        PhaseMarker(ts, "consent", {"accepted": a}) for ts, a in markers
    ]
    evaluation = judge(flows, [answer("api.oem.test", "198.18.0.8")], timeline=timeline)
    assert result(evaluation, "consent") == expected


def test_a_consent_marker_that_does_not_say_what_was_decided_is_not_a_consent() -> None:
    flows = [lookup("api.oem.test"), needs_consent(T0)]
    timeline = [PhaseMarker(T0 - 20, "boot"), PhaseMarker(T0 - 10, "consent", {"screen": "x"})]
    evaluation = judge(flows, [answer("api.oem.test", "198.18.0.8")], timeline=timeline)
    assert result(evaluation, "consent") == "FAIL"


def test_a_run_that_did_not_cover_consent_cannot_pass_it() -> None:
    evaluation = judge(*clean(), phases=("boot", "network-attach"))
    assert result(evaluation, "consent") == "INCONCLUSIVE"


def test_an_address_the_database_cannot_place_is_doubt_not_the_manifests_claim(detector_factory) -> None:
    wire, request = http_request(b"imei=" + IMEI.encode())
    api = flow("198.18.0.8", 443, name="api.oem.test", source="http-host", app="http", transport="cleartext")
    detector = run(detector_factory(), api, wire, [request])
    evaluation = judge(
        [lookup("api.oem.test"), api], [answer("api.oem.test", "198.18.0.8")], detector=detector
    )
    assert result(evaluation, "regions") == "INCONCLUSIVE"  # the manifest says NO; no database does


@pytest.mark.parametrize("address", ["64:ff9b::cb00:7105", "2002:cb00:7105::1", "::ffff:203.0.113.5"])
def test_an_embedded_ipv4_address_is_placed_by_that_address(detector_factory, address: str) -> None:
    wire, request = http_request(b"imei=" + IMEI.encode())
    leak = flow(address, 80, name=None, transport="cleartext", app="http")
    detector = run(detector_factory(), leak, wire, [request])
    evaluation = judge([*clean()[0], leak], clean()[1], detector=detector)
    assert any(
        f.rule == "region" and "CN" in f.detail for f in evaluation.findings
    )  # 203.0.113.5 is CN in FakeGeo


def test_a_flow_a_parser_left_partly_unread_is_doubt() -> None:
    flows, answers = clean()
    flows[1].uninspected.append("HTTP/2: a header block that did not decode")
    evaluation = judge(flows, answers)
    assert "PASS" not in {v.result for v in evaluation.verdicts}
    assert "not read in full" in reason(evaluation, "declared-endpoints")
