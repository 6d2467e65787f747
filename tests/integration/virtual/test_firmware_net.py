"""The virtual handset's network side on a real bench: DHCP, DNS, TCP/TLS/QUIC/UDP, and ADB out of band."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.bench import Bench
from phonehome.traffic import analyze
from phonehome.virtual.firmware import Behaviour, on_port
from phonehome.virtual.net.httpclient import chunk
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.bench.conftest import leftovers
from tests.integration.virtual.firmware_run import BENCH, run_profile

pytestmark = pytest.mark.root


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    """The virtual bench, brought down afterwards, and checked to have left nothing."""
    up = Bench.from_file(BENCH, workdir=tmp_path / "bench").up()
    run_id = up.run_id
    try:
        yield up
    finally:
        up.down()
        assert leftovers(run_id) == []


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _netns_files(netns: str) -> dict[str, str | None]:
    folder = Path("/etc/netns") / netns
    return {p.name: _digest(p) for p in folder.iterdir()} if folder.is_dir() else {}


def test_the_handset_takes_a_lease_with_androids_dhcp_options_and_touches_no_resolver_file(
    bench: Bench,
) -> None:
    port = bench.port()
    host_resolv, netns_files = _digest(Path("/etc/resolv.conf")), _netns_files(port.netns or "")
    with on_port("nokia-7-plus-2019", port.netns or "", port.handset_ifname or "", seed="dhcp",
                 time_scale=1e-4, behaviour=Behaviour()) as firmware:  # fmt: skip
        handset = firmware.handset
        assert firmware.network is not None
        lease = firmware.network.lease
        assert lease is not None
        assert (lease.router, lease.dns) == (port.router_ip, (port.router_ip,))
        recorded = handset.state.fs.read_bytes("/data/misc/dhcp/udhcpc-wlan0.lease").decode()
        assert f"ip={lease.ip}" in recorded
    [served] = [entry for entry in bench.leases() if entry.ip == lease.ip]
    assert served.hostname == f"android-{handset.identity.android_id}", "Android 9 sends android-<ANDROID_ID>"
    assert served.vendor_class == "android-dhcp-9"
    assert _digest(Path("/etc/resolv.conf")) == host_resolv
    assert _netns_files(port.netns or "") == netns_files


ALL_TRANSPORTS = {
    "network_wait_s": 5,
    "network-attach": [
        {"label": "lookup", "dns": {"name": "lookup.test.example", "types": ["A", "AAAA", "HTTPS"]}},
        {"label": "chunked", "http": {
            "url": "http://upload.test.example:8080/u?x=1", "method": "POST", "chunked": True, "chunk_size": 7,
            "headers": {"User-Agent": "okhttp/4.12.0"}, "body": {"json": {"serial": "{serial}"}}}},
        {"label": "https", "http": {"url": "https://secure.test.example/p", "alpn": ["h2", "http/1.1"]}},
        {"label": "tls-literal", "tls": {"host": "198.51.100.9", "alpn": ["http/1.1"]}},
        {"label": "quic", "quic": {"host": "quic.test.example", "alpn": ["h3"]}},
        {"label": "udp", "udp": {"host": "203.0.113.50", "port": 5683, "payload": {"hex": "40010001b16d"}}},
        {"label": "tcp", "tcp": {"host": "tcp.test.example", "port": 7000, "payload": {"text": "hello {model}"}}},
        {"label": "no-reply", "timeout_s": 0.3,
         "udp": {"host": "silent.test.example", "port": 9, "payload": {"text": "ping"}, "wait_reply": True}},
    ],
}  # fmt: skip


def test_every_transport_reaches_the_bench_as_declared(bench: Bench) -> None:
    port = bench.port()
    behaviour = Behaviour.model_validate(ALL_TRANSPORTS)
    started = time.monotonic()
    with on_port("aosp-clean", port.netns or "", port.handset_ifname or "", seed="transports",
                 time_scale=1e-4, behaviour=behaviour) as firmware:  # fmt: skip
        outcomes = {o.label: o for o in firmware.wait_window(timeout=30)}
        handset = firmware.handset
        assert handset.adb_online, "a failed action does not bring the handset down"
    assert time.monotonic() - started < 15
    assert not outcomes["no-reply"].ok
    assert "timed out" in outcomes["no-reply"].detail
    assert not outcomes["https"].ok, "the sink ends TLS after the hello"
    assert "TLS" in outcomes["https"].detail
    assert all(outcomes[k].ok for k in ("lookup", "chunked", "quic", "udp", "tcp")), outcomes
    capture = bench.stop_capture()[port.name]
    records = bench.sink_records()

    by_dst = {(r.proto, r.dst[1]): r for r in records}
    chunked = by_dst[("tcp", 8080)]
    assert chunked.http_heads[0].startswith("POST /u?x=1 HTTP/1.1\r\nHost: upload.test.example:8080\r\n")
    assert "Transfer-Encoding: chunked" in chunked.http_heads[0]
    assert chunked.head.endswith(
        chunk(json.dumps({"serial": handset.identity.serial}).replace(" ", "").encode(), 7)
    )
    hellos = {r.dst[0]: r for r in records if r.client_hello}
    assert {r.sni for r in hellos.values()} == {"secure.test.example", None}
    secure = next(r for r in hellos.values() if r.sni == "secure.test.example")
    assert secure.hello is not None
    assert secure.hello.alpn == ["h2", "http/1.1"]
    assert "198.51.100.9" in hellos
    assert hellos["198.51.100.9"].sni is None, "an IP literal sends no SNI"
    assert by_dst[("udp", 5683)].head == bytes.fromhex("40010001b16d")
    assert by_dst[("udp", 5683)].dst[0] == "203.0.113.50"
    assert by_dst[("tcp", 7000)].head == f"hello {handset.profile.build.model}".encode()

    asked = {(q.name, q.qtype.replace("type=65", "HTTPS")) for q in bench.dns_queries()}
    assert {("lookup.test.example", t) for t in ("A", "AAAA", "HTTPS")} <= asked
    assert not any(q.name in ("198.51.100.9", "203.0.113.50") for q in bench.dns_queries())

    flows = analyze([f.path for f in capture.files]).flows
    quic = [f for f in flows if f.transport == "quic"]
    assert [(f.server_name, f.name_source) for f in quic] == [("quic.test.example", "quic-sni")]
    named = {f.dport: f.server_name for f in flows if f.proto == "tcp"}
    assert named[7000] == "tcp.test.example", "each flow is named by its own lookup, not a neighbour's"
    assert named[8080] == "upload.test.example"


def test_adb_is_out_of_band_nothing_of_it_is_on_the_bench_capture(
    adb_server: PrivateAdbServer, tmp_path: Path
) -> None:
    def use_adb(handset: object, bench: Bench) -> dict[str, object]:
        serial = handset.adb_serial  # type: ignore[attr-defined]
        adb_server.connect(serial)
        try:
            said = adb_server.run("-s", serial, "shell", "getprop", "ro.serialno").stdout.strip()
            listing = adb_server.run("-s", serial, "shell", "ls", "/data/misc/dhcp").stdout
        finally:
            adb_server.run("disconnect", serial)
        return {"serialno": said, "listing": listing, "adb_port": handset.adb_port}  # type: ignore[attr-defined]

    run = run_profile("aosp-clean", tmp_path, seed="oob", during=use_adb)
    assert leftovers(run.run_id) == []
    assert run.observed["serialno"] == run.handset.serial, "ADB was really used during the capture"
    assert "udhcpc-wlan0.lease" in str(run.observed["listing"])
    assert run.analysis.flows, "the capture holds the handset's traffic"
    adb_port = run.observed["adb_port"]
    assert not [
        f
        for f in run.analysis.flows
        if adb_port in (f.sport, f.dport) or (f.proto == "tcp" and 5037 in (f.sport, f.dport))
    ]
    raw = b"".join(f.path.read_bytes() for f in run.capture.files)
    for marker in (b"CNXN", b"host::", b"shell,v2", b"ro.serialno", run.handset.serial.encode()):
        assert marker not in raw, f"{marker!r} from the ADB session is in the bench capture"
