"""Capture under load through a bench port: drop rate beside link rate (target: zero drops at 1 Gbit/s).

    sudo .venv/bin/python benchmarks/bench_capture.py [--seconds 10] [--tool dumpcap|tcpdump]

For each load (TCP at 1 Gbit/s, TCP at maximum rate, 200-byte UDP at about
150k packets/s) a fresh offline bench is brought up, the virtual handset
sends with iperf3 to a server in the router namespace, and the capture's own
statistics and the interface's kernel counters are compared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from phonehome.bench import Bench
from phonehome.bench.definition import parse_bench
from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.netops import ns_argv, tool

LOADS = {
    "tcp 1 Gbit/s": ["-b", "1G"],
    "tcp max rate": ["-b", "0"],
    "udp 200 B ~150k pps": ["-u", "-b", "240M", "-l", "200"],
}


def run_load(
    name: str, extra: list[str], seconds: int, capture_tool: str, workdir: Path
) -> dict[str, object]:
    fmt = "pcapng" if capture_tool == "dumpcap" else "pcap"
    definition = parse_bench(
        textwrap.dedent(
            f"""
            name: capture-bench
            mode: offline
            ports:
              - name: wlan
            capture:
              tool: {capture_tool}
              format: {fmt}
              buffer_mb: 256
            """
        )
    )
    bench = Bench(definition, workdir=workdir).up()
    try:
        port = bench.port()
        # The benchmark's own server on the router: let it through the bench's input chain.
        for proto in ("tcp", "udp"):
            subprocess.run(
                ns_argv(
                    bench.router_ns,
                    [
                        tool("nft"),
                        "insert",
                        "rule",
                        "inet",
                        "phonehome",
                        "input",
                        proto,
                        "dport",
                        "5201",
                        "accept",
                    ],
                ),
                check=True,
                timeout=10,
            )
        server = subprocess.Popen(
            ns_argv(bench.router_ns, [tool("iperf3"), "-s", "-1", "-B", port.router_ip]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        obtain_lease(port, bench.workdir)
        client = subprocess.run(
            ns_argv(
                port.netns or "", [tool("iperf3"), "-c", port.router_ip, "-t", str(seconds), "-J", *extra]
            ),
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        )
        server.wait(10)
        result = json.loads(client.stdout)
        end = result["end"]
        summary = end.get("sum_sent") or end.get("sum")
        bits = float(summary["bits_per_second"])
        packets = int(summary.get("packets", 0))
    finally:
        captures = bench.down()
    capture = captures["wlan"]
    drops = capture.drops[0]
    received = drops.received or 0
    return {
        "load": name,
        "link Mbit/s": round(bits / 1e6),
        "udp packets": packets,
        "link frames": drops.link_packets,
        "captured": drops.captured,
        "dropped": drops.dropped,
        "drop rate %": round(100.0 * (drops.dropped or 0) / max(1, received + (drops.dropped or 0)), 3),
        "missed (link-captured)": drops.missed,
        "lossless": capture.lossless,
        "MB written": round(sum(f.size for f in capture.files) / 1e6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tool", choices=["dumpcap", "tcpdump"], default="dumpcap")
    parser.add_argument("--load", choices=sorted(LOADS), action="append")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="phonehome-capture-", dir="/var/tmp") as tmp:
        for i, name in enumerate(args.load or LOADS):
            rows.append(run_load(name, LOADS[name], args.seconds, args.tool, Path(tmp) / f"run{i}"))
    print(f"capture through a bench port with {args.tool}, {args.seconds} s per load")
    for row in rows:
        print("  " + ", ".join(f"{k}: {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
