"""Isolation: from the handset nothing reaches the host, other benches' handsets or a real network."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from phonehome.bench.dhcp_client import obtain_lease
from tests.integration.bench.conftest import BenchFactory, Upstream, in_handset

pytestmark = pytest.mark.root

ONE_PORT = """
    name: test-isolation
    ports:
      - name: wlan
"""

CONNECT = """
    import socket, sys
    host, port = sys.argv[1], int(sys.argv[2])
    try:
        s = socket.create_connection((host, port), timeout=3)
        s.sendall(b"hello from the handset")
        s.close()
        print("connected")
    except OSError as exc:
        print(f"failed: {exc}")
"""


def connect_from(netns_name: str, host: str, port: int) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", netns_name, sys.executable, "-c", textwrap.dedent(CONNECT), host, str(port)],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout.strip()


class Listener:
    """A TCP listener in a namespace (None: the host) that notes every connection it accepts."""

    def __init__(self, ns: str | None, address: str = "0.0.0.0", port: int = 0) -> None:
        if ns:
            netns.pushns(ns)
        try:
            self.sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
            self.sock.bind((address, port))
        finally:
            if ns:
                netns.popns()
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def accepted(self) -> list[str]:
        peers = []
        while True:
            try:
                conn, addr = self.sock.accept()
            except BlockingIOError:
                return peers
            peers.append(addr[0])
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def host_listener() -> Iterator[Listener]:
    listener = Listener(None)
    yield listener
    listener.close()


def host_addresses() -> list[str]:
    with IPRoute() as ipr:
        return [
            str(a.get("IFA_ADDRESS"))
            for a in ipr.get_addr(family=socket.AF_INET)
            if not ipaddress.ip_address(str(a.get("IFA_ADDRESS"))).is_loopback
        ]


def test_the_hosts_own_addresses_and_services_are_not_reachable_in_sinkhole_mode(
    make_bench: BenchFactory, host_listener: Listener
) -> None:
    bench = make_bench(ONE_PORT)
    port = bench.port()
    obtain_lease(port, bench.workdir)
    targets = host_addresses()
    assert targets, "the host has no non-loopback IPv4 address to test against"
    for address in targets:
        # The handset's connection succeeds, but to the sink: the host's listener never sees it.
        assert connect_from(port.netns or "", address, host_listener.port) == "connected"
    wanted = {(a, host_listener.port) for a in targets}
    deadline = time.monotonic() + 5  # the sinks write a record when the connection ends
    while not wanted <= {r.dst for r in bench.sink_records()}:
        assert time.monotonic() < deadline, bench.sink_records()
        time.sleep(0.05)
    assert host_listener.accepted() == []


def test_the_router_has_no_way_out_in_sinkhole_mode(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT)
    port = bench.port()
    with IPRoute(netns=bench.router_ns) as ipr:
        names = {str(link.get("ifname")) for link in ipr.get_links()}
        routes = list(ipr.get_routes(family=socket.AF_INET, table=254))
        defaults = [r for r in routes if r["dst_len"] == 0]
    assert names == {"lo", port.bridge, port.interface}
    assert defaults == []
    # A flow no sink takes (ICMP, raw IP) has nowhere to go: no echo reply ever comes back.
    obtain_lease(port, bench.workdir)
    done = in_handset(
        port,
        """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.settimeout(2)
        s.sendto(bytes([8, 0, 0xf7, 0xff, 0, 0, 0, 0]), ("192.0.2.1", 0))
        try:
            print(s.recv(100)[20])  # ICMP type: 3 is destination unreachable, 0 an echo reply
        except TimeoutError:
            print("no answer")
        """,
    )
    assert done.stdout.strip() in ("no answer", "3"), done.stderr


def test_a_handset_cannot_reach_another_benchs_handset(make_bench: BenchFactory) -> None:
    first, second = make_bench(ONE_PORT), make_bench(ONE_PORT)
    assert first.run_id != second.run_id
    port_a, port_b = first.port(), second.port()
    assert port_a.subnet != port_b.subnet
    obtain_lease(port_a, first.workdir)
    lease_b = obtain_lease(port_b, second.workdir)
    listener = Listener(port_b.netns)
    try:
        assert connect_from(port_a.netns or "", lease_b.ip, listener.port) == "connected"
        time.sleep(0.3)
        assert listener.accepted() == []
    finally:
        listener.close()
    assert (lease_b.ip, listener.port) in {r.dst for r in first.sink_records()}
    assert second.sink_records() == []


def forwarding(ifname: str) -> str:
    return Path(f"/proc/sys/net/ipv4/conf/{ifname}/forwarding").read_text().strip()


def test_nat_reaches_the_upstream_masqueraded_and_enforce_drops_the_rest(
    upstream: Upstream, host_listener: Listener, make_bench: BenchFactory
) -> None:
    before = forwarding(upstream.host_if)
    bench = make_bench(
        f"""
        name: test-nat
        mode: nat
        ports:
          - name: wlan
        nat:
          interface: {upstream.host_if}
          dns: [{upstream.allowed_ip}]
          enforce: true
          allow:
            - cidr: {upstream.allowed_ip}/32
              proto: tcp
              ports: [8080]
        """
    )
    port = bench.port()
    assert port.netns
    obtain_lease(port, bench.workdir)
    allowed = Listener(upstream.netns, upstream.allowed_ip, 8080)
    other = Listener(upstream.netns, upstream.other_ip, 8080)
    try:
        assert connect_from(port.netns, upstream.allowed_ip, 8080) == "connected"
        assert connect_from(port.netns, upstream.other_ip, 8080).startswith("failed")
        for address in host_addresses():
            assert connect_from(port.netns, address, host_listener.port).startswith("failed")
        time.sleep(0.2)
        assert allowed.accepted() == [upstream.host_ip]  # masqueraded by the host
        assert other.accepted() == []
        assert host_listener.accepted() == []
    finally:
        allowed.close()
        other.close()
    assert forwarding(upstream.host_if) == "1"
    bench.down()
    assert forwarding(upstream.host_if) == before


def test_nat_without_enforce_lets_every_upstream_address_through(
    upstream: Upstream, make_bench: BenchFactory
) -> None:
    bench = make_bench(
        f"""
        name: test-nat
        mode: nat
        ports:
          - name: wlan
        nat:
          interface: {upstream.host_if}
          dns: [{upstream.allowed_ip}]
        """
    )
    port = bench.port()
    assert port.netns
    obtain_lease(port, bench.workdir)
    other = Listener(upstream.netns, upstream.other_ip, 8080)
    try:
        assert connect_from(port.netns, upstream.other_ip, 8080) == "connected"
        time.sleep(0.2)
        assert other.accepted() == [upstream.host_ip]
    finally:
        other.close()
    assert bench.sink_records() == []  # nat mode has no sinks


def test_nat_chooses_subnets_that_overlap_no_host_route_and_status_names_them(
    upstream: Upstream, make_bench: BenchFactory
) -> None:
    metric = str(secrets.randbelow(50000) + 10000)
    covering = ["100.64.0.0/16", "172.16.0.0/16"]  # every slot's default transfer net and first LAN
    added = []
    try:
        for net in covering:
            argv = [
                "ip",
                "route",
                "add",
                net,
                "via",
                upstream.allowed_ip,
                "dev",
                upstream.host_if,
                "metric",
                metric,
            ]
            subprocess.run(argv, check=True, timeout=10, capture_output=True)
            added.append(net)
        bench = make_bench(
            f"""
            name: test-natnets
            mode: nat
            ports:
              - name: wlan
            nat:
              interface: {upstream.host_if}
              dns: [{upstream.allowed_ip}]
            """
        )
        assert bench.topology is not None
        chosen = bench.topology.networks()
        host = [ipaddress.ip_network(n) for n in covering]
        assert not any(mine.overlaps(theirs) for mine in chosen for theirs in host)
        status = subprocess.run(
            [sys.executable, "-m", "phonehome.cli", "bench", "status", bench.run_id],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=Path(__file__).resolve().parents[3],
        )
        assert f"lan {chosen[0]}" in status.stdout, status.stdout
        assert f"nat transfer {bench.topology.transfer}" in status.stdout
        port = bench.port()
        assert port.netns
        lease = obtain_lease(port, bench.workdir)
        assert ipaddress.ip_address(lease.ip) in chosen[0]
        other = Listener(upstream.netns, upstream.other_ip, 8080)
        try:
            assert connect_from(port.netns, upstream.other_ip, 8080) == "connected"
        finally:
            other.close()
    finally:
        for net in added:
            subprocess.run(
                ["ip", "route", "del", net, "dev", upstream.host_if, "metric", metric],
                check=False,
                timeout=10,
                capture_output=True,
            )
