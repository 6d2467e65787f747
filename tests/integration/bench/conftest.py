"""Fixtures for bench integration tests: benches from inline definitions, code run as the handset.

Every test checks afterwards that nothing of its benches is left: no
namespace, host link, nft table, state file or process carrying their run ids.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from phonehome.bench import Bench
from phonehome.bench.definition import parse_bench
from phonehome.bench.netops import nft_tables
from phonehome.bench.records import ProcessStarted
from phonehome.bench.runtime import StateFile, read_states
from phonehome.bench.tools import find_tool
from phonehome.bench.topology import Port

BenchFactory = Callable[..., Bench]


def leftovers(run_id: str) -> list[str]:
    """Everything on this host that still carries ``run_id``."""
    found = [f"namespace {n}" for n in netns.listnetns() if run_id in n]
    with IPRoute() as ipr:
        found += [
            f"link {link.get('ifname')}" for link in ipr.get_links() if run_id in str(link.get("ifname"))
        ]
    found += [f"nft table {t}" for _f, t in nft_tables(None) if run_id in t]
    found += [f"state file {s.path}" for s in read_states() if s.run_id == run_id]
    if Path("/etc/netns").is_dir():
        found += [f"/etc/netns/{p.name}" for p in Path("/etc/netns").iterdir() if run_id in p.name]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = (
                    Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
            if run_id in cmdline and int(pid) != os.getpid():
                found.append(f"process {pid}: {cmdline[:120]}")
    return found


@pytest.fixture
def make_bench(tmp_path: Path) -> Iterator[BenchFactory]:
    """Brings up benches from YAML text; downs them and asserts that nothing of them is left."""
    made: list[Bench] = []

    def make(yaml_text: str, **kwargs: object) -> Bench:
        definition = parse_bench(textwrap.dedent(yaml_text), "<test>")
        bench = Bench(definition, workdir=tmp_path / f"bench{len(made)}", **kwargs)  # type: ignore[arg-type]
        bench.up()
        made.append(bench)
        return bench

    yield make
    for bench in reversed(made):
        if bench.state is not None and bench.state.path.exists():
            bench.down()
    for bench in made:
        if bench.state is not None:
            assert leftovers(bench.state.run_id) == []


def in_handset(port: Port, code: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Runs Python ``code`` as the handset: in its namespace, with its resolv.conf."""
    assert port.netns
    return subprocess.run(
        ["ip", "netns", "exec", port.netns, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def unique(prefix: str) -> str:
    """A name no other test run uses (interface names stay <= 15 chars for short prefixes)."""
    return f"{prefix}{secrets.token_hex(3)}"


def need_tool(name: str, why: str) -> str:
    """The tool's path, or the test is skipped saying which tool is missing and what it was for."""
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} is not installed here ({why})")
    return path


@dataclass(frozen=True)
class Upstream:
    """A namespace standing in for the host's uplink, on a random 10.213.X.0/24 (it stays on this machine)."""

    netns: str
    host_if: str
    host_ip: str
    allowed_ip: str
    other_ip: str


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    name, host_if = unique("phtest-up-"), unique("phtu")
    net = f"10.213.{secrets.randbelow(250)}"
    netns.create(name)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=host_if, kind="veth", peer={"ifname": "eth0", "net_ns_fd": name})
            index = ipr.link_lookup(ifname=host_if)[0]
            ipr.addr("add", index=index, address=f"{net}.1", prefixlen=24)
            ipr.link("set", index=index, state="up")
        with IPRoute(netns=name) as ipr:
            index = ipr.link_lookup(ifname="eth0")[0]
            ipr.addr("add", index=index, address=f"{net}.2", prefixlen=24)
            ipr.addr("add", index=index, address=f"{net}.3", prefixlen=24)
            ipr.link("set", index=index, state="up")
        yield Upstream(name, host_if, f"{net}.1", f"{net}.2", f"{net}.3")
    finally:
        netns.remove(name)
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=host_if)
            if found:
                ipr.link("del", index=found[0])


def started(state: StateFile | None, role: str) -> ProcessStarted:
    """The one process the bench started in ``role`` (dnsmasq, resolver, sinks, tls, ``capture:PORT``)."""
    assert state is not None
    (record,) = [r for r in state.undo if isinstance(r, ProcessStarted) and r.role == role]
    return record
