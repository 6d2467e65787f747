"""Captures the policy tests build with the traffic factory: a bench run of the 2019 case, and a clean one."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from phonehome.traffic import dns, http, tls
from phonehome.traffic.factory import TcpConversation, UdpConversation, interleave, pcapng_bytes

HANDSET = "10.77.0.2"
RESOLVER = "10.77.0.1"
ZZHC = "203.0.113.5"  # sink for zzhc.vnet.cn (TEST-NET-3)
GOOGLE = "142.250.74.110"
T0 = 1_700_000_000.0
IMEI, ICCID, MAC = "352099001761481", "89860312345678901234", "AA:BB:CC:DD:EE:0F"


def self_registration_body() -> bytes:
    doc = {
        "REGVER": "7",
        "MEID": "",
        "MODEL": "TA-1062",
        "IMEI1": IMEI,
        "IMEI2": "",
        "SIM1ICCID": ICCID,
        "SIM1LTEIMSI": "460031234567890",
        "MACID": MAC,
        "CELLID": str(219769363 & 0xFF),
        "REGDATE": "2019-01-21 10:11:12",
    }
    return base64.encodebytes(json.dumps(doc).encode())  # Android Base64.DEFAULT: a line break every 76


def _dns(name: str, answer: str, port: int, ts: float) -> list:  # type: ignore[type-arg]
    conv = UdpConversation((HANDSET, port), (RESOLVER, 53), ts=ts)
    conv.send(dns.build_query(name))
    conv.send(dns.build_response(name, [dns.DnsRecord(name, dns.A, 60, answer)]), from_client=False)
    return conv.packets


def _tls(name: str, dst: str, port: int, ts: float) -> list:  # type: ignore[type-arg]
    conv = TcpConversation((HANDSET, port), (dst, 443), ts=ts).handshake()
    conv.send(tls.build_client_hello(name)).send(tls.build_server_hello(0x0304), from_client=False).close()
    return conv.packets


def clean_packets(t0: float = T0) -> list:  # type: ignore[type-arg]
    return [
        *_dns("android.googleapis.com", GOOGLE, 50001, t0),
        *_tls("android.googleapis.com", GOOGLE, 41001, t0 + 1),
    ]


def nokia_2019_packets(t0: float = T0) -> list:  # type: ignore[type-arg]
    body = self_registration_body()
    request = http.build_request(
        "POST",
        "/",
        [
            ("Host", "zzhc.vnet.cn:9999"),
            ("User-Agent", "zzhc/1.0.0"),
            ("Content-Type", "application/encrypted-json"),
            ("Content-Length", str(len(body))),
        ],
        body,
    )
    post = TcpConversation((HANDSET, 41002), (ZZHC, 9999), ts=t0 + 3, mss=200).handshake()
    post.send(request).send(
        b'HTTP/1.1 200 OK\r\nContent-Length: 38\r\n\r\n{"resultCode":"0","resultDesc":"Success"}',
        from_client=False,
    ).close()
    return interleave(clean_packets(t0), _dns("zzhc.vnet.cn", ZZHC, 50002, t0 + 2), post.packets)


def write(path: Path, packets: list, **kw: object) -> Path:  # type: ignore[type-arg]
    path.write_bytes(pcapng_bytes(packets, drops={0: 0}, **kw))  # type: ignore[arg-type]
    return path
