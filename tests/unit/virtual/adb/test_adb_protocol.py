from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual.adb.protocol import (
    A_CNXN,
    A_WRTE,
    HEADER,
    Message,
    MessageReader,
    ProtocolError,
    checksum,
    encode,
    parse_banner,
)


def test_messages_survive_encoding_split_at_every_byte() -> None:
    msgs = [
        Message(A_CNXN, 0x01000001, 1 << 20, b"host::features=shell_v2"),
        Message(A_WRTE, 3, 7, b"x" * 100),
    ]
    wire = b"".join(encode(m) for m in msgs)
    for cut in range(len(wire)):
        reader = MessageReader()
        assert reader.feed(wire[:cut]) + reader.feed(wire[cut:]) == msgs


def test_old_versions_get_a_checksum_new_ones_zero() -> None:
    msg = Message(A_WRTE, 1, 2, b"abc")
    assert HEADER.unpack(encode(msg, with_checksum=True)[:24])[4] == checksum(b"abc") == 294
    assert HEADER.unpack(encode(msg)[:24])[4] == 0


def test_bad_magic_is_a_protocol_error() -> None:
    wire = bytearray(encode(Message(A_WRTE, 1, 2, b"")))
    wire[20] ^= 1
    with pytest.raises(ProtocolError, match="bad magic"):
        MessageReader().feed(bytes(wire))


def test_an_oversized_payload_is_refused_before_buffering_it() -> None:
    header = HEADER.pack(A_WRTE, 1, 2, 64 << 20, 0, A_WRTE ^ 0xFFFFFFFF)
    with pytest.raises(ProtocolError, match="exceeds"):
        MessageReader(max_payload=1 << 20).feed(header)


def test_banner_fields() -> None:
    state, fields = parse_banner(b"host::features=shell_v2,cmd\0")
    assert state == "host"
    assert fields == {"features": "shell_v2,cmd"}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_garbage_gives_messages_or_a_protocol_error(chunks: list[bytes]) -> None:
    reader = MessageReader(max_payload=4096)
    try:
        for chunk in chunks:
            for msg in reader.feed(chunk):
                assert len(msg.data) <= 4096
    except ProtocolError:
        pass
    assert reader.pending <= 24 + 4096
