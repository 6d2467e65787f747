"""dnsmasq's command line and its log read back as leases and DNS questions (a log from a real run)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.bench.dnsmasq import LanPlan, dnsmasq_argv, parse_leasefile, parse_log

LOG = """\
Nov 28 21:58:42 dnsmasq[12326]: started, version 2.90 cachesize 150
Nov 28 21:58:42 dnsmasq-dhcp[12326]: DHCP, IP range 172.16.0.10 -- 172.16.0.250, lease time 1h
Nov 28 21:58:42 dnsmasq-dhcp[12326]: 2286021190 available DHCP range: 172.16.0.10 -- 172.16.0.250
Nov 28 21:58:42 dnsmasq-dhcp[12326]: 2286021190 vendor class: android-dhcp-14
Nov 28 21:58:42 dnsmasq-dhcp[12326]: 2286021190 client provides name: android-abc
Nov 28 21:58:42 dnsmasq-dhcp[12326]: 2286021190 DHCPDISCOVER(phq-br) c6:07:a2:62:2d:9b
Nov 28 21:58:42 dnsmasq-dhcp[12326]: 2286021190 DHCPOFFER(phq-br) 172.16.0.131 c6:07:a2:62:2d:9b
Nov 28 21:58:42 dnsmasq-dhcp[12326]: 2286021190 DHCPREQUEST(phq-br) 172.16.0.131 c6:07:a2:62:2d:9b
Nov 28 21:58:42 dnsmasq-dhcp[12326]: 2286021190 DHCPACK(phq-br) 172.16.0.131 c6:07:a2:62:2d:9b android-abc
Nov 28 21:58:42 dnsmasq-dhcp[12326]: 2286021190 sent size: 11 option: 12 hostname  android-abc
Nov 28 21:58:42 dnsmasq[12326]: 1 172.16.0.131/55604 query[A] zzhc.vnet.cn from 172.16.0.131
Nov 28 21:58:42 dnsmasq[12326]: 1 172.16.0.131/55604 config zzhc.vnet.cn is 203.0.113.1
Nov 28 21:58:43 dnsmasq[12326]: 2 172.16.0.131/55604 query[AAAA] ZZHC.vnet.cn from 172.16.0.131
Nov 28 21:58:43 dnsmasq[12326]: 2 172.16.0.131/55604 config zzhc.vnet.cn is NODATA-IPv6
"""
NOW = 1795903200.0  # late November of the log's year


def test_a_lease_carries_mac_ip_hostname_and_vendor_class() -> None:
    leases, _ = parse_log(LOG.splitlines(), now=NOW)
    (lease,) = leases
    assert (lease.mac, lease.ip, lease.interface) == ("c6:07:a2:62:2d:9b", "172.16.0.131", "phq-br")
    assert lease.hostname == "android-abc"
    assert lease.vendor_class == "android-dhcp-14"


def test_each_dns_question_comes_with_its_answers_in_order() -> None:
    _, queries = parse_log(LOG.splitlines(), now=NOW)
    assert [(q.name, q.qtype, q.answers, q.client) for q in queries] == [
        ("zzhc.vnet.cn", "A", ("203.0.113.1",), "172.16.0.131"),
        ("zzhc.vnet.cn", "AAAA", ("NODATA-IPv6",), "172.16.0.131"),
    ]
    assert queries[1].ts - queries[0].ts == 1.0


def test_a_log_from_december_read_in_january_keeps_last_year() -> None:
    _, queries = parse_log(
        ["Dec 31 23:59:59 dnsmasq[1]: 1 10.0.0.2/1 query[A] a.b from 10.0.0.2"], now=1798761600.0 + 3600
    )
    assert queries[0].ts < 1798761600.0 + 3600


def test_lines_that_are_not_dnsmasqs_are_skipped() -> None:
    leases, queries = parse_log(["garbage", "", "Nov 28 21:58:42 other[1]: 1 x/1 query[A] a from b"], now=NOW)
    assert (leases, queries) == ([], [])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=20))
def test_any_log_text_parses_without_raising(lines: list[str]) -> None:
    parse_log([*lines, *LOG.splitlines()[:5], *lines], now=NOW)


def test_the_lease_file_gives_the_client_id() -> None:
    ids = parse_leasefile(
        "1795906722 c6:07:a2:62:2d:9b 172.16.0.131 android-abc 01:c6:07:a2:62:2d:9b\nbad line\n"
    )
    assert ids == {"c6:07:a2:62:2d:9b": "01:c6:07:a2:62:2d:9b"}


def test_sinkhole_dns_answers_every_name_with_the_sink_and_aaaa_cleanly(tmp_path: Path) -> None:
    lan = LanPlan("br0", "172.16.0.1", "172.16.0.10", "172.16.0.250", "255.255.255.0")
    argv = dnsmasq_argv(
        [lan],
        tmp_path,
        mode="sinkhole",
        sink_ipv4="203.0.113.1",
        sink_ipv6=None,
        upstream=[],
        lease_seconds=600,
    )
    assert "--address=/#/203.0.113.1" in argv
    assert "--local=/#/" in argv
    assert "--no-ping" in argv
    assert "--conf-file=/dev/null" in argv
    assert "--log-queries=extra" in argv
    assert not any(a.startswith("--address=/#/::") for a in argv)
    assert "--dhcp-range=set:br0,172.16.0.10,172.16.0.250,255.255.255.0,600" in argv
    assert "--enable-ra" not in argv


def test_nat_dns_forwards_to_the_named_upstream_only(tmp_path: Path) -> None:
    lan = LanPlan("br0", "172.16.0.1", "172.16.0.10", "172.16.0.250", "255.255.255.0", "fd70::/64")
    argv = dnsmasq_argv(
        [lan],
        tmp_path,
        mode="nat",
        sink_ipv4="203.0.113.1",
        sink_ipv6=None,
        upstream=["10.0.0.53"],
        lease_seconds=600,
    )
    assert "--server=10.0.0.53" in argv
    assert "--no-resolv" in argv
    assert not any(a.startswith("--address") for a in argv)
    assert "--enable-ra" in argv
