"""Every real capture in shared/captures/public: what Wireshark finds, we find; nothing crashes or hangs.

public-expected.json holds tshark 4.0's DNS query names, TLS SNI, QUIC SNI and
HTTP Hosts per file; finding more is fine, missing one is a bug in the analyzer
(never fixed by editing the expectations). Files that are not captures (link
placeholders) must be refused with CaptureError, and every file must finish fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from phonehome.report.analysis_json import schema, to_dict
from phonehome.traffic import CaptureError, analyze

SECONDS_PER_FILE = 10.0


def _expected(shared: Path) -> dict[str, dict[str, object]]:
    loaded: dict[str, dict[str, object]] = json.loads(
        (shared / "captures" / "public-expected.json").read_text()
    )
    return loaded


def test_every_public_capture_yields_every_name_wireshark_finds(shared: Path) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    folder = shared / "captures" / "public"
    expected = _expected(shared)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    assert set(expected) <= {p.name for p in files}, "expectations name files that are missing"
    missing: list[str] = []
    refused: list[str] = []
    checked = 0
    for path in files:
        want = expected.get(path.name)
        started = time.monotonic()
        try:
            analysis = analyze(path)
        except CaptureError as exc:
            refused.append(f"{path.name}: {exc}")
            continue
        elapsed = time.monotonic() - started
        assert elapsed < SECONDS_PER_FILE, f"{path.name} took {elapsed:.1f} s"
        validator.validate(to_dict(analysis))
        if want is None:
            continue
        checked += 1
        found = {
            "dns_queries": {q.name for f in analysis.flows for q in f.dns_queries},
            "tls_sni": {f.sni for f in analysis.flows if f.sni and f.transport != "quic"},
            "quic_sni": {f.sni for f in analysis.flows if f.sni and f.transport == "quic"},
            "http_hosts": {r.host for f in analysis.flows for r in f.http_requests if r.host},
        }
        for kind, names in found.items():
            lost = set(want[kind]) - names  # type: ignore[call-overload]
            missing += [f"{path.name}: {kind} {name!r}" for name in sorted(lost)]
    assert not missing, "\n".join(missing)
    assert checked > 250
    # Only the link placeholders (small text files) are refused, and none of them has expectations.
    for line in refused:
        name = line.split(":", 1)[0]
        assert (folder / name).stat().st_size < 100, line
        assert str(folder / name) in line
        assert not any(
            expected.get(name, {}).get(k) for k in ("dns_queries", "tls_sni", "quic_sni", "http_hosts")
        )


def test_placeholder_files_are_refused_as_not_captures(shared: Path) -> None:
    placeholders = [
        p
        for p in (shared / "captures" / "public").iterdir()
        if p.stat().st_size < 100 and p.read_bytes().startswith(b"../")
    ]
    assert placeholders
    for path in placeholders:
        with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
            analyze(path)
