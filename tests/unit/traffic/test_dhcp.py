"""DHCPv4 and DHCPv6 messages: where the sender's hardware address sits by protocol, and what else they say."""

from __future__ import annotations

from collections.abc import Callable

from phonehome.traffic import Analysis, dhcp
from phonehome.traffic.factory import RecordingObserver, UdpConversation

Analyze = Callable[..., Analysis]
MAC = "02:00:00:00:00:01"
MAC_BYTES = bytes.fromhex("020000000001")


def v4(data: bytes, from_client: bool = True) -> dhcp.DhcpMessage:
    message = dhcp.parse_dhcpv4(data, from_client=from_client, frame=1, offset=0)
    assert message is not None
    return message


def test_chaddr_and_client_identifier_are_the_link_spans() -> None:
    data = dhcp.build_dhcpv4(3, MAC, hostname=f"android-{MAC}", vendor_class="android-dhcp-14")
    message = v4(data)
    assert (message.version, message.message_type, message.client_mac) == (4, 3, MAC)
    assert [data[a:b] for a, b in message.link_spans] == [MAC_BYTES, MAC_BYTES]
    assert message.hostname == f"android-{MAC}"  # a MAC outside the spans is the policy's to judge
    assert message.vendor_class == "android-dhcp-14"


def test_a_client_identifier_that_is_not_ethernet_is_no_link_span() -> None:
    data = dhcp.build_dhcpv4(1, MAC, client_id=False, options=((61, b"\xff" + MAC_BYTES),))
    assert [data[a:b] for a, b in v4(data).link_spans] == [MAC_BYTES]
    assert v4(data).link_spans == ((28, 34),)


def test_server_replies_give_lease_routers_and_resolvers() -> None:
    options = (
        (54, bytes([192, 168, 7, 1])),
        (3, bytes([192, 168, 7, 1])),
        (6, bytes([192, 168, 7, 1, 9, 9, 9, 9])),
    )
    data = dhcp.build_dhcpv4(5, MAC, client_id=False, op=2, yiaddr="192.168.7.23", options=options)
    message = v4(data, from_client=False)
    assert (message.server_id, message.your_address) == ("192.168.7.1", "192.168.7.23")
    assert message.routers == ("192.168.7.1",)
    assert message.dns_servers == ("192.168.7.1", "9.9.9.9")


def test_options_in_an_overloaded_file_field_are_read() -> None:
    data = bytearray(dhcp.build_dhcpv4(1, MAC, options=((52, b"\x01"),)))
    data[108:118] = bytes([12, 8]) + b"hidden-1"
    assert v4(bytes(data)).hostname == "hidden-1"


def test_a_client_fqdn_in_wire_format_is_the_hostname() -> None:
    data = dhcp.build_dhcpv4(3, MAC, options=((81, b"\x04\x00\x00\x05phone\x07example\x00"),))
    assert v4(data).hostname == "phone.example"


def test_dhcpv6_duid_ll_is_the_link_span_and_the_fqdn_the_hostname() -> None:
    data = dhcp.build_dhcpv6(1, MAC, fqdn="android-abc.lan")
    message = dhcp.parse_dhcpv6(data, from_client=True, frame=1, offset=0)
    assert message is not None
    assert (message.version, message.message_type, message.client_mac) == (6, 1, MAC)
    assert [data[a:b] for a, b in message.link_spans] == [MAC_BYTES]
    assert message.hostname == "android-abc.lan"


def test_dhcpv6_relayed_messages_give_spans_relative_to_the_datagram() -> None:
    inner = dhcp.build_dhcpv6(3, MAC)
    relay = bytes([12, 0]) + bytes(32) + (9).to_bytes(2, "big") + len(inner).to_bytes(2, "big") + inner
    message = dhcp.parse_dhcpv6(relay, from_client=True, frame=1, offset=0)
    assert message is not None
    assert message.message_type == 12
    assert [relay[a:b] for a, b in message.link_spans] == [MAC_BYTES]


def test_dhcp_flows_carry_their_messages_and_the_observer_all_bytes(
    run: Analyze, recorder: RecordingObserver
) -> None:
    discover = dhcp.build_dhcpv4(1, MAC, hostname="imei-356938035643809")
    request = dhcp.build_dhcpv4(3, MAC)
    conv = UdpConversation(("0.0.0.0", 68), ("255.255.255.255", 67)).send(discover).send(request)
    (flow,) = run(conv.packets, observer=recorder).flows
    assert (flow.app, flow.transport) == ("dhcp", "cleartext")
    assert [(m.message_type, m.offset) for m in flow.dhcp] == [(1, 0), (3, len(discover))]
    assert flow.dhcp[0].hostname == "imei-356938035643809"
    assert recorder.stream(0, True) == discover + request


def test_dhcp_on_another_port_is_found_by_its_magic_cookie(run: Analyze) -> None:
    conv = UdpConversation(("10.0.0.2", 40000), ("198.51.100.9", 6767)).send(dhcp.build_dhcpv4(8, MAC))
    (flow,) = run(conv.packets).flows
    assert flow.app == "dhcp"
    assert [m.message_type for m in flow.dhcp] == [8]


def test_dhcpv6_flows_are_read(run: Analyze) -> None:
    conv = UdpConversation(("fe80::1", 546), ("ff02::1:2", 547)).send(dhcp.build_dhcpv6(1, MAC, fqdn="x.lan"))
    (flow,) = run(conv.packets).flows
    assert flow.app == "dhcpv6"
    assert [m.hostname for m in flow.dhcp] == ["x.lan"]


def test_garbage_on_a_dhcp_port_is_an_anomaly_not_a_crash(run: Analyze) -> None:
    conv = UdpConversation(("10.0.0.2", 68), ("198.51.100.9", 67)).send(b"\x01\x02")
    (flow,) = run(conv.packets).flows
    assert flow.dhcp == []
    assert flow.anomalies
