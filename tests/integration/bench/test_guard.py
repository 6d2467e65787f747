"""A port serves DHCP to its handset only: spoofed MACs get no lease, and the capture names them."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from pyroute2 import IPRoute, NetlinkError, netns

from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.netops import BenchError
from tests.integration.bench.conftest import BenchFactory, in_handset, unique

pytestmark = pytest.mark.root

STARVE = """
    import socket, struct, sys
    iface, router, count, own = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    base = router.rsplit(".", 1)[0]

    def checksum(data):
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        total = (total >> 16) + (total & 0xFFFF)
        return ~(total + (total >> 16)) & 0xFFFF

    def frame(mac, kind, xid, requested):
        source = bytes.fromhex(own.replace(":", "")) if own != "-" else mac
        options = bytes([53, 1, kind])
        if requested:
            options += bytes([50, 4]) + socket.inet_aton(requested) + bytes([54, 4]) + socket.inet_aton(router)
        bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, bytes(4), bytes(4),
                            bytes(4), bytes(4), mac + bytes(10), bytes(64), bytes(128))
        bootp += b"\\x63\\x82\\x53\\x63" + options + b"\\xff"
        udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), b"\\xff" * 4)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        return b"\\xff" * 6 + source + b"\\x08\\x00" + ip + udp

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for i in range(count):
        mac = bytes([0x02, 0x5A, 0x00, 0x00, i >> 8, i & 0xFF])
        s.send(frame(mac, 1, 0x1000 + i, None))
        s.send(frame(mac, 3, 0x1000 + i, f"{base}.{10 + i % 241}"))
    print("sent")
"""


@pytest.mark.parametrize("spoof", ["source", "chaddr"])
def test_300_spoofed_macs_get_no_lease_the_handset_still_does_and_the_capture_names_them(
    make_bench: BenchFactory, spoof: str
) -> None:
    """``source``: each request from its own invented MAC; ``chaddr``: every frame from the handset's
    own MAC, asking for leases for 300 invented client hardware addresses (what a lease is keyed on)."""
    bench = make_bench("name: test-starve\nports:\n  - name: wlan\n")
    port = bench.port()
    assert port.netns
    own = port.handset_mac if spoof == "chaddr" else "-"
    done = in_handset(
        port,
        f"""
        import subprocess, sys
        subprocess.run(["ip", "link", "set", "{port.handset_ifname}", "up"], check=True)
        sys.argv = ["starve", "{port.handset_ifname}", "{port.router_ip}", "300", "{own}"]
        """
        + STARVE.replace("\n    ", "\n        "),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lease = obtain_lease(port, bench.workdir)
    assert [(x.mac, x.ip) for x in bench.leases()] == [(port.handset_mac, lease.ip)]
    assert any("300 hardware addresses other than the handset's" in p for p in bench.status())
    capture = bench.stop_capture()["wlan"]
    assert capture.handset_mac == port.handset_mac
    assert not capture.lossless
    (problem,) = [p for p in capture.problems if "hardware addresses" in p]
    assert "300 hardware addresses other than the handset's" in problem
    assert "02:5a:00:00:00:00" in problem
    assert "no DHCP lease" in problem
    assert port.handset_mac not in problem


def test_on_a_cable_the_first_dhcp_client_is_the_handset_and_a_second_one_is_refused(
    tmp_path: Path, make_bench: BenchFactory
) -> None:
    access_point, cable = unique("phtest-ap-"), unique("phtg")
    netns.create(access_point)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=cable, kind="veth", peer={"ifname": "eth0", "net_ns_fd": access_point})
        with IPRoute(netns=access_point) as ipr:
            eth0 = ipr.link_lookup(ifname="eth0")[0]
            ipr.link("set", index=eth0, state="up")
            ipr.link("add", ifname="other0", kind="macvlan", link=eth0, macvlan_mode="bridge")
            other = ipr.link_lookup(ifname="other0")[0]
            ipr.link("set", index=other, state="up")
            other_mac = str(ipr.get_links(other)[0].get("IFLA_ADDRESS"))
            handset_mac = str(ipr.get_links(eth0)[0].get("IFLA_ADDRESS"))
        bench = make_bench(
            f"name: test-cable\nports:\n  - name: ap1\n    kind: physical\n    interface: {cable}\n"
        )
        port = bench.port()
        Path(f"/etc/netns/{access_point}").mkdir(parents=True, exist_ok=True)
        lease = obtain_lease(replace(port, netns=access_point, handset_ifname="eth0"), tmp_path)
        with pytest.raises(BenchError):
            obtain_lease(replace(port, netns=access_point, handset_ifname="other0"), tmp_path, timeout=6)
        assert [x.mac for x in bench.leases()] == [handset_mac]
        capture = bench.down()["ap1"]
        assert (capture.handset_mac, capture.handset_ip) == (handset_mac, lease.ip)
        (problem,) = [p for p in capture.problems if "hardware addresses" in p]
        assert other_mac in problem
        assert capture.isolated
    finally:
        shutil.rmtree(f"/etc/netns/{access_point}", ignore_errors=True)
        netns.remove(access_point)
        with IPRoute() as ipr, contextlib.suppress(NetlinkError):
            for index in ipr.link_lookup(ifname=cable):
                ipr.link("del", index=index)


def test_a_cable_that_lists_its_handsets_macs_serves_only_those(
    tmp_path: Path, make_bench: BenchFactory
) -> None:
    access_point, cable = unique("phtest-ap-"), unique("phtl")
    netns.create(access_point)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=cable, kind="veth", peer={"ifname": "eth0", "net_ns_fd": access_point})
        with IPRoute(netns=access_point) as ipr:
            eth0 = ipr.link_lookup(ifname="eth0")[0]
            ipr.link("set", index=eth0, state="up")
            ipr.link("add", ifname="phone0", kind="macvlan", link=eth0, macvlan_mode="bridge")
            phone = ipr.link_lookup(ifname="phone0")[0]
            ipr.link("set", index=phone, state="up")
            phone_mac = str(ipr.get_links(phone)[0].get("IFLA_ADDRESS"))
        bench = make_bench(
            "name: test-listed\nports:\n  - name: ap1\n    kind: physical\n"
            f"    interface: {cable}\n    handset_macs: [{phone_mac}]\n    isolated: false\n"
        )
        port = bench.port()
        Path(f"/etc/netns/{access_point}").mkdir(parents=True, exist_ok=True)
        with pytest.raises(BenchError):  # the AP's own port asks first: it is not the handset
            obtain_lease(replace(port, netns=access_point, handset_ifname="eth0"), tmp_path, timeout=6)
        lease = obtain_lease(replace(port, netns=access_point, handset_ifname="phone0"), tmp_path)
        assert [x.mac for x in bench.leases()] == [phone_mac]
        capture = bench.down()["ap1"]
        assert (capture.handset_mac, capture.handset_ip, capture.isolated) == (phone_mac, lease.ip, False)
        assert not [p for p in capture.problems if "hardware addresses" in p]  # a shared cable expects others
    finally:
        shutil.rmtree(f"/etc/netns/{access_point}", ignore_errors=True)
        netns.remove(access_point)
        with IPRoute() as ipr, contextlib.suppress(NetlinkError):
            for index in ipr.link_lookup(ifname=cable):
                ipr.link("del", index=index)
