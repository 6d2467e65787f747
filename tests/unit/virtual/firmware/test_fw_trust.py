"""The virtual handset's TLS checks against a real TLS server on loopback: its own trust store (never the
host's CAs), each validation mode an app may have, pins checked before a byte is sent, and the store kept
where Android keeps it."""

from __future__ import annotations

import asyncio
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from phonehome.bench import certs
from phonehome.virtual.fs import DeviceFs
from phonehome.virtual.net import secure, truststore

NAME = "config.oem.example"


@pytest.fixture(scope="module")
def lab() -> certs.Authority:
    return certs.new_authority(certs.LAB_CA_NAME)


@pytest.fixture(scope="module")
def forge(lab: certs.Authority) -> certs.Forge:
    return certs.Forge(lab)


def serve(issued: certs.Issued) -> Iterator[int]:
    """A TLS server presenting ``issued`` that reads one request and answers 204, on a loopback port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        cert, key = Path(folder, "c.pem"), Path(folder, "k.pem")
        cert.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            issued.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    data = tls.recv(4096)
                    received.append(data)
                    if data:
                        tls.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            except (ssl.SSLError, OSError):
                received.append(b"")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def attempt(port: int, checks: secure.Checks, name: str = NAME) -> str:
    """Connects as an app would: ``sent`` when it sent its request, else why it refused."""

    async def go() -> str:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        try:
            _reader, writer = await secure.start_tls(
                sock, "127.0.0.1", sni=name, alpn=["http/1.1"], timeout=5, checks=checks
            )
        except ssl.SSLError as exc:
            return f"refused: {exc}"
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await secure.close_writer(writer)
        return "sent"

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("probe", "validation", "outcome"),
    [
        ("lab-ca", "full", "sent"),
        ("self-signed", "full", "refused"),
        ("wrong-name", "full", "refused"),
        ("expired", "full", "refused"),
        ("untrusted-ca", "full", "refused"),
        ("wrong-name", "no-hostname", "sent"),
        ("self-signed", "no-hostname", "refused"),
        ("expired", "no-hostname", "refused"),
        ("self-signed", "any-certificate", "sent"),
        ("untrusted-ca", "any-certificate", "sent"),
    ],
)
def test_each_validation_mode_takes_exactly_the_certificates_it_should(
    forge: certs.Forge, lab: certs.Authority, probe: str, validation: str, outcome: str
) -> None:
    for port in serve(forge.issue(probe, NAME)):
        result = attempt(port, secure.Checks(lab.pem.decode(), validation))
        assert result.split(":")[0] == outcome, result


def test_an_empty_trust_store_trusts_nothing_not_the_hosts_cas(forge: certs.Forge) -> None:
    for port in serve(forge.issue("lab-ca", NAME)):
        assert attempt(port, secure.Checks("", "full")).startswith("refused")


def test_a_pinning_app_hangs_up_on_a_trusted_certificate_whose_key_is_not_pinned(
    forge: certs.Forge, lab: certs.Authority
) -> None:
    issued = forge.issue("lab-ca", NAME)
    der = issued.cert.public_bytes(serialization.Encoding.DER)
    for port in serve(issued):
        other = "sha256/" + "A" * 43 + "="
        assert "pinning" in attempt(port, secure.Checks(lab.pem.decode(), "full", (other,)))
        assert attempt(port, secure.Checks(lab.pem.decode(), "full", (truststore.spki_pin(der),))) == "sent"


def test_the_store_lives_in_androids_folders_and_names_files_by_the_old_subject_hash(
    tmp_path: Path, lab: certs.Authority
) -> None:
    fs = DeviceFs(tmp_path)
    store = truststore.TrustStore()
    path = store.install(lab.pem, "system", fs)
    assert path == f"{truststore.SYSTEM}/{certs.subject_hash_old(lab.cert)}.0"
    assert truststore.TrustStore.bundle(fs, user=False) == lab.pem.decode()
    user = certs.new_authority("someone's own CA")
    store.install(user.pem, "user", fs)
    assert truststore.TrustStore.bundle(fs, user=False) == lab.pem.decode()
    assert user.pem.decode() in truststore.TrustStore.bundle(fs, user=True)
    fs.wipe_user_data()  # a factory reset forgets the user's CAs, not the system's
    assert truststore.TrustStore.bundle(fs, user=True) == lab.pem.decode()
