"""The adb server a handset is reached through: which binary, which port, and adbutils clients for it.

Two adb binaries on one machine fight: a client of another version kills the
server ("adb server version (41) doesn't match this client (39); killing...").
Debian ships adb 29 first on PATH, adbutils ships its own; adbutils picks PATH
first. `pin_adb_binary` makes every adbutils and uiautomator2 call in this
process use one binary (``ADBUTILS_ADB_PATH``, adbutils' bundled adb unless
the user set it). `AdbServer` carries the server's host and port, so a lab or
a test can run a private server (``adb -P PORT``) and nothing falls back to 5037.

A private server (``AdbServer.private()``, one per virtual run) is phonehome's own process: it starts
without mDNS (no listener on UDP 5353 of every host interface), is written down in
``phonehome.owned`` as it starts, and is stopped with its files removed at the end, or by the next
bench's cleanup when the run that started it was killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import adbutils
from adbutils.errors import AdbConnectionError

from phonehome import owned
from phonehome.device.deadline import Deadline

ADB_PATH_ENV = "ADBUTILS_ADB_PATH"
PORT_ENV = "ANDROID_ADB_SERVER_PORT"
DEFAULT_PORT = 5037
START_SERVER_TIMEOUT_S = 20.0
CONNECT_TIMEOUT_S = 3.0  # to the adb server on this host: it answers at once or not at all
NO_DELAY = 1
QUIET_ENV = {"ADB_MDNS": "0", "ADB_MDNS_OPENSCREEN": "0"}
"""adb's server without mDNS discovery: nothing of it listens on UDP 5353 of every host interface."""
STOP_TIMEOUT_S = 5.0


def bundled_adb() -> Path | None:
    """The adb binary inside the adbutils package, if this platform's wheel has one."""
    path = Path(adbutils.__file__).resolve().parent / "binaries" / "adb"
    return path if path.is_file() else None


def adb_binary() -> Path:
    """``$ADBUTILS_ADB_PATH`` if set, else adbutils' bundled adb, else ``adb`` on PATH."""
    chosen = os.environ.get(ADB_PATH_ENV)
    if chosen:
        return Path(chosen)
    bundled = bundled_adb()
    if bundled is not None:
        return bundled
    found = shutil.which("adb")
    if found is None:
        raise FileNotFoundError(
            "no adb binary: set ADBUTILS_ADB_PATH, or reinstall adbutils (its wheel ships adb)"
        )
    return Path(found)


def pin_adb_binary() -> Path:
    """Sets ``ADBUTILS_ADB_PATH`` for this process unless the user did, so adbutils starts one adb."""
    binary = adb_binary()
    os.environ.setdefault(ADB_PATH_ENV, str(binary))
    return binary


def _default_port() -> int:
    text = os.environ.get(PORT_ENV, "")
    return int(text) if text.isdigit() else DEFAULT_PORT


