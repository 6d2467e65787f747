"""The handset's open sockets and their owners, polled from ``/proc/net`` over ADB while a scenario runs.

Linux lists every TCP and UDP socket with its owner's uid in ``/proc/net/tcp``,
``tcp6``, ``udp`` and ``udp6``; one ``adb shell`` a second reads all four
(`SocketPoller`). What it saw becomes `phonehome.policy.owners.SocketSighting`
records, which `phonehome.policy.owners.attribute` joins with the capture's
flows. Some Android 10+ builds deny these tables to the shell: then the run
says so once and nothing is recorded (never guessed).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from phonehome.device.errors import DeviceError
from phonehome.device.reader import Shell
from phonehome.policy.owners import SocketSighting, canonical

log = logging.getLogger(__name__)

TABLES = ("tcp", "tcp6", "udp", "udp6")
INTERVAL_S = 1.0
SHELL_TIMEOUT_S = 5.0
STEP = "read socket tables"
GIVE_UP_POLLS = 3
"""Polls that found no table readable, before any did, after which the poller stops asking."""
MAX_ROWS = 20000
"""Rows kept from one poll (a hostile handset could list millions)."""
MAX_SIGHTINGS = 100000
"""Distinct sockets kept over a run; more are counted, not stored."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a ``/proc/net`` socket table."""

    proto: str
    local: str
    lport: int
    remote: str
    rport: int
    state: str
    uid: int
    inode: int


def _address(text: str) -> tuple[str, int] | None:
    """``0100007F:0050`` -> (``127.0.0.1``, 80); IPv6 as four 32-bit words.

    The kernel prints each 32-bit word of the address in the CPU's byte order (``%08X`` of a
    ``__be32`` read as an integer): little-endian on every Android ABI (arm, arm64, x86, x86_64)."""
    host, sep, port = text.partition(":")
    if not sep or len(port) != 4 or len(host) not in (8, 32):
        return None
    try:
        raw = b"".join(bytes.fromhex(host[i : i + 8])[::-1] for i in range(0, len(host), 8))
        number = int(port, 16)
    except ValueError:
        return None
    ip = ipaddress.IPv4Address(raw) if len(raw) == 4 else ipaddress.IPv6Address(raw)
    return canonical(str(ip)), number


def parse_table(text: str, proto: str) -> tuple[list[Row], int]:
    """The rows of one table (``tcp``/``udp``; v4 and v6 alike) and how many lines were not rows.

    Hand-written: no library parses these tables, and a handset's output is hostile input (odd lines
    are counted and skipped, never raised on)."""
    rows: list[Row] = []
    odd = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] == "sl":
            continue
        row = _row(fields, proto)
        if row is None:
            odd += 1
        elif len(rows) < MAX_ROWS:
            rows.append(row)
    return rows, odd


def _row(fields: list[str], proto: str) -> Row | None:
    # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ... (net/ipv4/tcp_ipv4.c get_tcp4_sock)
    if len(fields) < 10 or not fields[0].endswith(":"):
        return None
    local, remote = _address(fields[1]), _address(fields[2])
    state = fields[3]
    if local is None or remote is None or len(state) != 2:
        return None
    try:
        int(state, 16)
        uid, inode = int(fields[7]), int(fields[9])
    except ValueError:
        return None
    if not 0 <= uid < 2**32 or not 0 <= inode < 2**64:
        return None
    return Row(proto, local[0], local[1], remote[0], remote[1], state.upper(), uid, inode)


@dataclass
class Poll:
    """One read of the four tables: the rows, which tables could not be read and why, the handset's clock."""

    rows: list[Row] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    odd_lines: int = 0
    handset_time: float | None = None


def script(marker: str) -> str:
    """The one shell command of a poll: each table after a marker line, then the handset's clock.

    A constant (no value from anywhere is put in it); ``marker`` is the poller's own random token, so a
    table cannot fake a section boundary."""
    parts = [f"echo {marker} {name}; cat /proc/net/{name}" for name in TABLES]
    return "; ".join([*parts, f"echo {marker} date; date +%s"])


