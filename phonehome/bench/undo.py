"""What a bench created, written down as it is created, and its removal in reverse.

Records are plain JSON objects kept in the bench's state file, so the process
that removes a bench need not be the one that built it (``phonehome bench
down``, or cleaning after a killed run). Each removal runs on its own: a
failure is reported and the next one still runs.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from phonehome.bench import hostif, netops
from phonehome.bench.runtime import ProcessId

Record = dict[str, Any]


def netns_record(name: str) -> Record:
    return {"kind": "netns", "name": name}


def link_record(ns: str | None, ifname: str) -> Record:
    return {"kind": "link", "netns": ns, "ifname": ifname}


def moved_record(ns: str, ifname: str, home_name: str) -> Record:
    return {"kind": "moved", "netns": ns, "ifname": ifname, "home": home_name}


def taken_record(ns: str, ifname: str, state: dict[str, Any]) -> Record:
    """A host interface moved into ``ns``; ``state`` (``hostif.snapshot``) is what it gets back."""
    return {"kind": "taken", "netns": ns, "ifname": ifname, "state": state}


def nft_record(ns: str | None, family: str, table: str) -> Record:
    return {"kind": "nft", "netns": ns, "family": family, "table": table}


def sysctl_record(ns: str | None, key: str, old: str | None) -> Record:
    return {"kind": "sysctl", "netns": ns, "key": key, "old": old}


def process_record(role: str, proc: ProcessId) -> Record:
    return {"kind": "process", "role": role, "pid": proc.pid, "start": proc.start}


def path_record(path: Path) -> Record:
    return {"kind": "path", "path": str(path)}


def describe(record: Record) -> str:
    kind = record["kind"]
    where = record.get("netns") or "host"
    if kind == "netns":
        return f"namespace {record['name']}"
    if kind in ("link", "moved", "taken"):
        return f"link {record['ifname']} in {where}"
    if kind == "nft":
        return f"nft table {record['family']} {record['table']} in {where}"
    if kind == "sysctl":
        return f"sysctl {record['key']} in {where}"
    if kind == "process":
        return f"{record['role']} (pid {record['pid']})"
    return f"{kind} {record.get('path', '')}"


def undo_one(record: Record, shared_sysctls: set[tuple[str | None, str]] | None = None) -> None:
    kind = record["kind"]
    if kind == "netns":
        netops.remove_netns(record["name"])
    elif kind == "link":
        netops.delete_link(record["netns"], record["ifname"])
    elif kind == "moved":
        netops.move_link_home(record["netns"], record["ifname"], record["home"])
    elif kind == "taken":
        hostif.take_home(record["netns"], record["ifname"], record["state"])
    elif kind == "nft":
        netops.nft_delete_table(record["netns"], record["family"], record["table"])
    elif kind == "sysctl":
        ns, key = record["netns"], record["key"]
        restore = record["old"] is not None and (ns, key) not in (shared_sysctls or set())
        # A sysctl of an interface that is gone went with it: nothing to restore.
        exists = ns is None or netops.netns_exists(ns)
        if restore and exists and netops.read_sysctl(ns, key) is not None:
            netops.write_sysctl(ns, key, record["old"])
    elif kind == "process":
        netops.stop_process(ProcessId(record["pid"], record["start"]))
    elif kind == "path":
        path = Path(record["path"])
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    else:
        raise ValueError(f"unknown undo record kind {kind!r}")


def undo_all(
    records: Iterable[Record],
    log: Callable[[str], None],
    shared_sysctls: set[tuple[str | None, str]] | None = None,
) -> list[str]:
    """Removes ``records`` newest first; returns one line per step that failed.

    Things inside a namespace that is itself removed here are left to go with
    it (faster, and the kernel does it atomically). A sysctl of the host that
    another live bench also set (``shared_sysctls``) is left as it is.
    """
    records = list(records)
    doomed = {r["name"] for r in records if r["kind"] == "netns"}
    failures = []
    for record in reversed(records):
        if record["kind"] in ("link", "nft", "sysctl") and record.get("netns") in doomed:
            continue
        try:
            undo_one(record, shared_sysctls)
        except Exception as exc:  # each step is isolated from the failure of another
            line = f"removing {describe(record)} failed: {exc}"
            log(line)
            failures.append(line)
    return failures
