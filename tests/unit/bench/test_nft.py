"""The rulesets as text: what each mode and option puts in, and leaves out."""

from __future__ import annotations

from phonehome.bench.definition import AllowRule
from phonehome.bench.nft import (
    FOREIGN_LIMIT,
    PortGuard,
    RouterPlan,
    allow_rule,
    closed_ruleset,
    guard_ruleset,
    host_ruleset,
    router_ruleset,
)


def test_sinkhole_tproxies_tcp_and_udp_to_the_sink_ports_and_forwards_nothing() -> None:
    rules = router_ruleset(RouterPlan(("br0",), "sinkhole", 4100, 4100))
    assert "meta l4proto tcp tproxy ip to :4100 meta mark set 1 accept" in rules
    assert "meta l4proto udp tproxy ip to :4100 meta mark set 1 accept" in rules
    assert "tproxy ip6" not in rules
    assert "meta nfproto ipv6 counter drop" in rules
    forward = rules.split("chain forward")[1].split("}")[0].split("\n")
    body = [line.strip() for line in forward[2:] if line.strip()]
    assert body == ["ct state established,related accept", "counter drop"]
    assert "masquerade" not in rules


def test_dns_to_any_resolver_is_answered_by_the_bench() -> None:
    rules = router_ruleset(RouterPlan(("br0",), "sinkhole", 1, 1))
    assert "meta l4proto { tcp, udp } th dport 53 redirect" in rules
    assert rules.index("th dport 53 return") < rules.index("tproxy")


def test_ipv6_offered_is_tproxied_too_and_not_dropped() -> None:
    rules = router_ruleset(RouterPlan(("br0",), "sinkhole", 7, 7, ipv6="offer"))
    assert "meta nfproto ipv6 meta l4proto tcp tproxy ip6 to :7" in rules
    assert "meta nfproto ipv6 counter drop" not in rules


def test_blocked_quic_and_refused_dot_are_rejected_before_any_sink() -> None:
    rules = router_ruleset(RouterPlan(("br0",), "sinkhole", 7, 7, block_quic=True, dot="refuse"))
    assert rules.index("udp dport 443 return") < rules.index("tproxy")
    assert rules.index("tcp dport 853 return") < rules.index("tproxy")
    assert "udp dport 443 reject" in rules
    assert "tcp dport 853 reject with tcp reset" in rules


def test_offline_has_no_sinks_and_no_way_out() -> None:
    rules = router_ruleset(RouterPlan(("br0", "br1"), "offline"))
    assert "tproxy" not in rules
    assert 'iifname != { "br0", "br1" } return' in rules
    assert "masquerade" not in rules


def test_nat_enforce_accepts_only_the_allowed_and_drops_the_rest_with_a_log() -> None:
    plan = RouterPlan(
        ("br0",),
        "nat",
        uplink="uplink",
        enforce=True,
        allow=(AllowRule(cidr="198.51.100.0/24", proto="tcp", ports=[443]),),
    )
    rules = router_ruleset(plan)
    leave = 'iifname { "br0" } oifname "uplink"'
    assert f"{leave} ip daddr 198.51.100.0/24 tcp dport {{ 443 }} accept" in rules
    assert f'{leave} log prefix "phonehome-enforce " counter drop' in rules
    assert f"{leave} accept" not in rules
    assert 'oifname "uplink" masquerade' in rules
    assert 'iifname "uplink" drop' in rules


def test_nat_without_enforce_forwards_everything_to_the_uplink() -> None:
    rules = router_ruleset(RouterPlan(("br0",), "nat", uplink="uplink"))
    assert 'iifname { "br0" } oifname "uplink" accept' in rules


def test_allow_rules_cover_protocols_ports_and_ipv6() -> None:
    assert allow_rule(AllowRule(cidr="10.1.2.3")) == "ip daddr 10.1.2.3/32"
    assert allow_rule(AllowRule(cidr="2001:db8::/32", ports=[53])) == (
        "ip6 daddr 2001:db8::/32 meta l4proto { tcp, udp } th dport { 53 }"
    )
    assert allow_rule(AllowRule(cidr="10.0.0.0/8", proto="udp")) == "ip daddr 10.0.0.0/8 meta l4proto udp"


