"""The bench's TLS service: mitmproxy in the router namespace, for ``tls: validate`` and ``tls: intercept``.

nftables TPROXYs every TCP flow of the handset ports here (UDP still goes to
the sinks); the socket the bench bound is transparent, so each connection's
own address is the flow's original destination. mitmproxy's connection
handler runs each connection with ``tls_addon.Interceptor`` deciding what it
hears and what it presents; there is no upstream. Records go to ``tls.jsonl``
(capped, like the sinks' transcript), the TLS secrets of every connection to
``tls-keylog.txt`` (NSS key log format: mitmproxy's ``MITMPROXY_SSLKEYLOGFILE``),
so the analyzer decrypts the capture itself and judges the decrypted bytes
with the same decoders as cleartext.

As the sinks do, the process opens its files and takes its sockets as root,
then drops root for good before it reads a byte of the handset's; the limits
on connections, idleness and the transcript are the sinks' (``sinks:`` and
``disk:`` in the definition), and what they cut is a problem of the capture.

mitmproxy 11.0 (the release for Python 3.11) pins dependencies older than the
analyzer's, so it is installed in an environment of its own and this module
runs there (`interpreter`); the bench only starts it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from phonehome.bench import privilege, sinks
from phonehome.bench.definition import BenchDef

READY = "phonehome tls: serving"
STATS_NAME = "tls-stats.json"
RECORDS_NAME = "tls.jsonl"
KEYLOG_NAME = "tls-keylog.txt"
"""Not ``*.log``: the bench reads those as service logs that may have reached their cap."""
LOG_NAME = "tls.out"
ENDPOINTS_NAME = "tls-endpoints.json"
INTERPRETER_ENV = "PHONEHOME_TLS_PYTHON"
VENV = ".venv-tls"
SWEEP_S = 1.0
WEBSOCKET_HEAD_MAX = 16 * 1024


def interpreter() -> str | None:
    """The Python that has mitmproxy: ``$PHONEHOME_TLS_PYTHON``, this one if it has it, or the checkout's
    ``.venv-tls`` (``bootstrap.sh`` makes it); None when there is none."""
    given = os.environ.get(INTERPRETER_ENV)
    if given:
        return given if shutil.which(given) or Path(given).is_file() else None
    if importlib.util.find_spec("mitmproxy") is not None:
        return sys.executable
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / VENV / "bin" / "python"
        if candidate.is_file():
            return str(candidate)
    return None


def service_args(defn: BenchDef, workdir: Path, ca_dir: Path) -> list[str]:
    """The service's options from the definition: mode, lab CA, limits, caps, files and user."""
    spec = defn.sinks
    return [
        "--mode",
        defn.tls,
        "--ca-dir",
        str(ca_dir),
        "--out",
        str(workdir / RECORDS_NAME),
        "--keylog",
        str(workdir / KEYLOG_NAME),
        "--stats",
        str(workdir / STATS_NAME),
        "--max-connections",
        str(spec.max_connections),
        "--per-source",
        str(spec.per_source),
        "--idle",
        str(spec.idle_seconds),
        "--transcript-mb",
        str(defn.disk.transcripts_mb),
        "--user",
        spec.user,
    ]


def problems(workdir: Path) -> list[str]:
    """What the TLS service's statistics say its records lack (the sinks' wording, its own file)."""
    path = workdir / STATS_NAME
    stats = sinks.read_stats(path)
    if stats is None:
        return [f"the TLS service wrote no statistics ({path}): whether it refused connections is unknown"]
    found = []
    limits = stats.get("limits", {})
    if stats.get("refused"):
        found.append(
            f"the TLS service could not accept {stats['refused']} connection(s) (out of file descriptors)"
        )
    for reason, count in sorted((stats.get("cut") or {}).items()):
        found.append(
            f"the TLS service cut {count} connection(s): {reason} (limits: {limits.get('per_source')} per "
            f"source, {limits.get('max_connections')} in all); what the handset sent on them after that is "
            "not recorded"
        )
    if stats.get("transcript_error"):
        found.append(f"the TLS service's records could not be written ({stats['transcript_error']})")
    elif stats.get("transcript_capped"):
        found.append(
            f"the TLS service's records reached their cap (disk.transcripts_mb): "
            f"{stats.get('records_not_written', 0)} record(s) were not written"
        )
    return found


# --- the process -------------------------------------------------------------------------------------


