"""TLS flows decrypted with key log secrets: what comes out, where it sat, and what stops decryption."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from phonehome.traffic import Analysis, Flow, sessions, tls
from phonehome.traffic.factory import RecordingObserver, TcpConversation, interleave
from phonehome.traffic.tls_build import Tls12Connection, Tls13Connection
from phonehome.traffic.tls_crypto import SUITES
from phonehome.traffic.tls_decrypt import BACKLOG_LIMIT
from phonehome.traffic.tls_plain import CONTENT_CHUNK, CONTENT_OVERLAP
from tests.unit.traffic import rfc8448
from tests.unit.traffic.tls_cases import HANDSET, IMEI, REQUEST, SERVER, converse, keys, posted

Analyze = Callable[..., Analysis]


def decrypted(recorder: RecordingObserver, from_client: bool = True) -> list[bytes]:
    return [c.data for _, side, c in recorder.contents if side == from_client and c.chain == "tls-decrypted"]


def only_flow(analysis: Analysis) -> Flow:
    assert len(analysis.flows) == 1
    return analysis.flows[0]


def rfc8448_conversation() -> TcpConversation:
    conv = TcpConversation(HANDSET, SERVER).handshake()
    conv.send(rfc8448.CLIENT_HELLO_RECORD)
    conv.send(rfc8448.SERVER_HELLO_RECORD + rfc8448.SERVER_FLIGHT_RECORD, from_client=False)
    conv.send(rfc8448.CLIENT_FINISHED_RECORD + rfc8448.CLIENT_APPLICATION_RECORD)
    conv.send(rfc8448.SERVER_TICKET_RECORD + rfc8448.SERVER_APPLICATION_RECORD, from_client=False)
    conv.send(rfc8448.CLIENT_ALERT_RECORD)
    conv.send(rfc8448.SERVER_ALERT_RECORD, from_client=False)
    return conv.close()


def test_the_rfc8448_trace_decrypts_to_its_application_data_at_the_offset_its_ciphertext_sat(
    run: Analyze, recorder: RecordingObserver
) -> None:
    flow = only_flow(run(rfc8448_conversation().packets, observer=recorder, keylog=keys(rfc8448.KEYLOG)))
    assert (flow.transport, flow.app, flow.decrypted) == ("tls", "tls", True)
    assert flow.tls_cipher_suite == 0x1301
    assert (flow.decrypted_c2s, flow.decrypted_s2c) == (36 + 50 + 2, 657 + 205 + 50 + 2)
    assert flow.anomalies == flow.uninspected == []
    for from_client in (True, False):
        stream = recorder.stream(flow.id, from_client)
        [app] = [
            c
            for _, side, c in recorder.contents
            if side == from_client and c.chain == "tls-decrypted" and c.data == rfc8448.APPLICATION_PAYLOAD
        ]
        assert stream[app.offset - 5 : app.offset] == bytes.fromhex("1703030043")  # its record's header
    assert decrypted(recorder, True)[0].startswith(b"\x14\x00\x00\x20")  # the client's Finished


def test_without_its_secrets_a_tls_flow_is_read_as_before(run: Analyze) -> None:
    conv = posted(Tls13Connection())
    plain, other = RecordingObserver(), RecordingObserver()
    before = run(conv.packets, observer=plain)
    after = run(conv.packets, observer=other, keylog=keys(Tls13Connection().keylog()))
    assert before.flows[0] == after.flows[0]
    assert not after.flows[0].decrypted
    assert other.contents == plain.contents
    assert not any(c.chain.startswith("tls-decrypted") for _, _, c in other.contents)


TLS13 = sorted(code for code in SUITES if SUITES[code].tls13)
TLS12 = [
    0xC02F,
    0xC030,
    0xCCA8,
    0xCCA9,
    0xC09C,
    0xC0AD,
    0xC0AE,
    0x002F,
    0x0035,
    0x003C,
    0xC027,
    0xC028,
    0x000A,
]


@pytest.mark.parametrize("suite", TLS13)
def test_tls13_requests_inside_are_parsed_and_marked_decrypted(
    run: Analyze, recorder: RecordingObserver, suite: int
) -> None:
    connection = Tls13Connection(suite, sni="front.example.net")
    flow = only_flow(run(posted(connection).packets, observer=recorder, keylog=keys(connection.keylog())))
    assert (flow.transport, flow.decrypted, flow.tls_cipher_suite) == ("tls", True, suite)
    [request] = flow.http_requests
    assert (request.method, request.host, request.body, request.decrypted) == (
        "POST",
        "reg.example.com",
        b"imei=" + IMEI.encode(),
        True,
    )
    assert [(c.name, c.source, c.decrypted) for c in flow.claims] == [
        ("front.example.net", "sni", False),
        ("reg.example.com", "http-host", True),
    ]
    assert flow.server_name == "front.example.net"  # the SNI names the server; the inner Host is a claim
    assert any(IMEI.encode() in data for data in decrypted(recorder))
    assert any(b"HTTP/1.1 200 OK" in data for data in decrypted(recorder, False))
    assert [r for _, r in recorder.requests] == [request]
    assert flow.uninspected == []


@pytest.mark.parametrize(
    ("suite", "version", "etm"),
    [(code, 0x0303, False) for code in TLS12]
    + [(0x002F, 0x0301, False), (0x002F, 0x0302, False), (0xC013, 0x0303, True), (0x000A, 0x0301, True)],
)
def test_tls12_and_older_requests_inside_are_parsed_and_marked_decrypted(
    run: Analyze, suite: int, version: int, etm: bool
) -> None:
    connection = Tls12Connection(suite, version=version, encrypt_then_mac=etm)
    flow = only_flow(run(posted(connection).packets, keylog=keys(connection.keylog())))
    assert (flow.transport, flow.decrypted, flow.tls_server_version) == ("tls", True, version)
    [request] = flow.http_requests
    assert request.decrypted
    assert request.body == b"imei=" + IMEI.encode()
    assert flow.uninspected == []


def test_decrypted_request_offsets_point_at_their_ciphertext(
    run: Analyze, recorder: RecordingObserver
) -> None:
    connection = Tls13Connection()
    flow = only_flow(run(posted(connection).packets, observer=recorder, keylog=keys(connection.keylog())))
    [request] = flow.http_requests
    stream = recorder.stream(flow.id, True)
    header = stream[request.offset - 5 : request.offset]
    assert header[:3] == b"\x17\x03\x03"
    assert struct.unpack("!H", header[3:])[0] == len(REQUEST) + 1 + 16  # content, inner type, GCM tag
    assert request.body_offset == request.offset + REQUEST.index(b"imei=")


def test_records_cut_into_many_segments_and_reordered_decrypt_the_same(run: Analyze) -> None:
    connection = Tls13Connection()
    conv = TcpConversation(HANDSET, SERVER, mss=37).handshake()
    for from_client, data in connection.flights():
        conv.send(data, from_client, reorder=True)
    connection.send(REQUEST, record_size=7)
    converse(connection, conv, reorder=True).close()
    flow = only_flow(run(conv.packets, keylog=keys(connection.keylog())))
    assert [r.body for r in flow.http_requests] == [b"imei=" + IMEI.encode()]
    assert flow.uninspected == []


def test_an_identifier_split_across_one_byte_records_reaches_the_observer_whole(
    run: Analyze, recorder: RecordingObserver
) -> None:
    connection = Tls13Connection()
    conv = converse(connection)
    connection.send(b"\x00\x01binary imei:" + IMEI.encode() + b"\x02", record_size=1)
    converse(connection, conv).close()
    run(conv.packets, observer=recorder, keylog=keys(connection.keylog()))
    assert any(IMEI.encode() in data for data in decrypted(recorder))


def test_long_application_data_comes_in_overlapping_pieces(run: Analyze, recorder: RecordingObserver) -> None:
    connection = Tls13Connection()
    conv = converse(connection)
    payload = bytes(i % 251 for i in range(3 * CONTENT_CHUNK))
    connection.send(payload)
    converse(connection, conv).close()
    run(conv.packets, observer=recorder, keylog=keys(connection.keylog()))
    pieces = decrypted(recorder)[1:]  # after the client's Finished
    assert len(pieces) >= 3
    joined = pieces[0] + b"".join(piece[CONTENT_OVERLAP:] for piece in pieces[1:])
    assert joined == payload
    assert all(len(piece) <= CONTENT_CHUNK + (1 << 14) for piece in pieces)


@pytest.mark.parametrize("from_client", [True, False])
def test_key_updates_move_each_side_to_its_next_secret(
    run: Analyze, recorder: RecordingObserver, from_client: bool
) -> None:
    connection = Tls13Connection()
    conv = converse(connection)
    for n in range(3):
        connection.send(f"before update {n};".encode(), from_client)
        connection.key_update(from_client)
    connection.send(b"after the updates", from_client)
    flow = only_flow(
        run(converse(connection, conv).close().packets, observer=recorder, keylog=keys(connection.keylog()))
    )
    assert flow.uninspected == []
    text = b"".join(decrypted(recorder, from_client))
    assert b"before update 2;" in text
    assert b"after the updates" in text


def test_a_wrong_key_stops_that_direction_as_unread_doubt(run: Analyze) -> None:
    connection = Tls13Connection()
    stranger = Tls13Connection(client_random=connection.client_random)  # same random, other secrets
    flow = only_flow(run(posted(connection).packets, keylog=keys(stranger.keylog())))
    assert flow.transport == "tls"
    assert not flow.decrypted
    assert flow.http_requests == []
    assert any("did not authenticate" in text and "server" in text for text in flow.uninspected)
    assert any("did not authenticate" in text and "client" in text for text in flow.uninspected)


def test_a_record_that_does_not_authenticate_stops_decryption_there(
    run: Analyze, recorder: RecordingObserver
) -> None:
    connection = Tls13Connection()
    conv = converse(connection)
    connection.send(b"first message")
    record = connection.flights()[0][1]
    tampered = record[:-1] + bytes([record[-1] ^ 1])  # a flipped tag bit
    conv.send(tampered)
    connection.send(REQUEST)
    packets = converse(connection, conv).close().packets
    flow = only_flow(run(packets, observer=recorder, keylog=keys(connection.keylog())))
    assert flow.decrypted  # the handshake was
    assert flow.http_requests == []
    at = recorder.stream(flow.id, True).index(tampered)
    assert [text for text in flow.uninspected if "client" in text] == [
        f"TLS decryption of the client's records stopped: a record from the client at offset {at} did not "
        "authenticate with the key log's secrets (wrong or stale keys?): the rest was not decrypted"
    ]


@pytest.mark.parametrize(
    ("left_out", "label"),
    [
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
        ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET"),
        ("CLIENT_TRAFFIC_SECRET_0", "CLIENT_TRAFFIC_SECRET_0"),
        ("SERVER_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"),
    ],
)
def test_a_secret_missing_from_the_key_log_is_named_as_unread(
    run: Analyze, left_out: str, label: str
) -> None:
    connection = Tls13Connection()
    flow = only_flow(run(posted(connection).packets, keylog=keys(connection.keylog(leave_out=(left_out,)))))
    assert any(f"the key log has no {label}" in text for text in flow.uninspected)
    assert (flow.http_requests == []) == left_out.startswith("CLIENT")


def test_a_tls12_connection_without_its_master_secret_is_unread(run: Analyze) -> None:
    connection = Tls12Connection()
    partial = Tls13Connection(client_random=connection.client_random)  # only TLS 1.3 secrets for it
    flow = only_flow(run(posted(connection).packets, keylog=keys(partial.keylog())))
    assert any("no CLIENT_RANDOM master secret" in text for text in flow.uninspected)


def test_a_record_cut_by_the_end_of_the_capture_is_unread(run: Analyze) -> None:
    connection = Tls13Connection()
    conv = converse(connection)
    connection.send(REQUEST)
    conv.send(connection.flights()[0][1][:-10])
    flow = only_flow(run(conv.packets, keylog=keys(connection.keylog())))
    assert (
        "TLS decryption of the client's records stopped: a record cut by the end of the flow was not decrypted"
        in (flow.uninspected)
    )


def test_bytes_lost_before_capture_stop_decryption_of_that_direction(run: Analyze) -> None:
    connection = Tls13Connection()
    conv = converse(connection)
    connection.send(REQUEST * 30)  # three segments: the middle one is lost
    converse(connection, conv, lose=[1]).close()
    flow = only_flow(run(conv.packets, keylog=keys(connection.keylog())))
    assert flow.gaps_c2s > 0
    assert any("bytes were lost before capture" in text and "client" in text for text in flow.uninspected)


def test_a_suite_that_cannot_be_decrypted_is_named(run: Analyze) -> None:
    client_random = bytes(32)
    conv = TcpConversation(HANDSET, SERVER).handshake()
    conv.send(
        tls.build_client_hello("old.example", versions=(), cipher_suites=(0x0005,), random=client_random)
    )
    conv.send(tls.build_server_hello(0x0303, 0x0005), from_client=False)  # RC4-SHA
    conv.send(bytes.fromhex("140303000101") + b"\x16\x03\x03\x00\x20" + bytes(32)).close()
    log = keys(f"CLIENT_RANDOM {client_random.hex()} {'00' * 48}\n".encode())
    flow = only_flow(run(conv.packets, keylog=log))
    assert flow.uninspected == [
        "TLS decryption stopped: cipher suite 0x0005 (version 0x0303) cannot be decrypted"
    ]


def test_early_data_decrypts_with_the_early_secret_and_is_unread_without_it(run: Analyze) -> None:
    connection = Tls13Connection(early_data=REQUEST)
    conv = posted(connection)
    flow = only_flow(run(conv.packets, keylog=keys(connection.keylog())))
    assert [r.decrypted for r in flow.http_requests] == [True, True]
    assert flow.uninspected == []
    without = only_flow(
        run(conv.packets, keylog=keys(connection.keylog(leave_out=("CLIENT_EARLY_TRAFFIC_SECRET",))))
    )
    assert any("did not authenticate" in text for text in without.uninspected)


def test_a_hello_retry_request_is_not_taken_for_the_server_hello(run: Analyze) -> None:
    connection = Tls13Connection(0x1302)
    flights = connection.flights()
    first_hello = flights[0][1]
    conv = TcpConversation(HANDSET, SERVER).handshake()
    conv.send(first_hello)
    conv.send(tls.build_server_hello(0x0304, 0x1301, random=tls.HRR_RANDOM), from_client=False)
    conv.send(first_hello)  # the second ClientHello keeps the random (RFC 8446 4.1.2)
    for from_client, data in flights[1:]:
        conv.send(data, from_client)
    connection.send(REQUEST)
    flow = only_flow(run(converse(connection, conv).close().packets, keylog=keys(connection.keylog())))
    assert flow.tls_cipher_suite == 0x1302
    assert [r.decrypted for r in flow.http_requests] == [True]


def test_client_records_wait_for_a_late_server_hello_within_a_bound(run: Analyze) -> None:
    connection = Tls13Connection()
    flights = connection.flights()
    connection.send(REQUEST)
    request = connection.flights()
    conv = TcpConversation(HANDSET, SERVER).handshake()
    conv.send(flights[0][1] + flights[2][1] + request[0][1])  # the client's flights before the server's
    conv.send(flights[1][1], from_client=False)
    flow = only_flow(run(conv.close().packets, keylog=keys(connection.keylog())))
    assert [r.decrypted for r in flow.http_requests] == [True]
    flood = Tls13Connection()
    flights = flood.flights()
    flood.send(b"x" * (BACKLOG_LIMIT + 1))
    conv = TcpConversation(HANDSET, SERVER).handshake()
    conv.send(flights[0][1] + flights[2][1] + flood.flights()[0][1])
    flow = only_flow(run(conv.close().packets, keylog=keys(flood.keylog())))
    assert any(f"no ServerHello within {BACKLOG_LIMIT >> 10} KB" in text for text in flow.uninspected)


def test_renegotiation_stops_tls12_decryption_with_doubt(run: Analyze) -> None:
    connection = Tls12Connection()
    conv = converse(connection)
    connection.send(REQUEST)
    connection.seal(True, 20, b"\x01")  # a ChangeCipherSpec under encryption: new keys follow
    connection.send(b"after renegotiation")
    flow = only_flow(run(converse(connection, conv).close().packets, keylog=keys(connection.keylog())))
    assert [r.decrypted for r in flow.http_requests] == [True]
    assert any("renegotiated" in text for text in flow.uninspected)


def test_http2_inside_tls_is_read_by_its_preface(run: Analyze, recorder: RecordingObserver) -> None:
    from hpack import Encoder

    from phonehome.traffic.h2 import END_HEADERS, END_STREAM, HEADERS, PREFACE, SETTINGS, build_frame

    block = Encoder().encode(
        [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "api.example.com"),
            (":path", f"/?imei={IMEI}"),
        ]
    )
    connection = Tls13Connection(alpn=("h2",))
    conv = converse(connection)
    connection.send(
        PREFACE + build_frame(SETTINGS, 0, 0, b"") + build_frame(HEADERS, END_HEADERS | END_STREAM, 1, block)
    )
    flow = only_flow(
        run(converse(connection, conv).close().packets, observer=recorder, keylog=keys(connection.keylog()))
    )
    [request] = flow.http_requests
    assert (request.version, request.target, request.decrypted) == ("HTTP/2", f"/?imei={IMEI}", True)
    assert ("api.example.com", "h2-authority", True) in [(c.name, c.source, c.decrypted) for c in flow.claims]


def test_websocket_messages_inside_tls_come_out_unmasked(run: Analyze, recorder: RecordingObserver) -> None:
    from phonehome.traffic.websocket import build_frame

    connection = Tls13Connection()
    conv = converse(connection)
    connection.send(
        b"GET /socket HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    connection.send(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", False
    )
    connection.send(build_frame(f'{{"imei":"{IMEI}"}}'.encode(), mask=b"\x01\x02\x03\x04"))
    run(converse(connection, conv).close().packets, observer=recorder, keylog=keys(connection.keylog()))
    messages = [c for _, _, c in recorder.contents if c.chain == "tls-decrypted>websocket:text"]
    assert [m.data for m in messages] == [f'{{"imei":"{IMEI}"}}'.encode()]


def test_tls_inside_decrypted_tls_is_unread_doubt(run: Analyze) -> None:
    connection = Tls13Connection()
    conv = converse(connection)
    connection.send(b"CONNECT inner.example:443 HTTP/1.1\r\nHost: inner.example:443\r\n\r\n")
    connection.send(tls.build_client_hello("inner.example"))
    flow = only_flow(run(converse(connection, conv).close().packets, keylog=keys(connection.keylog())))
    assert ("inner.example", "connect", True) in [(c.name, c.source, c.decrypted) for c in flow.claims]
    assert "TLS inside decrypted TLS: its records were not decrypted" in flow.uninspected


def test_requests_are_decrypted_without_an_observer_too(run: Analyze) -> None:
    connection = Tls13Connection()
    conv = converse(connection)
    connection.send(b"x" * 200_000, False)  # a long download before the request: still followed
    connection.send(REQUEST)
    flow = only_flow(run(converse(connection, conv).close().packets, keylog=keys(connection.keylog())))
    assert [r.decrypted for r in flow.http_requests] == [True]
    assert flow.decrypted_s2c >= 200_000


def test_decryption_of_one_connection_leaves_the_others_alone(run: Analyze) -> None:
    known, unknown = Tls13Connection(), Tls13Connection()
    first = posted(known)
    second = posted(unknown, conv=TcpConversation(("10.0.0.2", 40001), SERVER, ts=first.ts).handshake())
    analysis = run(interleave(first.packets, second.packets), keylog=keys(known.keylog()))
    flows = sorted(analysis.flows, key=lambda f: f.sport)
    assert [f.decrypted for f in flows] == [True, False]
    assert flows[1].uninspected == []


def test_records_held_for_a_server_hello_share_the_analysis_budget(
    run: Analyze, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "PENDING_BUDGET", 2000)
    connection = Tls13Connection()
    flights = connection.flights()
    connection.send(b"x" * 3000)
    conv = TcpConversation(HANDSET, SERVER).handshake()
    conv.send(flights[0][1] + flights[2][1] + connection.flights()[0][1])  # no ServerHello comes
    flow = only_flow(run(conv.close().packets, keylog=keys(connection.keylog())))
    assert any("the analysis holds all the records it can" in text for text in flow.uninspected)


def test_plaintext_held_for_joining_shares_an_analysis_budget(
    run: Analyze, recorder: RecordingObserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "DECRYPTED_BUDGET", 4000)
    connection = Tls13Connection()
    conv = converse(connection)
    payload = bytes(i % 251 for i in range(50_000))
    connection.send(payload, record_size=1000)
    run(converse(connection, conv).close().packets, observer=recorder, keylog=keys(connection.keylog()))
    pieces = decrypted(recorder)[1:]
    assert max(len(piece) for piece in pieces) <= 4000 + 1000
    assert pieces[0] + b"".join(piece[CONTENT_OVERLAP:] for piece in pieces[1:]) == payload