def test_the_host_table_keeps_the_uplink_off_the_hosts_own_services_and_other_interfaces() -> None:
    rules = host_ruleset("phonehome_abc123", "phabc123-up", "eth0", "100.64.3.0/30")
    assert 'iifname "phabc123-up" drop' in rules.split("chain input")[1].split("}")[0]
    forward = rules.split("chain forward")[1].split("}")[0]
    assert forward.index('iifname "phabc123-up" oifname "eth0" accept') < forward.index(
        'iifname "phabc123-up" drop'
    )
    assert 'oifname "eth0" ip saddr 100.64.3.0/30 masquerade' in rules


def test_a_veth_port_serves_dhcp_to_its_handset_only_and_records_every_other_mac() -> None:
    rules = guard_ruleset((PortGuard("wlan", "ph1-wlan", ("02:00:00:00:00:01",)),))
    assert rules.startswith("table bridge phonehome {")
    assert "elements = { 02:00:00:00:00:01 }" in rules
    assert 'iifname "ph1-wlan" ether saddr != @handset_wlan add @foreign_wlan { ether saddr }' in rules
    assert 'iifname "ph1-wlan" udp dport { 67, 547 } ether saddr != @handset_wlan counter drop' in rules
    assert f"size {FOREIGN_LIMIT}" in rules  # the record of foreign MACs is bounded


def test_a_lease_is_refused_for_any_client_hardware_address_but_the_handsets_whatever_the_frames_source() -> (
    None
):
    rules = guard_ruleset((PortGuard("wlan", "ph1-wlan", ("02:00:00:00:00:01",)),))
    assert "typeof @th,288,48\n    elements = { 0x020000000001 }" in rules
    spoofed = 'iifname "ph1-wlan" ether type ip udp dport 67 @th,288,48 != @chaddr_wlan'
    assert f"{spoofed} add @spoofed_wlan {{ @th,288,48 }}" in rules
    assert f"{spoofed} counter drop" in rules


def test_a_cable_without_known_macs_serves_the_first_dhcp_client_only() -> None:
    rules = guard_ruleset((PortGuard("ap1", "enx1", ()),))
    assert "size 1\n    flags dynamic" in rules
    learn = 'iifname "enx1" udp dport { 67, 547 } add @handset_ap1 { ether saddr }'
    record = (
        'iifname "enx1" udp dport { 67, 547 } ether saddr != @handset_ap1 add @foreign_ap1 { ether saddr }'
    )
    drop = 'iifname "enx1" udp dport { 67, 547 } ether saddr != @handset_ap1 counter drop'
    assert rules.index(learn) < rules.index(record) < rules.index(drop)
    assert 'iifname "enx1" ether saddr != @handset_ap1 add' not in rules  # any frame before the first request


def test_a_shared_cable_records_only_other_dhcp_clients() -> None:
    rules = guard_ruleset((PortGuard("ap1", "enx1", ("02:00:00:00:00:01",), isolated=False),))
    assert 'iifname "enx1" udp dport { 67, 547 } ether saddr != @handset_ap1 add @foreign_ap1' in rules
    assert 'iifname "enx1" ether saddr != @handset_ap1 add' not in rules


def test_the_closed_window_drops_everything_from_the_ports_before_routing() -> None:
    rules = closed_ruleset(("br0", "br1"))
    assert "table inet phonehome_closed" in rules
    assert "hook prerouting priority raw - 10" in rules
    assert 'iifname { "br0", "br1" } drop' in rules


def test_with_a_tls_service_every_tcp_flow_goes_to_it_and_udp_still_to_the_sinks() -> None:
    rules = router_ruleset(RouterPlan(("br0",), "sinkhole", 4100, 4100, tls_port=4200, ipv6="offer"))
    assert "meta l4proto tcp tproxy ip to :4200 meta mark set 1 accept" in rules
    assert "meta l4proto tcp tproxy ip6 to :4200 meta mark set 1 accept" in rules
    assert "meta l4proto udp tproxy ip to :4100 meta mark set 1 accept" in rules
    assert "tcp tproxy ip to :4100" not in rules
    assert rules.index("th dport 53 return") < rules.index("tproxy")
