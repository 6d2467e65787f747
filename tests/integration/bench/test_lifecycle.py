"""Lifecycle: a SIGKILLed owner's bench is removed by the next one, the CLI's bench outlives the CLI,
and the options (QUIC blocked, DoT refused, IPv6 offered or blocked) do what they say."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.records import ProcessStarted
from phonehome.bench.runtime import read_states
from tests.integration.bench.conftest import BenchFactory, in_handset, leftovers

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[3]
ONE_PORT = """
    name: test-lifecycle
    ports:
      - name: wlan
"""

OWNER = """
import sys, textwrap, time
from phonehome.bench import Bench
from phonehome.bench.definition import parse_bench
bench = Bench(parse_bench("name: test-killed\\nports:\\n  - name: wlan\\n"), workdir=sys.argv[1]).up()
print(bench.run_id, flush=True)
time.sleep(120)
"""


def test_a_sigkilled_owners_bench_is_removed_when_the_next_bench_starts(
    tmp_path: Path, make_bench: BenchFactory
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path / "killed")], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    with owner:
        try:
            assert owner.stdout is not None
            run_id = owner.stdout.readline().strip()
            assert run_id, "the owner did not bring its bench up"
            (state,) = [s for s in read_states() if s.run_id == run_id]
            records = [r for r in state.undo if isinstance(r, ProcessStarted)]
            procs = [r.process for r in records]
            roles = {r.role for r in records}
            assert roles == {"sinks", "resolver", "dnsmasq", "capture:wlan"}
        finally:
            owner.send_signal(signal.SIGKILL)
            owner.wait(10)
    assert leftovers(run_id) != []  # SIGKILL left the bench behind, processes and all
    assert all(p.alive() for p in procs)

    make_bench(ONE_PORT)  # the next start cleans it

    assert leftovers(run_id) == []
    assert not any(p.alive() for p in procs)


def test_the_cli_leaves_a_bench_running_and_brings_it_down_by_run_id(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "phonehome.cli", "bench"]
    up = subprocess.run(
        [*cli, "up", str(REPO / "benches" / "virtual.yaml"), "--workdir", str(tmp_path / "cli")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    run_id = up.stdout.split("run id ")[1].split(",")[0]
    try:
        status = subprocess.run(
            [*cli, "status", run_id], capture_output=True, text=True, timeout=60, check=False
        )
        assert status.returncode == 0, status.stdout
        assert f"{run_id}  virtual  detached" in status.stdout
        handset_ns = f"phonehome-{run_id}-wlan"
        lease = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                handset_ns,
                "busybox",
                "udhcpc",
                "-i",
                "wlan0",
                "-q",
                "-n",
                "-s",
                "/bin/true",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert lease.returncode == 0, lease.stderr
    finally:
        down = subprocess.run([*cli, "down", run_id], capture_output=True, text=True, timeout=60, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "sha256" in down.stdout
    assert leftovers(run_id) == []
    capture = json.loads((tmp_path / "cli" / "capture-wlan.json").read_text())
    assert capture["drops"][0]["dropped"] == 0
    assert capture["handset_ip"]


def test_a_second_process_can_bring_down_a_bench_by_its_state_file(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT)
    down = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "bench", "down", bench.run_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftovers(bench.run_id) == []


def test_quic_blocked_and_dot_refused_fail_fast_and_reach_no_sink(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT + "    block_quic: true\n    dot: refuse\n")
    port = bench.port()
    obtain_lease(port, bench.workdir)
    done = in_handset(
        port,
        """
        import socket
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(3)
        u.connect(("203.0.113.5", 443))
        u.send(b"quic initial")
        try:
            u.recv(100)
            print("quic answered")
        except ConnectionRefusedError:
            print("quic refused")
        try:
            socket.create_connection(("198.51.100.9", 853), timeout=3)
            print("dot connected")
        except ConnectionRefusedError:
            print("dot refused")
        socket.create_connection(("198.51.100.9", 443), timeout=3).close()
        print("https connected")
        """,
    )
    assert done.stdout.split() == ["quic", "refused", "dot", "refused", "https", "connected"], done.stderr
    deadline = time.monotonic() + 5
    while not bench.sink_records() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {r.dst for r in bench.sink_records()} == {("198.51.100.9", 443)}


def test_ipv6_offered_gives_the_handset_an_address_and_its_flows_reach_the_sinks(
    make_bench: BenchFactory,
) -> None:
    bench = make_bench(ONE_PORT + "    ipv6: offer\n")
    port = bench.port()
    assert port.ipv6_prefix
    prefix = port.ipv6_prefix.split("::")[0] + ":"
    obtain_lease(port, bench.workdir)
    done = in_handset(
        port,
        f"""
        import socket, subprocess, time
        deadline = time.monotonic() + 15
        while "{prefix}" not in subprocess.run(["ip", "-6", "addr"], capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, "no SLAAC address from the router advertisement"
            time.sleep(0.1)
        for _ in range(50):
            try:
                s = socket.create_connection(("2001:db8:5::7", 443), timeout=3)
                break
            except OSError:
                time.sleep(0.1)  # the default route arrives with the RA, maybe just after the address
        s.sendall(b"over ipv6")
        s.close()
        named = socket.getaddrinfo("zzhc.vnet.cn", 80, socket.AF_INET6)[0][4][0]
        socket.create_connection((named, 80), timeout=3).close()
        print(named)
        """,
    )
    assert done.returncode == 0, done.stderr
    named = done.stdout.strip()
    assert ipaddress.ip_address(named) in ipaddress.ip_network("2001:db8:ffff::/64")
    assert ("zzhc.vnet.cn", "AAAA", (named,)) in {(q.name, q.qtype, q.answers) for q in bench.dns_queries()}
    deadline = time.monotonic() + 3
    while not {("2001:db8:5::7", 443), (named, 80)} <= {r.dst for r in bench.sink_records()}:
        assert time.monotonic() < deadline, bench.sink_records()
        time.sleep(0.05)
    capture = bench.stop_capture()["wlan"]
    router_v6 = str(ipaddress.ip_network(port.ipv6_prefix).network_address + 1)
    assert capture.router_addresses[0] == port.router_ip
    assert router_v6 in capture.router_addresses
    assert any(ipaddress.ip_address(a).is_link_local for a in capture.router_addresses)
    assert capture.subnets == [port.subnet, port.ipv6_prefix]


def test_ipv6_blocked_reaches_nothing_and_names_have_no_aaaa(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT)
    port = bench.port()
    obtain_lease(port, bench.workdir)
    done = in_handset(
        port,
        """
        import socket
        try:
            socket.create_connection(("2001:db8:5::7", 443), timeout=2)
            print("connected")
        except OSError:
            print("unreachable")
        try:
            socket.getaddrinfo("zzhc.vnet.cn", 80, socket.AF_INET6)
            print("aaaa")
        except socket.gaierror:
            print("no aaaa")
        """,
    )
    assert done.stdout.split("\n")[:2] == ["unreachable", "no aaaa"], done.stdout + done.stderr
    assert bench.sink_records() == []
    aaaa = [q for q in bench.dns_queries() if q.qtype == "AAAA"]
    assert aaaa
    assert all((q.answers, q.rcode) == ((), "NOERROR") for q in aaaa), "an empty answer, never NXDOMAIN"


def test_bench_clean_removes_what_a_sigkilled_owner_left(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path / "killed")], stdout=subprocess.PIPE, text=True, cwd=REPO
    ) as owner:
        try:
            assert owner.stdout is not None
            run_id = owner.stdout.readline().strip()
        finally:
            owner.send_signal(signal.SIGKILL)
            owner.wait(10)
    assert run_id
    assert leftovers(run_id) != []
    clean = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "bench", "clean"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"({run_id}): its owner is gone" in clean.stdout
    assert leftovers(run_id) == []


def test_a_physical_port_is_borrowed_from_the_host_and_given_back(
    tmp_path: Path, make_bench: BenchFactory
) -> None:
    from dataclasses import replace

    from pyroute2 import IPRoute, NetlinkError, netns

    from tests.integration.bench.conftest import unique

    access_point, cable = unique("phtest-ap-"), unique("phtp")
    netns.create(access_point)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=cable, kind="veth", peer={"ifname": "eth0", "net_ns_fd": access_point})
        with IPRoute(netns=access_point) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="eth0")[0], state="up")
        bench = make_bench(
            f"name: test-physical\nports:\n  - name: ap1\n    kind: physical\n    interface: {cable}\n"
        )
        port = bench.port()
        with IPRoute() as ipr:
            assert ipr.link_lookup(ifname=cable) == []  # the router namespace has it now
        handset_side = replace(port, netns=access_point, handset_ifname="eth0")
        Path(f"/etc/netns/{access_point}").mkdir(parents=True, exist_ok=True)
        lease = obtain_lease(handset_side, tmp_path, hostname="behind-the-ap")
        assert lease.router == port.router_ip
        assert [x.hostname for x in bench.leases()] == ["behind-the-ap"]
        capture = bench.down()["ap1"]
        assert capture.lossless, capture.problems
        assert capture.handset_ip == lease.ip
        with IPRoute() as ipr:
            assert ipr.link_lookup(ifname=cable) != []  # back in the host, under its own name
    finally:
        shutil.rmtree(f"/etc/netns/{access_point}", ignore_errors=True)
        netns.remove(access_point)
        with IPRoute() as ipr, contextlib.suppress(NetlinkError):  # it may go with the namespace
            for index in ipr.link_lookup(ifname=cable):
                ipr.link("del", index=index)


def _kernel_has_vlans() -> bool:
    """802.1Q sub-interfaces need the kernel's 8021q support (absent on some CI kernels)."""
    from pyroute2 import IPRoute, NetlinkError, netns

    from tests.integration.bench.conftest import unique

    probe = unique("phtest-vlan-")
    netns.create(probe)
    try:
        with IPRoute(netns=probe) as ipr:
            ipr.link("add", ifname="p0", kind="veth", peer={"ifname": "p1"})
            try:
                ipr.link("add", ifname="p0.7", kind="vlan", link=ipr.link_lookup(ifname="p0")[0], vlan_id=7)
            except NetlinkError:
                return False
        return True
    finally:
        netns.remove(probe)


def test_a_vlan_port_serves_a_handset_behind_a_tagged_trunk(tmp_path: Path, make_bench: BenchFactory) -> None:
    from dataclasses import replace

    from pyroute2 import IPRoute, NetlinkError, netns

    from tests.integration.bench.conftest import unique

    if not _kernel_has_vlans():
        pytest.skip("this kernel has no 802.1Q VLAN support (8021q): a vlan port cannot be built here")
    access_point, trunk = unique("phtest-ap-"), unique("phtv")
    netns.create(access_point)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=trunk, kind="veth", peer={"ifname": "eth0", "net_ns_fd": access_point})
        with IPRoute(netns=access_point) as ipr:
            parent = ipr.link_lookup(ifname="eth0")[0]
            ipr.link("set", index=parent, state="up")
            ipr.link("add", ifname="eth0.42", kind="vlan", link=parent, vlan_id=42)
            ipr.link("set", index=ipr.link_lookup(ifname="eth0.42")[0], state="up")
        bench = make_bench(
            f"name: test-vlan\nports:\n  - name: lab\n    kind: vlan\n    interface: {trunk}\n    vlan: 42\n"
        )
        port = bench.port()
        handset_side = replace(port, netns=access_point, handset_ifname="eth0.42")
        Path(f"/etc/netns/{access_point}").mkdir(parents=True, exist_ok=True)
        lease = obtain_lease(handset_side, tmp_path, hostname="on-vlan-42")
        assert lease.router == port.router_ip
        assert [x.hostname for x in bench.leases()] == ["on-vlan-42"]
        capture = bench.down()["lab"]
        assert capture.lossless, capture.problems
    finally:
        shutil.rmtree(f"/etc/netns/{access_point}", ignore_errors=True)
        netns.remove(access_point)
        with IPRoute() as ipr, contextlib.suppress(NetlinkError):
            for index in ipr.link_lookup(ifname=trunk):
                ipr.link("del", index=index)
