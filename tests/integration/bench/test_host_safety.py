"""The host is never harmed: a physical port refuses an interface the host uses unless told to take it
over, and then gives it back exactly (addresses, routes, MTU, sysctls, up), also after a SIGKILL; what the
kernel refuses is a clear error, never a traceback."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute, NetlinkError, netns

from phonehome.bench import Bench, BenchError, clean_stale
from phonehome.bench.definition import parse_bench
from tests.integration.bench.conftest import BenchFactory, leftovers, unique

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[3]
VOLATILE = {"ifindex", "valid_life_time", "preferred_life_time", "expires", "cacheinfo", "link_index"}


@dataclass(frozen=True)
class HostInterface:
    """A dummy interface in the host namespace that the host 'uses': addresses, routes, tuned sysctls."""

    name: str
    table: int


def ip_json(*args: str) -> Any:
    done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10, check=True)
    return json.loads(done.stdout or "[]")


def _clean(item: Any) -> Any:
    if isinstance(item, dict):
        return {k: _clean(v) for k, v in item.items() if k not in VOLATILE}
    if isinstance(item, list):
        return sorted((_clean(v) for v in item), key=repr)
    return item


def host_view(ifname: str, table: int) -> dict[str, Any]:
    """What the host sees of ``ifname``, read with iproute2 (not with the code under test)."""
    (link,) = ip_json("-d", "link", "show", "dev", ifname)
    (addr,) = ip_json("addr", "show", "dev", ifname)
    sysctls = {}
    for path in (
        f"/proc/sys/net/ipv4/conf/{ifname}/rp_filter",
        f"/proc/sys/net/ipv4/conf/{ifname}/forwarding",
        f"/proc/sys/net/ipv6/conf/{ifname}/accept_ra",
        f"/proc/sys/net/ipv6/conf/{ifname}/forwarding",
    ):
        sysctls[path] = Path(path).read_text().strip()
    return _clean(
        {
            "link": {k: link.get(k) for k in ("ifname", "mtu", "flags", "operstate", "address", "master")},
            "addresses": addr["addr_info"],
            "routes": [
                *ip_json("route", "show", "table", "all", "dev", ifname),
                *ip_json("-6", "route", "show", "table", "all", "dev", ifname),
            ],
            "table": ip_json("route", "show", "table", str(table)),
            "sysctls": sysctls,
        }
    )


@contextlib.contextmanager
def cabled(*, used: bool) -> Iterator[HostInterface]:
    """A unique veth in the host namespace, its peer (the 'cable') up in a namespace of the test's own;
    ``used``: with addresses, routes and non-default sysctls, as a NIC the host uses would have."""
    name, table = unique("phtd"), random.randint(20000, 60000)
    far_end = unique("phtest-cable-")
    subnet = f"198.51.100.{random.randrange(0, 256, 8)}"
    ula = f"fd5e:{random.randrange(0x10000):x}:{random.randrange(0x10000):x}"
    base = subnet.rsplit(".", 1)[0]
    last = int(subnet.rsplit(".", 1)[1])
    netns.create(far_end)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=name, kind="veth", peer={"ifname": "eth0", "net_ns_fd": far_end})
        with IPRoute(netns=far_end) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="eth0")[0], state="up")
        if used:
            commands = [
                ["ip", "link", "set", "dev", name, "mtu", "1400", "up"],
                ["ip", "addr", "add", f"{base}.{last + 1}/29", "dev", name],
                ["ip", "addr", "add", f"{ula}::1/64", "dev", name],
                [
                    "ip",
                    "route",
                    "add",
                    "default",
                    "via",
                    f"{base}.{last + 6}",
                    "dev",
                    name,
                    "table",
                    str(table),
                ],
                [
                    "ip",
                    "-6",
                    "route",
                    "add",
                    f"{ula}:1::/64",
                    "via",
                    f"{ula}::2",
                    "dev",
                    name,
                    "metric",
                    "77",
                ],
                ["sysctl", "-qw", f"net.ipv4.conf.{name}.rp_filter=2"],
                ["sysctl", "-qw", f"net.ipv6.conf.{name}.accept_ra=0"],
            ]
            for argv in commands:
                subprocess.run(argv, check=True, timeout=10, capture_output=True)
        yield HostInterface(name, table)
    finally:
        netns.remove(far_end)
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=name):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=index)
            with contextlib.suppress(NetlinkError):
                ipr.flush_routes(table=table)


def physical(name: str, interface: str, take_over: bool = False) -> str:
    extra = "    take_over: true\n" if take_over else ""
    return f"name: {name}\nports:\n  - name: ap\n    kind: physical\n    interface: {interface}\n{extra}"


def test_an_interface_the_host_uses_is_refused_and_left_untouched(tmp_path: Path) -> None:
    with cabled(used=True) as host_if:
        before = host_view(host_if.name, host_if.table)
        bench = Bench(parse_bench(physical("test-refuse", host_if.name)), workdir=tmp_path / "b")
        with pytest.raises(BenchError) as info:
            bench.up()
        message = str(info.value)
        assert host_if.name in message
        assert "carries the host's addresses" in message
        assert "default route" in message
        assert "take_over: true" in message
        assert host_view(host_if.name, host_if.table) == before
        assert bench.state is not None
        assert leftovers(bench.state.run_id) == []


def test_taken_over_it_comes_back_exactly_as_it_was(make_bench: BenchFactory) -> None:
    with cabled(used=True) as host_if:
        before = host_view(host_if.name, host_if.table)
        bench = make_bench(physical("test-takeover", host_if.name, take_over=True))
        with IPRoute() as ipr:
            assert ipr.link_lookup(ifname=host_if.name) == []  # in the router namespace now
        bench.down()
        assert host_view(host_if.name, host_if.table) == before


OWNER = """
import sys, time
from phonehome.bench import Bench
from phonehome.bench.definition import parse_bench
bench = Bench(parse_bench(sys.argv[2]), workdir=sys.argv[1]).up()
print(bench.run_id, flush=True)
time.sleep(120)
"""


def test_after_a_sigkill_the_stale_cleanup_gives_it_back_exactly(tmp_path: Path) -> None:
    with cabled(used=True) as host_if:
        before = host_view(host_if.name, host_if.table)
        definition = physical("test-takekill", host_if.name, take_over=True)
        owner = subprocess.Popen(
            [sys.executable, "-c", OWNER, str(tmp_path / "killed"), definition],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        with owner:
            try:
                assert owner.stdout is not None
                run_id = owner.stdout.readline().strip()
                assert run_id, "the owner did not bring its bench up"
            finally:
                owner.send_signal(signal.SIGKILL)
                owner.wait(10)
        with IPRoute() as ipr:
            assert ipr.link_lookup(ifname=host_if.name) == []  # still held by the dead bench
        removed = clean_stale(log=print)
        assert any(run_id in line for line in removed)
        assert leftovers(run_id) == []
        assert host_view(host_if.name, host_if.table) == before


def test_an_interface_another_bench_holds_is_refused_by_name(
    tmp_path: Path, make_bench: BenchFactory
) -> None:
    with cabled(used=False) as host_if:
        first = make_bench(physical("test-holder", host_if.name))
        second = Bench(parse_bench(physical("test-second", host_if.name)), workdir=tmp_path / "second")
        with pytest.raises(
            BenchError, match=rf"{host_if.name} is held by bench test-holder \({first.run_id}\)"
        ):
            second.up()
        assert second.state is not None
        assert leftovers(second.state.run_id) == []
        first.down()


def test_a_bench_made_interface_cannot_be_a_port(tmp_path: Path) -> None:
    fake = "ph" + "abcdef" + "-up"
    bench = Bench(parse_bench(physical("test-ours", fake)), workdir=tmp_path / "b")
    with pytest.raises(BenchError, match="abcdef"):
        bench.up()


def test_a_mac_the_kernel_refuses_is_a_bench_error_naming_the_port(tmp_path: Path) -> None:
    definition = parse_bench("name: test-badmac\nports:\n  - name: wlan\n")
    port = definition.ports[0].model_copy(update={"handset_mac": "01:00:5e:00:00:01"})  # past validation
    bench = Bench(definition.model_copy(update={"ports": [port]}), workdir=tmp_path / "b")
    with pytest.raises(BenchError, match="port wlan: the kernel refused it"):
        bench.up()
    assert bench.state is not None
    assert leftovers(bench.state.run_id) == []


def test_the_cli_says_one_line_for_a_loopback_port(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("name: test-lo\nports:\n  - name: ap\n    kind: physical\n    interface: lo\n")
    done = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "bench", "up", str(path), "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    assert f"{path}:3" in done.stdout + done.stderr
    assert "loopback" in done.stdout + done.stderr


ADB_OWNER = """
import time
from phonehome.device import AdbServer
server = AdbServer.start_private()
print(server.port, server.process.pid, flush=True)
time.sleep(120)
"""


def test_the_next_bench_stops_the_adb_server_of_a_killed_run(make_bench: BenchFactory) -> None:
    from phonehome import owned

    owner = subprocess.Popen([sys.executable, "-c", ADB_OWNER], stdout=subprocess.PIPE, text=True, cwd=REPO)
    with owner:
        try:
            assert owner.stdout is not None
            port, pid = (int(x) for x in owner.stdout.readline().split())
        finally:
            owner.send_signal(signal.SIGKILL)
            owner.wait(10)
    assert owned.process_start(pid) is not None
    make_bench("name: test-adbclean\nports:\n  - name: wlan\n")  # its start cleans what dead runs left
    assert owned.process_start(pid) is None
    assert list(owned.owned_dir().glob(f"*{port}*")) == []
