"""Two builds of the analyzer on the same capture, alternating, in one run: is a change faster?

Each tree is a checkout with its extensions built in place (``python setup.py build_ext --inplace``,
or ``./bootstrap.sh``), e.g. a ``git worktree`` of the commit before the change beside the working
copy. ``phonehome analyze --format json`` runs from each in turn (``PYTHONPATH`` puts the tree first),
so the machine's noise falls on both alike; the minimum and median wall times of each, and the ratio
of the second to the first, are printed. Machines are noisy: read the ratio of one run, not absolute
numbers across runs.

    .venv/bin/python benchmarks/bench_ab.py /tmp/before . --runs 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import DEADLINE_S, analyze_json, generated_capture


def _run(tree: Path, capture: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run(analyze_json(capture), env=env, check=True, timeout=DEADLINE_S, cwd=tree)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="checkout of the build to compare against")
    parser.add_argument("after", type=Path, help="checkout of the build under test")
    parser.add_argument("--runs", type=int, default=5, help="runs of each, alternating (default 5)")
    parser.add_argument("--capture", type=Path, help="capture to use (default: the generated one for --size)")
    parser.add_argument("--size", default="100M", help="size of the generated capture (default 100M)")
    parser.add_argument("--shape", default="small", help="of the generated capture: mixed or small (default)")
    args = parser.parse_args(argv)
    capture = generated_capture(args.size, args.capture, args.shape).resolve()
    trees = (args.before.resolve(), args.after.resolve())
    walls: tuple[list[float], list[float]] = ([], [])
    for i in range(args.runs):
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            walls[k].append(_run(trees[k], capture))
    for name, tree, runs in (("before", trees[0], walls[0]), ("after", trees[1], walls[1])):
        print(f"{name:<7} {tree}: min {min(runs):.3f} s, median {statistics.median(runs):.3f} s")
    print(
        f"after / before: {min(walls[1]) / min(walls[0]):.3f} (minimums), "
        f"{statistics.median(walls[1]) / statistics.median(walls[0]):.3f} (medians)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
