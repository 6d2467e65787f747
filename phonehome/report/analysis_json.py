"""The JSON form of an analysis: what ``phonehome analyze --format json`` writes and labs script against.

Its shape is fixed by ``analysis.schema.json`` (shipped in ``phonehome.traffic``,
beside the records it describes; ``phonehome.traffic.analysis.schema`` reads it);
``SCHEMA_VERSION`` changes when a field changes meaning or goes away.
HTTP bodies are not exported (they may hold personal data and can be large):
their length and whether they were cut are.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

from phonehome.traffic.analysis import Analysis, schema
from phonehome.traffic.endpoints import Endpoint
from phonehome.traffic.flow import DhcpMessage, Flow, HttpRequest, TlsHello, Tunnel
from phonehome.traffic.pcapfile import CaptureFile

SCHEMA_VERSION: Final = 2

__all__ = ["SCHEMA_VERSION", "compact", "endpoint_dict", "flow_dict", "schema", "to_dict"]


def _hello(hello: TlsHello | None) -> dict[str, Any] | None:
    if hello is None:
        return None
    return {
        "sni": hello.sni,
        "alpn": list(hello.alpn),
        "legacy_version": hello.legacy_version,
        "versions": list(hello.versions),
        "cipher_suites": list(hello.cipher_suites),
        "ech": hello.ech,
        "frame": hello.frame,
    }


def _request(request: HttpRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "target": request.target,
        "version": request.version,
        "host": request.host,
        "headers": [[name, value] for name, value in request.headers],
        "body_length": len(request.body),
        "body_truncated": request.body_truncated,
        "offset": request.offset,
        "first_frame": request.first_frame,
        "last_frame": request.last_frame,
        "decrypted": request.decrypted,
    }


def _tunnel(tunnel: Tunnel | None) -> dict[str, Any] | None:
    if tunnel is None:
        return None
    return {"kind": tunnel.kind, "src": tunnel.src, "dst": tunnel.dst, "flow_id": tunnel.flow_id}


def _dhcp(msg: DhcpMessage) -> dict[str, Any]:
    return {
        "version": msg.version,
        "from_client": msg.from_client,
        "message_type": msg.message_type,
        "frame": msg.frame,
        "offset": msg.offset,
        "link_spans": [list(span) for span in msg.link_spans],
        "client_mac": msg.client_mac,
        "server_id": msg.server_id,
        "your_address": msg.your_address,
        "routers": list(msg.routers),
        "dns_servers": list(msg.dns_servers),
        "hostname": msg.hostname,
        "vendor_class": msg.vendor_class,
    }


def flow_dict(flow: Flow) -> dict[str, Any]:
    names: dict[str, None] = dict.fromkeys(q.name for q in flow.dns_queries)
    return {
        "id": flow.id,
        "proto": flow.proto,
        "src": flow.src,
        "sport": flow.sport,
        "dst": flow.dst,
        "dport": flow.dport,
        "src_mac": flow.src_mac,
        "dst_mac": flow.dst_mac,
        "transport": flow.transport,
        "app": flow.app,
        "server_name": flow.server_name,
        "name_source": flow.name_source,
        "sni": flow.sni,
        "http_host": flow.http_host,
        "dns_queries": list(names),
        "first_frame": flow.first_frame,
        "last_frame": flow.last_frame,
        "first_ts": flow.first_ts,
        "last_ts": flow.last_ts,
        "packets_c2s": flow.packets_c2s,
        "packets_s2c": flow.packets_s2c,
        "bytes_c2s": flow.bytes_c2s,
        "bytes_s2c": flow.bytes_s2c,
        "gaps_c2s": flow.gaps_c2s,
        "gaps_s2c": flow.gaps_s2c,
        "closed": flow.closed,
        "tls": _hello(flow.tls),
        "tls_server_version": flow.tls_server_version,
        "tls_cipher_suite": flow.tls_cipher_suite,
        "decrypted": flow.decrypted,
        "decrypted_c2s": flow.decrypted_c2s,
        "decrypted_s2c": flow.decrypted_s2c,
        "http_requests": [_request(r) for r in flow.http_requests],
        "claims": [
            {"name": c.name, "source": c.source, "frame": c.frame, "decrypted": c.decrypted}
            for c in flow.claims
        ],
        "tunnel": _tunnel(flow.tunnel),
        "dhcp": [_dhcp(m) for m in flow.dhcp],
        "icmp_types": list(flow.icmp_types),
        "cleartext_in_tls": flow.cleartext_in_tls,
        "anomalies": list(flow.anomalies),
    }


def endpoint_dict(ep: Endpoint) -> dict[str, Any]:
    return {
        "name": ep.name,
        "named": ep.named,
        "name_sources": ep.name_sources,
        "addresses": ep.addresses,
        "ports": ep.ports,
        "transports": ep.transports,
        "apps": ep.apps,
        "flows": ep.flows,
        "bytes_c2s": ep.bytes_c2s,
        "bytes_s2c": ep.bytes_s2c,
        "first_frame": ep.first_frame,
        "first_ts": ep.first_ts,
        "clients": ep.clients,
    }


def _file(info: CaptureFile) -> dict[str, Any]:
    return {
        "path": info.path,
        "sha256": info.sha256,
        "format": info.format,
        "compressed": info.compressed,
        "size": info.size,
        "link_types": info.link_types,
        "packets": info.packets,
        "bytes": info.bytes,
        "first_frame": info.first_frame,
        "truncated": info.truncated,
        "drops": info.drops,
        "comments": [{"frame": frame, "text": text} for frame, text in info.comments],
        "decryption_secrets": info.decryption_secrets,
    }


def to_dict(analysis: Analysis) -> dict[str, Any]:
    """The analysis as plain JSON-ready data (see ``analysis.schema.json``)."""
    files = [_file(f) for f in analysis.files]
    formats = list(dict.fromkeys(f.format for f in analysis.files))
    stats = analysis.stats
    return {
        "schema_version": SCHEMA_VERSION,
        "capture": {
            "paths": [f.path for f in analysis.files],
            "sha256": [f.sha256 for f in analysis.files],
            "format": formats[0] if len(formats) == 1 else "mixed",
            "link_types": analysis.link_types,
            "packets": analysis.packets,
            "bytes": analysis.bytes,
            "truncated": analysis.truncated,
            "drops": analysis.drops,
            "files": files,
        },
        "stats": {
            "frames": stats.frames,
            "ip_packets": stats.ip_packets,
            "tcp_packets": stats.tcp_packets,
            "udp_packets": stats.udp_packets,
            "other_ip_packets": stats.other_ip_packets,
            "non_ip_frames": stats.non_ip_frames,
            "fragments_reassembled": stats.fragments_reassembled,
            "tcp_gap_bytes": stats.tcp_gap_bytes,
            "snaplen_cut_packets": stats.snaplen_cut_packets,
            "http_bodies_dropped": stats.http_bodies_dropped,
            "malformed": dict(stats.malformed),
            "unsupported_link_types": stats.unsupported_link_types,
            "clock_steps": stats.clock_steps,
            "largest_clock_step": stats.largest_clock_step,
            "truncated_fragments": stats.truncated_fragments,
            "dns_answers_dropped": stats.dns_answers_dropped,
            "macs_dropped": stats.macs_dropped,
            "tls_keys": stats.tls_keys,
        },
        "warnings": list(analysis.warnings),
        "flows": [flow_dict(f) for f in analysis.flows],
        "endpoints": [endpoint_dict(e) for e in analysis.endpoints()],
        "other": [
            {
                "proto": o.proto,
                "src": o.src,
                "dst": o.dst,
                "icmp_type": o.icmp_type,
                "packets": o.packets,
                "bytes": o.bytes,
                "first_frame": o.first_frame,
                "first_ts": o.first_ts,
            }
            for o in analysis.other
        ],
        "dns_answers": [
            {
                "name": a.name,
                "address": a.address,
                "client": a.client,
                "server": a.server,
                "client_mac": a.client_mac,
                "server_mac": a.server_mac,
                "frame": a.frame,
                "ts": a.ts,
                "flow_id": a.flow_id,
            }
            for a in analysis.dns_answers
        ],
        "macs": dict(analysis.macs),
    }


def compact(doc: dict[str, Any]) -> bytes:
    """``doc`` as compact JSON in UTF-8, ending in a newline. orjson writes a capture's tens of
    thousands of flows several times faster than the standard library's encoder, and as bytes, so
    the document is not copied again to be written; what orjson refuses (an integer beyond 64 bits,
    a string with a lone surrogate, a non-string key) goes through the standard library instead,
    which writes every value. orjson keeps non-ASCII text as UTF-8 where ``json`` escapes it: the
    same document."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(doc, separators=(",", ":")) + "\n").encode()
