"""Throughput and peak memory of `phonehome analyze` against `tshark -T fields`, on the same capture, in one run.

    .venv/bin/python benchmarks/bench_analyze.py                 # generates benchmarks/data/handset-500M.pcapng if absent
    .venv/bin/python benchmarks/bench_analyze.py --size 50M --runs 3
    .venv/bin/python benchmarks/bench_analyze.py --size 100M --shape small --runs 3   # a first boot's shape
    .venv/bin/python benchmarks/bench_analyze.py --capture some.pcapng

Both tools are timed as whole processes (start-up included) and their peak
resident memory read from the kernel's rusage for the child. tshark extracts
the same facts the analyzer's names come from (DNS query names, TLS SNI, HTTP
Host); the run also checks that every name tshark printed is among ours. The
machine is noisy (10-25% between runs): compare the ratio, measured here in
one run, rather than absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _common import Measured, analyze_json, generated_capture, measure, tshark_fields, tshark_or_exit


def tshark_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        for cell in line.split("\t"):
            for name in cell.split(","):
                if name:
                    names.add(name.lower().rstrip("."))
    return names


def our_names(data: dict[str, object]) -> set[str]:
    names: set[str] = set()
    for flow in data["flows"]:  # type: ignore[attr-defined]
        names.update(flow["dns_queries"])
        names.update(n for n in (flow["sni"], flow["http_host"]) if n)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", type=Path, help="capture to use (default: the generated one for --size)")
    parser.add_argument("--size", default="500M", help="size of the generated capture (default 500M)")
    parser.add_argument("--runs", type=int, default=1, help="runs per tool; medians are reported")
    parser.add_argument(
        "--shape",
        default="mixed",
        help="of the generated capture: mixed (bulk) or small (many small packets)",
    )
    args = parser.parse_args(argv)
    tshark = tshark_or_exit()
    capture = generated_capture(args.size, args.capture, args.shape)
    size_mb = capture.stat().st_size / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        ours_json, theirs_txt = Path(tmp) / "ours.json", Path(tmp) / "tshark.txt"
        ours_cmd = analyze_json(capture, ours_json)
        theirs_cmd = tshark_fields(tshark, capture)
        ours: list[Measured] = []
        theirs: list[Measured] = []
        for i in range(args.runs):
            order = [(ours, ours_cmd, Path(os.devnull)), (theirs, theirs_cmd, theirs_txt)]
            for runs, cmd, out in order if i % 2 == 0 else reversed(order):
                runs.append(measure(cmd, out))
        data = json.loads(ours_json.read_text())
        packets = data["capture"]["packets"]
        missing = tshark_names(theirs_txt) - our_names(data)
    rows = []
    for name, runs in (("phonehome analyze", ours), ("tshark -T fields", theirs)):
        seconds = statistics.median(r.wall for r in runs)
        rss = max(r.peak_rss_mb for r in runs)
        rows.append((name, seconds, size_mb / seconds, packets / seconds, rss))
    print(f"capture: {capture} ({size_mb:.0f} MB, {packets} packets), {args.runs} run(s) each, medians")
    print(f"{'tool':<20}{'seconds':>9}{'MB/s':>9}{'packets/s':>12}{'peak RSS MB':>13}")
    for name, seconds, mbps, pps, rss in rows:
        print(f"{name:<20}{seconds:>9.2f}{mbps:>9.1f}{pps:>12.0f}{rss:>13.0f}")
    speedup = rows[1][1] / rows[0][1]
    print(
        f"tshark's wall time / phonehome's: {speedup:.1f}x   memory ratio (tshark / phonehome): {rows[1][4] / rows[0][4]:.1f}x"
    )
    print(
        f"names tshark found that phonehome did not: {len(missing)}"
        + (f" {sorted(missing)[:10]}" if missing else "")
    )
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
