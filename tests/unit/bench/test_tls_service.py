"""The TLS service (mitmproxy, in its own environment) on a loopback socket, with real TLS clients: each
endpoint gets every bad certificate in turn and then the lab CA's, refusals and acceptances are told
apart, decrypted requests are recorded with their flow, the key log holds each connection's secrets,
raw TCP is swallowed, and what it cut becomes the capture's problems."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from phonehome.bench import certs, tls_service
from phonehome.traffic.interception import BAD_PROBES, CONTROL, PROBES_IN_TURN, endpoints, read_interception

PYTHON = tls_service.interpreter()
pytestmark = pytest.mark.skipif(
    PYTHON is None, reason=f"no Python with mitmproxy ({tls_service.VENV}: run ./bootstrap.sh)"
)
NAME = "android.clients.google.com"


@dataclass
class Service:
    port: int
    workdir: Path
    ca: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def records(self) -> list[dict[str, Any]]:
        self.stop()
        text = (self.workdir / tls_service.RECORDS_NAME).read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def log(self) -> str:
        return (self.workdir / tls_service.LOG_NAME).read_text(errors="replace")


@contextlib.contextmanager
def running(tmp_path: Path, mode: str, *extra: str) -> Iterator[Service]:
    assert PYTHON is not None
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    ca_dir = tmp_path / "ca"
    certs.lab_authority(ca_dir)
    workdir = tmp_path / "run"
    workdir.mkdir()
    argv = [PYTHON, "-m", "phonehome.bench.tls_service", "--fd", str(listener.fileno()), "--mode", mode]
    argv += ["--ca-dir", str(ca_dir), "--out", str(workdir / tls_service.RECORDS_NAME)]
    argv += ["--keylog", str(workdir / tls_service.KEYLOG_NAME)]
    argv += ["--stats", str(workdir / tls_service.STATS_NAME), *extra]
    with (workdir / tls_service.LOG_NAME).open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),))
    listener.close()
    svc = Service(port, workdir, ca_dir / certs.CA_CERT, proc)
    try:
        deadline = time.monotonic() + 60
        while tls_service.READY not in svc.log():
            assert proc.poll() is None, svc.log()
            assert time.monotonic() < deadline, f"the TLS service did not start: {svc.log()}"
            time.sleep(0.05)
        yield svc
    finally:
        svc.stop()


def context(ca: Path | None, *, hostname: bool = True) -> ssl.SSLContext:
    """A client trusting only ``ca`` (None: trusting anything, as a broken trust manager does)."""
    made = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        made.check_hostname = False
        made.verify_mode = ssl.CERT_NONE
    else:
        made.load_verify_locations(cafile=str(ca))
        made.check_hostname = hostname
    return made


def talk(port: int, ctx: ssl.SSLContext, payload: bytes, name: str = NAME) -> bytes | None:
    """One connection: TLS with SNI ``name``, then ``payload``; the answer, or None when it refused."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=name) as tls:
                tls.sendall(payload)
                return tls.recv(4096)
        except ssl.SSLError:
            return None


def get(name: str = NAME, body: bytes = b"") -> bytes:
    head = f"POST /checkin HTTP/1.1\r\nHost: {name}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def test_validate_offers_every_bad_certificate_then_the_lab_ca_and_a_validating_client_refuses_them(
    tmp_path: Path,
) -> None:
    with running(tmp_path, "validate") as svc:
        answers = [talk(svc.port, context(svc.ca), get()) for _ in PROBES_IN_TURN]
        svc.stop()
        offers = read_interception(svc.workdir / tls_service.RECORDS_NAME, "validate").offers
    assert answers[:-1] == [None] * len(BAD_PROBES)
    assert answers[-1] is not None
    assert answers[-1].startswith(b"HTTP/1.1 204")
    by_attempt = sorted(offers, key=lambda o: o.attempt)
    assert [o.certificate.probe for o in by_attempt] == list(PROBES_IN_TURN)
    assert all(o.refused for o in by_attempt[:-1])
    assert by_attempt[-1].accepted
    assert by_attempt[-1].app_head.startswith(b"POST /checkin")
    assert {o.endpoint for o in offers} == {f"{NAME}:{svc.port}"}
    assert endpoints(offers)[f"{NAME}:{svc.port}"].tried("expired")


