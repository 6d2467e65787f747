"""The ``xor-hex`` transform: what an OEM's fixed-key obfuscation sends, for differential detection."""

from __future__ import annotations

from phonehome.virtual.firmware.template import TRANSFORMS, XOR_KEY
from phonehome.virtual.profile import load_profile


def test_xor_hex_is_the_value_xored_with_the_fixed_key_as_hex() -> None:
    sent = bytes.fromhex(TRANSFORMS["xor-hex"]("353320118782403"))
    assert bytes(b ^ XOR_KEY[i % len(XOR_KEY)] for i, b in enumerate(sent)) == b"353320118782403"
    assert "353320118782403" not in TRANSFORMS["xor-hex"]("353320118782403")


def test_the_xor_profile_sends_the_imei_obfuscated_and_its_control_sends_random_ids() -> None:
    xored = load_profile("oem-xor-imei").model_dump_json()
    assert "{imei1:xor-hex}" in xored
    control = load_profile("oem-nonce").model_dump_json()
    assert "{nonce}" in control
    assert "{uuid}" in control
    assert "{imei" not in control
    assert "{serial" not in control
