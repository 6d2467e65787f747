"""uiautomator2 sessions on a Handset: TCP_NODELAY and the pinned transport cut RPC latency; reboots restart them."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import adbutils
import pytest

from phonehome.device.uiauto import PinnedDevice
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.device.conftest import connected

u2 = pytest.importorskip("uiautomator2")
ROUNDS = 12


def _median_ms(call: Callable[[], object]) -> float:
    call()  # warm up: first RPC after launch
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def test_tcp_nodelay_removes_the_delayed_ack_stall_from_every_rpc(adb_server: PrivateAdbServer) -> None:
    with connected(adb_server, "aosp-clean", seed="u2-latency", time_scale=0) as (_virtual, handset):
        # Same pinned transport both ways; only Nagle's algorithm differs (adbutils' client leaves it on).
        nagle = PinnedDevice(
            adbutils.AdbClient(port=adb_server.port), handset.serial, lambda: handset.transport_id
        )
        d = u2.connect(nagle)
        try:
            with_nagle = _median_ms(lambda: d.jsonrpc.deviceInfo())
        finally:
            d.stop_uiautomator()
        session = handset.uiautomator2()
        try:
            no_delay = _median_ms(lambda: session.device.jsonrpc.deviceInfo())
        finally:
            session.stop()
    print(f"uiautomator2 deviceInfo: {with_nagle:.1f} ms with Nagle, {no_delay:.1f} ms with TCP_NODELAY")
    assert with_nagle > 25, (
        "the delayed-ACK stall (~40 ms) did not show: is the test measuring what it claims?"
    )
    assert no_delay * 3 < with_nagle


def test_the_session_rpc_is_faster_than_uiautomator2_defaults(adb_server: PrivateAdbServer) -> None:
    with connected(adb_server, "aosp-clean", seed="u2-defaults", time_scale=0) as (_virtual, handset):
        plain = u2.connect(adbutils.AdbClient(port=adb_server.port).device(handset.serial))
        try:
            defaults = _median_ms(lambda: plain.jsonrpc.deviceInfo())
        finally:
            plain.stop_uiautomator()
        with handset.uiautomator2() as d:
            ours = _median_ms(lambda: d.jsonrpc.deviceInfo())
    print(f"uiautomator2 deviceInfo: {defaults:.1f} ms with defaults, {ours:.1f} ms through the Handset")
    assert ours * 4 < defaults


def test_a_session_is_restarted_after_a_reboot(adb_server: PrivateAdbServer) -> None:
    with connected(adb_server, "aosp-clean", seed="u2-reboot") as (virtual, handset):
        session = handset.uiautomator2()
        try:
            d = session.device
            assert d.info["displayWidth"] == virtual.screen.display_size()[0]
            with handset.reboot(timeout=60):
                assert not session.running
            assert session.running
            assert session.device is d
            assert d.info["displayWidth"] == virtual.screen.display_size()[0]
        finally:
            session.stop()
