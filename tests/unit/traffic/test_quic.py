"""QUIC Initial packets decrypted to their ClientHello, checked against aioquic's independent implementation."""

from __future__ import annotations

import hashlib
import hmac
import struct
from pathlib import Path

import pytest
from aioquic.buffer import Buffer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.crypto import CryptoPair
from aioquic.quic.packet import QuicProtocolVersion, pull_quic_header

from phonehome.traffic import _quic_crypto, analyze, factory, quic
from phonehome.traffic.factory import RecordingObserver, UdpConversation
from phonehome.traffic.quic import QuicInitialTracker, build_initial, looks_like_quic
from phonehome.traffic.tls import build_client_hello_message


def aioquic_client_flight(server_name: str, version: int, big: bool = False) -> list[bytes]:
    """The datagrams aioquic's client sends first (``big``: a ClientHello over two packets)."""
    configuration = QuicConfiguration(
        is_client=True,
        server_name=server_name,
        alpn_protocols=["h3"],
        original_version=version,
        supported_versions=[version],
        quantum_readiness_test=big,
    )
    connection = QuicConnection(configuration=configuration)
    connection.connect(("192.0.2.1", 443), now=0.0)
    return [data for data, _ in connection.datagrams_to_send(now=0.0)]


def track(datagrams: list[bytes], tracker: QuicInitialTracker | None = None) -> list:
    tracker = tracker or QuicInitialTracker()
    return [tracker.feed(d, True, frame) for frame, d in enumerate(datagrams, start=1)]


@pytest.mark.parametrize("version", [QuicProtocolVersion.VERSION_1, QuicProtocolVersion.VERSION_2])
@pytest.mark.parametrize("big", [False, True])
def test_aioquic_client_initials_give_its_sni_and_alpn(version: int, big: bool) -> None:
    datagrams = aioquic_client_flight("Handset.Example.NET", version, big)
    assert all(looks_like_quic(d) for d in datagrams)
    results = track(datagrams)
    hello = results[-1]
    assert hello is not None
    assert results[:-1] == [None] * (len(datagrams) - 1)
    assert (hello.sni, hello.alpn, hello.versions, hello.frame) == (
        "handset.example.net",
        ["h3"],
        [0x0304],
        len(datagrams),
    )


@pytest.mark.parametrize("version", [1, 2])
def test_our_initials_decrypt_with_aioquic(version: int) -> None:
    dcid = bytes.fromhex("8394c8f03e515708")
    wire_version = quic.QUIC_V1 if version == 1 else quic.QUIC_V2
    for pn, datagram in enumerate(build_initial("seal.example", version=version, dcid=dcid, split=2)):
        header = pull_quic_header(Buffer(data=datagram), host_cid_length=8)
        assert header.destination_cid == dcid
        pair = CryptoPair()
        pair.setup_initial(cid=dcid, is_client=False, version=wire_version)
        offset = datagram.index(dcid) + len(dcid) + 1 + 1 + 2  # scid length, token length, 2-byte length
        _, payload, packet_number = pair.decrypt_packet(datagram, offset, pn - 1)
        assert packet_number == pn
        assert payload[0] == 0x06  # CRYPTO


@pytest.mark.parametrize(
    ("salt", "prefix", "key", "iv", "hp"),
    [
        (
            _quic_crypto.SALT_V1,
            b"quic ",
            "1f369613dd76d5467730efcbe3b1a22d",
            "fa044b2f42a3fd3b46fb255c",
            "9f50449e04a0e810283a1e9933adedd2",
        ),
        (
            _quic_crypto.SALT_V2,
            b"quicv2 ",
            "8b1a0bc121284290a29e0971b5cd045d",
            "91f73e2351d8fa91660e909f",
            "45b95e15235d6f45a6b19cbcb0294ba9",
        ),
    ],
)
def test_client_initial_keys_match_the_rfc_test_vectors(
    salt: bytes, prefix: bytes, key: str, iv: str, hp: str
) -> None:
    # RFC 9001 appendix A.1 (v1) and RFC 9369 appendix A.1 (v2), DCID 0x8394c8f03e515708.
    initial = hmac.digest(salt, bytes.fromhex("8394c8f03e515708"), hashlib.sha256)
    secret = _quic_crypto._expand_label(initial, b"client in", 32)
    assert _quic_crypto._expand_label(secret, prefix + b"key", 16).hex() == key
    assert _quic_crypto._expand_label(secret, prefix + b"iv", 12).hex() == iv
    assert _quic_crypto._expand_label(secret, prefix + b"hp", 16).hex() == hp