class Line:
    """A record for the sinks' capped transcript writer."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_json(self) -> str:
        return json.dumps(self.data, sort_keys=True)


class Admission:
    """The sinks' limits over mitmproxy's connection handlers: per source and in all; at a limit the least
    recently active connection is cut, so the newest is still served."""

    def __init__(self, max_connections: int, per_source: int, cut: Any) -> None:
        self.max_connections = max_connections
        self.per_source = per_source
        self.cut = cut
        self.by_source: dict[str, OrderedDict[Any, None]] = {}
        self.open = 0

    def admit(self, source: str, handler: Any) -> None:
        mine = self.by_source.setdefault(source, OrderedDict())
        if len(mine) >= self.per_source:
            self.cut(next(iter(mine)), f"evicted at the per-source limit ({self.per_source})")
        elif self.open >= self.max_connections:
            busiest = max(self.by_source.values(), key=len)
            self.cut(next(iter(busiest)), f"evicted at the connection limit ({self.max_connections})")
        mine[handler] = None
        self.open += 1

    def release(self, source: str, handler: Any) -> None:
        mine = self.by_source.get(source)
        if mine is not None and handler in mine:
            del mine[handler]
            self.open -= 1
            if not mine:
                del self.by_source[source]


async def websocket_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The far end of a WebSocket the handset opens: accepts the upgrade (RFC 6455 4.2.2) and reads
    whatever comes, answering nothing. Anything else gets 204."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        if key:
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())  # noqa: S324  (RFC 6455)
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            while await reader.read(65536):
                pass
        else:
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(  # noqa: PLR0917  (the process's parts, as main made them)
    socks: list[socket.socket],
    mode: str,
    forge: Any,
    transcript: Any,
    stats: Any,
    limits: Any,
    stopping: asyncio.Event | None = None,
) -> None:
    """Serves the bench's transparent sockets until ``stopping`` (default: SIGTERM or SIGINT)."""
    from mitmproxy import options as moptions  # noqa: PLC0415  (preloaded: see PRELOAD)
    from mitmproxy.addons import proxyserver  # noqa: PLC0415
    from mitmproxy.master import Master  # noqa: PLC0415
    from mitmproxy.proxy import mode_specs  # noqa: PLC0415
    from mitmproxy.proxy.layers import modes  # noqa: PLC0415
    from mitmproxy.proxy.mode_servers import ProxyConnectionHandler  # noqa: PLC0415

    from phonehome.bench.tls_addon import Interceptor  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    if stopping is None:
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    peer = await asyncio.start_server(websocket_peer, "127.0.0.1", 0, limit=WEBSOCKET_HEAD_MAX)
    peer_address = peer.sockets[0].getsockname()[:2]
    options = moptions.Options()
    master = Master(options, event_loop=loop)
    interceptor = Interceptor(mode, forge, lambda record: transcript.write(Line(record)), peer_address)
    master.addons.add(proxyserver.Proxyserver(), interceptor)
    options.update(
        server=False,
        connection_strategy="lazy",
        upstream_cert=False,
        http2=True,
        websocket=True,
        rawtcp=True,
        body_size_limit="8m",
    )
    transparent = mode_specs.ProxyMode.parse("transparent")
    running: set[asyncio.Task[None]] = set()

    def cut(handler: Any, reason: str) -> None:
        counts = stats.stats.cut
        counts[reason] = counts.get(reason, 0) + 1
        stats.soon()
        close(handler, reason)

    admission = Admission(limits.max_connections, limits.per_source, cut)

    class Handler(ProxyConnectionHandler):  # type: ignore[misc]
        async def on_timeout(self) -> None:
            stats.stats.idle_closed += 1
            await super().on_timeout()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats.stats.accepted += 1
        handler = Handler(master, reader, writer, options, transparent)
        context = handler.layer.context
        handler.layer = modes.TransparentProxy(context)
        original = writer.get_extra_info("sockname")  # TPROXY: the flow's own destination
        context.client.sockname = original
        context.server.address = original
        handler.timeout_watchdog.timeout = limits.idle_s
        source = str((writer.get_extra_info("peername") or ("?",))[0])
        admission.admit(source, handler)
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        try:
            await handler.handle_client()
        finally:
            admission.release(source, handler)
            if task is not None:
                running.discard(task)

    servers = []
    for sock in socks:
        sock.setblocking(False)
        servers.append(await asyncio.start_server(handle, sock=sock, backlog=4096))
    await master.addons.trigger_event(_running_hook())
    stats.write()
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), SWEEP_S)
    for server in servers:
        server.close()
    for source_handlers in list(admission.by_source.values()):
        for handler in list(source_handlers):
            close(handler, "the bench stopped")
    if running:
        await asyncio.wait(running, timeout=5)
    peer.close()
    transcript.flush()
    stats.stats.final = True
    stats.write()


def _running_hook() -> Any:
    from mitmproxy import hooks  # noqa: PLC0415

    return hooks.RunningHook()


def close(handler: Any, reason: str) -> None:
    """Ends one connection the way mitmproxy's own timeout does (its handlers then run to the end)."""
    io = handler.transports.get(handler.client)
    if io is not None and io.handler is not None:
        io.handler.cancel(reason)
    elif io is not None and io.writer is not None:
        io.writer.close()


PRELOAD = (
    "mitmproxy.options",
    "mitmproxy.master",
    "mitmproxy.hooks",
    "mitmproxy.addons",
    "mitmproxy.addons.proxyserver",
    "mitmproxy.proxy.mode_specs",
    "mitmproxy.proxy.mode_servers",
    "mitmproxy.proxy.layers",
    "mitmproxy.proxy.layers.http",
    "mitmproxy.proxy.layers.http._http2",
    "mitmproxy.proxy.layers.websocket",
    "mitmproxy.proxy.layers.tls",
    "mitmproxy.proxy.layers.tcp",
    "mitmproxy.net.encoding",
    "mitmproxy.net.http.status_codes",
    "mitmproxy.contentviews",
    "phonehome.bench.tls_addon",
    "h2.connection",
    "wsproto",
    "wsproto.frame_protocol",
    "encodings.idna",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.utf_8",
    "html.entities",
    "email.utils",
    "http.cookies",
)
"""Modules imported while still root: the interpreter may live where the service user cannot read (a
Python under /root), and mitmproxy imports some of its parts (and codecs) only when a flow first needs them."""


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    from phonehome.bench import certs, sink_service  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m phonehome.bench.tls_service")
    parser.add_argument("--fd", type=int, action="append", default=[], help="an inherited listening socket")
    parser.add_argument("--mode", choices=("validate", "intercept"), required=True)
    parser.add_argument("--ca-dir", type=Path, required=True, help="the lab CA's folder (ca.pem, ca-key.pem)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--keylog", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    default = sink_service.Limits()
    parser.add_argument("--max-connections", type=int, default=default.max_connections)
    parser.add_argument("--per-source", type=int, default=default.per_source)
    parser.add_argument("--idle", type=float, default=default.idle_s)
    parser.add_argument("--transcript-mb", type=int, default=default.transcript_bytes >> 20)
    parser.add_argument("--user", default="nobody")
    args = parser.parse_args(argv)
    limits = sink_service.Limits(args.max_connections, args.per_source, args.idle, args.transcript_mb << 20)
    # mitmproxy reads the key log's name when its TLS module is imported, and opens the file on first use:
    # by then it is no longer root, so the file is opened here and handed to it.
    os.environ["MITMPROXY_SSLKEYLOGFILE"] = str(args.keylog)
    from mitmproxy.net import tls as mitm_tls  # noqa: PLC0415

    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    out = os.open(args.out, flags, 0o600)
    keylog = os.open(args.keylog, flags, 0o600)
    stats_fd = os.open(args.stats, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    for fd in (out, keylog, stats_fd):
        os.fchmod(fd, 0o600)  # results hold identifiers (and the keys to them): their owner's only
    secrets = mitm_tls.log_master_secret
    if secrets is None:
        raise SystemExit("mitmproxy did not take MITMPROXY_SSLKEYLOGFILE: the key log cannot be written")
    secrets.f = os.fdopen(keylog, "ab")
    forge = certs.Forge(certs.lab_authority(args.ca_dir))
    preload()
    socks = [socket.socket(fileno=fd) for fd in args.fd]
    sink_service.raise_file_limit(2 * limits.max_connections + 256)
    stats = sink_service.Stats(limits=dataclasses.asdict(limits))
    privilege.drop_privileges(privilege.service_user(args.user))
    stats.uid = os.getuid()
    stats_file = sink_service.StatsFile(stats_fd, stats)
    transcript = sink_service.Transcript(out, limits.transcript_bytes, stats_file)
    print(
        f"{READY} (pid {os.getpid()}, uid {os.getuid()}, mode {args.mode}, {time.strftime('%H:%M:%S')})",
        flush=True,
    )
    asyncio.run(serve(socks, args.mode, forge, transcript, stats_file, limits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
