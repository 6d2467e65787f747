"""Wall time of the compliance run as labs run it: `phonehome run --device virtual:PROFILE` (target < 20 s).

    sudo .venv/bin/python benchmarks/bench_compliance_run.py [--runs 3] [--device virtual:aosp-clean ...]

Each run is the whole production path in a child process: pytest starts, the
bench comes up, the virtual handset boots on its port and is connected through
a private adb server, its identity is read over ADB, the boot-and-attach window
is captured and judged, results are written and everything is torn down.
`bench_firmware_run.py` splits the same run into its steps without pytest.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEVICES = ("virtual:nokia-7-plus-2019", "virtual:aosp-clean")
TARGET_S = 20.0


def one_run(device: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="ph-bench-run-") as results:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "phonehome.cli", "run", "--device", device, "--results", results],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return time.perf_counter() - start, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", action="append", help=f"default: {', '.join(DEVICES)}")
    args = parser.parse_args()
    print(f"phonehome run, one device per run, {args.runs} runs each (seconds, wall)")
    print(f"{'device':<32} {'median':>7} {'worst':>7}  exit  target < {TARGET_S:g} s")
    for device in args.device or DEVICES:
        times, codes = zip(*(one_run(device) for _ in range(args.runs)), strict=True)
        verdict = "ok" if max(times) < TARGET_S else "OVER"
        print(
            f"{device:<32} {statistics.median(times):7.2f} {max(times):7.2f}  {sorted(set(codes))}  {verdict}"
        )


if __name__ == "__main__":
    main()
