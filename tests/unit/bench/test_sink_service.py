"""The sink service under a hostile handset, on loopback sockets: a slowloris cannot keep a request from
being served, every cut is counted, idle connections close, and the transcript stays within its cap."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from phonehome.bench import sinks
from phonehome.bench.sink_service import Limits, Stats, StatsFile, Transcript, serve
from phonehome.bench.sink_talk import NO_CONTENT
from phonehome.bench.sink_udp import UDP_RECORDS_PER_FLOW
from phonehome.bench.sinks import SinkRecord, read_records

Scenario = Callable[[int, int], Awaitable[None]]
GET = b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n"


def run_sink(
    tmp_path: Path, limits: Limits, scenario: Scenario, out: Path | None = None
) -> tuple[list[SinkRecord], dict[str, Any]]:
    """Serves a TCP and a UDP loopback socket while ``scenario(tcp_port, udp_port)`` plays the handset."""
    tcp = socket.create_server(("127.0.0.1", 0), backlog=1024)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    path = out or tmp_path / "sinks.jsonl"
    out_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    stats_fd = os.open(tmp_path / sinks.STATS_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    stats = StatsFile(stats_fd, Stats(limits={"per_source": limits.per_source}))
    transcript = Transcript(out_fd, limits.transcript_bytes, stats)

    async def main() -> None:
        stopping = asyncio.Event()
        service = asyncio.create_task(serve([tcp, udp], limits, transcript, stats, stopping))
        await asyncio.sleep(0.05)
        try:
            await scenario(tcp.getsockname()[1], udp.getsockname()[1])
        finally:
            stopping.set()
            await asyncio.wait_for(service, 10)

    try:
        asyncio.run(main())
    finally:
        for fd in (out_fd, stats_fd):
            os.close(fd)
        tcp.close()
        udp.close()
    stats_data = sinks.read_stats(tmp_path / sinks.STATS_NAME)
    assert stats_data is not None
    return (read_records(path) if path.is_file() else []), stats_data


async def request(port: int, source: str = "127.0.0.1") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(GET)
    await writer.drain()
    answer = await asyncio.wait_for(reader.readexactly(len(NO_CONTENT)), 5)
    writer.close()
    return answer


def test_a_slowloris_cannot_keep_a_request_from_being_served_and_every_cut_is_counted(tmp_path: Path) -> None:
    silent: list[asyncio.StreamWriter] = []
    answers: list[bytes] = []

    async def handset(tcp_port: int, _udp: int) -> None:
        for _ in range(600):  # connect and never send
            _reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
            silent.append(writer)
        await asyncio.sleep(0.2)
        answers.append(await request(tcp_port))
        for writer in silent:
            writer.close()
        await asyncio.sleep(0.2)  # the sink hears the closes

    records, stats = run_sink(tmp_path, Limits(per_source=256), handset)
    assert answers == [NO_CONTENT]
    reason = "evicted at the per-source limit (256)"
    assert stats["cut"] == {reason: 345}  # 601 connections, 256 kept open at any time
    evicted = [r for r in records if r.closed_by == f"sink: {reason}"]
    assert len(evicted) == 345
    served = [r for r in records if r.http_heads]
    assert served[0].closed_by == "client"
    assert any("cut 345 connection(s)" in line for line in sinks.problems(tmp_path))


def test_at_the_total_limit_the_busiest_sources_idlest_connection_goes(tmp_path: Path) -> None:
    async def handsets(tcp_port: int, _udp: int) -> None:
        writers = [(await asyncio.open_connection("127.0.0.1", tcp_port))[1] for _ in range(20)]
        await asyncio.sleep(0.1)
        assert await request(tcp_port, "127.0.0.2") == NO_CONTENT  # another handset still gets through
        for writer in writers:
            writer.close()
        await asyncio.sleep(0.2)

    records, stats = run_sink(tmp_path, Limits(max_connections=16, per_source=64), handsets)
    assert stats["cut"] == {"evicted at the connection limit (16)": 5}
    assert {r.client[0] for r in records if r.closed_by.startswith("sink: evicted")} == {"127.0.0.1"}


def test_idle_connections_are_closed_without_being_a_problem(tmp_path: Path) -> None:
    async def handset(tcp_port: int, _udp: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the sink closed it
        writer.close()

    records, stats = run_sink(tmp_path, Limits(idle_s=0.2), handset)
    assert stats["idle_closed"] == 1
    assert records[0].closed_by == "sink: idle for 0.2 s"
    assert sinks.problems(tmp_path) == []


def test_a_udp_flow_is_recorded_datagram_by_datagram_then_summed(tmp_path: Path) -> None:
    datagrams = [f"datagram {i}".encode() for i in range(100)]

    async def handset(_tcp: int, udp_port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for data in datagrams:
                sender.sendto(data, ("127.0.0.1", udp_port))
        await asyncio.sleep(0.2)

    records, stats = run_sink(tmp_path, Limits(), handset)
    single = [r for r in records if r.kind == "raw"]
    (summary,) = [r for r in records if r.kind == "summary"]
    assert [r.head for r in single] == datagrams[:UDP_RECORDS_PER_FLOW]
    assert single[0].sha256 == hashlib.sha256(datagrams[0]).hexdigest()
    rest = datagrams[UDP_RECORDS_PER_FLOW:]
    assert summary.datagrams == len(rest)
    assert summary.bytes_received == sum(map(len, rest))
    assert summary.sha256 == hashlib.sha256(b"".join(rest)).hexdigest()
    assert stats["udp_datagrams"] == 100
    assert stats["udp_dropped"] == 0


def test_the_transcript_stops_at_its_cap_and_counts_what_it_did_not_write(tmp_path: Path) -> None:
    async def handset(_tcp: int, udp_port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(30):
                sender.sendto(b"x" * 200, ("127.0.0.1", udp_port + 0 * i))
        await asyncio.sleep(0.2)

    records, stats = run_sink(tmp_path, Limits(transcript_bytes=4000), handset)
    assert (tmp_path / "sinks.jsonl").stat().st_size <= 4000
    assert stats["transcript_capped"] is True
    assert stats["records_written"] == len(records)
    assert stats["records_written"] + stats["records_not_written"] == 30
    assert any("reached its cap" in line for line in sinks.problems(tmp_path))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to stand for a full disk")
def test_a_full_disk_stops_the_writer_says_why_and_the_sink_keeps_serving(tmp_path: Path) -> None:
    answers = []

    async def handset(tcp_port: int, _udp: int) -> None:
        answers.append(await request(tcp_port))
        await asyncio.sleep(0.1)
        answers.append(await request(tcp_port))

    _records, stats = run_sink(tmp_path, Limits(), handset, out=Path("/dev/full"))
    assert answers == [NO_CONTENT, NO_CONTENT]
    assert "No space left on device" in stats["transcript_error"]
    assert any("could not be written (No space left" in line for line in sinks.problems(tmp_path))


def test_statistics_are_final_and_readable_as_json(tmp_path: Path) -> None:
    async def nothing(_tcp: int, _udp: int) -> None:
        await asyncio.sleep(0.01)

    _records, stats = run_sink(tmp_path, Limits(), nothing)
    assert stats["final"] is True
    assert json.loads((tmp_path / sinks.STATS_NAME).read_text())["accepted"] == 0


def test_a_handset_that_never_reads_its_answers_cannot_make_the_sink_queue_them_without_bound(
    tmp_path: Path,
) -> None:
    sent = []

    async def handset(tcp_port: int, _udp: int) -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
        writer.transport.set_write_buffer_limits(high=1 << 20)
        total = 0
        try:
            for _ in range(200):  # 200 x 1000 pipelined requests, answers never read
                writer.write(GET * 1000)
                total += len(GET) * 1000
                await asyncio.wait_for(writer.drain(), 0.5)
        except TimeoutError:
            pass  # the sink stopped reading: the handset's sends back up
        sent.append(total)
        writer.transport.abort()
        await asyncio.sleep(0.2)

    records, _stats = run_sink(tmp_path, Limits(), handset)
    assert sent[0] < 200 * 1000 * len(GET), "the sink kept reading while its answers piled up"
    (record,) = records
    assert record.http_requests < 200 * 1000
