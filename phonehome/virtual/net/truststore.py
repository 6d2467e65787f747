"""The virtual handset's CA trust store, kept where Android keeps it, and the checks its apps make.

System CAs live in ``/system/etc/security/cacerts`` (one PEM file per CA,
named by OpenSSL's old subject hash, ``HASH.0``), user-installed ones in
``/data/misc/user/0/cacerts-added`` (which a factory reset wipes). A virtual
handset ships with no CA at all: on a sinkhole bench no real server is there to
be trusted. A lab puts its interception CA into the system store as it would on
a userdebug build (``VirtualHandset.install_ca``; docs/tls.md for real ones).
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from phonehome.virtual.fs import DeviceFs

SYSTEM = "/system/etc/security/cacerts"
USER = "/data/misc/user/0/cacerts-added"
STORES = {"system": SYSTEM, "user": USER}


def ca_file_name(pem: bytes) -> str:
    """``HASH.0``: OpenSSL's ``X509_subject_name_hash_old`` (MD5 of the DER subject, first four bytes
    little-endian), which Android's cacerts folders name their files by."""
    cert = x509.load_pem_x509_certificate(pem)
    digest = hashlib.md5(cert.subject.public_bytes(), usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}.0"


@dataclass
class TrustStore:
    """The CAs installed on the handset, written into its file system whenever it has one."""

    installed: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"system": {}, "user": {}})

    def install(self, pem: bytes, store: str = "system", fs: DeviceFs | None = None) -> str:
        """Adds a CA (PEM) to the ``system`` or ``user`` store; its path on the handset."""
        if store not in STORES:
            raise ValueError(f"store {store!r}: system or user")
        cert = x509.load_pem_x509_certificate(pem)
        name = ca_file_name(pem)
        self.installed[store][name] = cert.public_bytes(serialization.Encoding.PEM)
        if fs is not None:
            self.write(fs)
        return f"{STORES[store]}/{name}"

    def write(self, fs: DeviceFs) -> None:
        """Puts every installed CA into the file system (a new one, or after a factory reset for user CAs:
        those were installed by a person and come back only if they install them again)."""
        for store, certs in self.installed.items():
            for name, pem in certs.items():
                fs.install_file(f"{STORES[store]}/{name}", pem)

    @staticmethod
    def bundle(fs: DeviceFs, *, user: bool) -> str:
        """The PEM of every CA an app trusts: the system store, and the user's when the app allows it."""
        parts = []
        for folder in (SYSTEM, USER) if user else (SYSTEM,):
            host = fs.host_path(folder)
            if host.is_dir():
                parts += [
                    p.read_text(encoding="ascii", errors="replace")
                    for p in sorted(host.iterdir())
                    if p.is_file()
                ]
        return "".join(parts)


def client_context(alpn: list[str], validation: str, cadata: str) -> ssl.SSLContext:
    """A client context as an Android app's stack: TLS 1.2 and 1.3, ALPN, and the app's checks.

    ``full`` trusts exactly ``cadata`` (the handset's store, never the host's CAs) and checks the name;
    ``no-hostname`` checks the chain only; ``any-certificate`` checks nothing.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if validation == "any-certificate":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        if cadata:
            context.load_verify_locations(cadata=cadata)
        context.check_hostname = validation != "no-hostname"
        context.verify_mode = ssl.CERT_REQUIRED
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def spki_pin(der: bytes) -> str:
    """OkHttp's pin of a certificate: ``sha256/`` + base64 of the SHA-256 of its SubjectPublicKeyInfo."""
    key = x509.load_der_x509_certificate(der).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


class PinMismatch(ssl.SSLError):
    """The server's certificate matches none of the app's pins (OkHttp: SSLPeerUnverifiedException)."""


def check_pins(peer_der: bytes | None, pins: list[str]) -> None:
    """Raises `PinMismatch` unless the server's certificate is one of ``pins`` (no pins: no check)."""
    if not pins:
        return
    if peer_der is None:
        raise PinMismatch("certificate pinning failure: the server sent no certificate")
    seen = spki_pin(peer_der)
    if seen not in pins:
        raise PinMismatch(f"certificate pinning failure: {seen} is not pinned")
