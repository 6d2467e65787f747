"""Reading the handset's /proc/net socket tables: rows, odd lines, unreadable tables, the poller."""

from __future__ import annotations

import time
from collections.abc import Sequence

from phonehome.device.errors import DeviceNotFoundError
from phonehome.device.sockets import (
    SocketLog,
    SocketPoller,
    parse_poll,
    parse_table,
    script,
)
from phonehome.device.transport import ShellResult

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:13AD 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0
   1: 6400A8C0:A0F2 0571007B:0050 01 00000000:00000000 02:000A7B2C 00000000 10123        0 23456 2 0000000000000000 20 4 30 10 -1
   2: 6400A8C0:A0F4 0571007B:0050 06 00000000:00000000 03:00001756 00000000     0        0 0 3 0000000000000000
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00006400A8C0:C350 0000000000000000FFFF00000571007B:01BB 01 00000000:00000000 00:00000000 00000000 10050        0 34567 1 0000000000000000 20 4 30 10 -1
   1: 000080FE000000000000000001000000:D431 B80D0120000000000000000001000000:01BB 01 00000000:00000000 00:00000000 00000000 10051        0 34568 1 0
"""
UDP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000  1021        0 4567 2 0000000000000000 0
"""


def _output(marker: str, tables: dict[str, str], date: str | None = "1700000000") -> str:
    out = []
    for name in ("tcp", "tcp6", "udp", "udp6"):
        out.append(f"{marker} {name}")
        if name in tables:
            out.append(tables[name].rstrip("\n"))
    if date is not None:
        out += [f"{marker} date", date]
    return "\n".join(out) + "\n"


def test_ipv4_rows_are_read_in_little_endian_words_with_their_uid_and_state() -> None:
    rows, odd = parse_table(TCP, "tcp")
    assert odd == 0
    assert [(r.local, r.lport, r.remote, r.rport, r.state, r.uid) for r in rows] == [
        ("127.0.0.1", 5037, "0.0.0.0", 0, "0A", 1000),
        ("192.168.0.100", 41202, "123.0.113.5", 80, "01", 10123),
        ("192.168.0.100", 41204, "123.0.113.5", 80, "06", 0),
    ]


def test_ipv4_mapped_ipv6_rows_read_as_ipv4_and_plain_ipv6_as_compressed_text() -> None:
    rows, _ = parse_table(TCP6, "tcp")
    assert (rows[0].local, rows[0].lport, rows[0].remote, rows[0].rport) == (
        "192.168.0.100",
        50000,
        "123.0.113.5",
        443,
    )
    assert rows[1].local == "fe80::1"
    assert rows[1].remote == "2001:db8::1"


def test_odd_lines_are_counted_and_never_raise() -> None:
    text = TCP + "garbage\n   9: ZZ:0050 00000000:0000 01 x x x 10000 0 1\n   8: 0100007F:0050\n\x00\n"
    rows, odd = parse_table(text, "tcp")
    assert len(rows) == 3
    assert odd == 4


def test_a_poll_splits_the_tables_at_its_own_marker_and_reads_the_handset_clock() -> None:
    marker = "@@phonehome-abc"
    poll = parse_poll(_output(marker, {"tcp": TCP, "tcp6": TCP6, "udp": UDP, "udp6": UDP}), "", marker)
    assert poll.unreadable == {}
    assert {r.proto for r in poll.rows} == {"tcp", "udp"}
    assert len(poll.rows) == 3 + 2 + 1 + 1
    assert poll.handset_time == 1700000000.0


def test_a_table_without_its_header_is_unreadable_with_the_shells_reason() -> None:
    marker = "@@phonehome-abc"
    stderr = "cat: /proc/net/tcp6: Permission denied\n"
    poll = parse_poll(_output(marker, {"tcp": TCP, "udp": UDP, "udp6": UDP}, date=None), stderr, marker)
    assert poll.unreadable == {"tcp6": "cat: /proc/net/tcp6: Permission denied"}
    assert poll.handset_time is None


def test_a_forged_marker_with_another_token_is_table_text_not_a_section() -> None:
    marker = "@@phonehome-abc"
    forged = TCP + "@@phonehome-zzz udp\n"
    poll = parse_poll(_output(marker, {"tcp": forged, "tcp6": TCP6, "udp": UDP, "udp6": UDP}), "", marker)
    assert len([r for r in poll.rows if r.proto == "udp"]) == 2


def test_the_poll_script_is_a_constant_apart_from_the_marker() -> None:
    assert script("M") == (
        "echo M tcp; cat /proc/net/tcp; echo M tcp6; cat /proc/net/tcp6; echo M udp; cat /proc/net/udp; "
        "echo M udp6; cat /proc/net/udp6; echo M date; date +%s"
    )


class FakeShell:
    """A handset whose shell answers with the given tables (or raises when it went away)."""

    serial = "FAKE1"

    def __init__(self, tables: dict[str, str], stderr: str = "") -> None:
        self.tables = tables
        self.stderr = stderr
        self.calls: list[list[str]] = []
        self.gone = False

    def shell(
        self, argv: Sequence[str], *, timeout: float | None = None, step: str = "shell", check: bool = True
    ) -> ShellResult:
        self.calls.append(list(argv))
        if self.gone:
            raise DeviceNotFoundError(self.serial, step, "gone", "plug it in")
        marker = argv[2].split()[1]
        return ShellResult(argv[2], 0, _output(marker, self.tables), self.stderr)


def test_sightings_keep_first_and_last_seen_on_the_host_clock() -> None:
    shell = FakeShell({"tcp": TCP, "tcp6": TCP6, "udp": UDP, "udp6": UDP})
    now = [100.0]
    poller = SocketPoller(lambda: shell, clock=lambda: now[0])
    assert poller.tick()
    now[0] = 101.0
    assert poller.tick()
    seen = {(s.local, s.lport): s for s in poller.log.sightings()}
    s = seen[("192.168.0.100", 41202)]
    assert (s.first_seen, s.last_seen, s.uid) == (100.0, 101.0, 10123)
    assert s.handset_first_seen == 1700000000.0
    assert shell.calls[0][:2] == ["sh", "-c"]


def test_unreadable_tables_are_said_once_and_stop_the_polling_with_nothing_recorded() -> None:
    denied = "".join(f"cat: /proc/net/{n}: Permission denied\n" for n in ("tcp", "tcp6", "udp", "udp6"))
    shell = FakeShell({}, stderr=denied)
    poller = SocketPoller(lambda: shell)
    results = [poller.tick() for _ in range(3)]
    assert results == [True, True, False]
    assert poller.log.sightings() == []
    assert len(poller.log.notes) == 1
    assert "Permission denied" in poller.log.notes[0]


def test_a_handset_that_went_away_or_is_not_there_yet_skips_the_poll() -> None:
    shell = FakeShell({"tcp": TCP})
    poller = SocketPoller(lambda: None)
    assert poller.tick()
    poller.source = lambda: shell
    shell.gone = True
    assert poller.tick()
    assert poller.log.polls == 0


def test_the_poller_thread_polls_until_stopped() -> None:
    shell = FakeShell({"tcp": TCP, "tcp6": TCP6, "udp": UDP, "udp6": UDP})
    with SocketPoller(lambda: shell, interval=0.01) as poller:
        while poller.log.polls < 2:
            time.sleep(0.005)
    assert isinstance(poller.log, SocketLog)
    assert len(poller.log.sightings()) == 6  # udp and udp6 list the same socket (same inode): one
