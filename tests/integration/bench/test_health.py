"""Health over the whole capture window: a service that died after the last phase marker is no PASS."""

from __future__ import annotations

import os
import signal
import time

import pytest

from phonehome.bench.dhcp_client import obtain_lease
from tests.integration.bench.conftest import BenchFactory, started

pytestmark = pytest.mark.root

ONE_PORT = "name: test-health\nports:\n  - name: wlan\n"


@pytest.mark.parametrize(
    ("role", "named"),
    [("dnsmasq", "dnsmasq"), ("resolver", "resolver"), ("sinks", "sinks")],
)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_service_killed_after_the_last_marker_is_named_in_the_captures_problems(
    make_bench: BenchFactory, role: str, named: str, sig: int
) -> None:
    bench = make_bench(ONE_PORT)
    obtain_lease(bench.port(), bench.workdir)
    bench.mark("boot")
    bench.mark("done")
    proc = started(bench.state, role).process
    os.kill(proc.pid, sig)
    deadline = time.monotonic() + 5
    while proc.alive():
        assert time.monotonic() < deadline, f"{role} did not die"
        time.sleep(0.02)
    capture = bench.stop_capture()["wlan"]
    assert [m.phase for m in capture.markers] == ["boot", "done"]
    assert not capture.lossless
    (problem,) = [p for p in capture.problems if f"pid {proc.pid}" in p]
    assert named in problem
    assert "was not running when the capture stopped" in problem


def test_a_bench_whose_services_all_lived_reports_none_of_them(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT)
    obtain_lease(bench.port(), bench.workdir)
    bench.mark("done")
    capture = bench.stop_capture()["wlan"]
    assert capture.lossless, capture.problems
    assert bench.status() == []
