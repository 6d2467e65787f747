"""Finding and removing what benches left behind: ``phonehome bench clean``, and at every bench start.

A bench is stale when the process that owned it died (a SIGKILLed test, a
crashed CI job). Its state file says exactly what to remove; a sweep by name
then catches anything without a state file (namespaces ``phonehome-<id>-*``,
host links ``ph<id>-*``, nft tables ``phonehome_<id>``, ``/etc/netns`` folders)
whose run id no live bench claims. Processes phonehome started outside a bench (private adb servers,
``phonehome.owned``) whose run died are stopped too, and logs of virtual handsets that stopped go.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from pyroute2 import netns

from phonehome import owned
from phonehome.bench import netops, runtime, undo
from phonehome.bench.records import SysctlSet
from phonehome.bench.topology import run_id_of

_HOST_LINK = re.compile(r"^ph[0-9a-f]{6}-")


def shared_host_sysctls(exclude: str) -> set[tuple[str | None, str]]:
    """Host sysctls that live benches other than ``exclude`` have set (and still need)."""
    shared: set[tuple[str | None, str]] = set()
    for state in runtime.read_states():
        if state.run_id == exclude or state.stale():
            continue
        for record in state.undo:
            if isinstance(record, SysctlSet) and record.netns is None:
                shared.add((None, record.key))
    return shared


def clean_stale(
    log: Callable[[str], None] = print, *, everything: bool = False, locked: bool = False
) -> list[str]:
    """Removes stale benches (``everything``: detached ones too); returns what it removed, one line each."""
    if not locked:
        with runtime.host_lock():
            return clean_stale(log, everything=everything, locked=True)
    removed = []
    live = set()
    own = runtime.state_dir().resolve()
    for state in runtime.read_states():
        owner = state.owner
        mine = state.path.parent.resolve() == own  # ``everything`` never reaches into another run folder
        if not (state.stale() or (everything and mine)) or (
            everything and owner is not None and owner.alive()
        ):
            live.add(state.run_id)
            continue
        why = "its owner is gone" if state.stale() else "detached"
        failures = undo.undo_all(state.undo, log, shared_host_sysctls(exclude=state.run_id))
        state.path.unlink(missing_ok=True)
        removed.append(
            f"removed bench {state.name} ({state.run_id}): {why}" + (f"; {failures}" if failures else "")
        )
    live |= runtime.unreadable_run_ids()  # another version's bench: maybe live, never swept by this one
    removed += _sweep(live, log)
    removed += owned.clean(log, everything=everything)  # private adb servers of killed runs
    for folder in {runtime.run_dir(), runtime.run_dir() / "virtual"}:
        removed += owned.sweep_handset_logs(folder)
    return removed


def _sweep(live: set[str], log: Callable[[str], None]) -> list[str]:
    removed = []
    for name in netns.listnetns():
        run_id = run_id_of(name)
        if name.startswith(runtime.NS_PREFIX) and run_id and run_id not in live:
            try:
                netops.remove_netns(name)
                removed.append(f"removed namespace {name} (no live bench owns it)")
            except OSError as exc:
                log(f"could not remove namespace {name}: {exc}")
    with netops.iproute(None) as ipr:
        links = [str(link.get("ifname")) for link in ipr.get_links()]
    for ifname in links:
        run_id = run_id_of(ifname)
        if _HOST_LINK.match(ifname) and run_id and run_id not in live:
            netops.delete_link(None, ifname)
            removed.append(f"removed host link {ifname} (no live bench owns it)")
    for family, table in netops.nft_tables(None):
        run_id = run_id_of(table)
        if table.startswith(runtime.NFT_PREFIX) and run_id and run_id not in live:
            netops.nft_delete_table(None, family, table)
            removed.append(f"removed host nft table {family} {table} (no live bench owns it)")
    etc = Path("/etc/netns")
    if etc.is_dir():
        for folder in etc.iterdir():
            run_id = run_id_of(folder.name)
            if folder.name.startswith(runtime.NS_PREFIX) and run_id and run_id not in live:
                with contextlib.suppress(OSError):
                    shutil.rmtree(folder)
                removed.append(f"removed {folder} (no live bench owns it)")
    return removed