def test_header_protection_mask_matches_the_rfc_9001_sample() -> None:
    keys = _quic_crypto.InitialKeys(bytes.fromhex("8394c8f03e515708"), _quic_crypto.SALT_V1, v2=False)
    assert keys.hp.update(bytes.fromhex("d1b1c98dd7689fb8ec11d242b123dc9b"))[:5].hex() == "437b9aec36"


def test_client_hello_split_reordered_and_duplicated_is_reassembled() -> None:
    datagrams = build_initial("split.example", split=4, reorder=True, duplicate=True)
    results = track(datagrams)
    assert results[-1] is not None
    assert results[-1].sni == "split.example"
    assert results[:-1] == [None] * (len(datagrams) - 1)


@pytest.mark.parametrize(
    "version",
    [
        0xFF000016,
        0xFF000017,
        0xFF00001B,
        0xFF00001D,
        0xFF000020,
        0xFF000022,
        0xFACEB001,
        0xFACEB002,
        0xFACEB00E,
    ],
)
def test_draft_and_mvfst_versions_use_their_salts(version: int) -> None:
    hello = track(build_initial("draft.example", version=version))[-1]
    assert hello is not None
    assert hello.sni == "draft.example"


@pytest.mark.parametrize("version", [quic.T050, quic.T051])
def test_google_t05x_initials_use_their_salts_and_gquic_frame_numbers(version: int) -> None:
    # T050/T051 number CRYPTO 0x08 (gQUIC frames); default__quic_t50.pcap is read the same way.
    dcid = bytes(range(8))
    message = build_client_hello_message("fonts.googleapis.com", ("h3-t050",), (0x0304,))
    frames = b"\x08" + _quic_crypto.encode_varint(0) + _quic_crypto.encode_varint(len(message)) + message
    keys = _quic_crypto.InitialKeys(dcid, _quic_crypto.salt_for(version) or b"", v2=False)
    datagram = _quic_crypto.seal_initial(keys, version, dcid, frames, scid=b"", pn=1)
    hello = QuicInitialTracker().feed(datagram, True, 3)
    assert hello is not None
    assert hello.sni == "fonts.googleapis.com"


def test_client_switching_to_the_server_cid_keeps_the_original_keys() -> None:
    # default__quic_frags_different_dcid.pcapng: the second Initial goes to the server's CID,
    # still protected with keys from the first DCID.
    original = bytes.fromhex("0011223344556677")
    first = build_initial("cdnjs.cloudflare.com", dcid=original, split=2)
    keys = _quic_crypto.InitialKeys(original, _quic_crypto.SALT_V1, v2=False)
    message = build_client_hello_message("cdnjs.cloudflare.com", ("h3",), (0x0304,))
    half = len(message) // 2
    frames = (
        b"\x06"
        + _quic_crypto.encode_varint(half)
        + _quic_crypto.encode_varint(len(message) - half)
        + message[half:]
    )
    second = _quic_crypto.seal_initial(
        keys, quic.QUIC_V1, bytes.fromhex("aabbccdd"), b"\x02\x00\x00\x00\x00" + frames, scid=b"", pn=1
    )
    tracker = QuicInitialTracker()
    first_half = b"\x06\x00" + _quic_crypto.encode_varint(half) + message[:half]
    assert (
        tracker.feed(
            _quic_crypto.seal_initial(keys, quic.QUIC_V1, original, first_half, scid=b"", pn=0), True, 1
        )
        is None
    )
    hello = tracker.feed(second, True, 4)
    assert hello is not None
    assert hello.sni == "cdnjs.cloudflare.com"
    assert len(first) == 2


def test_keys_from_a_retry_dcid_are_tried_when_the_original_ones_fail() -> None:
    tracker = QuicInitialTracker()
    tracker.feed(build_initial("first.example", dcid=b"\x01" * 8)[0][:1100], True, 1)  # cut: undecryptable
    hello = tracker.feed(build_initial("after.retry.example", dcid=b"\x02" * 8)[0], True, 2)
    assert hello is not None
    assert hello.sni == "after.retry.example"


def test_coalesced_initial_and_handshake_packets_in_one_datagram() -> None:
    initial = build_initial("coalesced.example")[0]
    handshake = bytes([0xE0]) + struct.pack("!I", 1) + b"\x08" + bytes(8) + b"\x00" + b"\x40\x14" + bytes(20)
    tracker = QuicInitialTracker()
    hello = tracker.feed(handshake + initial, True, 1)
    assert hello is not None
    assert hello.sni == "coalesced.example"


