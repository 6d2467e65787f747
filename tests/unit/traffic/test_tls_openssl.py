"""Real TLS: OpenSSL (Python's ssl, in memory) writes the records and the key log; the analyzer opens them."""

from __future__ import annotations

import contextlib
import datetime
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from phonehome.traffic import Analysis
from phonehome.traffic.factory import RecordingObserver, TcpConversation
from phonehome.traffic.keylog import load_keylog
from tests.unit.traffic.tls_cases import HANDSET, IMEI, REQUEST, RESPONSE, SERVER

Analyze = Callable[..., Analysis]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reg.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("cert")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder / "cert.pem", folder / "key.pem"


def exchange(
    certificate: tuple[Path, Path], keylog: Path, *, version: ssl.TLSVersion, ciphers: str | None
) -> tuple[TcpConversation, str]:
    """A whole connection between two in-memory OpenSSL ends, as a TCP conversation; and the suite chosen."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*certificate)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    client_ctx.keylog_filename = str(keylog)
    for ctx in (server_ctx, client_ctx):
        ctx.maximum_version = version
        ctx.minimum_version = min(version, ssl.TLSVersion.TLSv1_2)
        if ciphers:
            ctx.set_ciphers(ciphers)
    pipes = [ssl.MemoryBIO() for _ in range(4)]
    client = client_ctx.wrap_bio(pipes[0], pipes[1], server_hostname="reg.example.com")
    server = server_ctx.wrap_bio(pipes[2], pipes[3], server_side=True)
    conv = TcpConversation(HANDSET, SERVER).handshake()

    def pump() -> None:
        for _ in range(10):
            moved = False
            for source, sink, from_client in ((pipes[1], pipes[2], True), (pipes[3], pipes[0], False)):
                data = source.read()
                if data:
                    sink.write(data)
                    conv.send(data, from_client)
                    moved = True
            if not moved:
                return

    for _ in range(10):
        for end in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                end.do_handshake()
        pump()
    client.write(REQUEST)
    pump()
    assert server.read(4096) == REQUEST
    server.write(RESPONSE)
    pump()
    assert client.read(4096) == RESPONSE
    suite = client.cipher()
    assert suite is not None
    return conv.close(), suite[0]


CASES = [
    (ssl.TLSVersion.TLSv1_3, None, "TLS_AES_256_GCM_SHA384"),
    (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES256-SHA384"),
    (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA"),
    (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-CCM", "ECDHE-ECDSA-AES128-CCM"),
]


@pytest.mark.parametrize("case", CASES, ids=[case[2] for case in CASES])
def test_openssl_connections_decrypt_with_the_key_log_it_wrote(
    run: Analyze, tmp_path: Path, certificate: tuple[Path, Path], case: tuple[ssl.TLSVersion, str | None, str]
) -> None:
    version, ciphers, suite = case
    keylog = tmp_path / "sslkeys.log"
    conv, chosen = exchange(certificate, keylog, version=version, ciphers=ciphers)
    assert chosen == suite
    recorder = RecordingObserver()
    analysis = run(conv.packets, observer=recorder, keylog=keylog)
    [flow] = analysis.flows
    assert (flow.transport, flow.decrypted, flow.uninspected) == ("tls", True, [])
    [request] = flow.http_requests
    assert (request.host, request.body, request.decrypted) == (
        "reg.example.com",
        b"imei=" + IMEI.encode(),
        True,
    )
    server_text = b"".join(
        c.data for _, side, c in recorder.contents if not side and c.chain == "tls-decrypted"
    )
    assert RESPONSE in server_text
    assert len(load_keylog(keylog)[0]) == 1
