"""The bench on a machine with only one capture tool: ``auto`` takes what is there, and captures all."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.tools import TOOL_PATH_ENV, find_tool
from phonehome.traffic import analyze
from tests.integration.bench.conftest import BenchFactory, in_handset

pytestmark = pytest.mark.root

BENCH_TOOLS = ("ip", "nft", "dnsmasq", "setpriv", "prlimit", "busybox")
FORMATS = {"dumpcap": "pcapng", "tcpdump": "pcap"}


def only_these_tools(folder: Path, capture_tool: str) -> str:
    """A folder holding the bench's tools and one capture tool: the search path of that machine."""
    folder.mkdir()
    for name in (*BENCH_TOOLS, capture_tool):
        path = find_tool(name)
        if path is None:
            pytest.skip(
                f"{name} is not installed here, so a machine with only {capture_tool} cannot be shown"
            )
        (folder / name).symlink_to(path)
    return str(folder)


@pytest.mark.parametrize("capture_tool", ["dumpcap", "tcpdump"])
def test_a_machine_with_one_capture_tool_captures_the_handsets_traffic_with_it(
    make_bench: BenchFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capture_tool: str
) -> None:
    other = "tcpdump" if capture_tool == "dumpcap" else "dumpcap"
    monkeypatch.setenv(TOOL_PATH_ENV, only_these_tools(tmp_path / f"only-{capture_tool}", capture_tool))
    assert find_tool(other) is None
    bench = make_bench("name: test-one-tool\nports:\n  - name: wlan\ncapture:\n  tool: auto\n")
    port = bench.port()
    lease = obtain_lease(port, bench.workdir)
    done = in_handset(
        port,
        """
        import socket
        s = socket.create_connection(("only-tool.example", 80), timeout=5)
        s.sendall(b"GET / HTTP/1.1\\r\\nHost: only-tool.example\\r\\n\\r\\n")
        s.recv(100)
        s.close()
        """,
    )
    assert done.returncode == 0, done.stderr
    capture = bench.stop_capture()["wlan"]
    assert (capture.tool, capture.format) == (capture_tool, FORMATS[capture_tool])
    assert capture.lossless, capture.problems
    assert all(f.path.suffix == f".{FORMATS[capture_tool]}" for f in capture.files)
    flows = analyze([f.path for f in capture.files]).flows
    hosts = {f.http_host for f in flows if f.src == lease.ip and f.dport == 80}
    assert hosts == {"only-tool.example"}