def parse_poll(stdout: str, stderr: str, marker: str) -> Poll:
    """The sections of one poll's output; a table without its header line was not readable."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        head, _, name = line.partition(" ")
        if head == marker and (name in TABLES or name == "date"):
            current = sections.setdefault(name, [])
        elif current is not None:
            current.append(line)
    poll = Poll()
    for name in TABLES:
        lines = sections.get(name, [])
        if not lines or lines[0].split()[:1] != ["sl"]:
            why = [e for e in stderr.splitlines() if f"/proc/net/{name}:" in e or f"/proc/net/{name} " in e]
            poll.unreadable[name] = (why[0].strip() if why else "no table in the output")[:200]
            continue
        rows, odd = parse_table("\n".join(lines), name.rstrip("6"))
        poll.rows += rows
        poll.odd_lines += odd
    clock = sections.get("date", [])
    if clock:
        try:
            poll.handset_time = float(clock[0].strip())
        except ValueError:
            poll.handset_time = None
    return poll


class SocketLog:
    """Every socket the polls saw, first and last seen; what the run must be told."""

    def __init__(self) -> None:
        self._seen: dict[tuple[object, ...], SocketSighting] = {}
        self.notes: list[str] = []
        self.polls = 0
        self.readable_polls = 0
        self.dropped = 0
        self._unreadable: set[str] = set()
        self._odd_noted = False

    def add(self, poll: Poll, now: float) -> None:
        self.polls += 1
        new = set(poll.unreadable) - self._unreadable
        if new:
            self._unreadable |= new
            what = "; ".join(f"/proc/net/{n}: {poll.unreadable[n]}" for n in sorted(new))
            self.notes.append(
                f"the handset does not show its socket table(s) to adb shell ({what}): flows on them have "
                "no app attribution"
            )
        if poll.odd_lines and not self._odd_noted:
            self._odd_noted = True
            self.notes.append(
                f"the handset's socket tables held {poll.odd_lines} line(s) that are not sockets"
            )
        if len(poll.unreadable) < len(TABLES):
            self.readable_polls += 1
        for row in poll.rows:
            key = (row.proto, row.local, row.lport, row.remote, row.rport, row.uid, row.inode)
            old = self._seen.get(key)
            if old is not None:
                self._seen[key] = replace(
                    old, last_seen=now, state=row.state, handset_last_seen=poll.handset_time
                )
            elif len(self._seen) < MAX_SIGHTINGS:
                self._seen[key] = SocketSighting(
                    row.proto, row.local, row.lport, row.remote, row.rport, row.uid, row.state, row.inode,
                    now, now, poll.handset_time, poll.handset_time,
                )  # fmt: skip
            else:
                self.dropped += 1

    def sightings(self) -> list[SocketSighting]:
        return sorted(self._seen.values(), key=lambda s: (s.first_seen, s.proto, s.lport))

    def __iter__(self) -> Iterator[SocketSighting]:
        return iter(self.sightings())


def poll_once(shell: Shell, marker: str, timeout: float = SHELL_TIMEOUT_S) -> Poll:
    """One ``sh -c`` over ADB reading the four tables and the clock."""
    result = shell.shell(["sh", "-c", script(marker)], timeout=timeout, step=STEP, check=False)
    return parse_poll(result.stdout, result.stderr, marker)


class SocketPoller:
    """Polls the handset's socket tables in a thread about once a second, between `start` and `stop`.

    ``source`` gives the handset to read, or None while there is none (not yet connected, rebooting);
    a poll that fails (the handset went away) is skipped. Tables that every poll found unreadable stop
    the polling: the log's note says why."""

    def __init__(
        self,
        source: Callable[[], Shell | None],
        interval: float = INTERVAL_S,
        clock: Callable[[], float] = time.time,
        lost: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.lost = lost
        """Told when a poll failed on the handset ``source`` gave (it rebooted): the next one reconnects."""
        self.interval = interval
        self.clock = clock
        self.log = SocketLog()
        self.marker = "@@phonehome-" + secrets.token_hex(6)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._blank = 0

    def tick(self) -> bool:
        """One poll, if there is a handset; False once the tables proved unreadable (stop polling)."""
        shell = self.source()
        if shell is None:
            return True
        try:
            poll = poll_once(shell, self.marker)
        except DeviceError as exc:
            log.debug("socket poll skipped: %s", exc)
            if self.lost is not None:
                self.lost()
            return True
        self.log.add(poll, self.clock())
        if len(poll.unreadable) == len(TABLES):
            self._blank += 1
        return self.log.readable_polls > 0 or self._blank < GIVE_UP_POLLS

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if not self.tick():
                    return
            except Exception:  # a poller must never take the run down with it
                log.exception("socket poll failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> SocketPoller:
        self._thread = threading.Thread(target=self._run, name="phonehome-sockets", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> SocketLog:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(SHELL_TIMEOUT_S + 1.0)
        return self.log

    def __enter__(self) -> SocketPoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
