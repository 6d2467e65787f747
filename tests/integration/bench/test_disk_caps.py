"""Disk use is bounded: a capture stops at its cap and says so, and a results folder whose disk fills up
(a tmpfs of the test's own) gives one clear line, a bench that still comes down, and the partial files."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.bench import Bench
from phonehome.bench.definition import parse_bench
from phonehome.bench.dhcp_client import obtain_lease
from tests.integration.bench.conftest import BenchFactory, in_handset, leftovers

pytestmark = pytest.mark.root

FLOOD = """
    import socket
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(12000):  # ~17 MB
        u.sendto(bytes(1400), ("203.0.113.7", 9000 + i % 7))
"""


def test_a_capture_stops_at_its_cap_and_the_problem_names_the_cap(make_bench: BenchFactory) -> None:
    bench = make_bench("name: test-capcap\nports:\n  - name: wlan\ncapture:\n  max_mb: 2\n")
    port = bench.port()
    obtain_lease(port, bench.workdir)
    done = in_handset(port, FLOOD, timeout=120)
    assert done.returncode == 0, done.stderr
    capture = bench.down()["wlan"]
    size = sum(f.size for f in capture.files)
    assert 1.9 * 2**20 < size <= 2 * 2**20 + 65536
    assert any("reached its cap (capture.max_mb: 2 MB)" in p for p in capture.problems), capture.problems
    assert not capture.lossless


@contextlib.contextmanager
def small_tmpfs(where: Path, size_mb: int) -> Iterator[Path]:
    where.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(where)], check=True
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=30)


def test_a_full_disk_is_one_clear_line_the_bench_still_comes_down_and_partial_files_stay(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "small", 6) as disk:
        bench = Bench(parse_bench("name: test-diskfull\nports:\n  - name: wlan\n"), workdir=disk / "bench")
        bench.up()
        try:
            port = bench.port()
            obtain_lease(port, bench.workdir)
            done = in_handset(port, FLOOD, timeout=120)
            assert done.returncode == 0, done.stderr
            capture = bench.stop_capture()["wlan"]
        finally:
            captures = bench.down()
        assert bench.state is not None
        assert leftovers(bench.state.run_id) == []
        problems = captures["wlan"].problems
        assert any("filled up" in p and "No space left on device" in p for p in problems), problems
        assert all("\n" not in p for p in problems)
        assert capture.files, "the partial capture is kept"
        assert capture.files[0].path.stat().st_size > 1 << 20
        assert (disk / "bench" / "sinks.jsonl").exists()
