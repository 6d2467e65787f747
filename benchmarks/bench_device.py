"""phonehome's device layer vs plain adbutils and uiautomator2 defaults, against a virtual handset.

Through a private real adb server (adbutils' bundled adb, its own port):
  shell round trip  adbutils ``shell()`` and ``shell2()`` as shipped (a ``host:version`` call first,
                    a 10 ms sleep in every close), adbutils with a transport id, and
                    ``Handset.shell()`` (pinned transport, shell v2 with the exit status, no sleep);
  uiautomator2 RPC  ``deviceInfo`` with ``u2.connect(serial device)`` as shipped, with only the
                    transport pinned (Nagle still on), and through ``Handset.uiautomator2()``;
  identity          ``Handset.read_identity()`` and ``read_build()`` wall time per profile.

Run: .venv/bin/python benchmarks/bench_device.py [--rounds 200] [--rpc-rounds 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import adbutils
import uiautomator2 as u2

from phonehome.device import AdbServer, Handset
from phonehome.device.uiauto import PinnedDevice
from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import PrivateAdbServer, RecordingScreen, bundled_adb

Row = tuple[str, float, float]


def measure(name: str, fn: Callable[[], object], rounds: int) -> Row:
    """(name, median ms, p90 ms) after two warm-up calls."""
    fn()
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return name, statistics.median(samples), samples[max(int(len(samples) * 0.9) - 1, 0)]


def shell_rows(private: PrivateAdbServer, handset: Handset, rounds: int) -> list[Row]:
    client = adbutils.AdbClient(port=private.port)
    plain = client.device(handset.serial)
    pinned = adbutils.AdbDevice(client, transport_id=handset.transport_id)
    return [
        measure("adbutils shell(), defaults", lambda: plain.shell("true"), rounds),
        measure("adbutils shell2() (exit code), defaults", lambda: plain.shell2("true"), rounds),
        measure("adbutils shell(), transport id", lambda: pinned.shell("true"), rounds),
        measure("phonehome Handset.shell() (v2, exit code)", lambda: handset.shell(["true"]), rounds),
    ]


def rpc_rows(private: PrivateAdbServer, handset: Handset, rounds: int) -> list[Row]:
    rows = []
    plain = u2.connect(adbutils.AdbClient(port=private.port).device(handset.serial))
    try:
        rows.append(measure("u2 deviceInfo, defaults", plain.jsonrpc.deviceInfo, rounds))
    finally:
        plain.stop_uiautomator()
    nagle = PinnedDevice(adbutils.AdbClient(port=private.port), handset.serial, lambda: handset.transport_id)
    d = u2.connect(nagle)
    try:
        rows.append(measure("u2 deviceInfo, transport id, Nagle on", d.jsonrpc.deviceInfo, rounds))
    finally:
        d.stop_uiautomator()
    with handset.uiautomator2() as ours:
        rows.append(measure("u2 deviceInfo, Handset.uiautomator2()", ours.jsonrpc.deviceInfo, rounds))
    return rows


def read_rows(handset: Handset, profile: str, rounds: int) -> list[Row]:
    return [
        measure(f"read_identity() {profile}", handset.read_identity, rounds),
        measure(f"read_build() {profile}", handset.read_build, rounds),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--rpc-rounds", type=int, default=50)
    parser.add_argument("--read-rounds", type=int, default=20)
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as home:
        private = PrivateAdbServer(bundled_adb(), Path(home)).start()
        server = AdbServer(port=private.port, binary=private.binary)
        try:
            for profile in ("aosp-clean", "nokia-7-plus-2019"):
                with VirtualHandset(profile, seed="bench", screen=RecordingScreen(), time_scale=0) as virtual:
                    virtual.wait_boot_completed(10)
                    handset = Handset.connect(virtual.adb_serial, server)
                    try:
                        if profile == "aosp-clean":
                            rows += shell_rows(private, handset, args.rounds)
                            rows += rpc_rows(private, handset, args.rpc_rounds)
                        rows += read_rows(handset, profile, args.read_rounds)
                    finally:
                        private.run("disconnect", virtual.adb_serial)
        finally:
            private.stop()
    print(f"| {'path':<44} | median ms | p90 ms |")
    print(f"|{'-' * 46}|-----------|--------|")
    for name, median, p90 in rows:
        print(f"| {name:<44} | {median:>9.2f} | {p90:>6.2f} |")


if __name__ == "__main__":
    main()