def test_a_client_that_trusts_anything_is_seen_accepting_the_self_signed_certificate_and_sending(
    tmp_path: Path,
) -> None:
    with running(tmp_path, "validate") as svc:
        answer = talk(svc.port, context(None), get(body=b"IMEI1=490154203237518"))
        records = svc.records()
    assert answer is not None
    assert answer.startswith(b"HTTP/1.1 204")
    tls = [r for r in records if r["type"] == "tls"]
    http = [r for r in records if r["type"] == "http"]
    assert tls[0]["certificate"]["probe"] == "self-signed"
    assert tls[0]["handshake"] == "completed"
    assert tls[0]["app_bytes"] > 0
    assert http[0]["method"] == "POST"
    assert http[0]["url"] == f"https://{NAME}/checkin"
    assert http[0]["tls"]
    assert http[0]["client"] == tls[0]["client"]
    assert http[0]["dst"] == tls[0]["dst"]


def test_a_client_that_skips_the_hostname_check_accepts_the_wrong_name_certificate(tmp_path: Path) -> None:
    with running(tmp_path, "validate") as svc:
        answers = [talk(svc.port, context(svc.ca, hostname=False), get()) for _ in range(3)]
        svc.stop()
        offers = sorted(
            read_interception(svc.workdir / tls_service.RECORDS_NAME, "validate").offers,
            key=lambda o: o.attempt,
        )
    assert answers[0] is None
    assert answers[1] is not None
    assert answers[2] is None
    assert [(o.certificate.probe, o.accepted) for o in offers] == [
        ("self-signed", False),
        ("wrong-name", True),
        ("expired", False),
    ]
    assert offers[1].certificate.names == (certs.WRONG_NAME,)


def test_intercept_decrypts_with_the_lab_ca_and_the_key_log_has_each_connection(tmp_path: Path) -> None:
    with running(tmp_path, "intercept") as svc:
        answers = [talk(svc.port, context(svc.ca), get(body=b"x" * 10)) for _ in range(2)]
        records = svc.records()
    assert all(a is not None and a.startswith(b"HTTP/1.1 204") for a in answers)
    assert [r["certificate"]["probe"] for r in records if r["type"] == "tls"] == [CONTROL, CONTROL]
    keylog = (svc.workdir / tls_service.KEYLOG_NAME).read_text()
    assert keylog.count("CLIENT_TRAFFIC_SECRET_0") == 2  # TLS 1.3: one line of each kind per connection
    assert (svc.workdir / tls_service.KEYLOG_NAME).stat().st_mode & 0o777 == 0o600


def test_a_pinning_client_completes_the_handshake_and_hangs_up_which_is_a_refusal(tmp_path: Path) -> None:
    with running(tmp_path, "intercept") as svc:
        with (
            socket.create_connection(("127.0.0.1", svc.port), timeout=10) as raw,
            context(svc.ca).wrap_socket(raw, server_hostname=NAME),
        ):
            pass  # the pin does not match: close without a byte of application data
        records = svc.records()
    offer = next(r for r in records if r["type"] == "tls")
    assert offer["handshake"] == "completed"
    assert offer["app_bytes"] == 0


def test_raw_tcp_and_cleartext_http_are_answered_as_the_sinks_answer_them(tmp_path: Path) -> None:
    with running(tmp_path, "intercept") as svc:
        with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as raw:
            raw.sendall(b"\x00\x01binary telemetry")
            raw.settimeout(0.5)
            with pytest.raises(TimeoutError):
                raw.recv(10)  # never answered
        with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as plain:
            plain.sendall(b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n")
            assert plain.recv(100).startswith(b"HTTP/1.1 204")
        records = svc.records()
    kinds = sorted(r["type"] for r in records)
    assert kinds == ["http", "tcp", "tcp"]
    raw_record = next(r for r in records if r["type"] == "tcp" and r["requests"] == 0)
    assert raw_record["bytes"] == len(b"\x00\x01binary telemetry")


def test_connections_beyond_the_per_source_limit_are_cut_and_said_to_be(tmp_path: Path) -> None:
    with running(tmp_path, "intercept", "--per-source", "2") as svc:
        held = [socket.create_connection(("127.0.0.1", svc.port), timeout=10) for _ in range(4)]
        time.sleep(0.5)
        for sock in held:
            sock.close()
        svc.stop()
    problems = tls_service.problems(svc.workdir)
    assert any("per-source limit (2)" in p for p in problems), problems
