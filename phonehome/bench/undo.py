"""Removing what a bench created: each typed record (`phonehome.bench.records`) undone, newest first.

The records live in the bench's state file, so the process that removes a
bench need not be the one that built it (``phonehome bench down``, or cleaning
after a killed run). Each removal runs on its own: a failure is reported and
the next one still runs. The constructors here (``netns_record``...) are what
the builder calls the moment it created something.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from phonehome.bench import hostif, netops
from phonehome.bench.process import ProcessId
from phonehome.bench.records import (
    HostInterfaceTaken,
    LinkCreated,
    LinkMoved,
    NetnsCreated,
    NftTable,
    PathCreated,
    PhyTaken,
    ProcessStarted,
    Record,
    SysctlSet,
    path_record,
)

__all__ = [
    "Record",
    "describe",
    "link_record",
    "moved_record",
    "netns_record",
    "nft_record",
    "path_record",
    "process_record",
    "sysctl_record",
    "taken_record",
    "undo_all",
    "undo_one",
]

SharedSysctls = set[tuple[str | None, str]]


def netns_record(name: str) -> NetnsCreated:
    return NetnsCreated(name)


def link_record(ns: str | None, ifname: str) -> LinkCreated:
    return LinkCreated(ns, ifname)


def moved_record(ns: str, ifname: str, home_name: str) -> LinkMoved:
    return LinkMoved(ns, ifname, home_name)


def taken_record(ns: str, ifname: str, state: dict[str, Any]) -> HostInterfaceTaken:
    """A host interface moved into ``ns``; ``state`` (``hostif.snapshot``) is what it gets back."""
    return HostInterfaceTaken(ns, ifname, state)


def nft_record(ns: str | None, family: str, table: str) -> NftTable:
    return NftTable(ns, family, table)


def sysctl_record(ns: str | None, key: str, old: str | None) -> SysctlSet:
    return SysctlSet(ns, key, old)


def process_record(role: str, proc: ProcessId) -> ProcessStarted:
    return ProcessStarted(role, proc.pid, proc.start)


def describe(record: Record) -> str:
    return record.describe()


def _remove_sysctl(record: SysctlSet, shared: SharedSysctls) -> None:
    ns, key = record.netns, record.key
    restore = record.old is not None and (ns, key) not in shared
    # A sysctl of an interface that is gone went with it: nothing to restore.
    exists = ns is None or netops.netns_exists(ns)
    if restore and record.old is not None and exists and netops.read_sysctl(ns, key) is not None:
        netops.write_sysctl(ns, key, record.old)


def _radio_home(record: PhyTaken) -> None:
    """The radio back to the host (``iw phy PHY set netns 1``, from inside), then its interface's state."""
    if netops.netns_exists(record.netns):
        done = subprocess.run(
            netops.ns_argv(record.netns, [netops.tool("iw"), "phy", record.phy, "set", "netns", "1"]),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0 and "No such device" not in done.stderr:
            raise OSError(f"iw phy {record.phy} set netns 1: {done.stderr.strip()}")
    hostif.restore(record.state)


def _remove_path(record: PathCreated) -> None:
    path = Path(record.path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def undo_one(record: Record, shared_sysctls: SharedSysctls | None = None) -> None:
    """Removes what ``record`` names (idempotent: what is already gone is left alone)."""
    match record:
        case NetnsCreated():
            netops.remove_netns(record.name)
        case LinkCreated():
            netops.delete_link(record.netns, record.ifname)
        case LinkMoved():
            netops.move_link_home(record.netns, record.ifname, record.home)
        case HostInterfaceTaken():
            hostif.take_home(record.netns, record.ifname, record.state)
        case PhyTaken():
            _radio_home(record)
        case NftTable():
            netops.nft_delete_table(record.netns, record.family, record.table)
        case SysctlSet():
            _remove_sysctl(record, shared_sysctls or set())
        case ProcessStarted():
            netops.stop_process(record.process)
        case PathCreated():
            _remove_path(record)
        case _:
            raise ValueError(f"unknown undo record {record!r}")


def undo_all(
    records: Iterable[Record],
    log: Callable[[str], None],
    shared_sysctls: SharedSysctls | None = None,
) -> list[str]:
    """Removes ``records`` newest first; returns one line per step that failed.

    Things inside a namespace that is itself removed here are left to go with
    it (faster, and the kernel does it atomically). A sysctl of the host that
    another live bench also set (``shared_sysctls``) is left as it is.
    """
    records = list(records)
    doomed = {r.name for r in records if isinstance(r, NetnsCreated)}
    failures = []
    for record in reversed(records):
        if isinstance(record, LinkCreated | NftTable | SysctlSet) and record.netns in doomed:
            continue
        try:
            undo_one(record, shared_sysctls)
        except Exception as exc:  # each step is isolated from the failure of another
            line = f"removing {describe(record)} failed: {exc}"
            log(line)
            failures.append(line)
    return failures
