"""End-to-end wall time of a virtual handset profile's compliance run (target: under 20 s each).

    sudo .venv/bin/python benchmarks/bench_firmware_run.py [--runs 3] [--profile NAME ...]

One run: the virtual bench comes up, the handset boots in its port namespace,
takes a DHCP lease, sends its boot-and-attach window (the Nokia: ten "hourly"
self-registrations at time scale 1e-4), walks the Setup Wizard where the
profile's verdict needs a consent marker, then the capture is stopped and
sealed, the bench torn down, and the capture judged by the policy. Prints the
median and worst wall time per profile, and where the time goes (median of
each step's end, seconds from the start).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the run itself is the integration tests' helper, not a copy of it

from tests.integration.virtual.firmware_run import TIME_SCALE, run_profile  # noqa: E402
from tests.integration.virtual.test_firmware_verdicts import CASES  # noqa: E402

STEPS = ("bench_up", "attached", "window_sent", "wizard_done", "torn_down", "analysed")
TARGET_S = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="append", choices=sorted(CASES), help="default: all")
    args = parser.parse_args()
    profiles = args.profile or sorted(CASES)
    print(
        f"end-to-end compliance run per profile, {args.runs} runs each, time scale {TIME_SCALE:g} (seconds)"
    )
    print(f"  {'profile':<28} {'median':>7} {'worst':>7}  verdict  steps (median end times)")
    missed = []
    with tempfile.TemporaryDirectory(prefix="phonehome-fw-bench-") as tmp:
        for profile in profiles:
            walls, steps, verdicts = [], {s: [] for s in STEPS}, set()
            for i in range(args.runs):
                started = time.perf_counter()
                run = run_profile(profile, Path(tmp) / f"{profile}-{i}", wizard=CASES[profile].wizard)
                walls.append(time.perf_counter() - started)
                verdicts.add(run.evaluation.result)
                for step, at in run.timings.items():
                    steps[step].append(at)
            shown = " ".join(f"{s}={statistics.median(v):.2f}" for s, v in steps.items() if v)
            median = statistics.median(walls)
            print(f"  {profile:<28} {median:7.2f} {max(walls):7.2f}  {'/'.join(sorted(verdicts)):<8} {shown}")
            if median >= TARGET_S:
                missed.append(profile)
    print(f"  target < {TARGET_S:g} s each: {'MISSED by ' + ', '.join(missed) if missed else 'met'}")


if __name__ == "__main__":
    main()
