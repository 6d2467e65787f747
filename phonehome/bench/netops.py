"""Kernel operations the bench is built from: namespaces, links, sysctls, nft tables, processes.

Each creating call returns once the kernel shows the new state (pyroute2's
fixtures do the same); each removing call is idempotent, so cleaning a bench
twice, or one half built, is safe. ``None`` as a namespace means the host's.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import IPRoute, NetlinkError, netns

from phonehome.bench.runtime import ProcessId
from phonehome.bench.tools import find_tool

T = TypeVar("T")
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Processes this one started: kept so they are reaped by their Popen (no zombie, no ResourceWarning)."""
NFT_TIMEOUT_S = 10
KILL_GRACE_S = 3.0


class BenchError(RuntimeError):
    """A bench step that failed; the message names the step and what to do next."""


def poll(what: str, check: Callable[[], T | None], timeout: float = 5.0, every: float = 0.005) -> T:
    """Calls ``check`` until it returns something other than None/False; raises BenchError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
        every = min(every * 1.5, 0.1)


def tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        raise BenchError(f"{name} is not installed (phonehome doctor --install)")
    return path


# --- namespaces ---------------------------------------------------------------------------------


def netns_exists(name: str) -> bool:
    return name in netns.listnetns()


def create_netns(name: str) -> None:
    if netns_exists(name):
        raise BenchError(f"namespace {name} already exists (phonehome bench clean removes stale ones)")
    netns.create(name)
    poll(f"namespace {name}", lambda: Path(netns.NETNS_RUN_DIR, name).exists())
    with IPRoute(netns=name) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


def netns_pids(name: str) -> list[int]:
    return sorted(netns.ns_pids().get(name, []))


def remove_netns(name: str) -> None:
    """Ends every process still inside, then removes the namespace (its links and rules go with it)."""
    if not netns_exists(name):
        return
    for pid in netns_pids(name):
        proc = ProcessId.of(pid)
        if proc:
            stop_process(proc)
    try:
        netns.remove(name)
    except FileNotFoundError:  # gone since the check (another cleanup got there first): what we wanted
        return


@contextlib.contextmanager
def inside(name: str | None) -> Iterator[None]:
    """Runs the block with this thread in namespace ``name`` (sockets opened there stay there)."""
    if name is None:
        yield
        return
    netns.pushns(name)
    try:
        yield
    finally:
        netns.popns()


def iproute(name: str | None) -> IPRoute:
    return IPRoute(netns=name) if name else IPRoute()


def link_index(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


def wait_link(name: str | None, ifname: str, timeout: float = 5.0) -> int:
    with iproute(name) as ipr:
        return poll(
            f"link {ifname} in {name or 'the host namespace'}", lambda: link_index(ipr, ifname), timeout
        )


def link_packets(name: str | None, ifname: str) -> int | None:
    """Frames the interface received plus sent, from its kernel counters; None if it is gone."""
    with iproute(name) as ipr:
        index = link_index(ipr, ifname)
        if index is None:
            return None
        (link,) = ipr.get_links(index)
    stats = link.get("IFLA_STATS64") or link.get("IFLA_STATS")
    if not stats:
        return None
    return int(stats["rx_packets"]) + int(stats["tx_packets"])


def delete_link(name: str | None, ifname: str) -> None:
    if name and not netns_exists(name):
        return
    with iproute(name) as ipr:
        index = link_index(ipr, ifname)
        if index is None:
            return
        with contextlib.suppress(NetlinkError):
            ipr.link("del", index=index)
        poll(f"removal of {ifname}", lambda: link_index(ipr, ifname) is None)


def move_link_home(name: str, ifname: str, home_name: str) -> None:
    """Moves a host interface the bench borrowed back to the host namespace under its own name."""
    if not netns_exists(name):
        return  # the kernel returns physical devices to the host namespace when theirs is removed
    with IPRoute(netns=name) as ipr:
        index = link_index(ipr, ifname)
        if index is None:
            return
        ipr.link("set", index=index, state="down")
        ipr.link("set", index=index, net_ns_pid=os.getpid(), ifname=home_name)
    wait_link(None, home_name)


# --- sysctls ------------------------------------------------------------------------------------


def sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def read_sysctl(name: str | None, key: str) -> str | None:
    with inside(name):
        try:
            return sysctl_path(key).read_text().strip()
        except OSError:
            return None


def write_sysctl(name: str | None, key: str, value: str) -> None:
    with inside(name):
        try:
            sysctl_path(key).write_text(value)
        except OSError as exc:
            raise BenchError(f"cannot set {key}={value} in {name or 'the host namespace'}: {exc}") from exc


# --- nftables -----------------------------------------------------------------------------------


def ns_argv(name: str | None, argv: list[str]) -> list[str]:
    """``argv`` run inside namespace ``name`` (``ip netns exec``), or as is for the host."""
    return [tool("ip"), "netns", "exec", name, *argv] if name else argv


def nft_apply(name: str | None, ruleset: str) -> None:
    done = subprocess.run(
        ns_argv(name, [tool("nft"), "-f", "-"]),
        input=ruleset,
        text=True,
        capture_output=True,
        timeout=NFT_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"nft rejected the ruleset in {name or 'the host namespace'}: {done.stderr.strip()}")


def nft_delete_table(name: str | None, family: str, table: str) -> None:
    if name and not netns_exists(name):
        return
    subprocess.run(
        ns_argv(name, [tool("nft"), "delete", "table", family, table]),
        capture_output=True,
        timeout=NFT_TIMEOUT_S,
        check=False,
    )


def nft_tables(name: str | None) -> list[tuple[str, str]]:
    done = subprocess.run(
        ns_argv(name, [tool("nft"), "list", "tables"]),
        capture_output=True,
        text=True,
        timeout=NFT_TIMEOUT_S,
        check=False,
    )
    tables = []
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table":
            tables.append((parts[1], parts[2]))
    return tables


def nft_set_elements(name: str | None, family: str, table: str, set_name: str) -> list[str | int] | None:
    """The elements of an nft set (MACs and addresses as text, raw payloads as integers); None when
    the set cannot be read."""
    done = subprocess.run(
        ns_argv(name, [tool("nft"), "-j", "list", "set", family, table, set_name]),
        capture_output=True,
        text=True,
        timeout=NFT_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        return None
    try:
        items = json.loads(done.stdout)["nftables"]
    except (ValueError, KeyError, TypeError):
        return None
    for item in items:
        if isinstance(item, dict) and "set" in item:
            return [e for e in item["set"].get("elem", []) if isinstance(e, str | int)]
    return None


# --- link facts ---------------------------------------------------------------------------------


def link_mac(name: str | None, ifname: str) -> str | None:
    """The interface's hardware address (lower case, colons); None when it is gone."""
    with iproute(name) as ipr:
        index = link_index(ipr, ifname)
        if index is None:
            return None
        (link,) = ipr.get_links(index)
    mac = link.get("IFLA_ADDRESS")
    return str(mac).lower() if mac else None


