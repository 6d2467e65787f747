"""The flow table's bookkeeping that exists for speed: the deadline schedule behind the idle sweep, and
ended flows cutting their own reference cycles. Both must leave the analysis exactly as it was."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic import Analysis, analyze, deadlines, factory, flowtable
from phonehome.traffic.flowtable import CLOSED_LINGER, FlowState, Side
from phonehome.traffic.tcp import ACK, FIN, PSH, RST, SYN
from phonehome.traffic.writers import Packet

T0 = 1_700_000_000.0
CLIENTS = ("10.0.0.2", "10.0.0.3", "2001:db8::2")
STEPS = (0.0005, 1.0, 4.9, 5.1, 29.0, 31.0, 119.0, 121.0, 899.0, 901.0, -0.4, -1.5, -2.5, -40.0, -300.0)
"""Seconds between packets: around the sweep period, the closed-flow linger and the idle times,
and backwards, within and beyond the sweep's slack."""


def _packet(ts: float, flow: int, kind: int, n: int) -> Packet:
    client = CLIENTS[flow % len(CLIENTS)]
    server = "2001:db8::53" if ":" in client else "198.51.100.7"
    sport, dport = 40000 + flow, 443 if kind else 53
    from_client = n % 3 != 2
    if not from_client:
        client, server, sport, dport = server, client, dport, sport
    if kind == 0:
        transport, proto = factory.udp(sport, dport, b"\x12\x34\x01\x00" + b"\x00" * 8), 17
    else:
        flags = {1: SYN, 2: ACK | PSH, 3: FIN | ACK, 4: RST}[kind]
        transport, proto = factory.tcp(sport, dport, flags, b"x" if kind == 2 else b"", seq=1000 + n), 6
    ip = factory.ipv6 if ":" in client else factory.ipv4
    frame = factory.ETHERNET.frame(ip(transport, client, server, proto), from_client)
    return Packet(ts, frame, factory.ETHERNET.linktype)


Sweeps = list[tuple[float, list[int]]]


def _analyze_both(tmp_path: Path, packets: list[Packet]) -> tuple[Analysis, Analysis, Sweeps, Sweeps]:
    """The capture analyzed with the deadline schedule and with the reference sweep (every open flow,
    every time), with the log of which flows each sweep ended (the observable timing of the sweep)."""
    path = tmp_path / "capture.pcapng"
    path.write_bytes(factory.pcapng_bytes(packets))
    fast_log: Sweeps = []
    reference_log: Sweeps = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flowtable, "SWEEP_LOG", fast_log)
        fast = analyze(path, hash_files=False)
        patch.setattr(flowtable, "SWEEP_LOG", reference_log)
        patch.setattr(flowtable, "SCAN_EVERY_FLOW", True)
        reference = analyze(path, hash_files=False)
    assert fast_log, "no sweep was logged: the flow table no longer reads SWEEP_LOG"
    return fast, reference, fast_log, reference_log


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 4), st.sampled_from(STEPS)),
        min_size=1,
        max_size=60,
    )
)
def test_deadline_sweep_ends_flows_exactly_when_a_full_scan_does(
    tmp_path: Path, steps: list[tuple[int, int, float]]
) -> None:
    ts = T0
    packets = []
    for n, (flow, kind, step) in enumerate(steps):
        ts += step
        packets.append(_packet(ts, flow, kind, n))
    fast, reference, fast_sweeps, reference_sweeps = _analyze_both(tmp_path, packets)
    assert fast_sweeps == reference_sweeps
    assert fast.flows == reference.flows
    assert fast.macs == reference.macs
    assert fast.stats == reference.stats


def test_a_clock_that_walks_back_in_small_steps_still_ends_idle_flows_on_time(tmp_path: Path) -> None:
    # Each step back is under a second (no clock step is counted), but together they move the
    # flow's last packet far before the deadline first scheduled for it.
    packets = [_packet(T0 + 200.0 - 0.9 * i, 0, 0, i) for i in range(200)]
    packets += [_packet(T0 + 206.0 + 0.5 * i, 1, 0, 0) for i in range(20)]
    fast, reference, fast_sweeps, reference_sweeps = _analyze_both(tmp_path, packets)
    assert fast.stats.clock_steps == 0
    assert reference_sweeps[1] == (T0 + 206.0, [0])  # idle since T0 + 20.9
    assert fast_sweeps == reference_sweeps
    assert fast.flows == reference.flows


def test_an_ended_flow_leaves_no_reference_cycle_behind(tmp_path: Path) -> None:
    tcp = factory.TcpConversation(server=("198.51.100.7", 443), ack_every=1)
    tcp.handshake().send(b"\x16\x03\x01\x00\x05hello" * 50).send(b"x" * 3000, from_client=False).close()
    dns = factory.UdpConversation(server=("198.51.100.53", 53)).send(b"\x12\x34\x01\x00" + b"\x00" * 8)
    path = tmp_path / "capture.pcapng"
    path.write_bytes(factory.pcapng_bytes(factory.interleave(tcp.packets, dns.packets)))
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        analyze(path, hash_files=False)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, (FlowState, Side))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


def test_the_sweep_slack_is_under_the_shortest_linger() -> None:
    # The schedule may run late by the slack; ending flows is exact only because each
    # entry looked at is checked against the flow's real deadline, and a slack this small keeps that cheap.
    assert 0 < deadlines.SWEEP_SLACK < CLOSED_LINGER
