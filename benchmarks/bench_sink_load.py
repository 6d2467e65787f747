"""The sinks under 4,000 concurrent connections: requests/s, CPU and peak memory beside a plain asyncio
HTTP server answering the same 204, measured in the same run on loopback (no root needed).

    .venv/bin/python benchmarks/bench_sink_load.py [--connections 4000] [--requests 20]

Each server runs as its own process on a socket this script binds; one asyncio client opens every
connection first (all held open at once), then sends ``--requests`` GETs on each, one after the other,
all connections in parallel. The sink runs twice: with limits raised above the load (what it costs),
and with the bench's defaults (512 per source: what a handset flooding it sees, and the cuts counted).
Peak RSS is the server's VmHWM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

GET = b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n"
ANSWER_LEN = len(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

PEER = textwrap.dedent(
    """
    import asyncio, socket, sys
    NO_CONTENT = b"HTTP/1.1 204 No Content\\r\\nContent-Length: 0\\r\\n\\r\\n"

    class Peer(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buf = transport, b""
        def data_received(self, data):
            self.buf += data
            while (end := self.buf.find(b"\\r\\n\\r\\n")) >= 0:
                self.buf = self.buf[end + 4:]
                self.transport.write(NO_CONTENT)

    async def main():
        sock = socket.socket(fileno=int(sys.argv[1]))
        sock.setblocking(False)
        server = await asyncio.get_running_loop().create_server(Peer, sock=sock, backlog=4096)
        print("serving", flush=True)
        await server.serve_forever()

    asyncio.run(main())
    """
)


@dataclass
class Result:
    name: str
    requests: int
    answered: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    note: str = ""


def server_process(
    name: str, sock: socket.socket, workdir: Path, limits: list[str]
) -> subprocess.Popen[bytes]:
    fd = sock.fileno()
    if name == "asyncio peer":
        argv = [sys.executable, "-c", PEER, str(fd)]
    else:
        argv = [
            sys.executable,
            "-m",
            "phonehome.bench.sinks",
            "--fd",
            str(fd),
            "--out",
            str(workdir / "sinks.jsonl"),
        ]
        argv += limits
    proc = subprocess.Popen(argv, pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    proc.stdout.readline()  # serving
    return proc


def proc_stat(pid: int) -> tuple[float, float]:
    """CPU seconds and peak RSS (MB) of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return cpu, int(status["VmHWM"].split()[0]) / 1024


async def load(port: int, connections: int, requests: int) -> tuple[int, float]:
    """Opens every connection, then runs the requests on all of them at once; answered requests, seconds."""
    streams = []
    for _ in range(connections):
        streams.append(await asyncio.open_connection("127.0.0.1", port))
    await asyncio.sleep(0.5)

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        answered = 0
        try:
            for _ in range(requests):
                writer.write(GET)
                await reader.readexactly(ANSWER_LEN)
                answered += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        return answered

    started = time.perf_counter()
    counts = await asyncio.gather(*(talk(r, w) for r, w in streams))
    seconds = time.perf_counter() - started
    for _r, writer in streams:
        writer.close()
    return sum(counts), seconds


def run(name: str, connections: int, requests: int, limits: list[str]) -> Result:
    with tempfile.TemporaryDirectory(prefix="sinkload-") as tmp:
        sock = socket.create_server(("127.0.0.1", 0), backlog=4096)
        proc = server_process(name, sock, Path(tmp), limits)
        try:
            answered, seconds = asyncio.run(load(sock.getsockname()[1], connections, requests))
            cpu, rss = proc_stat(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
            sock.close()
        note = ""
        stats_path = Path(tmp) / "sinks-stats.json"
        if stats_path.exists():
            stats = json.loads(stats_path.read_text().split("\n", 1)[0])
            note = f"cut {sum(stats['cut'].values())}, transcript {stats['transcript_bytes'] / 1e6:.1f} MB"
    return Result(name, connections * requests, answered, seconds, cpu, rss, note)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=4000)
    parser.add_argument("--requests", type=int, default=20, help="GETs per connection")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 3 * args.connections)), hard))
    raised = ["--max-connections", str(2 * args.connections), "--per-source", str(2 * args.connections)]
    results = [
        run("asyncio peer", args.connections, args.requests, []),
        run("phonehome sinks (limits raised)", args.connections, args.requests, raised),
        run("phonehome sinks (bench defaults)", args.connections, args.requests, []),
    ]
    print(f"{args.connections} connections held open, {args.requests} GETs each, loopback")
    print(f"{'server':34} {'answered':>9} {'req/s':>8} {'CPU s':>6} {'peak RSS':>9}  note")
    for r in results:
        rate = r.answered / r.seconds if r.seconds else 0.0
        print(f"{r.name:34} {r.answered:>9} {rate:>8.0f} {r.cpu_s:>6.1f} {r.peak_rss_mb:>7.1f}MB  {r.note}")
    peer, sink = results[0], results[1]
    print(
        f"sink/peer: throughput {sink.answered / sink.seconds / (peer.answered / peer.seconds):.2f}x, "
        f"memory {sink.peak_rss_mb / peer.peak_rss_mb:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
