"""Hostile bytes for what reads the first packets and the tunnels: never raises, answers stay in range."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.traffic import link, orientation, tunnels

FUZZ = settings(max_examples=300, deadline=None)
PORTS = st.integers(0, 65535)


@FUZZ
@given(st.binary(max_size=300), PORTS, PORTS)
def test_orientation_reads_any_first_payload(data: bytes, sport: int, dport: int) -> None:
    assert isinstance(orientation.udp_sender_is_client(data, sport, dport), bool)
    assert orientation.tcp_payload_says(data) in (True, False, None)
    for proto in (1, 58, 50):
        assert isinstance(orientation.icmp_sender_is_client(proto, data), bool)


@FUZZ
@given(st.sampled_from([4, 41, 47]), st.binary(max_size=120))
def test_ip_tunnels_give_an_inner_frame_inside_their_payload_or_nothing(proto: int, data: bytes) -> None:
    found = tunnels.ip_tunnel(proto, data)
    if found is not None:
        linktype, inner = found
        assert linktype in link.SUPPORTED
        assert data.endswith(inner)
        assert 0 <= tunnels.ip_extent(inner) <= len(inner)


@FUZZ
@given(PORTS, st.sampled_from(sorted(tunnels.PORTS)), st.binary(max_size=120))
def test_udp_encapsulations_give_a_known_kind_or_nothing(sport: int, dport: int, data: bytes) -> None:
    found = tunnels.decapsulate(sport, dport, data)
    if found is not None:
        kind, linktype, inner = found
        assert kind in tunnels.KINDS.values()
        assert linktype in link.SUPPORTED
        assert len(inner) <= len(data)


@FUZZ
@given(st.sampled_from([1, 113, 276, 101, 0]), st.binary(max_size=80))
def test_frame_protocol_of_any_frame(linktype: int, data: bytes) -> None:
    found = link.frame_protocol(linktype, data)
    if found is not None:
        etype, src, dst, off = found
        assert 0 <= etype <= 0xFFFF
        assert len(src) <= 8
        assert len(dst) in (0, 6)
        assert off <= len(data)
