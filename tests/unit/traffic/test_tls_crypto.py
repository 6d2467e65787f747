"""Record protection from known secrets: RFC 8448 and PRF vectors, every cipher kind, and what fails to open."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from phonehome.traffic.tls_crypto import (
    SUITES,
    Tls12Cbc,
    Tls13Cipher,
    expand_label,
    inner_plaintext,
    next_traffic_secret,
    prf,
    tls12_ciphers,
)
from tests.unit.traffic import rfc8448


def test_rfc8448_traffic_key_and_iv_derive_from_the_handshake_secret() -> None:
    secret = rfc8448.SERVER_HANDSHAKE_SECRET
    assert expand_label(secret, b"key", b"", 16, "sha256") == rfc8448.SERVER_HANDSHAKE_KEY
    assert expand_label(secret, b"iv", b"", 12, "sha256") == rfc8448.SERVER_HANDSHAKE_IV


def test_expand_label_past_one_hash_block_matches_hkdf_expand() -> None:
    secret = os.urandom(48)
    info = b"\x00\x50" + bytes([6 + 11]) + b"tls13 traffic upd" + b"\x00"
    expected = HKDFExpand(hashes.SHA384(), 80, info).derive(secret)
    assert expand_label(secret, b"traffic upd", b"", 80, "sha384") == expected


def test_the_next_traffic_secret_is_expanded_with_traffic_upd() -> None:
    secret = os.urandom(32)
    info = b"\x00\x20" + bytes([6 + 11]) + b"tls13 traffic upd" + b"\x00"
    assert next_traffic_secret(secret, SUITES[0x1301]) == HKDFExpand(hashes.SHA256(), 32, info).derive(secret)


def test_rfc8448_server_flight_opens_to_encrypted_extensions_and_the_rest() -> None:
    cipher = Tls13Cipher(rfc8448.SERVER_HANDSHAKE_SECRET, SUITES[0x1301])
    record = rfc8448.SERVER_FLIGHT_RECORD
    plain = cipher.open(0, record[:5], record[5:])
    assert plain is not None
    inner = inner_plaintext(plain)
    assert inner is not None
    content_type, content = inner
    assert content_type == 22
    assert content.startswith(bytes.fromhex("0800002400"))  # EncryptedExtensions, 36 bytes
    assert cipher.open(1, record[:5], record[5:]) is None  # the wrong sequence number


def test_tls12_prf_sha256_matches_the_published_vector() -> None:
    # The TLS 1.2 PRF test vector circulated on the IETF TLS list (P_SHA256, 100 bytes).
    out = prf(
        bytes.fromhex("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"),
        100,
        version=0x0303,
        hash_name="sha256",
    )
    assert out.hex() == (
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af"
        "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187"
        "347b66"
    )


def test_tls10_prf_splits_the_secret_between_md5_and_sha1() -> None:
    secret = bytes(range(47))  # odd: the halves share the middle byte (RFC 2246 5)
    out = prf(secret, b"key expansion", b"seed", 40, version=0x0301, hash_name="sha256")
    assert len(out) == 40
    assert out != prf(secret, b"key expansion", b"seed", 40, version=0x0303, hash_name="sha256")


@pytest.mark.parametrize("code", sorted(code for code in SUITES if SUITES[code].tls13))
def test_tls13_records_of_every_suite_open_and_tampering_does_not(code: int) -> None:
    suite = SUITES[code]
    cipher = Tls13Cipher(os.urandom(48 if suite.hash == "sha384" else 32), suite)
    record = cipher.seal(7, 23, 0x0303, b"GET / HTTP/1.1\r\n\r\n" + b"\x17" + bytes(5))
    assert inner_plaintext(cipher.open(7, record[:5], record[5:]) or b"") == (23, b"GET / HTTP/1.1\r\n\r\n")
    tampered = record[:-1] + bytes([record[-1] ^ 1])
    assert cipher.open(7, tampered[:5], tampered[5:]) is None
    assert cipher.open(8, record[:5], record[5:]) is None
    assert cipher.open(7, record[:5], b"") is None  # shorter than a tag


TLS12_CASES = [
    *((code, 0x0303, False) for code in (0xC02F, 0xC030, 0xCCA8, 0xC09C, 0xC0AE)),
    *(
        (code, version, etm)
        for code in (0x002F, 0x003C, 0xC028, 0x000A)
        for version in (0x0301, 0x0302, 0x0303)
        for etm in (False, True)
    ),
]


@pytest.mark.parametrize(("code", "version", "etm"), TLS12_CASES)
def test_tls12_records_open_in_sequence_and_tampering_does_not(code: int, version: int, etm: bool) -> None:
    suite = SUITES[code]
    master, client_random, server_random = os.urandom(48), os.urandom(32), os.urandom(32)
    sender, _ = tls12_ciphers(suite, master, client_random, server_random, version=version, etm=etm)
    receiver, _ = tls12_ciphers(suite, master, client_random, server_random, version=version, etm=etm)
    records = [sender.seal(seq, 23, version, f"record {seq} ".encode() * 9) for seq in range(3)]
    for seq, record in enumerate(records):
        assert receiver.open(seq, record[:5], record[5:]) == f"record {seq} ".encode() * 9
    _, fresh = tls12_ciphers(suite, master, client_random, server_random, version=version, etm=etm)
    _, other = tls12_ciphers(suite, master, client_random, server_random, version=version, etm=etm)
    record = other.seal(0, 23, version, b"x" * 40)
    tampered = record[:20] + bytes([record[20] ^ 0x40]) + record[21:]
    assert fresh.open(0, tampered[:5], tampered[5:]) is None
    assert fresh.open(0, record[:5], record[5:6]) is None
    client, _ = tls12_ciphers(suite, master, client_random, server_random, version=version, etm=etm)
    assert client.open(0, record[:5], record[5:]) is None  # the client's keys are not the server's


@pytest.mark.parametrize(("padding", "opens"), [(bytes([3, 3, 3, 3]), True), (bytes([3, 2, 3, 3]), False)])
def test_cbc_padding_must_repeat_its_length(padding: bytes, opens: bool) -> None:
    key, mac_key, iv = os.urandom(16), os.urandom(20), os.urandom(16)
    cipher = Tls12Cbc(SUITES[0x002F], key, mac_key, b"", version=0x0303, etm=False)
    header = b"\x17\x03\x03\x00\x40"
    content = b"a" * 24
    body = content + cipher._mac(0, header, content) + padding  # 24 + 20 + 4: three AES blocks
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    fragment = iv + encryptor.update(body) + encryptor.finalize()
    assert cipher.open(0, header, fragment) == (content if opens else None)


def test_inner_plaintext_of_only_zeros_has_no_content_type() -> None:
    assert inner_plaintext(bytes(20)) is None
    assert inner_plaintext(b"abc\x17\x00\x00") == (23, b"abc")
