"""The TLS service's records: they round-trip, a hostile or cut line is counted and skipped (never
fatal), and the per-endpoint table tells refusals, acceptances, failures and pinning apart."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.traffic.interception import (
    CertificateInfo,
    Exchange,
    Interception,
    TlsOffer,
    endpoints,
    read_interception,
    summary,
)

CERT = CertificateInfo("lab-ca", "CN=a", "CN=lab", ("a.example",), "2026-01-01", "2026-02-01", "00" * 32)


def offer(probe: str = "lab-ca", handshake: str = "completed", app: int = 10, attempt: int = 1) -> TlsOffer:
    return TlsOffer(
        ("10.0.0.2", 40000 + attempt),
        ("198.18.0.1", 443),
        1.0,
        2.0,
        "validate",
        "a.example:443",
        attempt,
        "a.example",
        CertificateInfo(
            probe, CERT.subject, CERT.issuer, CERT.names, CERT.not_before, CERT.not_after, CERT.sha256
        ),
        handshake,
        app_bytes=app,
        app_head=b"\x00GET /" if app else b"",  # type: ignore[arg-type]
    )


def test_offers_and_exchanges_round_trip_through_the_file(tmp_path: Path) -> None:
    made = offer()
    exchange = Exchange(("10.0.0.2", 4), ("198.18.0.1", 443), 1.0, True, "a.example", "POST", "https://a/x",
                        "HTTP/1.1", [("Host", "a")], 3, b"abc", "ff", 204)  # fmt: skip
    path = tmp_path / "tls.jsonl"
    lines = [json.dumps(made.to_dict()), json.dumps(exchange.to_dict()), '{"type": "websocket"}']
    path.write_text("\n".join(lines) + "\n")
    read = read_interception(path, "validate")
    assert read.offers == [made]
    assert read.exchanges == [exchange]
    assert read.unreadable == 0


def test_a_line_cut_by_a_kill_is_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "tls.jsonl"
    path.write_text(json.dumps(offer().to_dict()) + "\n" + json.dumps(offer().to_dict())[:40])
    read = read_interception(path, "validate")
    assert len(read.offers) == 1
    assert read.unreadable == 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
        max_size=8,
    )
)
def test_any_bytes_in_the_records_file_never_raise(tmp_path_factory, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("fuzz") / "tls.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
    read = read_interception(path, "validate")
    written = path.read_text(encoding="utf-8", errors="replace").splitlines()
    assert len(read.offers) + len(read.exchanges) + read.unreadable <= len(written)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "client", "dst", "handshake", "certificate", "ts", "attempt"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3),
                                 st.just("tls"), st.just("http")), max_size=7))  # fmt: skip
def test_records_of_the_right_type_with_wrong_fields_are_counted_unreadable(tmp_path_factory, record) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("fuzz") / "tls.jsonl"
    path.write_text(json.dumps(record) + "\n")
    read = read_interception(path, "validate")
    assert len(read.offers) + len(read.exchanges) + read.unreadable <= 1


def test_the_endpoint_table_tells_refused_accepted_failed_and_pinned_apart() -> None:
    offers = [
        offer("self-signed", "refused", 0, 1),
        offer("wrong-name", "completed", 0, 2),  # finished, then hung up: refused after the handshake
        offer("expired", "failed", 0, 3),
        offer("lab-ca", "refused", 0, 4),
    ]
    record = endpoints(offers)["a.example:443"]
    assert record.outcomes == {
        "self-signed": ["refused"], "wrong-name": ["refused"], "expired": ["failed"], "lab-ca": ["refused"]
    }  # fmt: skip
    assert record.tried("wrong-name")
    assert not record.tried("expired")
    assert record.pinned
    table = summary(Interception("validate", offers))
    assert table["lab_ca_trusted"] is False
    assert table["endpoints"][0]["pinned"] is False  # not shown pinned while the lab CA is not known trusted
    assert len(table["undecrypted"]) == 4
