"""ADB shell round trip and uiautomator2 RPC latency against a virtual handset, through the real adb server.

Compares:
  1. adbutils defaults: ``AdbDevice(serial).shell("true")`` (a ``host:version`` call first, and a
     10 ms sleep in every ``close()``);
  2. a tuned path: transport id pinned (``host:transport-id:N``), one connection, no close sleep;
  3. uiautomator2 ``deviceInfo`` RPCs with adbutils' socket as it is (TCP_NODELAY off) and with
     TCP_NODELAY on (Python's HTTP client writes headers and body separately: Nagle + delayed ACK).

Run: .venv/bin/python benchmarks/adb_roundtrip.py [--rounds N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import adbutils
import adbutils._adb as adb_internals

from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import PrivateAdbServer, bundled_adb


def measure(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """(median, p90) in milliseconds after two warm-up calls."""
    fn()
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def _send(sock: socket.socket, request: str) -> None:
    data = request.encode()
    sock.sendall(f"{len(data):04x}".encode() + data)
    status = sock.recv(4)
    if status != b"OKAY":
        raise RuntimeError(f"adb server answered {status!r} to {request!r}")


def tuned_shell(port: int, transport_id: int, command: str) -> bytes:
    """One connection, the transport pinned by id, closed without sleeping."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _send(sock, f"host:transport-id:{transport_id}")
        _send(sock, f"shell:{command}")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def transport_id(server: PrivateAdbServer, serial: str) -> int:
    for line in server.run("devices", "-l").stdout.splitlines():
        if line.startswith(serial):
            return int(line.rsplit("transport_id:", 1)[1])
    raise RuntimeError(f"{serial} not listed")


def set_nodelay(enabled: bool) -> None:
    """Makes adbutils' sockets to the adb server use (or not) TCP_NODELAY."""
    original = adb_internals.AdbConnection._create_socket

    def create(self: adb_internals.AdbConnection) -> socket.socket:
        sock = original(self)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if enabled else 0)
        return sock

    adb_internals.AdbConnection._create_socket = create  # type: ignore[method-assign]
    set_nodelay.restore = lambda: setattr(adb_internals.AdbConnection, "_create_socket", original)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--rpc-rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        server = PrivateAdbServer(bundled_adb(), Path(home)).start()
        try:
            with VirtualHandset("aosp-clean", seed="bench", time_scale=0) as handset:
                handset.wait_boot_completed(10)
                serial = handset.adb_serial
                server.connect(serial)
                client = adbutils.AdbClient(port=server.port)
                device = client.device(serial)
                tid = transport_id(server, serial)
                pinned = adbutils.AdbDevice(client, transport_id=tid)
                rows = [
                    ("adbutils shell(), defaults", measure(lambda: device.shell("true"), args.rounds)),
                    ("adbutils shell(), transport id", measure(lambda: pinned.shell("true"), args.rounds)),
                    (
                        "tuned: transport id, no sleep",
                        measure(lambda: tuned_shell(server.port, tid, "true"), args.rounds),
                    ),
                ]
                import uiautomator2 as u2  # noqa: PLC0415

                d = u2.connect(device)
                try:
                    rows.append(
                        ("u2 deviceInfo, TCP_NODELAY off", measure(d.jsonrpc.deviceInfo, args.rpc_rounds))
                    )
                    set_nodelay(True)
                    rows.append(
                        ("u2 deviceInfo, TCP_NODELAY on", measure(d.jsonrpc.deviceInfo, args.rpc_rounds))
                    )
                    set_nodelay.restore()  # type: ignore[attr-defined]
                finally:
                    d.stop_uiautomator()
                server.run("disconnect", serial)
        finally:
            server.stop()
    print(f"{'path':<36} {'median ms':>10} {'p90 ms':>8}")
    for name, (median, p90) in rows:
        print(f"{name:<36} {median:>10.2f} {p90:>8.2f}")


if __name__ == "__main__":
    main()
