"""Rendering time and size of the HTML report for a run of 10,000 flows (target: under 2 s).

    .venv/bin/python benchmarks/bench_report.py [--flows 10000] [--findings 500] [--runs 5]

A handset's results folder is written with that many flows (as analysis.json holds them: the shape
`phonehome.report.analysis_json.flow_dict` writes, names of a few hundred endpoints, a phase marker
every few hundred flows, findings spread over them, some names hostile), then the report is rendered
from the folder the way a run and ``phonehome report`` do: reading its JSON files and writing
report.html. The peer measured in the same run is writing the analysis itself (``json.dump`` of the
same flows, which every run does anyway): the report's cost is printed as a multiple of it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phonehome.report.html import render_run
from phonehome.report.view import REPORT, RunView

T0 = 1_700_000_000.0


def flows(n: int, rng: random.Random) -> list[dict[str, object]]:
    names = [f"api{i}.example{i % 37}.com" for i in range(300)] + ["<script>x</script>\u202e.evil"]
    out = []
    for i in range(n):
        first = T0 + i * 0.05 + rng.random()
        name = rng.choice(names) if rng.random() < 0.9 else None
        out.append({
            "id": i, "proto": "tcp" if i % 5 else "udp", "src": "172.16.0.113", "sport": 30000 + i % 30000,
            "dst": f"198.18.{i % 200}.{i % 250}", "dport": 443 if i % 5 else 53,
            "src_mac": "02:cf:6d:2f:53:50", "dst_mac": "06:9b:06:d8:1e:fa", "transport": "tls" if i % 5 else "cleartext",
            "app": "tls" if i % 5 else "dns", "server_name": name, "name_source": "sni" if name else "none",
            "sni": name, "http_host": None, "dns_queries": [], "first_frame": 1 + i * 9, "last_frame": 9 + i * 9,
            "first_ts": first, "last_ts": first + rng.random() * 3, "packets_c2s": 5, "packets_s2c": 4,
            "bytes_c2s": 900 + i % 700, "bytes_s2c": 5000 + i % 3000, "gaps_c2s": 0, "gaps_s2c": 0,
            "closed": True, "tls": None, "tls_server_version": None, "http_requests": [],
            "claims": [{"name": name, "source": "sni", "frame": 4 + i * 9}] if name else [],
            "tunnel": None, "dhcp": [], "icmp_types": [], "cleartext_in_tls": [], "anomalies": [],
        })  # fmt: skip
    return out


def folder(root: Path, n_flows: int, n_findings: int) -> Path:
    rng = random.Random(7)
    where = root / "virtual-bench-report"
    where.mkdir()
    flow_docs = flows(n_flows, rng)
    (where / "analysis.json").write_text(json.dumps({"flows": flow_docs}))
    markers = [{"ts": T0 + i * 25.0, "phase": ("boot", "setup-wizard", "settle", "idle")[i % 4], "detail": {"n": i}}
               for i in range(n_flows // 500)]  # fmt: skip
    end = max(f["last_ts"] for f in flow_docs)  # type: ignore[type-var]
    (where / "capture.json").write_text(
        json.dumps({"started": T0 - 1, "ended": end, "markers": markers, "files": []})
    )
    findings = []
    for _i in range(n_findings):
        flow = flow_docs[rng.randrange(n_flows)]
        findings.append({
            "rule": "cleartext-identifier", "assertion": "no-cleartext-identifiers", "detail": "imei sent in clear",
            "flow": {k: flow[k] for k in ("id", "proto", "src", "sport", "dst", "dport", "server_name", "name_source", "transport", "app")},
            "identifier": "imei", "form": "imei-15", "decode": "http-body>base64>json:IMEI1", "frames": [flow["first_frame"]],
            "offset": 131, "offset_exact": False, "excerpt": 'x"IMEI1": "\u00ab353867091808514\u00bb", "y', "phase": "boot",
            "ts": flow["first_ts"], "occurrences": 1, "clauses": ["EN 18031-2 SCM-1"], "from_client": True,
        })  # fmt: skip
    verdicts = [
        {
            "assertion": "no-cleartext-identifiers",
            "result": "FAIL",
            "reason": "x",
            "findings": n_findings,
            "clauses": [],
        }
    ]
    (where / "evaluation.json").write_text(json.dumps({"device": "virtual:bench", "result": "FAIL", "verdicts": verdicts,
                                                        "findings": findings, "doubts": [], "phases": ["boot"]}))  # fmt: skip
    return where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=10_000)
    parser.add_argument("--findings", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = folder(Path(tmp), args.flows, args.findings)
        analysis = json.loads((where / "analysis.json").read_text())
        report, peer = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            (where / REPORT).write_text(render_run(RunView.load(where)), encoding="utf-8")
            report.append(time.perf_counter() - started)
            started = time.perf_counter()
            (where / "peer.json").write_text(json.dumps(analysis, indent=1), encoding="utf-8")
            peer.append(time.perf_counter() - started)
        size = (where / REPORT).stat().st_size
        analysis_size = (where / "peer.json").stat().st_size
    median, peer_median = statistics.median(report), statistics.median(peer)
    print(f"report of {args.flows} flows, {args.findings} findings, median of {args.runs} runs")
    print(f"  render + write report.html: {median:.3f} s (target < 2 s), {size / 1e6:.2f} MB")
    print(f"  peer: json.dump of the analysis: {peer_median:.3f} s, {analysis_size / 1e6:.2f} MB")
    print(f"  report / peer: {median / peer_median:.1f}x the time, {size / analysis_size:.2f}x the size")
    return 0 if median < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
