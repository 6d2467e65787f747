"""Interception overhead per HTTPS request: a handset's requests through the bench's TLS service (mitmproxy,
``tls: intercept``) against the same requests to a plain Python TLS server over a veth of the same
kind, measured in the same run. Needs root (namespaces).

    sudo .venv/bin/python benchmarks/bench_interception.py [--requests 200]

Two workloads, each as a client in the handset's namespace would send it: a new connection per request
(TCP + TLS 1.3 handshake + one POST answered 204: what first-boot clients do), and requests one after
the other on one kept-alive connection (the cost of mitmproxy's HTTP handling alone). Both servers
present a certificate from the same lab CA (ECDSA P-256). Prints medians and 95th percentiles in ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from pyroute2 import IPRoute, netns

from phonehome.bench import Bench, certs, netops
from phonehome.bench.definition import load_bench
from phonehome.bench.dhcp_client import obtain_lease

REPO = Path(__file__).resolve().parents[1]
NAME = "config.oem.example"
BODY = b'{"device":"panther","sdk":34}'
REQUEST = (
    f"POST /v1/config HTTP/1.1\r\nHost: {NAME}\r\nContent-Type: application/json\r\n"
    f"Content-Length: {len(BODY)}\r\n\r\n"
).encode() + BODY


def client_context(ca: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca.decode())
    return context


def read_response(tls: ssl.SSLSocket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    if not data.startswith(b"HTTP/1.1 204"):
        raise ConnectionError(f"unexpected answer {data[:40]!r}")


def per_connection(ns: str, address: str, port: int, context: ssl.SSLContext, n: int) -> list[float]:
    times = []
    for _ in range(n):
        with netops.inside(ns):
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio (mitmproxy) does
        started = time.perf_counter()
        raw.connect((address, port))
        with context.wrap_socket(raw, server_hostname=NAME) as tls:
            tls.sendall(REQUEST)
            read_response(tls)
        times.append(time.perf_counter() - started)
    return times


def kept_alive(ns: str, address: str, port: int, context: ssl.SSLContext, n: int) -> list[float]:
    with netops.inside(ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.connect((address, port))
    times = []
    with context.wrap_socket(raw, server_hostname=NAME) as tls:
        for _ in range(n):
            started = time.perf_counter()
            tls.sendall(REQUEST)
            read_response(tls)
            times.append(time.perf_counter() - started)
    return times


@contextlib.contextmanager
def direct_pair(tag: str) -> Iterator[tuple[str, str, str]]:
    """Two namespaces joined by a veth (client 10.99.0.2, server 10.99.0.1): the bench's hop, no router."""
    client_ns, server_ns = f"phbench-{tag}-c", f"phbench-{tag}-s"
    netns.create(client_ns)
    netns.create(server_ns)
    try:
        with IPRoute(netns=server_ns) as ipr:
            ipr.link("add", ifname="srv0", kind="veth", peer={"ifname": "cli0", "net_ns_fd": client_ns})
        for ns, ifname, address in ((server_ns, "srv0", "10.99.0.1"), (client_ns, "cli0", "10.99.0.2")):
            with IPRoute(netns=ns) as ipr:
                index = netops.wait_link(ns, ifname)
                ipr.addr("add", index=index, address=address, prefixlen=30)
                ipr.link("set", index=index, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        yield client_ns, server_ns, "10.99.0.1"
    finally:
        for ns in (client_ns, server_ns):
            with contextlib.suppress(Exception):
                netns.remove(ns)


def tls_server(ns: str, address: str, issued: certs.Issued) -> tuple[int, Callable[[], None]]:
    """A plain threaded TLS server answering every request with 204 (the direct connection's far end)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        cert, key = Path(folder, "c.pem"), Path(folder, "k.pem")
        cert.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            issued.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert, key)
    with netops.inside(ns):
        listener = socket.create_server((address, 0))
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError, ssl.SSLError), context.wrap_socket(conn, server_side=True) as tls:
            buf = b""
            while not stop.is_set():
                chunk = tls.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while (end := buf.find(b"\r\n\r\n")) >= 0:
                    head, rest = buf[:end], buf[end + 4 :]
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length")
                        ),
                        0,
                    )
                    if len(rest) < length:
                        break
                    buf = rest[length:]
                    tls.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()

    def close() -> None:
        stop.set()
        listener.close()

    return listener.getsockname()[1], close


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    n = args.requests
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="phonehome-bench-tls-") as tmp:
        definition = load_bench(REPO / "benches" / "virtual.yaml")
        definition = definition.model_validate({**definition.model_dump(), "tls": "intercept"})
        with Bench(definition, workdir=Path(tmp) / "bench") as bench:
            assert bench.lab_ca is not None
            ca = bench.lab_ca.read_bytes()
            lab = certs.lab_authority(bench.lab_ca.parent)
            port = bench.port()
            assert port.netns is not None
            obtain_lease(port, Path(tmp))
            context = client_context(ca)
            target = "198.18.0.10"  # any address: every TCP flow goes to the TLS service
            per_connection(port.netns, target, 443, context, 5)  # warm-up (imports, certificates minted)
            results["intercepted, new connection per request"] = summary(
                per_connection(port.netns, target, 443, context, n)
            )
            results["intercepted, one kept-alive connection"] = summary(
                kept_alive(port.netns, target, 443, context, n)
            )
        with direct_pair(str(time.monotonic_ns() % 100000)) as (client_ns, server_ns, address):
            server_port, close = tls_server(server_ns, address, certs.Forge(lab).issue("lab-ca", NAME))
            try:
                per_connection(client_ns, address, server_port, context, 5)
                results["direct, new connection per request"] = summary(
                    per_connection(client_ns, address, server_port, context, n)
                )
                results["direct, one kept-alive connection"] = summary(
                    kept_alive(client_ns, address, server_port, context, n)
                )
            finally:
                close()
    for kind in ("new connection per request", "one kept-alive connection"):
        overhead = results[f"intercepted, {kind}"]["median_ms"] - results[f"direct, {kind}"]["median_ms"]
        results[f"overhead, {kind}"] = {"median_ms": round(overhead, 3)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
