"""The host is never harmed: its state before the integration tests is its state after them.

A session fixture takes a snapshot of what a bench, a handset or an adb server
could leave or change on the host (interfaces with their addresses, MTU and
state, routes of every table, network namespaces, nft tables, sockets that
listen, the processes phonehome runs, the files it writes under /root/.android,
/run/phonehome and /etc/netns) when the first integration test starts, and
compares it when the last one has ended: any difference fails the session,
naming it. Each test also checks its own leftovers; this catches what slips
between them (a server started by one test and stopped by none).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

WATCHED_PROCESSES = re.compile(r"(^|/)(adb|dnsmasq|dumpcap|tcpdump|hostapd)\b|phonehome")
WATCHED_FILES = (Path("/root/.android"), Path("/run/phonehome"), Path("/etc/netns"))


def _run_json(argv: list[str]) -> object:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        return json.loads(done.stdout or "null")
    except ValueError:
        return done.stdout


def _links() -> set[str]:
    out = set()
    for link in _run_json(["ip", "-j", "link", "show"]) or []:  # type: ignore[union-attr]
        if isinstance(link, dict):
            out.add(
                f"link {link.get('ifname')} mtu={link.get('mtu')} state={link.get('operstate')} "
                f"master={link.get('master')} mac={link.get('address')}"
            )
    return out


def _addresses() -> set[str]:
    out = set()
    for link in _run_json(["ip", "-j", "addr", "show"]) or []:  # type: ignore[union-attr]
        if isinstance(link, dict):
            for info in link.get("addr_info", []):
                out.add(f"address {info.get('local')}/{info.get('prefixlen')} on {link.get('ifname')}")
    return out


def _routes() -> set[str]:
    out = set()
    for family in ("-4", "-6"):
        for route in _run_json(["ip", "-j", family, "route", "show", "table", "all"]) or []:  # type: ignore[union-attr]
            if isinstance(route, dict) and route.get("type") not in ("local", "broadcast", "multicast"):
                out.add(
                    f"route {route.get('dst')} via {route.get('gateway')} dev {route.get('dev')} "
                    f"table {route.get('table', 'main')}"
                )
    return out


def _namespaces() -> set[str]:
    path = Path("/run/netns")
    return {f"netns {p.name}" for p in path.iterdir()} if path.is_dir() else set()


def _nft_tables() -> set[str]:
    text = _run_json(["nft", "list", "tables"])
    return {f"nft {line.strip()}" for line in str(text or "").splitlines() if line.strip()}


def _socket_owners() -> dict[str, str]:
    """Socket inode -> the command of a process that holds it, over every process this one can see."""
    owners: dict[str, str] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:  # gone meanwhile, or a kernel thread
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:  # closed meanwhile (the listing's own descriptor, for one)
                continue
            if link.startswith("socket:["):
                owners.setdefault(link[8:-1], f"{name}[{pid}]")
    return owners


def _listening() -> set[str]:
    """Sockets that listen in the host's namespace, held by a process of ours.

    A socket no visible process holds belongs to a process outside this PID namespace (a container's
    host, a CI runner's own services sharing the network namespace): nothing the tests started can
    be there, since everything they start is a descendant, so such sockets are not the tests' to
    answer for. (``ss -p`` names no process in such containers: the owners are looked up here.)
    """
    try:
        done = subprocess.run(["ss", "-H", "-lntue"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    owners = _socket_owners()
    out = set()
    for line in done.stdout.splitlines():
        fields = line.split()
        inode = re.search(r"\bino:(\d+)", line)
        if len(fields) >= 5 and inode and inode.group(1) in owners:
            out.add(f"listening {fields[0]} {fields[4]} {owners[inode.group(1)]}")
    return out


def _processes() -> set[str]:
    out = set()
    mine = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == mine:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline and WATCHED_PROCESSES.search(cmdline.split(" ", 1)[0]) and "pytest" not in cmdline:
            out.add(f"process {cmdline[:160].strip()}")
    return out


def _files() -> set[str]:
    out = set()
    for folder in WATCHED_FILES:
        if folder.is_dir():
            out |= {
                f"file {p}"
                for p in folder.rglob("*")
                if p.name != "adbkey" and not p.name.startswith("adbkey.")
            }
    return out


def host_state() -> set[str]:
    """Everything of the host a bench, a handset or an adb server could leave behind or change."""
    return (
        _links()
        | _addresses()
        | _routes()
        | _namespaces()
        | _nft_tables()
        | _listening()
        | _processes()
        | _files()
    )


@pytest.fixture(scope="session", autouse=True)
def _host_is_left_as_found() -> Iterator[None]:
    if os.geteuid() != 0:  # unprivileged, the integration tests skip: nothing to watch
        yield
        return
    before = host_state()
    yield
    after = host_state()
    added, gone = sorted(after - before), sorted(before - after)
    if added or gone:
        lines = [f"  + {item}" for item in added[:40]] + [f"  - {item}" for item in gone[:40]]
        pytest.fail(
            "the integration tests changed the host (+ added, - gone):\n" + "\n".join(lines), pytrace=False
        )
