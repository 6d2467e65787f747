"""The certificates the bench's TLS service presents: the lab CA, and the bad ones a handset must refuse.

The lab CA is what a lab installs on its handsets for ``tls: intercept`` (and
for the ``wrong-name`` and ``expired`` probes of ``tls: validate`` to mean
anything: their chain is the lab CA's). It must outlive a run when it is
installed on a real handset, so a definition may name a folder that keeps it
(``tls_ca:``); otherwise each run makes its own. The untrusted CA is new in
every run and installed nowhere. Keys are ECDSA P-256: minting one per name
costs a millisecond, not an RSA key's hundred.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from phonehome.traffic.interception import PROBES_IN_TURN, CertificateInfo

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
LAB_CA_NAME = "phonehome lab interception CA"
UNTRUSTED_CA_NAME = "phonehome untrusted CA"
WRONG_NAME = "wrong-name.phonehome.invalid"
"""The name a ``wrong-name`` certificate is for (``.invalid`` is reserved, RFC 6761: never a real host)."""
DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Authority:
    """A CA's certificate and key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])


def new_authority(common_name: str, now: dt.datetime | None = None) -> Authority:
    """A self-signed CA, valid from yesterday for ten years."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


def lab_authority(folder: Path) -> Authority:
    """The lab CA kept in ``folder`` (``ca.pem``, ``ca-key.pem``), made there first if it is not there yet.

    The folder is the lab's own (0700, the key 0600): whoever holds the key can read every handset that
    trusts it.
    """
    cert_path, key_path = folder / CA_CERT, folder / CA_KEY
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: the lab CA's key must be an EC key (phonehome made it so)")
        return Authority(cert, key)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    made = new_authority(LAB_CA_NAME)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            made.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(made.pem)
    os.chmod(cert_path, 0o644)
    return made


@dataclass(frozen=True, slots=True)
class Issued:
    """A server certificate and its key, and how a report describes it."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    info: CertificateInfo


@dataclass
class Forge:
    """Mints each probe's certificate for a name (or an address), once per run."""

    lab: Authority
    untrusted: Authority = field(default_factory=lambda: new_authority(UNTRUSTED_CA_NAME))
    _made: dict[tuple[str, str], Issued] = field(default_factory=dict)

    def issue(self, probe: str, name: str) -> Issued:
        """``probe``'s certificate for ``name`` (a host name or an IP address)."""
        made = self._made.get((probe, name))
        if made is None:
            made = self._made[(probe, name)] = mint(probe, name, self.lab, self.untrusted)
        return made


def mint(
    probe: str, name: str, lab: Authority, untrusted: Authority, now: dt.datetime | None = None
) -> Issued:
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject_name = WRONG_NAME if probe == "wrong-name" else name
    start, end = now - DAY, now + 30 * DAY
    if probe == "expired":
        start, end = now - 90 * DAY, now - 30 * DAY
    if probe in ("lab-ca", "wrong-name", "expired"):
        issuer_name, signer = lab.cert.subject, lab.key
    elif probe == "untrusted-ca":
        issuer_name, signer = untrusted.cert.subject, untrusted.key
    elif probe == "self-signed":
        issuer_name, signer = _name(subject_name), key
    else:
        raise ValueError(f"unknown probe {probe!r} (known: {', '.join(PROBES_IN_TURN)})")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([_general_name(subject_name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    cert = builder.sign(signer, hashes.SHA256())
    return Issued(cert, key, describe(cert, probe))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def describe(cert: x509.Certificate, probe: str) -> CertificateInfo:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n.value) for n in sans)
    except x509.ExtensionNotFound:
        names = ()
    return CertificateInfo(
        probe=probe,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        names=names,
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def subject_hash_old(cert: x509.Certificate) -> str:
    """OpenSSL's ``X509_subject_name_hash_old`` (``openssl x509 -subject_hash_old``): the first four bytes
    of the MD5 of the DER subject, little-endian. Android names its CA files ``HASH.0`` by it."""
    digest = hashlib.md5(cert.subject.public_bytes(), usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def android_ca_file(pem: bytes) -> tuple[str, bytes]:
    """The file name and bytes a CA takes in an Android trust store folder (``/system/etc/security/cacerts``)."""
    cert = x509.load_pem_x509_certificate(pem)
    return f"{subject_hash_old(cert)}.0", cert.public_bytes(serialization.Encoding.PEM)