def test_padding_ping_and_ack_frames_around_crypto_are_skipped() -> None:
    dcid = bytes(8)
    keys = _quic_crypto.InitialKeys(dcid, _quic_crypto.SALT_V1, v2=False)
    message = build_client_hello_message("frames.example", (), (0x0304,))
    crypto = b"\x06\x00" + _quic_crypto.encode_varint(len(message)) + message
    ack = b"\x03\x05\x00\x01\x00\x01\x01\x00\x00\x00"  # two ranges and ECN counts
    datagram = _quic_crypto.seal_initial(
        keys, quic.QUIC_V1, dcid, b"\x00\x00\x01" + ack + crypto, scid=b"", pn=0
    )
    hello = QuicInitialTracker().feed(datagram, True, 1)
    assert hello is not None
    assert hello.sni == "frames.example"


def test_server_datagrams_and_later_datagrams_are_ignored() -> None:
    tracker = QuicInitialTracker()
    datagrams = build_initial("once.example")
    assert tracker.feed(datagrams[0], False, 1) is None
    assert tracker.feed(datagrams[0], True, 2) is not None
    assert tracker.feed(datagrams[0], True, 3) is None
    assert tracker.done
    assert tracker.hello is not None


def test_gquic_q046_clear_chlo_gives_its_sni_tag() -> None:
    values = b"upload.youtube.com" + b"Q046"
    chlo = (
        b"CHLO"
        + struct.pack("<HH", 2, 0)
        + b"SNI\x00"
        + struct.pack("<I", 18)
        + b"VER\x00"
        + struct.pack("<I", 22)
    )
    datagram = b"\xc3Q046\x50" + bytes(8) + b"\x01" + bytes(12) + chlo + values
    assert looks_like_quic(datagram)
    hello = QuicInitialTracker().feed(datagram, True, 1)
    assert hello is not None
    assert hello.sni == "upload.youtube.com"


def test_gquic_q043_public_header_is_recognised() -> None:
    datagram = b"\x0d" + bytes(8) + b"Q043" + b"\x01" + bytes(12) + b"CHLO" + struct.pack("<HH", 0, 0)
    assert looks_like_quic(datagram)
    hello = QuicInitialTracker().feed(datagram, True, 1)
    assert hello is not None
    assert hello.sni is None


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\x00" * 50,
        b"\x16\xfe\xfd" + bytes(40),  # DTLS
        b"\xc0\x12\x34\x56\x78\x08" + bytes(40),  # unknown version
        bytes.fromhex("8000000001") + b"\x30" + bytes(40),  # connection ID too long
    ],
)
def test_other_datagrams_do_not_look_like_quic(datagram: bytes) -> None:
    assert not looks_like_quic(datagram)


def test_build_initial_rejects_a_version_without_a_known_salt() -> None:
    with pytest.raises(ValueError, match="no Initial salt"):
        build_initial("x.example", version=0x12345678)


def test_an_identifier_in_a_transport_parameter_reaches_the_observer_decrypted(tmp_path: Path) -> None:
    imei = b"356938035643809"
    param = b"\x40\xaa" + bytes([len(imei)]) + imei  # an unknown transport parameter (id 0xaa)
    conv = UdpConversation(("10.0.0.2", 41000), ("198.51.100.3", 443))
    for datagram in build_initial("q.example", transport_parameters=param, split=3):
        assert imei not in datagram
        conv.send(datagram)
    path = tmp_path / "q.pcapng"
    path.write_bytes(factory.pcapng_bytes(conv.packets))
    recorder = RecordingObserver()
    analyze(path, observer=recorder)
    ((_, _, content),) = recorder.contents
    assert content.chain == "quic-clienthello"
    assert imei in content.data


def test_a_second_quic_connection_on_the_same_ports_is_read_too(tmp_path: Path) -> None:
    conv = UdpConversation(("10.0.0.2", 41000), ("198.51.100.3", 443))
    for sni in ("declared.example", "undeclared.example"):
        for datagram in build_initial(sni):
            conv.send(datagram)
        conv.send(b"\x41" + bytes(40))  # 1-RTT traffic between them
    path = tmp_path / "q.pcapng"
    path.write_bytes(factory.pcapng_bytes(conv.packets))
    (flow,) = analyze(path, observer=RecordingObserver()).flows
    assert [(c.name, c.source) for c in flow.claims] == [
        ("declared.example", "quic-sni"),
        ("undeclared.example", "quic-sni"),
    ]
    assert flow.server_name == "declared.example"
