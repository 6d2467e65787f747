"""N virtual handsets at once through the first-boot scenario: wall time and capture drops at each N.

    sudo .venv/bin/python benchmarks/bench_handsets.py [--counts 1,2,4,8] [--profile aosp-clean] [--runs 1]

Each N is one `phonehome run --jobs N` of N units of one build (``virtual:PROFILE@SEED``, each with its
own identity, inventory line, bench, adb server and results folder), the whole production path: pytest
per handset, bench up, boot, Setup Wizard, capture, judging, teardown. Drops are read from every
handset's ``capture.json`` (the tool's and the kernel's counters, and frames the interface saw that the
capture missed). Target: 8 handsets, 0 drops, under 2.5x the wall time of one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from phonehome.links import virtual_inventory  # noqa: E402

TARGET_RATIO = 2.5
TIMEOUT_S = 1800


def units(profile: str, count: int) -> list[str]:
    return [profile if i == 0 else f"{profile}@bench-unit-{i + 1}" for i in range(count)]


def one_batch(profile: str, count: int, inventory: Path) -> tuple[float, int, int, list[str]]:
    """Wall seconds, packets dropped (all handsets), the run's exit status, each handset's result."""
    with tempfile.TemporaryDirectory(prefix="ph-bench-handsets-") as parent:
        devices = [a for u in units(profile, count) for a in ("--device", f"virtual:{u}")]
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "phonehome.cli", "run", *devices, "--jobs", str(count),
             "--inventory", str(inventory), "--results", parent, "--format", "json"],
            cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - start
        summary = json.loads(done.stdout)
        dropped = 0
        for handset in summary["handsets"]:
            record = Path(handset["results"] or "/nonexistent") / "capture.json"
            if not record.is_file():
                dropped = -1 if dropped == 0 else dropped  # no capture: drops unknown
                continue
            for d in json.loads(record.read_text())["drops"]:
                missed = (
                    max(0, d["link_packets"] - d["captured"])
                    if None not in (d.get("link_packets"), d.get("captured"))
                    else 0
                )
                dropped += (d.get("dropped") or 0) + (d.get("if_dropped") or 0) + missed
        for h in summary["handsets"]:
            if h["result"] != "PASS":  # say why, before the folder goes
                print(
                    f"      {h['device']}: {h['result']}: {h['reason'] or _inconclusive(h)}", file=sys.stderr
                )
        return wall, dropped, done.returncode, [str(h["result"]) for h in summary["handsets"]]


def _inconclusive(handset: dict[str, object]) -> str:
    record = Path(str(handset["results"])) / "evaluation.json"
    verdicts = json.loads(record.read_text())["verdicts"] if record.is_file() else []
    return "; ".join(
        f"{v['assertion']}: {v['reason'][:160]}" for v in verdicts if v["result"] == "INCONCLUSIVE"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4,8", help="handsets at once, comma-separated")
    parser.add_argument("--profile", default="aosp-clean")
    parser.add_argument("--runs", type=int, default=1, help="batches per N (the median is printed)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    with tempfile.TemporaryDirectory(prefix="ph-bench-inventory-") as folder:
        inventory = Path(folder) / "inventory.yaml"
        inventory.write_text(virtual_inventory(units(args.profile, max(counts))))
        print(
            f"phonehome run --jobs N, N units of virtual:{args.profile}, first-boot ({args.runs} run(s) each)"
        )
        print(f"{'N':>3} {'wall s':>8} {'x one':>6} {'drops':>6}  exit  results")
        base = None
        for count in counts:
            batches = [one_batch(args.profile, count, inventory) for _ in range(args.runs)]
            wall = statistics.median(b[0] for b in batches)
            base = base or wall
            drops = max(b[1] for b in batches)
            codes = sorted({b[2] for b in batches})
            verdicts = sorted({r for b in batches for r in b[3]})
            print(f"{count:>3} {wall:8.1f} {wall / base:6.2f} {drops:>6}  {codes}  {', '.join(verdicts)}")
        ratio = wall / base
        verdict = "ok" if ratio < TARGET_RATIO and drops == 0 else "OVER"
        print(
            f"target: {counts[-1]} handsets, 0 drops, < {TARGET_RATIO}x one: {ratio:.2f}x, {drops} drops: {verdict}"
        )


if __name__ == "__main__":
    main()
