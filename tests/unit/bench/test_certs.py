"""The TLS service's certificates: each probe is what its name says (and nothing more wrong), the lab CA
is kept across runs in its folder with a private key, and Android's trust-store file name is OpenSSL's
old subject hash."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from phonehome.bench import certs
from phonehome.traffic.interception import PROBES_IN_TURN

NAME = "android.clients.google.com"


@pytest.fixture(scope="module")
def forge() -> certs.Forge:
    return certs.Forge(certs.new_authority(certs.LAB_CA_NAME))


def names(cert: x509.Certificate) -> list[str]:
    return [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]


def test_each_probe_is_wrong_in_exactly_its_own_way(forge: certs.Forge) -> None:
    now = dt.datetime.now(dt.UTC)
    made = {probe: forge.issue(probe, NAME).cert for probe in PROBES_IN_TURN}
    lab, untrusted = forge.lab.cert.subject, forge.untrusted.cert.subject
    assert made["lab-ca"].issuer == lab and names(made["lab-ca"]) == [NAME]  # noqa: PT018
    assert made["lab-ca"].not_valid_before_utc < now < made["lab-ca"].not_valid_after_utc
    assert made["self-signed"].issuer == made["self-signed"].subject and names(made["self-signed"]) == [NAME]  # noqa: PT018
    assert made["wrong-name"].issuer == lab and names(made["wrong-name"]) == [certs.WRONG_NAME]  # noqa: PT018
    assert made["expired"].issuer == lab and made["expired"].not_valid_after_utc < now  # noqa: PT018
    assert names(made["expired"]) == [NAME]
    assert made["untrusted-ca"].issuer == untrusted and names(made["untrusted-ca"]) == [NAME]  # noqa: PT018


def test_an_address_without_a_name_gets_an_ip_subject_alt_name(forge: certs.Forge) -> None:
    issued = forge.issue("lab-ca", "198.18.0.7")
    san = issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(v) for v in san.get_values_for_type(x509.IPAddress)] == ["198.18.0.7"]
    assert issued.info.names == ("198.18.0.7",)


def test_each_name_and_probe_is_minted_once_per_run(forge: certs.Forge) -> None:
    assert forge.issue("expired", NAME) is forge.issue("expired", NAME)
    assert forge.issue("expired", NAME) is not forge.issue("expired", "other.example")


def test_the_lab_ca_is_made_once_and_kept_with_a_private_key(tmp_path: Path) -> None:
    folder = tmp_path / "lab-ca"
    first = certs.lab_authority(folder)
    again = certs.lab_authority(folder)
    assert again.cert == first.cert
    assert (folder / certs.CA_KEY).stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700


def test_the_trust_store_file_name_is_what_openssl_says(tmp_path: Path, forge: certs.Forge) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_bytes(forge.lab.pem)
    try:
        said = subprocess.run(
            ["openssl", "x509", "-inform", "PEM", "-subject_hash_old", "-noout", "-in", str(pem)],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except FileNotFoundError:
        pytest.skip("no openssl binary to compare with")
    assert certs.android_ca_file(forge.lab.pem)[0] == f"{said}.0"
