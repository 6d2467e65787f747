"""The bench's resolver on a real bench: each name its own address, hostile DNS survived, nat relayed."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.bench import Bench
from phonehome.bench.dhcp_client import obtain_lease
from phonehome.bench.netops import tool
from phonehome.traffic import analyze
from tests.integration.bench.conftest import BenchFactory, Upstream, in_handset

pytestmark = pytest.mark.root

ONE_PORT = """
    name: test-resolver
    ports:
      - name: wlan
"""
POOL = ipaddress.ip_network("198.18.0.0/15")

NAMES_AND_FLOWS = """
    import json, socket
    import dns.message, dns.query, dns.rcode, dns.reversename
    router = open("/etc/resolv.conf").read().split()[1]
    def ask(name, rdtype="A", where=None, tcp=False):
        q = dns.message.make_query(name, rdtype)
        send = dns.query.tcp if tcp else dns.query.udp
        r = send(q, where or router, timeout=3)
        return dns.rcode.to_text(r.rcode()), [rd.to_text() for rrset in r.answer for rd in rrset]
    out = {}
    for name in ("telemetry.oem.example", "activation.example.com", "TELEMETRY.oem.Example."):
        out[name] = socket.gethostbyname(name)
    for name in ("telemetry.oem.example", "activation.example.com"):
        s = socket.create_connection((out[name], 443), timeout=3)
        s.sendall(("hello " + name).encode())
        s.close()
    out["ptr"] = ask(dns.reversename.from_address(out["activation.example.com"]).to_text(), "PTR")
    out["https"] = ask("activation.example.com", "HTTPS")
    out["aaaa"] = ask("activation.example.com", "AAAA")
    out["unknown"] = ask("no-such-name.invalid")
    out["google"] = ask("via-google.example", where="8.8.8.8")
    out["quad9-tcp"] = ask("via-quad9.example", where="9.9.9.9", tcp=True)
    print(json.dumps(out))
"""


def handset_json(port: object, code: str) -> dict[str, object]:
    done = in_handset(port, code)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def wait_for(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_each_name_gets_its_own_address_and_each_flow_reaches_the_sink_under_its_own_name(
    make_bench: BenchFactory,
) -> None:
    bench = make_bench(ONE_PORT)
    port = bench.port()
    lease = obtain_lease(port, bench.workdir)
    said = handset_json(port, NAMES_AND_FLOWS)
    telemetry, activation = said["telemetry.oem.example"], said["activation.example.com"]
    assert isinstance(telemetry, str)
    assert isinstance(activation, str)
    assert telemetry != activation
    assert {ipaddress.ip_address(telemetry), ipaddress.ip_address(activation)} <= set(POOL)
    assert said["TELEMETRY.oem.Example."] == telemetry
    assert said["ptr"] == ["NOERROR", ["activation.example.com."]]
    assert said["https"] == ["NOERROR", []]
    assert said["aaaa"] == ["NOERROR", []]
    assert said["unknown"][0] == "NOERROR"  # type: ignore[index]
    assert said["google"][0] == "NOERROR"  # type: ignore[index]
    assert said["quad9-tcp"][0] == "NOERROR"  # type: ignore[index]

    log = bench.dns_queries()
    named = {q.answers[0]: q.name for q in log if q.qtype == "A" and q.answers}
    assert len(named) == len(set(named.values())), "an address stands for exactly one name"
    wait_for(lambda: {(telemetry, 443), (activation, 443)} <= {r.dst for r in bench.sink_records()})
    for record in bench.sink_records():
        if record.dst[1] == 443:
            assert record.head == f"hello {named[record.dst[0]]}".encode()
    by_name = {(q.name, q.proto) for q in log}
    assert {("via-google.example", "udp"), ("via-quad9.example", "tcp")} <= by_name
    assert {q.client for q in log} == {lease.ip}
    assert all(q.rcode != "NXDOMAIN" for q in log)

    capture = bench.stop_capture()["wlan"]
    assert capture.lossless, capture.problems
    flows = analyze([f.path for f in capture.files]).flows
    to_google = [f for f in flows if f.dst == "8.8.8.8" and f.dport == 53]
    assert to_google, "the capture shows the handset asked 8.8.8.8, though the bench answered"
    assert {(f.dst, f.dport) for f in flows if f.dst in (telemetry, activation)} == {
        (telemetry, 443),
        (activation, 443),
    }


HOSTILE = """
    import socket, struct, time
    router = open("/etc/resolv.conf").read().split()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk = [b"", b"\\x00", b"\\xff" * 12, b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\xc0\\x0c\\x00\\x01\\x00\\x01",
            bytes(range(256)) * 4, b"\\x00" * 4000]
    for where in (router, "8.8.8.8"):
        for j in junk:
            u.sendto(j, (where, 53))
    held = []
    for i in range(100):
        try:
            c = socket.create_connection((router, 53), timeout=2)
            held.append(c)
        except OSError:
            break
    for c in held[:10]:
        c.sendall(b"\\xff\\xff" + b"\\x00" * 100)  # claims 65535 bytes, sends 100
    for c in held[10:20]:
        c.sendall(struct.pack("!H", 12) + b"\\xff" * 12)
    for c in held:
        c.close()
    print(len(held))
"""

STILL_ANSWERS = """
    import dns.message, dns.query, socket
    router = open("/etc/resolv.conf").read().split()[1]
    r = dns.query.tcp(dns.message.make_query("after-the-storm.example", "A"), router, timeout=5)
    print(r.answer[0][0].to_text())
