from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from phonehome.virtual.adb.auth import AuthPolicy, KeyFormatError, decode_public_key, encode_public_key


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(key: rsa.RSAPrivateKey, token: bytes) -> bytes:
    # What the adb host does: RSA_sign(NID_sha1, token) -- the token taken as the digest.
    return key.sign(token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))


def test_android_key_format_round_trips(key: rsa.RSAPrivateKey) -> None:
    line = encode_public_key(key.public_key(), "me@host")
    assert line.endswith(" me@host")
    assert decode_public_key(line).public_numbers() == key.public_key().public_numbers()


def test_a_trusted_key_signature_is_accepted_another_is_not(key: rsa.RSAPrivateKey) -> None:
    policy = AuthPolicy(required=True)
    token = os.urandom(20)
    assert not policy.verify(token, _sign(key, token))
    policy.authorize(encode_public_key(key.public_key()))
    assert policy.verify(token, _sign(key, token))
    assert not policy.verify(os.urandom(20), _sign(key, token))


def test_an_offered_key_waits_for_the_user_unless_accepted(key: rsa.RSAPrivateKey) -> None:
    line = encode_public_key(key.public_key()).encode() + b"\0"
    refusing = AuthPolicy(required=True)
    assert not refusing.offer_key(line)
    assert refusing.offered_keys
    accepting = AuthPolicy(required=True, accept_new_keys=True)
    assert accepting.offer_key(line)
    token = os.urandom(20)
    assert accepting.verify(token, _sign(key, token))


def test_junk_is_not_a_key() -> None:
    with pytest.raises(KeyFormatError):
        decode_public_key("bm90IGEga2V5 user@host")
    assert not AuthPolicy(required=True).offer_key(b"!!!")
