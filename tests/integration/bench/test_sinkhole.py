"""A sinkhole bench end to end: a real DHCP lease, DNS through the bench, every flow sunk and captured."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from phonehome.bench import Bench
from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.sinks import SinkRecord
from phonehome.bench.tools import find_tool
from phonehome.traffic import analyze
from phonehome.traffic.capture import Capture
from tests.integration.bench.conftest import BenchFactory, in_handset, need_tool, started

pytestmark = pytest.mark.root

VIRTUAL = """
    name: test-sinkhole
    ports:
      - name: wlan
"""
POOL = ipaddress.ip_network("198.18.0.0/15")

HANDSET_TRAFFIC = """
    import json, socket, ssl
    out = {"resolved": socket.gethostbyname("zzhc.vnet.cn")}
    s = socket.create_connection(("zzhc.vnet.cn", 80), timeout=5)
    s.sendall(b"POST /register HTTP/1.1\\r\\nHost: zzhc.vnet.cn\\r\\nContent-Length: 20\\r\\n\\r\\nIMEI=352099001761481")
    out["http"] = s.recv(200).decode()
    s.close()
    try:
        ssl.create_default_context().wrap_socket(
            socket.create_connection(("198.51.100.7", 443), timeout=5), server_hostname="activation.example.com")
    except ssl.SSLError as exc:
        out["tls"] = str(exc)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"\\xc3\\x00\\x00\\x00\\x01" + b"Q" * 1200, ("203.0.113.5", 443))
    u.sendto(b"ICCID=8986011234567890123", ("203.0.113.6", 9999))
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
    r.sendto(b"raw-ip-payload", ("203.0.113.9", 0))
    print(json.dumps(out))