"""


def test_hostile_dns_over_udp_and_tcp_never_stops_the_resolver(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT)
    port = bench.port()
    obtain_lease(port, bench.workdir)
    hostile = in_handset(port, HOSTILE)
    assert hostile.returncode == 0, hostile.stderr
    after = in_handset(port, STILL_ANSWERS)
    assert after.returncode == 0, after.stderr
    assert ipaddress.ip_address(after.stdout.strip()) in POOL
    formerr = [q for q in bench.dns_queries() if q.rcode == "FORMERR"]
    assert formerr, "a malformed question is answered FORMERR (and logged)"
    capture = bench.stop_capture()["wlan"]
    assert not [p for p in capture.problems if "resolver" in p], capture.problems


def test_a_handset_that_floods_unique_names_exhausts_the_pool_and_the_capture_says_so(
    make_bench: BenchFactory,
) -> None:
    bench = make_bench(ONE_PORT + "    resolver:\n      pool_ipv4: 198.18.0.0/28\n")
    port = bench.port()
    obtain_lease(port, bench.workdir)
    done = in_handset(
        port,
        """
        import dns.message, dns.query, dns.rcode
        router = open("/etc/resolv.conf").read().split()[1]
        for i in range(40):
            r = dns.query.udp(dns.message.make_query(f"flood-{i}.example", "A"), router, timeout=3)
            print(dns.rcode.to_text(r.rcode()), *[rd.to_text() for rrset in r.answer for rd in rrset])
        """,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["NOERROR"] * 14 + ["SERVFAIL"] * 26
    assert len({line.split()[1] for line in lines[:14]}) == 14
    assert any("ran out of addresses" in p for p in bench.status())
    capture = bench.stop_capture()["wlan"]
    assert not capture.lossless
    assert any("ran out of addresses" in p for p in capture.problems)


def test_offline_mode_gives_each_name_its_own_address_too(make_bench: BenchFactory) -> None:
    bench = make_bench(ONE_PORT + "    mode: offline\n")
    port = bench.port()
    obtain_lease(port, bench.workdir)
    said = handset_json(
        port,
        """
        import json, socket
        print(json.dumps([socket.gethostbyname(n) for n in ("a.example", "b.example", "a.example")]))
        """,
    )
    first, second, again = said  # type: ignore[misc]
    assert first != second
    assert first == again
    assert ipaddress.ip_address(first) in POOL


@pytest.fixture
def upstream_dns(upstream: Upstream, tmp_path: Path) -> Iterator[Path]:
    """A DNS server of the upstream namespace answering every name with ``other_ip``; its query log."""
    log = tmp_path / "upstream-dns.log"
    argv = [
        "ip",
        "netns",
        "exec",
        upstream.netns,
        tool("dnsmasq"),
        "--keep-in-foreground",
        "--conf-file=/dev/null",
    ]
    argv += ["--no-hosts", "--no-resolv", "--pid-file=", "--user=root", "--bind-interfaces", "--port=53"]
    argv += [f"--listen-address={upstream.allowed_ip}", f"--address=/#/{upstream.other_ip}"]
    argv += ["--local=/nx.example/", "--log-queries", f"--log-facility={log}"]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while "started" not in (log.read_text() if log.exists() else ""):
            assert server.poll() is None, "the upstream's dnsmasq did not start"
            assert time.monotonic() < deadline, "the upstream's dnsmasq did not start"
            time.sleep(0.05)
        yield log
    finally:
        server.terminate()
        server.wait(10)


def test_nat_mode_relays_the_upstreams_real_answers_and_logs_them(
    upstream: Upstream, upstream_dns: Path, make_bench: BenchFactory
) -> None:
    bench: Bench = make_bench(
        f"""
        name: test-nat-dns
        mode: nat
        ports:
          - name: wlan
        nat:
          interface: {upstream.host_if}
          dns: [{upstream.allowed_ip}]
        """
    )
    port = bench.port()
    obtain_lease(port, bench.workdir)
    said = handset_json(
        port,
        """
        import json, socket
        import dns.message, dns.query, dns.rcode
        out = {"real": socket.gethostbyname("real.example")}
        r = dns.query.udp(dns.message.make_query("elsewhere.example", "A"), "8.8.8.8", timeout=5)
        out["via-8.8.8.8"] = [rd.to_text() for rrset in r.answer for rd in rrset]
        r = dns.query.udp(dns.message.make_query("gone.nx.example", "A"), "8.8.8.8", timeout=5)
        out["nx"] = dns.rcode.to_text(r.rcode())
        print(json.dumps(out))
        """,
    )
    assert said == {"real": upstream.other_ip, "via-8.8.8.8": [upstream.other_ip], "nx": "NXDOMAIN"}
    log = {(q.name, q.answers, q.rcode) for q in bench.dns_queries()}
    assert ("real.example", (upstream.other_ip,), "NOERROR") in log
    assert ("elsewhere.example", (upstream.other_ip,), "NOERROR") in log
    assert ("gone.nx.example", (), "NXDOMAIN") in log
    asked_upstream = upstream_dns.read_text()
    assert "real.example" in asked_upstream
    assert "elsewhere.example" in asked_upstream, "DNS to 8.8.8.8 went to the bench's resolver, then upstream"