class _Connection(adbutils.AdbConnection):  # type: ignore[misc]
    """adbutils' connection, connected here: TCP_NODELAY on, and no ``adb start-server`` fallback.

    adbutils' fallback on a failed connect runs whatever adb is first on PATH
    on its default port (5037), whichever port the client was given, and its
    socket is left open when the connect fails; `AdbServer.ensure_running`
    starts the pinned binary on the right port instead.
    """

    def __init__(self, host: str, port: int, connect_timeout: float) -> None:
        self._address = (host, port)
        self._connect_timeout = connect_timeout
        super().__init__(host, port)

    def _safe_connect(self) -> socket.socket:
        try:
            sock = socket.create_connection(self._address, timeout=self._connect_timeout)
        except TimeoutError as exc:
            raise adbutils.AdbTimeout(f"connect to adb server {self._address} timed out") from exc
        except OSError as exc:
            raise AdbConnectionError(f"connect to adb server {self._address} failed: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, NO_DELAY)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.settimeout(None)
        return sock


class NoDelayClient(adbutils.AdbClient):  # type: ignore[misc]
    """An adbutils client whose sockets to the adb server send at once (TCP_NODELAY).

    adbutils leaves Nagle's algorithm on. Python's HTTP client writes a
    request's headers and body in two sends, so every uiautomator2 RPC
    through ``tcp:9008`` waits for the server's delayed ACK: ~56 ms per RPC
    instead of ~13 ms. Only the devices made from this client are affected;
    adbutils itself is not patched. It never starts an adb server by itself.
    """

    def make_connection(self, timeout: float | None = None) -> adbutils.AdbConnection:
        conn = _Connection(self.host, self.port, min(timeout or CONNECT_TIMEOUT_S, CONNECT_TIMEOUT_S))
        if timeout:
            conn.conn.settimeout(timeout)
        return conn


def free_port() -> int:
    """A port no one listens on now, on 127.0.0.1 (free only until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """One line of ``adb devices -l``."""

    serial: str
    state: str
    transport_id: int | None = None
    model: str = ""
    product: str = ""
    device: str = ""


def parse_devices_l(text: str) -> list[DeviceEntry]:
    """``host:devices-l`` output: serial, state (may hold spaces: 'no permissions (...)'), key:value tags."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        tags = dict(p.split(":", 1) for p in parts[1:] if ":" in p and not p.startswith("("))
        words = [p for p in parts[1:] if ":" not in p]
        state = " ".join(words) if words else parts[1]
        tid = tags.get("transport_id", "")
        out.append(
            DeviceEntry(
                serial=parts[0],
                state=state,
                transport_id=int(tid) if tid.isdigit() else None,
                model=tags.get("model", ""),
                product=tags.get("product", ""),
                device=tags.get("device", ""),
            )
        )
    return out


@dataclass
class AdbServer:
    """Where the adb server listens and which binary starts it (labs: default port; tests: a private one)."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=_default_port)
    binary: Path = field(default_factory=pin_adb_binary)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    """The server process when phonehome started it (``start_private``), else None."""

    @classmethod
    @contextmanager
    def private(cls, timeout: float = START_SERVER_TIMEOUT_S) -> Iterator[AdbServer]:
        """A server of phonehome's own on a free port, stopped (files and all) when the block ends."""
        server = cls.start_private(timeout)
        try:
            yield server
        finally:
            server.stop()

    @classmethod
    def start_private(cls, timeout: float = START_SERVER_TIMEOUT_S) -> AdbServer:
        """Starts ``adb server nodaemon`` on a free port, without mDNS, written down before it runs a
        moment (``phonehome.owned``); returns once it answers. ``stop`` ends it.

        A probed port is free only until someone binds it: servers started at once (a batch of
        handsets) draw and bind their ports one at a time, under a lock on phonehome's run folder
        (the folder itself: no lock file is left behind), or two could draw one port and one run
        would use, then stop, the other's server."""
        folder = owned.owned_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return cls._start_on(free_port(), timeout)
        finally:
            os.close(fd)  # releases the lock

    @classmethod
    def _start_on(cls, port: int, timeout: float) -> AdbServer:
        server = cls(port=port)
        log = owned.owned_dir() / f"adb-{port}.log"
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            server.process = subprocess.Popen(
                [str(server.binary), "-P", str(port), "server", "nodaemon"],
                env={**os.environ, **QUIET_ENV},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        owned.record(server.record_name, server.process.pid, [log, server.port_file], port=port)
        deadline = time.monotonic() + timeout
        while not server.running(timeout=0.2):
            if server.process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-400:].strip()
                server.stop()
                raise ConnectionError(f"{server.binary} -P {port} server nodaemon did not start: {tail}")
            time.sleep(0.05)
        if server.process.poll() is not None:  # what answered is another program's server
            server.process = None  # its port file is not ours to remove; our record and log are
            (owned.owned_dir() / f"{server.record_name}.json").unlink(missing_ok=True)
            log.unlink(missing_ok=True)
            raise ConnectionError(f"{server.binary} -P {port}: the port was taken by another adb server")
        return server

    @property
    def record_name(self) -> str:
        return f"adb-server-{self.port}"

    @property
    def port_file(self) -> Path:
        """The file the adb server leaves in the user's Android folder (``~/.android/adb.<port>``)."""
        return Path(os.environ.get("HOME") or Path.home()) / ".android" / f"adb.{self.port}"

    def stop(self) -> None:
        """Ends a server ``start_private`` started and removes its files; a no-op for other servers."""
        if self.process is None:
            return
        path = owned.owned_dir() / f"{self.record_name}.json"
        data = owned.read(path) or {
            "pid": self.process.pid,
            "start": owned.process_start(self.process.pid),
            "files": [str(owned.owned_dir() / f"adb-{self.port}.log"), str(self.port_file)],
        }
        owned.stop(path, data)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT_S)  # reaped: no zombie
        self.port_file.unlink(missing_ok=True)  # written by the server at its end too
        self.process = None

    def client(self) -> adbutils.AdbClient:
        """An adbutils client for this server, with TCP_NODELAY on its sockets."""
        return NoDelayClient(host=self.host, port=self.port)

    def running(self, timeout: float = 1.0) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def ensure_running(self, timeout: float = START_SERVER_TIMEOUT_S) -> None:
        """Starts the server with `binary` on `port` when nothing answers there (adbutils would use 5037)."""
        if self.running():
            return
        done = subprocess.run(
            [str(self.binary), "-P", str(self.port), "start-server"],
            env={**os.environ, **QUIET_ENV},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0 or not self.running():
            raise ConnectionError(
                f"{self.binary} -P {self.port} start-server failed ({done.returncode}): {done.stderr.strip()}"
            )

    @contextmanager
    def _host_request(self, request: str, deadline: Deadline) -> Iterator[adbutils.AdbConnection]:
        conn = self.client().make_connection(timeout=deadline.remaining())
        try:
            conn.send_command(request)
            conn.check_okay()
            yield conn
        finally:
            conn.conn.close()  # the server answered whole; no half-close needed

    def devices(self, timeout: float = 5.0) -> list[DeviceEntry]:
        """``adb devices -l``, including offline and unauthorized devices."""
        deadline = Deadline(timeout)
        with self._host_request("host:devices-l", deadline) as conn:
            return parse_devices_l(conn.read_string_block())

    def connect(self, address: str, timeout: float = 10.0) -> str:
        """``adb connect HOST:PORT``; the server's answer ('connected to ...', 'failed to ...')."""
        deadline = Deadline(timeout)
        with self._host_request(f"host:connect:{address}", deadline) as conn:
            return str(conn.read_string_block())

    def disconnect(self, address: str, timeout: float = 10.0) -> str:
        deadline = Deadline(timeout)
        try:
            with self._host_request(f"host:disconnect:{address}", deadline) as conn:
                return str(conn.read_string_block())
        except adbutils.AdbError as exc:  # "no such device": already gone
            return str(exc)
