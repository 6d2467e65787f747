"""Writes a realistic mixed handset capture of a chosen size, for benchmarking the analyzer against tshark.

    .venv/bin/python benchmarks/gen_capture.py --size 500M    # -> benchmarks/data/handset-500M.pcapng

What a phone does on a bench, in proportion: DNS lookups (A and AAAA, CNAME
chains) before each connection; TLS 1.3 connections that shake hands and
then download (video, images) or upload in MSS-sized segments with ACKs;
QUIC connections (a real Initial with the ClientHello, then 1-RTT packets);
cleartext HTTP with bodies (Content-Length and chunked, both ways); a
cellular interface with raw-IP framing beside the Wi-Fi one (pcapng with two
interfaces, as dumpcap writes); some IPv6; NTP, ICMP, mDNS; a little loss
and reordering. Deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from collections.abc import Iterator
from pathlib import Path

from phonehome.traffic import dns, http, quic, tls
from phonehome.traffic.factory import ETHERNET, RAW, Link, Packet, ipv4, ipv6, pcapng_stream, tcp, udp
from phonehome.traffic.tcp import ACK, FIN, PSH, SYN

DATA = Path(__file__).resolve().parent / "data"
MSS = 1448
T0 = 1_700_000_000.0
WIFI, CELL = 0, 1
HANDSET4, HANDSET6, CELL4 = "192.168.49.23", "2001:db8:49::23", "100.64.7.9"
RESOLVER = "192.168.49.1"
CONCURRENT = 6

HOSTS = [
    "www.google.com", "play.googleapis.com", "android.clients.google.com", "firebaselogging-pa.googleapis.com",
    "graph.facebook.com", "scontent.xx.fbcdn.net", "i.ytimg.com", "rr3---sn-4g5e6nzz.googlevideo.com",
    "api.vendor-telemetry.example", "ota.handset-vendor.example", "cdn.images.example", "tracker.ads.example",
    "connectivitycheck.gstatic.com", "time.android.com", "mtalk.google.com", "weather.api.example",
]  # fmt: skip


class Gen:
    """Builds packets; one random pool stands in for encrypted and compressed bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pool = self.rng.randbytes(1 << 20)
        self.next_port = 33000
        self.addresses: dict[str, tuple[str, str]] = {}

    def blob(self, n: int) -> bytes:
        start = self.rng.randrange(0, len(self.pool) - n) if n < len(self.pool) else 0
        return self.pool[start : start + n]

    def port(self) -> int:
        self.next_port = 33000 + (self.next_port - 33000 + 1) % 28000
        return self.next_port

    def server(self, host: str) -> tuple[str, str]:
        if host not in self.addresses:
            n = len(self.addresses)
            self.addresses[host] = (f"198.51.{100 + n // 250}.{1 + n % 250}", f"2001:db8:ff::{n + 1:x}")
        return self.addresses[host]


def _frame(link: Link, iface: int, ts: float, packet: bytes, from_client: bool) -> Packet:
    return Packet(ts, link.frame(packet, from_client), link.linktype, interface=iface)


