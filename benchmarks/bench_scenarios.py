"""Wall time of first-boot + activation + idle on a virtual handset (target < 30 s), and uiautomator2 calls per
wizard screen.

    sudo .venv/bin/python benchmarks/bench_scenarios.py [--runs 3] [--device virtual:nokia-7-plus-2019 ...]

Each run is one `phonehome.compliance.ComplianceRun` from a plain script (no
pytest): the bench comes up, the virtual handset is powered on by the
scenario, walks its Setup Wizard over the real adb server and uiautomator2
(consent accept-all), gets a new SIM, idles with the screen off for an hour
of handset time (0.36 s at the default time scale 1e-4), then the capture is
judged. Prints the wall time of the whole run and of each phase (from the
bench timeline's markers), and for the wizard the JSON-RPC calls each screen
took (one hierarchy dump per decision, then the gestures).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from phonehome.compliance import DEFAULT_TIME_SCALE, ComplianceRun, DeviceSpec  # noqa: E402
from phonehome.traffic.timeline import load_timeline  # noqa: E402

SCENARIOS = ("first-boot", "activation", "idle")
DEVICES = ("virtual:nokia-7-plus-2019", "virtual:aosp-clean")
TARGET_S = 30.0


def one_run(device: str, parent: Path) -> dict[str, object]:
    run = ComplianceRun(
        DeviceSpec.parse(device),
        bench_file=REPO / "benches" / "virtual.yaml",
        results_parent=parent,
        scenarios=SCENARIOS,
        inventory_file=REPO / "devices" / "virtual-inventory.yaml",
    )
    started = time.perf_counter()
    evaluation = run.execute()
    wall = time.perf_counter() - started
    assert run.results is not None
    phases: dict[str, float] = defaultdict(float)
    starts: dict[str, float] = {}
    for marker in load_timeline(run.results / "bench" / "timeline.jsonl"):
        if marker.phase == "consent":
            continue
        if marker.is_end and marker.phase in starts:
            phases[marker.phase] += marker.ts - starts.pop(marker.phase)
        elif not marker.is_end:
            starts[marker.phase] = marker.ts
    scenario = json.loads((run.results / "scenario.json").read_text())
    visits = scenario["reports"].get("wizard", {}).get("visits", [])
    return {
        "wall": wall,
        "result": evaluation.result,
        "unreached": scenario["unreached"],
        "phases": dict(phases),
        "calls": [(v["screen"], v["calls"]) for v in visits],
        "ui_calls": scenario["ui_calls"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", action="append", help=f"default: {', '.join(DEVICES)}")
    args = parser.parse_args()
    print(
        f"{' + '.join(SCENARIOS)}, time scale {DEFAULT_TIME_SCALE:g}, {args.runs} runs per device (seconds, wall)"
    )
    missed = []
    with tempfile.TemporaryDirectory(prefix="phonehome-scenario-bench-") as tmp:
        for device in args.device or DEVICES:
            runs = [one_run(device, Path(tmp) / f"{i}") for i in range(args.runs)]
            walls = [float(r["wall"]) for r in runs]  # type: ignore[arg-type]
            median = statistics.median(walls)
            verdicts = "/".join(sorted({str(r["result"]) for r in runs}))
            unreached = sorted({p for r in runs for p in r["unreached"]})  # type: ignore[attr-defined]
            print(f"\n{device}: median {median:.2f}, worst {max(walls):.2f}, verdict {verdicts}"
                  + (f", phases not reached: {', '.join(unreached)}" if unreached else ""))  # fmt: skip
            names = list(dict.fromkeys(p for r in runs for p in r["phases"]))  # type: ignore[attr-defined]
            per_phase = {n: statistics.median(r["phases"].get(n, 0.0) for r in runs) for n in names}  # type: ignore[attr-defined]
            print("  phases (median s): " + ", ".join(f"{n} {s:.2f}" for n, s in per_phase.items()))
            calls: dict[str, list[int]] = defaultdict(list)
            for r in runs:
                for screen, count in r["calls"]:  # type: ignore[attr-defined]
                    calls[screen].append(count)
            if calls:
                shown = ", ".join(f"{s} {statistics.median(c):g}" for s, c in calls.items())
                total = statistics.median(int(r["ui_calls"]) for r in runs)  # type: ignore[call-overload]
                every = [c for counts in calls.values() for c in counts]
                print(f"  uiautomator2 calls per wizard screen (median): {shown}")
                print(
                    f"  per screen: median {statistics.median(every):g}, max {max(every)}; whole walk {total:g}"
                )
            if median >= TARGET_S:
                missed.append(device)
    print(f"\ntarget < {TARGET_S:g} s per run: {'MISSED by ' + ', '.join(missed) if missed else 'met'}")


if __name__ == "__main__":
    main()
