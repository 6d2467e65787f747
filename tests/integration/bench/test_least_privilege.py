"""Least privilege on a running bench: every service as nobody with no capability it does not need,
and results readable by their owner only."""

from __future__ import annotations

import pwd
import stat
from pathlib import Path

import pytest

from phonehome.bench import Bench
from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.tools import find_tool
from tests.integration.bench.conftest import BenchFactory, started

pytestmark = pytest.mark.root

CAP_NET_ADMIN, CAP_NET_RAW = 12, 13


def status_of(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def process(bench: Bench, role: str) -> dict[str, str]:
    return status_of(started(bench.state, role).pid)


@pytest.mark.parametrize("tool", ["dumpcap", "tcpdump"])
def test_every_service_and_the_capture_tool_run_as_nobody_without_capabilities(
    make_bench: BenchFactory, tool: str
) -> None:
    if find_tool(tool) is None:
        pytest.skip(f"{tool} is not installed here: the bench uses the other capture tool")
    bench = make_bench(f"name: test-privilege\nports:\n  - name: wlan\ncapture:\n  tool: {tool}\n")
    obtain_lease(bench.port(), bench.workdir)
    nobody = str(pwd.getpwnam("nobody").pw_uid)
    for role in ("resolver", "sinks", "capture:wlan"):
        found = process(bench, role)
        assert found["Uid"].split() == [nobody] * 4, role
        assert int(found["CapEff"], 16) == 0, role
        assert int(found["CapPrm"], 16) == 0, role
        assert found["NoNewPrivs"] == "1", role
    dnsmasq = process(bench, "dnsmasq")
    assert dnsmasq["Uid"].split()[0] == nobody
    dhcp_needs = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)
    assert int(dnsmasq["CapPrm"], 16) & ~dhcp_needs == 0  # dnsmasq keeps what DHCP needs, nothing else
    assert int(dnsmasq["CapEff"], 16) & ~dhcp_needs == 0


def test_results_are_their_owners_only(make_bench: BenchFactory) -> None:
    bench = make_bench("name: test-modes\nports:\n  - name: wlan\n")
    obtain_lease(bench.port(), bench.workdir)
    workdir = bench.workdir
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    capture_dir = workdir / "capture"
    assert stat.S_IMODE(capture_dir.stat().st_mode) == 0o700
    assert capture_dir.stat().st_uid == pwd.getpwnam("nobody").pw_uid  # while the capture runs
    for name in (
        "resolver.jsonl",
        "sinks.jsonl",
        "dnsmasq.log",
        "dnsmasq.leases",
        "resolver.log",
        "sinks.log",
    ):
        assert stat.S_IMODE((workdir / name).stat().st_mode) == 0o600, name
    capture = bench.stop_capture()["wlan"]
    assert capture.files
    for f in capture.files:
        info = f.path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0), f.path
    assert (stat.S_IMODE(capture_dir.stat().st_mode), capture_dir.stat().st_uid) == (0o700, 0)