class Tcp:
    """One TCP connection's packets, with sequence numbers, ACKs and a little loss."""

    def __init__(
        self,
        gen: Gen,
        client: str,
        server: str,
        dport: int,
        ts: float,
        *,
        link: Link = ETHERNET,
        iface: int = WIFI,
    ) -> None:
        self.gen, self.client, self.server, self.dport = gen, client, server, dport
        self.sport = gen.port()
        self.ts, self.link, self.iface = ts, link, iface
        self.seq = [gen.rng.getrandbits(32), gen.rng.getrandbits(32)]
        self.v6 = ":" in client

    def _packet(self, from_client: bool, flags: int, payload: bytes = b"", seq: int | None = None) -> Packet:
        side = 0 if from_client else 1
        sp, dp = (self.sport, self.dport) if from_client else (self.dport, self.sport)
        segment = tcp(
            sp, dp, flags, payload, seq=self.seq[side] if seq is None else seq, ack=self.seq[1 - side]
        )
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        packet = ipv6(segment, src, dst, 6) if self.v6 else ipv4(segment, src, dst, 6)
        return _frame(self.link, self.iface, self.ts, packet, from_client)

    def handshake(self) -> Iterator[Packet]:
        yield self._packet(True, SYN)
        self.seq[0] += 1
        self.ts += 0.02
        yield self._packet(False, SYN | ACK)
        self.seq[1] += 1
        self.ts += 0.0002
        yield self._packet(True, ACK)

    def send(self, data: bytes, from_client: bool, *, rate: float = 6e6) -> Iterator[Packet]:
        """``data`` in MSS segments at ``rate`` bytes/s, an ACK every two, rare loss and reordering."""
        side = 0 if from_client else 1
        rng = self.gen.rng
        held: Packet | None = None
        for count, offset in enumerate(range(0, len(data), MSS), 1):
            chunk = data[offset : offset + MSS]
            self.ts += len(chunk) / rate
            packet = self._packet(from_client, ACK | PSH, chunk)
            self.seq[side] += len(chunk)
            if rng.random() < 0.001:
                held = packet  # sent again later: a retransmission after loss
                continue
            if held is not None and rng.random() < 0.5:
                yield packet
                packet, held = held, None
            yield packet
            if count % 2 == 0:
                self.ts += 0.00005
                yield self._packet(not from_client, ACK)
        if held is not None:
            yield held
        self.ts += 0.0003
        yield self._packet(not from_client, ACK)

    def close(self) -> Iterator[Packet]:
        self.ts += 0.05
        yield self._packet(True, FIN | ACK)
        self.seq[0] += 1
        self.ts += 0.02
        yield self._packet(False, FIN | ACK)
        self.seq[1] += 1
        yield self._packet(True, ACK)


def lookup(gen: Gen, host: str, ts: float) -> Iterator[Packet]:
    """A and AAAA queries and answers, with a CDN CNAME for some names."""
    v4, v6 = gen.server(host)
    for qtype, address in ((dns.A, v4), (dns.AAAA, v6)):
        sport = gen.port()
        ident = gen.rng.getrandbits(16)
        cname = f"{host.split('.', maxsplit=1)[0]}.edge.cdn.example"
        records = (
            [dns.DnsRecord(host, dns.CNAME, 60, cname), dns.DnsRecord(cname, qtype, 60, address)]
            if len(host) % 2
            else [dns.DnsRecord(host, qtype, 60, address)]
        )
        query = udp(sport, 53, dns.build_query(host, qtype, id=ident))
        answer = udp(53, sport, dns.build_response(host, records, qtype=qtype, id=ident))
        yield _frame(ETHERNET, WIFI, ts, ipv4(query, HANDSET4, RESOLVER, 17), True)
        ts += 0.012
        yield _frame(ETHERNET, WIFI, ts, ipv4(answer, RESOLVER, HANDSET4, 17), False)
        ts += 0.0005