def link_addresses(name: str | None, ifname: str) -> list[str]:
    """The interface's own IP addresses (IPv4 first, link-local IPv6 included)."""
    with iproute(name) as ipr:
        index = link_index(ipr, ifname)
        if index is None:
            return []
        found = [(a["family"], str(a.get("IFA_ADDRESS"))) for a in ipr.get_addr(index=index)]
    return [address for _family, address in sorted(found, key=lambda f: f[0])]


# --- processes ----------------------------------------------------------------------------------


def spawn(
    name: str | None,
    argv: list[str],
    log: Path,
    pass_fds: tuple[int, ...] = (),
    file_limit_mb: int | None = None,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Starts ``argv`` in namespace ``name``, detached from our session, stdout and stderr to ``log``.

    ``log`` is created with mode 0600: what a service says may quote the handset's traffic.
    ``file_limit_mb`` caps every file the process writes (its log included): a write beyond it fails
    (EFBIG) instead of filling the disk, and ``file_limit_reached`` says so afterwards.
    """
    if file_limit_mb is not None:
        argv = [tool("prlimit"), f"--fsize={file_limit_mb << 20}", "--", *argv]
        popen.setdefault("preexec_fn", _ignore_sigxfsz)
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as out:
        proc = subprocess.Popen(
            ns_argv(name, argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
            **popen,
        )
    reap_children()
    _CHILDREN[proc.pid] = proc
    return proc


def _ignore_sigxfsz() -> None:
    """In the child before exec: a write beyond the file size limit fails with EFBIG, never kills
    (an ignored signal stays ignored across exec)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def capped_logs(folder: Path, limit_mb: int) -> list[str]:
    """A line for each log in ``folder`` that grew to the file size limit of ``spawn(file_limit_mb=...)``:
    what its service wrote after that is missing."""
    found = []
    for path in sorted([*folder.glob("*.log"), *folder.glob("*.out")]):
        with contextlib.suppress(OSError):
            if path.stat().st_size >= limit_mb << 20:
                found.append(
                    f"{path.name} reached its cap (disk.logs_mb: {limit_mb} MB): later lines are missing"
                )
    return found


@atexit.register
def reap_children() -> None:
    """Collects children that ended, whoever stopped them (``phonehome bench down`` from another process)."""
    for pid in list(_CHILDREN):
        _reap(pid)


def stop_process(proc: ProcessId, sig: int = signal.SIGTERM, grace: float = KILL_GRACE_S) -> bool:
    """Signals ``proc`` and waits for it to end, then kills it; True when it had still been running."""
    if not proc.alive():
        _reap(proc.pid)  # a zombie child of ours: collect it
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    _reap(proc.pid)
    deadline = time.monotonic() + grace
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
        _reap(proc.pid)
    if proc.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(BenchError):
            poll(f"pid {proc.pid} to end", lambda: not proc.alive() or _reap(proc.pid), 2.0)
    _reap(proc.pid)
    return True


def _reap(pid: int) -> bool:
    """Collects ``pid`` if it is our child (so it does not linger as a zombie); True when it has ended."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return False
        del _CHILDREN[pid]
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid
