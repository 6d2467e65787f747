"""The handset's adbd: the ADB listener and the services it offers (shell, sync, tcp, reverse, reboot).

It listens on loopback in the namespace of the process that runs it (like a
USB cable: out of band, never on the handset's bench-facing interface). The
banner carries the product name, model and device the adb server shows in
``adb devices -l``, and the features that decide which protocols the host
uses; only features implemented here are advertised (AOSP adb/transport.cpp).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass

from phonehome.virtual.adb.auth import AuthPolicy
from phonehome.virtual.adb.shell_service import ShellRequest, serve_shell
from phonehome.virtual.adb.stream import AdbStream, pipe
from phonehome.virtual.adb.sync import serve_sync
from phonehome.virtual.adb.transport import AdbConnection, ServiceHandler
from phonehome.virtual.shell import ShellSession
from phonehome.virtual.state import HandsetState

log = logging.getLogger(__name__)

# Not advertised: sendrecv_v2, delayed_ack, abb, abb_exec (adb 36 would switch to protocols not implemented).
FEATURES = ("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir", "fixed_push_symlink_timestamp")
EMULATOR_PORTS = range(5554, 5586)  # the adb server probes these as emulators when it starts
REVERSE_PORT_BASE = 30000


def features_for(sdk: int) -> tuple[str, ...]:
    return (*FEATURES, "apex") if sdk >= 29 else FEATURES


def protocol_string(text: str) -> bytes:
    """adb's length-prefixed string: four hex digits, then the bytes."""
    data = text.encode()
    return f"{len(data):04x}".encode() + data


@dataclass
class ReverseRule:
    local: str  # on the device: tcp:PORT
    remote: str  # on the host: tcp:PORT
    port: int
    connection: AdbConnection


