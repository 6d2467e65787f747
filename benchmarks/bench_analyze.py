"""Throughput and peak memory of `phonehome analyze` against `tshark -T fields`, on the same capture, in one run.

    .venv/bin/python benchmarks/bench_analyze.py                 # generates benchmarks/data/handset-500M.pcapng if absent
    .venv/bin/python benchmarks/bench_analyze.py --size 50M --runs 3
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
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEADLINE_S = 1800.0
TSHARK_FIELDS = ("dns.qry.name", "tls.handshake.extensions_server_name", "http.host")


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float


def measure(argv: list[str], stdout_path: Path) -> Run:
    """Runs argv to completion (or the deadline); wall time and the child's peak RSS from wait4()."""
    with open(stdout_path, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        deadline = started + DEADLINE_S
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.send_signal(signal.SIGKILL)
                os.wait4(proc.pid, 0)
                raise RuntimeError(f"{argv[0]} did not finish within {DEADLINE_S:.0f} s")
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
    return Run(elapsed, usage.ru_maxrss / 1024)


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
    args = parser.parse_args(argv)
    tshark = shutil.which("tshark")
    if tshark is None:
        print("tshark is not installed: phonehome doctor --install adds it", file=sys.stderr)
        return 1
    capture = args.capture or HERE / "data" / f"handset-{args.size.upper()}.pcapng"
    if not capture.exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_capture.py"), "--size", args.size, "-o", str(capture)],
            check=True,
            timeout=DEADLINE_S,
        )
    size_mb = capture.stat().st_size / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        ours_json, theirs_txt = Path(tmp) / "ours.json", Path(tmp) / "tshark.txt"
        ours_cmd = [
            sys.executable,
            "-m",
            "phonehome.cli",
            "analyze",
            "--format",
            "json",
            "-o",
            str(ours_json),
            str(capture),
        ]
        theirs_cmd = [tshark, "-n", "-r", str(capture), "-T", "fields"] + [
            a for f in TSHARK_FIELDS for a in ("-e", f)
        ]
        ours: list[Run] = []
        theirs: list[Run] = []
        for i in range(args.runs):
            order = [(ours, ours_cmd, Path(os.devnull)), (theirs, theirs_cmd, theirs_txt)]
            for runs, cmd, out in order if i % 2 == 0 else reversed(order):
                runs.append(measure(cmd, out))
        data = json.loads(ours_json.read_text())
        packets = data["capture"]["packets"]
        missing = tshark_names(theirs_txt) - our_names(data)
    rows = []
    for name, runs in (("phonehome analyze", ours), ("tshark -T fields", theirs)):
        seconds = statistics.median(r.seconds for r in runs)
        rss = max(r.peak_rss_mb for r in runs)
        rows.append((name, seconds, size_mb / seconds, packets / seconds, rss))
    print(f"capture: {capture} ({size_mb:.0f} MB, {packets} packets), {args.runs} run(s) each, medians")
    print(f"{'tool':<20}{'seconds':>9}{'MB/s':>9}{'packets/s':>12}{'peak RSS MB':>13}")
    for name, seconds, mbps, pps, rss in rows:
        print(f"{name:<20}{seconds:>9.2f}{mbps:>9.1f}{pps:>12.0f}{rss:>13.0f}")
    speedup = rows[1][1] / rows[0][1]
    print(
        f"throughput ratio (phonehome / tshark): {speedup:.1f}x   memory ratio (tshark / phonehome): {rows[1][4] / rows[0][4]:.1f}x"
    )
    print(
        f"names tshark found that phonehome did not: {len(missing)}"
        + (f" {sorted(missing)[:10]}" if missing else "")
    )
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
