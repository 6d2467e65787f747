"""SMTP, IMAP, POP3 and XMPP: cleartext until the client upgrades, TLS (with its SNI) after."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from phonehome.traffic import Analysis, tls
from phonehome.traffic.factory import RecordingObserver, TcpConversation
from phonehome.traffic.starttls import StartTlsReader, banner_app, client_app

Analyze = Callable[..., Analysis]
HANDSET = ("10.0.0.2", 41000)

XMPP_OPEN = (
    b"<?xml version='1.0'?><stream:stream to='Chat.Example' xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
XMPP_STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"

CASES = {
    "smtp": (25, b"220 mx ESMTP\r\n", [b"EHLO phone\r\n", b"STARTTLS\r\n"], b"220 Go ahead\r\n"),
    "imap": (143, b"* OK IMAP4rev1\r\n", [b"a1 CAPABILITY\r\n", b"a2 STARTTLS\r\n"], b"a2 OK Begin\r\n"),
    "pop3": (110, b"+OK POP3\r\n", [b"CAPA\r\n", b"STLS\r\n"], b"+OK Begin\r\n"),
    "xmpp": (5222, XMPP_OPEN.replace(b" to='Chat.Example'", b""), [XMPP_OPEN, XMPP_STARTTLS], b"<proceed/>"),
}


@pytest.mark.parametrize("app", sorted(CASES))
@pytest.mark.parametrize("banner", [True, False])
def test_an_upgraded_session_is_tls_with_its_sni_claimed(
    run: Analyze, recorder: RecordingObserver, app: str, banner: bool
) -> None:
    port, greeting, commands, go_ahead = CASES[app]
    hello = tls.build_client_hello("mail.example")
    conv = TcpConversation(HANDSET, ("198.51.100.30", port)).handshake()
    if banner:
        conv.send(greeting, from_client=False)
    for command in commands:
        conv.send(command)
    conv.send(go_ahead, from_client=False).send(hello)
    conv.send(tls.build_server_hello(0x0304), from_client=False).close()
    (flow,) = run(conv.packets, observer=recorder).flows
    assert (flow.app, flow.transport, flow.sni) == (app, "tls", "mail.example")
    assert flow.tls_server_version == 0x0304
    assert recorder.stream(0, True) == b"".join(commands) + hello
    if app == "xmpp":
        assert ("chat.example", "starttls") in [(c.name, c.source) for c in flow.claims]


def test_a_session_that_never_upgrades_is_cleartext(run: Analyze) -> None:
    conv = TcpConversation(HANDSET, ("198.51.100.30", 25)).handshake()
    conv.send(b"EHLO phone\r\nMAIL FROM:<a@b>\r\nDATA\r\nSTARTTLS\r\n\x16\x03\x01 not tls\r\n.\r\n").close()
    (flow,) = run(conv.packets).flows
    assert (flow.app, flow.transport, flow.tls) == ("smtp", "cleartext", None)


def test_a_refused_starttls_keeps_the_text_protocol() -> None:
    reader = StartTlsReader("smtp", 0)
    first = b"EHLO x\r\nSTARTTLS\r\n"
    assert reader.feed(0, first) is None
    assert reader.feed(len(first), b"QUIT\r\n") is None
    assert reader.upgrade_at is None


def test_tls_begins_right_after_the_upgrade_command_in_the_same_segment() -> None:
    first = b"a STARTTLS\r\n"
    assert StartTlsReader("imap", 0).feed(0, first + b"\x16\x03\x01") == len(first)


def test_imap_literals_are_not_read_as_commands() -> None:
    reader = StartTlsReader("imap", 0)
    stream = b"a1 APPEND inbox {12}\r\nb STARTTLS\r\n\x16\x03"
    assert reader.feed(0, stream) is None


def test_clients_and_banners_are_recognised() -> None:
    assert client_app(b"EHLO phone.lan\r\n", None) == "smtp"
    assert client_app(b"A001 CAPABILITY\r\n", None) == "imap"
    assert client_app(b"STLS\r\n", None) == "pop3"
    assert client_app(XMPP_OPEN, None) == "xmpp"
    assert client_app(b"GET / HTTP/1.1\r\n", None) is None
    assert client_app(b'a LIST "" *\r\n', "imap") == "imap"
    assert banner_app(b"* OK ready\r\n") == "imap"
    assert banner_app(b"SSH-2.0-x\r\n") is None


def test_a_server_banner_alone_names_the_protocol(run: Analyze) -> None:
    conv = TcpConversation(HANDSET, ("198.51.100.30", 110)).handshake().send(b"+OK hi\r\n", from_client=False)
    (flow,) = run(conv.packets).flows
    assert (flow.app, flow.transport) == ("pop3", "cleartext")


def test_hostile_xmpp_text_is_read_in_bounded_time() -> None:
    import time

    reader = StartTlsReader("xmpp", 0)
    start = time.perf_counter()
    offset = 0
    for chunk in (b"<stream:stream " * 5000, b"<starttls " * 6000, b" " * 60000):
        reader.feed(offset, chunk)
        offset += len(chunk)
    assert time.perf_counter() - start < 2.0