class Adbd:
    """One handset's ADB daemon."""

    def __init__(
        self,
        state: HandsetState,
        new_session: Callable[[], ShellSession],
        auth: AuthPolicy | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if port in EMULATOR_PORTS:
            raise ValueError(
                f"ADB port {port} is in 5554-5585, which an adb server probes as emulators when it starts; "
                "choose another (0 picks a free one)"
            )
        self.state = state
        self.new_session = new_session
        self.auth = auth
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[AdbConnection] = set()
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._reverse: dict[int, ReverseRule] = {}
        self._count = 0

    # -- listening --------------------------------------------------------------------------
    async def listen(self) -> None:
        """Starts accepting; binds the same port again after a reboot."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
        sockname = self._server.sockets[0].getsockname()
        self.port = int(sockname[1])
        if self.port in EMULATOR_PORTS:  # an ephemeral port can land there too
            await self.shutdown()
            raise OSError(errno.EADDRINUSE, f"got ADB port {self.port} in the emulator range; retry")

    async def shutdown(self) -> None:
        """Stops listening and drops every connection (the handset powers off or reboots)."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        for conn in list(self._connections):
            await conn.close()
        for task in list(self._conn_tasks):
            task.cancel()
        for task in list(self._conn_tasks):
            with contextlib.suppress(BaseException):
                await task

    @property
    def connections(self) -> int:
        return sum(1 for c in self._connections if c.online)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count += 1
        conn = AdbConnection(reader, writer, self, auth=self.auth, name=f"host-{self._count}")
        self._connections.add(conn)
        conn.add_close_callback(self._connection_closed)
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        try:
            await conn.serve()
        finally:
            self._connections.discard(conn)
            if task is not None:
                self._conn_tasks.discard(task)

    def _connection_closed(self, conn: AdbConnection) -> None:
        for port, rule in list(self._reverse.items()):
            if rule.connection is conn:
                self._remove_reverse(port)

    # -- ServiceResolver ----------------------------------------------------------------------
    def banner(self) -> str:
        props = self.state.props
        fields = [
            f"ro.product.name={props.get('ro.product.name')}",
            f"ro.product.model={props.get('ro.product.model')}",
            f"ro.product.device={props.get('ro.product.device')}",
            f"features={','.join(features_for(self.state.sdk))}",
        ]
        return "device::" + ";".join(fields)

    async def resolve(self, service: str, connection: AdbConnection) -> ServiceHandler | None:
        request = ShellRequest.parse(service)
        if request is not None:
            return lambda stream: serve_shell(request, stream, self.new_session)
        name, _, arg = service.partition(":")
        if service == "sync:":
            return lambda stream: serve_sync(self.state.fs, stream)
        if name == "tcp":
            return await self._tcp(arg)
        if name == "reverse":
            return lambda stream: self._serve_reverse(arg, stream, connection)
        if name == "reboot":
            return lambda stream: self._serve_reboot(arg, stream)
        if name in ("root", "unroot"):
            text = self._root(name == "root")
            return lambda stream: stream.write(text.encode())
        if name == "remount" and self.state.root:
            self.state.fs.remounted = True  # adb disable-verity is taken as done: a lab does it once
            return lambda stream: stream.write(b"remount succeeded\n")
        replies = {
            "remount": 'Not running as root. Try "adb root" first.\n',
            "enable-verity": "verity cannot be enabled/disabled - USER build\n",
            "disable-verity": "verity cannot be enabled/disabled - USER build\n",
        }
        if name in replies:
            text = replies[name]
            return lambda stream: stream.write(text.encode())
        log.debug("adbd: refusing service %r", service)
        return None

    def _root(self, root: bool) -> str:
        """``adb root``/``adb unroot`` (adbd's restart_root_service): only a debuggable build runs adbd as
        root. A real adbd restarts and drops the transport; this one changes who later shells run as."""
        props = self.state.props
        if props.get("ro.debuggable") != "1":
            return "adbd cannot run as root in production builds\n" if root else "adbd not running as root\n"
        if root == self.state.root:
            return "adbd is already running as root\n" if root else "adbd not running as root\n"
        props.set("service.adb.root", "1" if root else "0")
        return "restarting adbd as root\n" if root else "restarting adbd as non root\n"

    async def _tcp(self, arg: str) -> ServiceHandler | None:
        host, _, port_text = arg.rpartition(":")
        try:
            port = int(port_text)
        except ValueError:
            return None
        if host not in ("", "localhost", "127.0.0.1"):
            return None
        return await self.state.services.accept(port)

    async def _serve_reboot(self, arg: str, stream: AdbStream) -> None:
        await stream.close()
        self.state.reboot(arg)

    # -- adb reverse --------------------------------------------------------------------------
    async def _serve_reverse(self, command: str, stream: AdbStream, conn: AdbConnection) -> None:
        await stream.write(self._reverse_reply(command, conn))

    def _reverse_reply(self, command: str, conn: AdbConnection) -> bytes:
        """adbd's handle_forward_request for ``reverse:`` (device side: one OKAY, or FAIL + message)."""
        if command == "list-forward":
            lines = "".join(
                f"{rule.connection.name} {rule.local} {rule.remote}\n" for rule in self._reverse.values()
            )
            return protocol_string(lines)
        if command == "killforward-all":
            for port in [p for p, r in self._reverse.items() if r.connection is conn]:
                self._remove_reverse(port)
            return b"OKAY"
        if command.startswith("killforward:"):
            local = command[len("killforward:") :]
            killed = _tcp_port(local)
            if killed is None or killed not in self._reverse:
                return b"FAIL" + protocol_string(f"listener '{local}' not found")
            self._remove_reverse(killed)
            return b"OKAY"
        if command.startswith("forward:"):
            spec = command[len("forward:") :]
            no_rebind = spec.startswith("norebind:")
            spec = spec.removeprefix("norebind:")
            local, sep, remote = spec.partition(";")
            if not sep or not local or not remote or remote.startswith("*"):
                return b"FAIL" + protocol_string(f"bad forward: {spec}")
            wanted = _tcp_port(local)
            if wanted is None or not remote.startswith("tcp:"):
                return b"FAIL" + protocol_string(f"cannot bind listener: unsupported socket spec '{local}'")
            if wanted in self._reverse:
                if no_rebind:
                    return b"FAIL" + protocol_string("cannot rebind existing socket")
                self._remove_reverse(wanted)
            resolved = wanted or self._free_port()
            try:
                self.state.services.register(
                    resolved, self._reverse_handler(conn, remote), owner=f"reverse {remote}"
                )
            except OSError as exc:
                return b"FAIL" + protocol_string(f"cannot bind listener: {exc.strerror or exc}")
            self._reverse[resolved] = ReverseRule(f"tcp:{resolved}", remote, resolved, conn)
            return b"OKAY" + (protocol_string(str(resolved)) if wanted == 0 else b"")
        return b"FAIL" + protocol_string(f"unknown reverse command: {command}")

    def _reverse_handler(self, conn: AdbConnection, remote: str):  # type: ignore[no-untyped-def]
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                stream = await conn.open_to_host(remote)
            except (ConnectionRefusedError, TimeoutError):
                writer.close()
                return
            await pipe(stream, reader, writer)

        return handler

    def _remove_reverse(self, port: int) -> None:
        self._reverse.pop(port, None)
        self.state.services.unregister(port)

    def _free_port(self) -> int:
        used = set(self.state.services.ports())
        return next(p for p in range(REVERSE_PORT_BASE, 65536) if p not in used)


def _tcp_port(spec: str) -> int | None:
    if not spec.startswith("tcp:"):
        return None
    try:
        port = int(spec[4:])
    except ValueError:
        return None
    return port if 0 <= port < 65536 else None
