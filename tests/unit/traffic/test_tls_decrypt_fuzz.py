"""The record decryptor and the key log reader on hostile input: never raise, stay bounded, ignore cuts."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic import analyze, factory
from phonehome.traffic.keylog import KeyLog, Secrets
from phonehome.traffic.tls import parse_server_hello_message
from phonehome.traffic.tls_build import Tls12Connection, Tls13Connection
from phonehome.traffic.tls_decrypt import BACKLOG_LIMIT, Plaintext, TlsDecryptor
from phonehome.traffic.tls_records import RECORD_MAX
from tests.unit.traffic.tls_cases import REQUEST, RESPONSE, converse, keys

FUZZ = settings(max_examples=200, deadline=4000, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=8000, suppress_health_check=[HealthCheck.too_slow])

connections = st.one_of(
    st.sampled_from([0x1301, 0x1302, 0x1303, 0x1304, 0x1305]).map(lambda s: Tls13Connection(s)),
    st.sampled_from([0xC02F, 0xCCA8, 0xC0AE, 0x002F, 0xC028]).map(lambda s: Tls12Connection(s)),
)


def split(tls: Tls13Connection | Tls12Connection) -> tuple[bytes, bytes]:
    tls.send(REQUEST)
    tls.send(RESPONSE, False)
    tls.send(b"and more" * 300)
    flights = tls.flights()
    return b"".join(d for side, d in flights if side), b"".join(d for side, d in flights if not side)


def decryptor_for(tls: Tls13Connection | Tls12Connection, client: bytes, server: bytes) -> TlsDecryptor:
    secrets = keys(tls.keylog()).get(tls.client_random)
    assert secrets is not None
    hello_end = 5 + int.from_bytes(client[3:5], "big")
    decryptor = TlsDecryptor(secrets, tls.client_random, hello_end)
    decryptor.start_server(0)
    hello = parse_server_hello_message(server[9 : 9 + int.from_bytes(server[6:9], "big")])
    assert hello is not None
    decryptor.server_hello(hello)
    return decryptor


def feed(decryptor: TlsDecryptor, client: bytes, server: bytes, cuts: list[int]) -> list[Plaintext]:
    out: list[Plaintext] = []
    for from_client, stream in ((False, server), (True, client)):
        bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
        for start, end in itertools.pairwise(bounds):
            out += decryptor.feed(from_client, start, stream[start:end], 1)
            for direction in (decryptor.client, decryptor.server):
                if direction is not None:
                    assert len(direction.buf) <= RECORD_MAX + 5 + (end - start)
                    assert direction.backlog_bytes <= BACKLOG_LIMIT + RECORD_MAX + 5
    return out + decryptor.finish()


@FUZZ
@given(connections, st.lists(st.integers(0, 5000), max_size=12))
def test_a_connection_decrypts_the_same_however_its_streams_are_cut(
    tls: Tls13Connection | Tls12Connection, cuts: list[int]
) -> None:
    client, server = split(tls)
    whole = feed(decryptor_for(tls, client, server), client, server, [])
    cut_up = feed(decryptor_for(tls, client, server), client, server, cuts)
    assert [(p.from_client, p.content_type, p.data, p.offset) for p in whole] == [
        (p.from_client, p.content_type, p.data, p.offset) for p in cut_up
    ]
    assert any(REQUEST in p.data for p in whole)


@FUZZ
@given(connections, st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), min_size=1, max_size=6))
def test_a_mutated_connection_never_raises_and_says_why_it_stopped(
    tls: Tls13Connection | Tls12Connection, flips: list[tuple[int, int]]
) -> None:
    client, server = split(tls)
    mutated = [bytearray(client), bytearray(server)]
    for where, mask in flips:
        stream = mutated[where % 2]
        stream[(where // 2) % len(stream)] ^= mask
    decryptor = decryptor_for(tls, client, server)
    out = feed(decryptor, bytes(mutated[0]), bytes(mutated[1]), [])
    if [p.data for p in out] != [
        p.data for p in feed(decryptor_for(tls, client, server), client, server, [])
    ]:
        assert decryptor.problems  # whatever was not read is said


@FUZZ
@given(
    st.binary(min_size=0, max_size=4000),
    st.binary(min_size=0, max_size=4000),
    st.lists(st.integers(0, 4000), max_size=8),
    st.sampled_from([0x0301, 0x0303, 0x0304, 0x7F1C, 0x0300]),
    st.integers(0, 0xFFFF),
)
def test_arbitrary_bytes_never_raise(
    client: bytes, server: bytes, cuts: list[int], version: int, suite: int
) -> None:
    secrets = Secrets(master=b"m" * 48, client_handshake=b"c" * 32, server_handshake=b"s" * 32)
    decryptor = TlsDecryptor(secrets, b"r" * 32, 0)
    decryptor.start_server(0)
    hello = parse_server_hello_message(
        version.to_bytes(2, "big") + b"x" * 32 + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
    )
    assert hello is not None
    decryptor.server_hello(hello)
    feed(decryptor, client, server, cuts)


@SLOW
@given(connections, st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), max_size=4))
def test_the_analyzer_reads_mutated_connections_without_raising_or_silence(
    tls: Tls13Connection | Tls12Connection, flips: list[tuple[int, int]]
) -> None:
    conv = converse(tls)
    tls.send(REQUEST)
    client = b"".join(d for side, d in tls.flights() if side)
    data = bytearray(client)
    for where, mask in flips:
        data[where % len(data)] ^= mask
    conv.send(bytes(data)).close()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.pcapng"
        path.write_bytes(factory.pcapng_bytes(conv.packets))
        [flow] = analyze(path, keylog=keys(tls.keylog())).flows
    assert flow.transport == "tls"
    if flow.decrypted and not flow.http_requests:
        assert flow.uninspected  # keys were found: whatever stopped the request's decryption is said


labels = st.sampled_from(
    [
        "CLIENT_RANDOM",
        "CLIENT_EARLY_TRAFFIC_SECRET",
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    ]
)


@FUZZ
@given(st.binary(max_size=5000))
def test_arbitrary_key_log_bytes_never_raise(text: bytes) -> None:
    log = KeyLog()
    log.add(text)
    log.warnings()
    assert log.secrets_read <= text.count(b" ")


@FUZZ
@given(
    st.lists(st.tuples(labels, st.binary(min_size=32, max_size=32), st.sampled_from([32, 48])), max_size=20),
    st.lists(st.binary(max_size=80), max_size=10),
)
def test_valid_lines_among_garbage_are_all_read(
    entries: list[tuple[str, bytes, int]], garbage: list[bytes]
) -> None:
    lines = [
        f"{label} {random.hex()} {'ab' * (48 if label == 'CLIENT_RANDOM' else size)}".encode()
        for label, random, size in entries
    ]
    mixed = [line for pair in itertools.zip_longest(lines, garbage, fillvalue=b"") for line in pair]
    log = KeyLog()
    log.add(b"\n".join(g.replace(b"\n", b" ").replace(b"\r", b" ") if g not in lines else g for g in mixed))
    for label, random, _ in entries:
        if label != "EXPORTER_SECRET":
            assert log.get(random) is not None
