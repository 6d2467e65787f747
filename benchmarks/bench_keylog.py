"""Decryption throughput of `phonehome analyze --keylog` against tshark's `-o tls.keylog_file`, in one run.

    .venv/bin/python benchmarks/bench_keylog.py                        # 2000 connections, ~140 MB
    .venv/bin/python benchmarks/bench_keylog.py --connections 500 --runs 3

Generates a capture of many TLS 1.3 connections (the three common suites in
turn; a client POST with an identifier, a server answer with a body of
``--download`` bytes) and their key log, then times as whole processes, on
the same capture: the analyzer without the key log (the path every capture
takes), with it, with it and an identity (leak detection decoding every
decrypted byte), and tshark decrypting with the key log and printing each
request's Host. The run checks that both found every request. Peak memory is
the child's rusage. The machine is noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _common import Measured, analyze_json, measure, tshark_or_exit

from phonehome.traffic.factory import TcpConversation
from phonehome.traffic.tls_build import Tls13Connection
from phonehome.traffic.writers import Packet, pcapng_stream

SUITES = (0x1301, 0x1302, 0x1303)


def connections(count: int, download: int, keylog: list[bytes]) -> Iterator[Packet]:
    """``count`` TLS 1.3 connections one after another, their key log lines appended to ``keylog``."""
    ts = 1_700_000_000.0
    body = os.urandom(download)
    for n in range(count):
        host = f"api{n % 50}.example.com"
        tls = Tls13Connection(SUITES[n % len(SUITES)], sni=host)
        conv = TcpConversation(
            ("10.0.0.2", 30000 + n % 30000), ("198.51.100.7", 443), ts=ts, step=0.0001, mss=1448
        )
        conv.handshake()
        form = f"imei=490154203237518&serial=R58M{n:08d}&lang=en".encode()
        tls.send(
            f"POST /v1/checkin HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n".encode()
            + form
        )
        tls.send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body, False)
        for from_client, data in tls.flights():
            conv.send(data, from_client)
        conv.close()
        keylog.append(tls.keylog())
        ts = conv.ts + 0.01
        yield from conv.packets


def tshark_decrypting(tshark: str, capture: Path, keylog: Path) -> list[str]:
    """tshark decrypting with the key log, printing the Host of each request it read."""
    fields = ["-Y", "http.request", "-T", "fields", "-e", "http.host"]
    return [tshark, "-n", "-r", str(capture), "-o", f"tls.keylog_file:{keylog}", *fields]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--download", type=int, default=64 << 10, help="server body bytes per connection")
    parser.add_argument("--runs", type=int, default=1, help="runs per tool; medians are reported")
    args = parser.parse_args(argv)
    tshark = tshark_or_exit()
    with tempfile.TemporaryDirectory() as tmp:
        capture, keylog = Path(tmp) / "tls13.pcapng", Path(tmp) / "sslkeys.log"
        lines: list[bytes] = []
        with capture.open("wb") as out:
            for block in pcapng_stream(connections(args.connections, args.download, lines)):
                out.write(block)
        keylog.write_bytes(b"".join(lines))
        size_mb = capture.stat().st_size / 1e6
        ours_json = Path(tmp) / "ours.json"
        theirs_txt = Path(tmp) / "tshark.txt"
        identity = Path(tmp) / "identity.yaml"
        identity.write_text("imei: 490154203237518\n")
        judging = [
            *analyze_json(capture)[:-1],
            "--keylog",
            str(keylog),
            "--identity",
            str(identity),
            str(capture),
        ]
        commands = {
            "phonehome analyze (no key log)": (analyze_json(capture), Path(os.devnull)),
            "phonehome analyze --keylog": (
                [*analyze_json(capture, ours_json)[:-1], "--keylog", str(keylog), str(capture)],
                None,
            ),
            "phonehome analyze --keylog --identity": (judging, None),
            "tshark -o tls.keylog_file": (tshark_decrypting(tshark, capture, keylog), theirs_txt),
        }
        runs: dict[str, list[Measured]] = {name: [] for name in commands}
        for i in range(args.runs):
            order = list(commands.items())
            for name, (cmd, out) in order if i % 2 == 0 else reversed(order):
                runs[name].append(measure(cmd, out, ok=(0, 1, 3)))
        data = json.loads(ours_json.read_text())
        ours = sum(1 for flow in data["flows"] for r in flow["http_requests"] if r["decrypted"])
        decrypted_mb = sum(flow["decrypted_c2s"] + flow["decrypted_s2c"] for flow in data["flows"]) / 1e6
        theirs = sum(1 for line in theirs_txt.read_text().splitlines() if line.strip())
    print(
        f"capture: {args.connections} TLS 1.3 connections, {size_mb:.0f} MB, {decrypted_mb:.0f} MB of plaintext; "
        f"{args.runs} run(s) each, medians"
    )
    print(f"{'tool':<40}{'seconds':>9}{'CPU s':>8}{'MB/s':>9}{'conn/s':>9}{'peak RSS MB':>13}")
    seconds = {}
    for name, measured in runs.items():
        seconds[name] = statistics.median(r.wall for r in measured)
        cpu = statistics.median(r.cpu for r in measured)
        rss = max(r.peak_rss_mb for r in measured)
        rate = f"{size_mb / seconds[name]:>9.1f}{args.connections / seconds[name]:>9.0f}"
        print(f"{name:<40}{seconds[name]:>9.2f}{cpu:>8.2f}{rate}{rss:>13.0f}")
    ratio = seconds["tshark -o tls.keylog_file"] / seconds["phonehome analyze --keylog"]
    cost = seconds["phonehome analyze --keylog"] / seconds["phonehome analyze (no key log)"]
    print(
        f"decrypting: {ratio:.1f}x tshark's speed; {cost:.1f}x the time of the same analysis without the key log"
    )
    print(f"requests read: phonehome {ours}, tshark {theirs} (of {args.connections})")
    return 0 if ours == theirs == args.connections else 1


if __name__ == "__main__":
    sys.exit(main())
