"""Bench bring-up to a handset's DHCP lease, and teardown, timed (target: under 1.5 s together).

    sudo .venv/bin/python benchmarks/bench_bringup.py [--runs 10] [--definition benches/virtual.yaml]

Each run builds the bench from its definition, has the virtual handset's
namespace take a real lease with busybox udhcpc, then brings the bench down
(which includes the capture's settle time and sealing the files). Prints
the median and worst of each phase.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from phonehome.bench import Bench
from phonehome.bench.dhcp_client import obtain_lease

REPO = Path(__file__).resolve().parent.parent


def one_run(definition: Path, workdir: Path) -> tuple[float, float, float]:
    start = time.perf_counter()
    bench = Bench.from_file(definition, workdir=workdir).up()
    up = time.perf_counter()
    obtain_lease(bench.port(), bench.workdir)
    leased = time.perf_counter()
    captures = bench.down()
    down = time.perf_counter()
    assert all(c.lossless for c in captures.values()), [c.problems for c in captures.values()]
    return up - start, leased - start, down - leased


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--definition", type=Path, default=REPO / "benches" / "virtual.yaml")
    args = parser.parse_args()
    ups, leases, downs, totals = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="phonehome-bench-") as tmp:
        for i in range(args.runs):
            up, lease, down = one_run(args.definition, Path(tmp) / f"run{i}")
            ups.append(up)
            leases.append(lease)
            downs.append(down)
            totals.append(lease + down)
    print(f"bench bring-up and teardown, {args.runs} runs of {args.definition.name} (seconds)")
    for name, values in (
        ("up", ups),
        ("up to lease", leases),
        ("teardown", downs),
        ("lease+teardown", totals),
    ):
        print(f"  {name:<15} median {statistics.median(values):.3f}  worst {max(values):.3f}")
    verdict = "meets" if statistics.median(totals) < 1.5 else "MISSES"
    print(f"  target < 1.5 s together: {verdict}")


if __name__ == "__main__":
    main()
