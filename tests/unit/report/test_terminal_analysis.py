"""The endpoint table: flows of any protocol show where they went, with their protocol for a port."""

from __future__ import annotations

from collections.abc import Callable

from phonehome.report.terminal import render_analysis as render
from phonehome.traffic import Analysis, factory
from phonehome.traffic.factory import Packet, TcpConversation

Analyze = Callable[..., Analysis]


def test_flows_that_are_neither_tcp_nor_udp_are_rows_with_their_protocol(run: Analyze) -> None:
    ping = factory.ETHERNET.frame(
        factory.ipv4(factory.icmp(8, 0, b"pad"), "10.0.0.2", "198.51.100.9", 1), True
    )
    esp = factory.ETHERNET.frame(factory.ipv4(b"\x00" * 16, "10.0.0.2", "198.51.100.10", 50), True)
    arp = factory.ethernet(b"\x00" * 28, 0x0806, src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")
    web = TcpConversation(("10.0.0.2", 40000), ("198.51.100.11", 80), ts=4.0).handshake()
    analysis = run([Packet(1.0, ping), Packet(2.0, esp), Packet(3.0, arp), *web.packets])
    lines = render(analysis).splitlines()
    assert lines[0].startswith("6 packets in 1 file, 4 flows (3 neither TCP nor UDP), 4 endpoints")
    rows = {line.split()[0]: line.split()[2] for line in lines[2:]}
    assert rows == {
        "(198.51.100.9)": "icmp",
        "(198.51.100.10)": "esp",
        "(ff:ff:ff:ff:ff:ff)": "link-0x0806",
        "(198.51.100.11)": "tcp/80",
    }
