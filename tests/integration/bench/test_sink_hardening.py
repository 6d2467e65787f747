"""A hostile handset against the sinks on a real bench: a slowloris from its namespace cannot keep a
request from being served and every cut is a problem of the capture; a UDP flood's losses are counted;
the sink parses the traffic as an unprivileged user and keeps its results to their owner."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from phonehome.bench import Bench
from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.runtime import ProcessId
from tests.integration.bench.conftest import BenchFactory, in_handset, started

pytestmark = pytest.mark.root

ONE_PORT = """
    name: test-sinkhard
    ports:
      - name: wlan
"""

SLOWLORIS = """
    import json, socket, time
    silent = []
    for i in range(600):  # connect, never send
        silent.append(socket.create_connection(("203.0.113.80", 80), timeout=5))
    time.sleep(0.5)
    s = socket.create_connection(("203.0.113.80", 80), timeout=5)
    s.sendall(b"GET /generate_204 HTTP/1.1\\r\\nHost: connectivitycheck.gstatic.com\\r\\n\\r\\n")
    answer = s.recv(200).decode()
    cut = 0
    for sock in silent:
        sock.setblocking(False)
        try:
            cut += sock.recv(1) == b""
        except BlockingIOError:
            pass
        except ConnectionResetError:
            cut += 1
    print(json.dumps({"answer": answer, "cut": cut}))
"""


def sink_process(bench: Bench) -> ProcessId:
    return started(bench.state, "sinks").process


def test_a_slowloris_from_the_handset_cannot_starve_the_sinks_and_the_cuts_are_problems(
    make_bench: BenchFactory,
) -> None:
    bench = make_bench(ONE_PORT)
    port = bench.port()
    obtain_lease(port, bench.workdir)
    done = in_handset(port, SLOWLORIS, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["answer"].startswith("HTTP/1.1 204 No Content")
    assert seen["cut"] == 89  # 601 connections, 512 per source: the 89 least recently active went
    capture = bench.stop_capture()["wlan"]
    assert any(
        "the sinks cut 89 connection(s): evicted at the per-source limit (512)" in p for p in capture.problems
    )
    assert not capture.lossless


def test_the_sink_runs_unprivileged_and_keeps_its_results_to_their_owner(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT)
    proc = sink_process(bench)
    status = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        if ":" in line
    )
    uids = [int(x) for x in status["Uid"].split()]
    gids = [int(x) for x in status["Gid"].split()]
    assert 0 not in uids, uids
    assert 0 not in gids, gids
    assert int(status["CapEff"], 16) == 0
    assert int(status["CapPrm"], 16) == 0
    assert status["Groups"].strip() == ""
    assert status["NoNewPrivs"].strip() == "1"
    for name in ("sinks.jsonl", "sinks-stats.json"):
        assert stat.S_IMODE((bench.workdir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(bench.workdir.stat().st_mode) == 0o700


UDP_FLOOD = """
    import socket
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(200000):
        u.sendto(bytes(1400), ("203.0.113.7", 9000 + i % 50))
"""


def test_a_udp_flood_is_counted_to_the_last_datagram_never_silently_lost(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT)
    port = bench.port()
    obtain_lease(port, bench.workdir)
    done = in_handset(port, UDP_FLOOD, timeout=120)
    assert done.returncode == 0, done.stderr
    capture = bench.stop_capture()["wlan"]
    bench.down()
    stats = json.loads((bench.workdir / "sinks-stats.json").read_text())
    assert stats["udp_datagrams"] + stats["udp_dropped"] == 200000
    records = bench.sink_records()
    assert sum(r.datagrams for r in records if r.proto == "udp") == stats["udp_datagrams"]
    if stats["udp_dropped"]:
        assert any("datagrams" in p for p in capture.problems)
    assert (bench.workdir / "sinks.jsonl").stat().st_size < 200000 * 1400 // 20