"""


def wait_records(bench: Bench, count: int, timeout: float = 5.0) -> list[SinkRecord]:
    deadline = time.monotonic() + timeout
    while True:
        records = bench.sink_records()
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def tshark(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    argv = [need_tool("tshark", "the independent oracle of what the capture holds"), "-r", str(path)]
    argv += ["-Y", display_filter, "-T", "fields"]
    for field in fields:
        argv += ["-e", field]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def run_handset(bench: Bench) -> tuple[Capture, dict[str, str], list[SinkRecord], str]:
    """The handset takes a lease and sends HTTP, TLS, QUIC-like and raw traffic; the capture stops."""
    port = bench.port("wlan")
    bench.mark("boot")
    lease = obtain_lease(port, bench.workdir, hostname="android-7plus", vendor_class="android-dhcp-9")
    assert lease.router == port.router_ip
    assert lease.dns == (port.router_ip,)
    done = in_handset(port, HANDSET_TRAFFIC)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    bench.mark("consent", accepted=False)
    records = wait_records(bench, 4)
    return bench.stop_capture()["wlan"], said, records, lease.ip


def test_handset_leases_resolves_and_every_flow_is_sunk_and_captured(make_bench: BenchFactory) -> None:
    bench = make_bench(VIRTUAL)
    port = bench.port("wlan")
    capture, said, records, handset_ip = run_handset(bench)
    resolved = said["resolved"]
    assert ipaddress.ip_address(resolved) in POOL
    assert said["http"].startswith("HTTP/1.1 204 No Content")
    assert "handshake failure" in said["tls"]

    by_dst = {(r.proto, r.dst): r for r in records}
    http = by_dst[("tcp", (resolved, 80))]
    assert http.kind == "http"
    assert http.http_heads == ["POST /register HTTP/1.1\r\nHost: zzhc.vnet.cn\r\nContent-Length: 20"]
    assert http.head.endswith(b"IMEI=352099001761481")
    tls = by_dst[("tcp", ("198.51.100.7", 443))]
    assert tls.kind == "tls"
    assert tls.client_hello is not None
    assert tls.sni == "activation.example.com"
    assert tls.hello is not None
    assert 0x0304 in tls.hello.versions
    quic = by_dst[("udp", ("203.0.113.5", 443))]
    assert quic.bytes_received == 1205
    assert by_dst[("udp", ("203.0.113.6", 9999))].head == b"ICCID=8986011234567890123"
    assert {r.client[0] for r in records} == {handset_ip}

    (bench_lease,) = bench.leases()
    assert (bench_lease.mac, bench_lease.ip) == (port.handset_mac, handset_ip)
    assert bench_lease.hostname == "android-7plus"
    assert bench_lease.vendor_class == "android-dhcp-9"
    asked = [(q.name, q.qtype, q.answers, q.rcode) for q in bench.dns_queries()]
    assert ("zzhc.vnet.cn", "A", (resolved,), "NOERROR") in asked

    assert capture.lossless, capture.problems
    assert capture.handset_mac == port.handset_mac
    assert capture.handset_ip == handset_ip
    assert [m.phase for m in capture.markers] == ["boot", "consent"]
    assert capture.verify() == []
    assert capture.resolver_log == bench.resolver_log

    # The analyzer reads the bench's capture back with the same endpoints.
    analysis = analyze([f.path for f in capture.files])
    flows = {(f.proto, f.dst, f.dport): f for f in analysis.flows if f.src == handset_ip}
    assert flows[("tcp", resolved, 80)].http_host == "zzhc.vnet.cn"
    assert flows[("tcp", resolved, 80)].src_mac == port.handset_mac
    assert flows[("tcp", "198.51.100.7", 443)].sni == "activation.example.com"
    assert ("udp", "203.0.113.5", 443) in flows
    assert ("udp", "203.0.113.6", 9999) in flows
    dns = flows[("udp", port.router_ip, 53)]
    assert "zzhc.vnet.cn" in {q.name for q in dns.dns_queries}
    assert {(r.proto, *r.dst) for r in records} <= set(flows)


def test_tshark_finds_every_flow_and_every_sunk_byte_in_the_capture(make_bench: BenchFactory) -> None:
    need_tool("tshark", "the independent oracle of what the capture holds")
    bench = make_bench(VIRTUAL)
    port = bench.port("wlan")
    capture, said, records, handset_ip = run_handset(bench)
    pcaps = [f.path for f in capture.files]
    assert len(pcaps) == 1
    pcap = pcaps[0]
    # tshark as the oracle: every flow is in the capture with its original destination...
    sent = tshark(pcap, f"ip.src=={handset_ip}", "ip.dst", "ip.proto", "tcp.dstport", "udp.dstport")
    endpoints = {(dst, proto, tport or uport) for dst, proto, tport, uport in sent}
    for expected in [
        (said["resolved"], "6", "80"),
        ("198.51.100.7", "6", "443"),
        ("203.0.113.5", "17", "443"),
        ("203.0.113.6", "17", "9999"),
        ("203.0.113.9", "253", ""),
        (port.router_ip, "17", "53"),
    ]:
        assert expected in endpoints
    # ...and every byte the sinks received is in it (nothing lost between handset and sink).
    payload = Counter[tuple[str, str]]()
    for dst, tport, length in tshark(
        pcap, f"ip.src=={handset_ip} && tcp.len > 0", "ip.dst", "tcp.dstport", "tcp.len"
    ):
        payload[(dst, tport)] += int(length)
    for record in records:
        if record.proto == "tcp":
            assert payload[(record.dst[0], str(record.dst[1]))] == record.bytes_received
    sni = tshark(pcap, "tls.handshake.type == 1", "tls.handshake.extensions_server_name")
    assert sni == [["activation.example.com"]]
    assert tshark(pcap, "dhcp.option.hostname", "dhcp.option.hostname")[0] == ["android-7plus"]
    answers = tshark(pcap, "dns.flags.response == 1 && dns.qry.name == zzhc.vnet.cn", "dns.a")
    assert [said["resolved"]] in answers


def test_the_capture_names_the_routers_addresses_macs_and_networks(make_bench: BenchFactory) -> None:
    bench = make_bench(VIRTUAL)
    port = bench.port()
    obtain_lease(port, bench.workdir)
    capture = bench.stop_capture()["wlan"]
    assert capture.router_addresses == [port.router_ip]
    assert capture.subnets == [port.subnet]
    assert capture.isolated
    assert capture.resolver_log == bench.workdir / "resolver.jsonl"
    with IPRoute(netns=bench.router_ns) as ipr:
        kernel = {
            str(ipr.get_links(ipr.link_lookup(ifname=name)[0])[0].get("IFLA_ADDRESS"))
            for name in (port.bridge, port.interface)
        }
    assert set(capture.router_macs) == kernel  # a bridge takes its first port's MAC: often one
    assert port.handset_mac not in capture.router_macs
    assert capture.to_dict()["router_macs"] == capture.router_macs


def test_after_the_capture_stops_nothing_the_handset_sends_is_delivered(make_bench: BenchFactory) -> None:
    bench = make_bench(VIRTUAL)
    port = bench.port()
    obtain_lease(port, bench.workdir)
    bench.stop_capture()
    done = in_handset(
        port,
        """
        import socket
        try:
            socket.create_connection(("198.51.100.77", 443), timeout=2)
            print("connected")
        except OSError:
            print("nothing answers")
        """,
    )
    assert done.stdout.strip() == "nothing answers", done.stderr
    time.sleep(0.2)
    assert bench.sink_records() == []


def test_capture_json_beside_the_files_reads_back_as_the_same_capture(make_bench: BenchFactory) -> None:
    bench = make_bench(VIRTUAL)
    obtain_lease(bench.port(), bench.workdir)
    capture = bench.stop_capture()["wlan"]
    saved = bench.workdir / "capture-wlan.json"
    assert Capture.load(saved) == capture
    assert saved.stat().st_mode & 0o777 == 0o600


def test_a_killed_capture_tool_is_reported_and_its_partial_file_kept(make_bench: BenchFactory) -> None:
    bench = make_bench(VIRTUAL)
    obtain_lease(bench.port(), bench.workdir)
    os.kill(started(bench.state, "capture:wlan").pid, signal.SIGKILL)
    time.sleep(0.2)
    assert any("capture:wlan" in p for p in bench.status())
    capture = bench.stop_capture()["wlan"]
    assert not capture.lossless
    assert any("ended before the bench stopped it" in p for p in capture.problems)
    assert capture.drops[0].dropped is None
    assert capture.files
    assert capture.files[0].size > 0


@pytest.mark.parametrize("tool", ["dumpcap", "tcpdump"])
def test_each_capture_tool_rotates_files_and_counts_every_datagram(
    make_bench: BenchFactory, tool: str
) -> None:
    if find_tool(tool) is None:
        pytest.skip(f"{tool} is not installed here: the bench uses the other capture tool")
    bench = make_bench(
        VIRTUAL
        + f"    capture:\n      tool: {tool}\n      format: pcap\n      rotate_mb: 1\n      max_mb: 0\n"
    )
    port = bench.port()
    lease = obtain_lease(port, bench.workdir)
    done = in_handset(
        port,
        """
        import socket
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(2500):
            u.sendto(bytes(1400), ("203.0.113.7", 7000 + i % 3))
        """,
    )
    assert done.returncode == 0, done.stderr
    capture = bench.stop_capture()["wlan"]
    assert capture.lossless, capture.problems
    assert (capture.tool, capture.format) == (tool, "pcap")
    assert len(capture.files) >= 3
    assert capture.drops[0].captured is not None
    assert capture.drops[0].captured >= 2500
    flows = analyze([f.path for f in capture.files]).flows
    sent = sum(f.packets_c2s for f in flows if f.src == lease.ip and f.dst == "203.0.113.7")
    assert sent == 2500
