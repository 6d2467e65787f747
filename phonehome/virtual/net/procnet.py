"""The handset's ``/proc/net/tcp|tcp6|udp|udp6``: the sockets its firmware opened, each with its app's uid.

Every socket the firmware opens while an action runs is created with the acting
app's uid (`acting_as`, a context variable each action's task sets), as Android's
kernel records the uid of the process that made it. The tables are rendered from
the real sockets (their addresses read from the kernel at each read) in the
kernel's own format, so a lab's poller reads them as it reads a phone's. The
kernel's own tables in the namespace would name the virtual handset's process
for every socket; this registry gives each the app that acted.

A closed socket stays listed for `LINGER_S` (TCP as FIN_WAIT2, whose kernel entry keeps its uid): a
poll once a second then sees even a short exchange. A real handset's short-lived sockets can go unseen.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

LINGER_S = 3.0
SYSTEM_UID = 1000
"""Android's ``system`` uid: system_server, where the firmware's unnamed services run."""
TABLES = ("tcp", "tcp6", "udp", "udp6")
ESTABLISHED, FIN_WAIT2, UDP_UNCONNECTED, LISTEN = "01", "05", "07", "0A"
_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
_HEADER6 = (
    "  sl  local_address                         remote_address                        "
    "st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
)


@dataclass
class Entry:
    """One socket's row: its last known addresses and state."""

    table: str
    uid: int
    inode: int
    local: tuple[str, int] | None = None
    remote: tuple[str, int] | None = None
    state: str = UDP_UNCONNECTED
    closed_at: float | None = None


class SocketTable:
    """The sockets the firmware's apps opened, live and recently closed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, tuple[weakref.ref[socket.socket], Entry]] = {}
        self._closed: list[Entry] = []
        self.clock = clock

    def add(self, sock: socket.socket, uid: int) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type not in (
            socket.SOCK_STREAM,
            socket.SOCK_DGRAM,
        ):
            return
        table = ("tcp" if sock.type == socket.SOCK_STREAM else "udp") + (
            "6" if sock.family == socket.AF_INET6 else ""
        )
        entry = Entry(table, uid, os.fstat(sock.fileno()).st_ino)
        with self._lock:
            self._live[id(sock)] = (weakref.ref(sock), entry)

    def closing(self, sock: socket.socket) -> None:
        """``sock`` is about to close: its last addresses stay listed for `LINGER_S`."""
        with self._lock:
            found = self._live.pop(id(sock), None)
        if found is None:
            return
        entry = _refresh(sock, found[1])
        entry.closed_at = self.clock()
        if entry.table.startswith("tcp"):
            entry.state = FIN_WAIT2 if entry.remote and entry.remote[1] else entry.state
        with self._lock:
            self._closed.append(entry)

    def entries(self) -> list[Entry]:
        now = self.clock()
        with self._lock:
            self._closed = [
                e for e in self._closed if e.closed_at is not None and now - e.closed_at < LINGER_S
            ]
            for key in [k for k, (ref, _) in self._live.items() if ref() is None]:
                del self._live[key]  # dropped without close(): the kernel closed it with the object
            live = [(ref(), entry) for ref, entry in self._live.values()]
            closed = list(self._closed)
        return [_refresh(sock, entry) for sock, entry in live if sock is not None] + closed

    def render(self, table: str) -> bytes:
        """``/proc/net/TABLE`` as the kernel prints it (net/ipv4/tcp_ipv4.c, udp.c, ipv6/...)."""
        v6 = table.endswith("6")
        lines = [(_HEADER6 if v6 else _HEADER) + (" ref pointer drops" if table.startswith("udp") else "")]
        rows = [e for e in self.entries() if e.table == table and e.local is not None and e.local[1]]
        for n, e in enumerate(rows):
            assert e.local is not None
            remote = e.remote or ("::" if v6 else "0.0.0.0", 0)  # noqa: S104  (an address printed, not bound)
            lines.append(
                f"{n:4d}: {_hex(e.local[0], v6)}:{e.local[1]:04X} {_hex(remote[0], v6)}:{remote[1]:04X} {e.state} "
                f"00000000:00000000 00:00000000 00000000 {e.uid:5d} {0:8d} {e.inode} "
                + ("2 0000000000000000 0" if table.startswith("udp") else "1 0000000000000000 20 4 30 10 -1")
            )
        return ("\n".join(lines) + "\n").encode()

    def files(self) -> dict[str, Callable[[], bytes]]:
        """The four tables as generated files of the handset's file system."""
        return {f"/proc/net/{t}": functools.partial(self.render, t) for t in TABLES}


def _refresh(sock: socket.socket, entry: Entry) -> Entry:
    """The socket's addresses and state now, as far as the kernel still tells them."""
    with contextlib.suppress(OSError):
        entry.local = _pair(sock.getsockname())
    with contextlib.suppress(OSError):
        entry.remote = _pair(sock.getpeername())
        entry.state = ESTABLISHED
    with contextlib.suppress(OSError):
        if sock.type == socket.SOCK_STREAM and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            entry.state = LISTEN
    return entry


def _pair(address: object) -> tuple[str, int] | None:
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]).split("%", 1)[0], int(address[1])
    return None


def _hex(address: str, v6: bool) -> str:
    """The kernel's ``%08X`` of each 32-bit word in little-endian CPU order (every Android ABI)."""
    ip = ipaddress.ip_address(address)
    raw = ip.packed if not v6 or ip.version == 6 else ipaddress.IPv6Address(f"::ffff:{ip}").packed
    return "".join(raw[i : i + 4][::-1].hex().upper() for i in range(0, len(raw), 4))


class OwnedSocket(socket.socket):
    """A socket that tells its table before it closes (its addresses are still readable then)."""

    table: SocketTable | None = None

    def close(self) -> None:
        if self.table is not None and self.fileno() != -1:
            self.table.closing(self)
            self.table = None
        super().close()


def app_uid(package: str | None, label: str, uid_of: Callable[[str], int | None]) -> int:
    """The uid an action's sockets belong to: its ``package``'s, else its label's package (the part before
    ``/``: ``com.google.android.gms/gcm``) when the build has it installed, else the system's."""
    for name in (package, label.split("/", 1)[0]):
        uid = uid_of(name) if name else None
        if uid is not None:
            return uid
    return SYSTEM_UID


_acting: contextvars.ContextVar[tuple[SocketTable, int] | None] = contextvars.ContextVar(
    "phonehome_acting_app", default=None
)


@contextlib.contextmanager
def acting_as(table: SocketTable, uid: int) -> Iterator[None]:
    """Sockets created in this context (and tasks started in it) belong to ``uid``."""
    token = _acting.set((table, uid))
    try:
        yield
    finally:
        _acting.reset(token)


def new_socket(family: int, kind: int, proto: int) -> socket.socket:
    """A socket of the acting app (listed in its table), or a plain one outside any action."""
    acting = _acting.get()
    if acting is None:
        return socket.socket(family, kind, proto)
    sock = OwnedSocket(family, kind, proto)
    sock.table = acting[0]
    acting[0].add(sock, acting[1])
    return sock
