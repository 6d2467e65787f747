"""Disk written per minute of a UDP flood from the handset, with the bench's default caps, beside a bare
tcpdump capturing the same flood on the same port in the same run.

    sudo .venv/bin/python benchmarks/bench_flood_disk.py [--seconds 60] [--senders 2] [--size 1400]

A default sinkhole bench comes up; a bare ``tcpdump -w`` (no cap, no rotation) starts on the port's
router-side interface beside the bench's own capture; the handset floods 1400-byte datagrams at
whatever rate ``--senders`` Python processes reach, to many addresses and ports (every one sunk).
Printed per writer: bytes written, MB per minute, and what the bench said about it (caps reached,
datagrams dropped and counted). The bench's total is bounded by its caps (capture.max_mb,
disk.transcripts_mb) whatever the flood; the bare capture grows with the flood.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from phonehome.bench import Bench
from phonehome.bench.definition import parse_bench
from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.netops import ns_argv, tool

FLOOD = """
import socket, sys, time
end = time.monotonic() + float(sys.argv[1])
size = int(sys.argv[2])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload, sent, i = bytes(size), 0, 0
while time.monotonic() < end:
    for _ in range(256):
        i += 1
        try:
            u.sendto(payload, (f"203.0.113.{i % 200 + 1}", 9000 + i % 500))
            sent += 1
        except OSError:
            pass
print(sent)
"""


def folder_bytes(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern) if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--size", type=int, default=1400, help="datagram payload bytes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flooddisk-") as tmp:
        work, bare_dir = Path(tmp) / "bench", Path(tmp) / "bare"
        bare_dir.mkdir()
        bench = Bench(parse_bench("name: flood-disk\nports:\n  - name: wlan\n"), workdir=work).up()
        bare = None
        try:
            port = bench.port()
            assert port.netns
            obtain_lease(port, work)
            bare_argv = [tool("tcpdump"), "-i", port.interface, "-w", str(bare_dir / "bare.pcap")]
            bare_argv += ["-s", "0", "-n", "-B", str(64 * 1024), "-Z", "root"]
            bare = subprocess.Popen(
                ns_argv(bench.router_ns, bare_argv),
                stdout=subprocess.DEVNULL,
                stderr=(bare_dir / "tcpdump.log").open("wb"),
            )
            time.sleep(1.5)
            started = time.monotonic()
            senders = [
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        port.netns,
                        sys.executable,
                        "-c",
                        FLOOD,
                        str(args.seconds),
                        str(args.size),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(args.senders)
            ]
            sent = sum(int(p.communicate(timeout=args.seconds + 60)[0] or 0) for p in senders)
            elapsed = time.monotonic() - started
            capture = bench.stop_capture()["wlan"]
            time.sleep(1.0)
        finally:
            if bare is not None:
                bare.send_signal(signal.SIGTERM)
                bare.wait(30)
            bench.down()
        per_minute = 60.0 / elapsed
        offered = sent * args.size
        bench_capture = sum(f.size for f in capture.files)
        transcript = folder_bytes(work, "sinks*.json*")
        logs = folder_bytes(work, "*.log") + folder_bytes(work, "*.out")
        bench_total = folder_bytes(work)
        bare_total = folder_bytes(bare_dir, "bare.pcap*")
        stats = json.loads((work / "sinks-stats.json").read_text().split("\n", 1)[0])
        print(
            textwrap.dedent(
                f"""\
            flood: {sent} datagrams of {args.size} B in {elapsed:.1f} s from {args.senders} senders \
({offered / elapsed / 1e6:.1f} MB/s offered)
            {"writer":32} {"bytes":>14} {"MB/min":>9}
            {"bench capture (dumpcap)":32} {bench_capture:>14} {bench_capture / 1e6 * per_minute:>9.1f}
            {"bench sink transcript+stats":32} {transcript:>14} {transcript / 1e6 * per_minute:>9.1f}
            {"bench logs":32} {logs:>14} {logs / 1e6 * per_minute:>9.1f}
            {"bench, everything":32} {bench_total:>14} {bench_total / 1e6 * per_minute:>9.1f}
            {"bare tcpdump (peer)":32} {bare_total:>14} {bare_total / 1e6 * per_minute:>9.1f}
            bench/bare: {bench_total / max(bare_total, 1):.2f}x
            sink: {stats["udp_datagrams"]} datagrams read, {stats["udp_dropped"]} dropped by its socket (counted), \
{stats["records_written"]} records
            the bench's problems: {len(capture.problems)}"""
            )
        )
        for problem in capture.problems:
            print(f"  - {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
