"""dnsmasq's command line (DHCP and RA only) and its log read back as leases (a log from a real run)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.bench.dnsmasq import LanPlan, dnsmasq_argv, parse_leasefile, parse_log
from phonehome.bench.privilege import ServiceUser

NOBODY = ServiceUser("nobody", 65534, 65534, "nogroup")

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
    (lease,) = parse_log(LOG.splitlines(), now=NOW)
    assert (lease.mac, lease.ip, lease.interface) == ("c6:07:a2:62:2d:9b", "172.16.0.131", "phq-br")
    assert lease.hostname == "android-abc"
    assert lease.vendor_class == "android-dhcp-14"
    assert lease.ts is not None


def test_a_log_from_december_read_in_january_keeps_last_year() -> None:
    line = "Dec 31 23:59:59 dnsmasq-dhcp[1]: 7 DHCPACK(br) 10.0.0.2 02:00:00:00:00:01 x"
    (lease,) = parse_log([line], now=1798761600.0 + 3600)
    assert lease.ts is not None
    assert lease.ts < 1798761600.0 + 3600


def test_lines_that_are_not_dnsmasqs_are_skipped() -> None:
    assert (
        parse_log(
            ["garbage", "", "Nov 28 21:58:42 other[1]: 1 DHCPACK(b) 1.2.3.4 02:00:00:00:00:01"], now=NOW
        )
        == []
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=20))
def test_any_log_text_parses_without_raising(lines: list[str]) -> None:
    parse_log([*lines, *LOG.splitlines()[:5], *lines], now=NOW)


def test_the_lease_file_gives_the_client_id() -> None:
    ids = parse_leasefile(
        "1795906722 c6:07:a2:62:2d:9b 172.16.0.131 android-abc 01:c6:07:a2:62:2d:9b\nbad line\n"
    )
    assert ids == {"c6:07:a2:62:2d:9b": "01:c6:07:a2:62:2d:9b"}


def test_dnsmasq_serves_dhcp_only_names_the_router_as_resolver_and_runs_unprivileged(tmp_path: Path) -> None:
    lan = LanPlan("br0", "172.16.0.1", "172.16.0.10", "172.16.0.250", "255.255.255.0")
    argv = dnsmasq_argv([lan], tmp_path, lease_seconds=600, user=NOBODY)
    assert "--port=0" in argv
    assert "--dhcp-option=tag:br0,option:dns-server,172.16.0.1" in argv
    assert {"--user=nobody", "--group=nogroup"} <= set(argv)
    assert "--user=root" not in argv
    assert not any(a.startswith(("--address", "--server", "--local", "--log-queries")) for a in argv)
    assert "--no-ping" in argv
    assert "--conf-file=/dev/null" in argv
    assert "--dhcp-range=set:br0,172.16.0.10,172.16.0.250,255.255.255.0,600" in argv
    assert "--enable-ra" not in argv


def test_ipv6_offered_advertises_the_routers_address_as_the_resolver(tmp_path: Path) -> None:
    lan = LanPlan("br0", "172.16.0.1", "172.16.0.10", "172.16.0.250", "255.255.255.0", "fd70::/64")
    argv = dnsmasq_argv([lan], tmp_path, lease_seconds=600, user=NOBODY)
    assert "--enable-ra" in argv
    assert "--dhcp-option=tag:br0,option6:dns-server,[fd70::1]" in argv


def test_the_ports_lease_is_the_last_one_of_a_mac_it_serves_on_its_bridge() -> None:
    from phonehome.bench.dnsmasq import Lease, lease_of

    leases = [
        Lease("02:00:00:00:00:01", "172.16.0.10", interface="br0"),
        Lease("02:5a:00:00:00:09", "172.16.0.11", interface="br0"),
        Lease("02:00:00:00:00:01", "172.17.0.10", interface="br1"),
    ]
    assert lease_of(leases, "br0", ["02:00:00:00:00:01"]) == leases[0]
    assert lease_of(leases, "br1", ["02:00:00:00:00:01"]) == leases[2]
    assert lease_of(leases, "br0", []) is None  # a spoofed MAC's lease is never the handset's