def tls_session(
    gen: Gen, ts: float, size: int, *, upload: bool = False, cellular: bool = False, v6: bool = False
) -> Iterator[Packet]:
    host = gen.rng.choice(HOSTS)
    if not cellular:
        yield from lookup(gen, host, ts)
        ts += 0.03
    v4addr, v6addr = gen.server(host)
    if cellular:
        conn = Tcp(gen, CELL4, v4addr, 443, ts, link=RAW, iface=CELL)
    else:
        conn = Tcp(gen, HANDSET6 if v6 else HANDSET4, v6addr if v6 else v4addr, 443, ts)
    yield from conn.handshake()
    yield from conn.send(tls.build_client_hello(host, alpn=("h2", "http/1.1"), grease=True), True)
    server_flight = (
        tls.build_server_hello(0x0304)
        + b"\x14\x03\x03\x00\x01\x01"
        + b"\x17\x03\x03\x0f\xa0"
        + gen.blob(4000)
    )
    yield from conn.send(server_flight, False)
    yield from conn.send(
        b"\x17\x03\x03\x00\x35" + gen.blob(53) + b"\x17\x03\x03\x01\x80" + gen.blob(384), True
    )
    body = b"".join(b"\x17\x03\x03\x40\x11" + gen.blob(16401) for _ in range(max(1, size // 16406)))
    yield from conn.send(body, upload, rate=12e6)
    yield from conn.close()


def quic_session(gen: Gen, ts: float, size: int) -> Iterator[Packet]:
    host = gen.rng.choice(HOSTS)
    yield from lookup(gen, host, ts)
    ts += 0.03
    server = gen.server(host)[0]
    sport = gen.port()
    dcid = gen.rng.randbytes(8)

    def datagram(payload: bytes, from_client: bool) -> Packet:
        sp, dp = (sport, 443) if from_client else (443, sport)
        src, dst = (HANDSET4, server) if from_client else (server, HANDSET4)
        return _frame(ETHERNET, WIFI, ts, ipv4(udp(sp, dp, payload), src, dst, 17), from_client)

    for initial in quic.build_initial(host, dcid=dcid, split=2):
        yield datagram(initial, True)
        ts += 0.0002
    ts += 0.02
    yield datagram(b"\xc1\x00\x00\x00\x01\x08" + gen.blob(1194), False)
    sent = 0
    count = 0
    while sent < size:
        ts += 1350 / 15e6
        yield datagram(b"\x41" + dcid + gen.blob(1341), False)
        sent += 1350
        count += 1
        if count % 4 == 0:
            yield datagram(b"\x43" + gen.blob(40), True)


def http_session(gen: Gen, ts: float, size: int) -> Iterator[Packet]:
    host = gen.rng.choice(HOSTS)
    yield from lookup(gen, host, ts)
    server = gen.server(host)[0]
    conn = Tcp(gen, HANDSET4, server, 80, ts + 0.03)
    yield from conn.handshake()
    kind = gen.rng.randrange(3)
    if kind == 0:  # a telemetry POST with identifiers in JSON, then an image download
        body = b'{"imei":"352099001761481","mac":"02:00:00:4a:bc:01","events":[' + b'{"t":1},' * 200 + b"{}]}"
        yield from conn.send(
            http.build_request(
                "POST", "/v1/collect", {"Host": host, "Content-Type": "application/json"}, body
            ),
            True,
        )
        yield from conn.send(b"HTTP/1.1 204 No Content\r\n\r\n", False)
        yield from conn.send(http.build_request("GET", "/img/banner.jpg", {"Host": host}), True)
        payload = gen.blob(size)
        yield from conn.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(payload)
            + payload,
            False,
        )
    elif kind == 1:  # a chunked upload (logs)
        logs = gen.blob(min(size, 400_000))
        yield from conn.send(
            http.build_request("PUT", "/logs/upload", {"Host": host}, logs, chunked=True, chunk_size=8192),
            True,
        )
        yield from conn.send(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", False)
    else:  # a chunked download
        yield from conn.send(
            http.build_request("GET", "/feed?since=0", {"Host": host, "Accept-Encoding": "gzip"}), True
        )
        chunks = b"".join(b"%x\r\n" % 4096 + gen.blob(4096) + b"\r\n" for _ in range(max(1, size // 4100)))
        yield from conn.send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n", False
        )
    yield from conn.close()


def background(gen: Gen, ts: float) -> Iterator[Packet]:
    """NTP, a ping, an mDNS query: small things a handset sends anyway."""
    ntp = udp(gen.port(), 123, b"\x23" + bytes(47))
    yield _frame(ETHERNET, WIFI, ts, ipv4(ntp, HANDSET4, "198.51.100.123", 17), True)
    ping = b"\x08\x00\x00\x00" + gen.blob(56)
    yield _frame(ETHERNET, WIFI, ts + 0.001, ipv4(ping, HANDSET4, "198.51.100.9", 1), True)
    mdns = udp(5353, 5353, dns.build_query("_googlecast._tcp.local", 12, id=0))
    yield _frame(ETHERNET, WIFI, ts + 0.002, ipv4(mdns, HANDSET4, "224.0.0.251", 17), True)


def session(gen: Gen, ts: float) -> Iterator[Packet]:
    """One session, drawn so that bytes split roughly 55% TLS, 25% QUIC, 12% HTTP, 8% cellular raw IP."""
    rng = gen.rng
    roll = rng.random()
    if roll < 0.45:
        return tls_session(
            gen, ts, rng.randrange(200_000, 8_000_000), upload=rng.random() < 0.1, v6=rng.random() < 0.2
        )
    if roll < 0.62:
        return quic_session(gen, ts, rng.randrange(200_000, 6_000_000))
    if roll < 0.80:
        return http_session(gen, ts, rng.randrange(20_000, 1_500_000))
    if roll < 0.88:
        return tls_session(gen, ts, rng.randrange(100_000, 3_000_000), cellular=True)
    return background(gen, ts)


def small_session(gen: Gen, ts: float) -> Iterator[Packet]:
    """One session of a first boot or an idle soak, where per-packet cost dominates: a lookup, a TLS
    handshake with a few records, a short cleartext request, a short QUIC exchange, or background."""
    rng = gen.rng
    roll = rng.random()
    if roll < 0.40:
        return tls_session(
            gen, ts, rng.randrange(800, 6_000), upload=rng.random() < 0.3, v6=rng.random() < 0.2
        )
    if roll < 0.55:
        return http_session(gen, ts, rng.randrange(100, 2_000))
    if roll < 0.65:
        return quic_session(gen, ts, rng.randrange(800, 4_000))
    if roll < 0.85:
        return lookup(gen, f"h{rng.randrange(400)}.example{rng.randrange(30)}.com", ts)
    return background(gen, ts)


SHAPES = {"mixed": session, "small": small_session}


def packets(gen: Gen, size: int, shape: str = "mixed") -> Iterator[Packet]:
    """Sessions overlapping in time, merged by timestamp, until about ``size`` bytes were produced."""
    heap: list[tuple[float, int, Packet, Iterator[Packet]]] = []
    produced = 0
    started = 0
    start_ts = T0

    def start() -> None:
        nonlocal started, start_ts
        start_ts += gen.rng.expovariate(4.0)
        it = SHAPES[shape](gen, start_ts)
        first = next(it, None)
        if first is not None:
            started += 1
            heapq.heappush(heap, (first.ts, started, first, it))

    for _ in range(CONCURRENT):
        start()
    while heap:
        _, n, packet, it = heapq.heappop(heap)
        produced += len(packet.data) + 32
        yield packet
        nxt = next(it, None)
        if nxt is not None:
            heapq.heappush(heap, (max(nxt.ts, packet.ts), n, nxt, it))
        elif produced < size:
            while len(heap) < CONCURRENT and produced < size:
                start()


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="500M", help="approximate file size: 50M, 500M, 2G (default 500M)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--shape",
        choices=sorted(SHAPES),
        default="mixed",
        help="mixed: bulk TLS/QUIC/HTTP; small: many small packets (a first boot's or an idle soak's shape)",
    )
    parser.add_argument("-o", "--output", type=Path, help="default: benchmarks/data/handset-SIZE.pcapng")
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    suffix = "" if args.shape == "mixed" else f"-{args.shape}"
    out = args.output or DATA / f"handset-{args.size.upper()}{suffix}.pcapng"
    out.parent.mkdir(parents=True, exist_ok=True)
    gen = Gen(args.seed)
    tmp = out.with_suffix(out.suffix + ".part")
    count = 0
    with open(tmp, "wb") as f:
        buffer: list[bytes] = []
        for block in pcapng_stream(packets(gen, size, args.shape), comment="phonehome benchmark capture"):
            buffer.append(block)
            count += 1
            if len(buffer) >= 4096:
                f.write(b"".join(buffer))
                buffer.clear()
        f.write(b"".join(buffer))
    tmp.replace(out)
    print(f"{out}: {out.stat().st_size / 1e6:.0f} MB, {count - 3} packets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
