"""The device side of the ADB transport, driven by a scripted host over a socketpair."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from phonehome.virtual.adb.auth import AuthPolicy, encode_public_key
from phonehome.virtual.adb.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_WRTE,
    AUTH_RSAPUBLICKEY,
    AUTH_SIGNATURE,
    AUTH_TOKEN,
    Message,
    MessageReader,
    encode,
)
from phonehome.virtual.adb.stream import AdbStream
from phonehome.virtual.adb.transport import AdbConnection, ServiceHandler

BANNER = "device::ro.product.name=p;ro.product.model=m;ro.product.device=d;features=shell_v2"


class Resolver:
    def __init__(self) -> None:
        self.opened: list[str] = []

    def banner(self) -> str:
        return BANNER

    async def resolve(self, service: str, connection: AdbConnection) -> ServiceHandler | None:
        self.opened.append(service)
        if service == "echo:":
            return self.echo
        if service == "big:":
            return self.big
        return None

    async def echo(self, stream: AdbStream) -> None:
        while data := await stream.read():
            await stream.write(data.upper())

    async def big(self, stream: AdbStream) -> None:
        await stream.write(b"z" * 300_000)


class Host:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = MessageReader()
        self.queue: list[Message] = []

    def send(self, msg: Message) -> None:
        self.writer.write(encode(msg))

    async def recv(self) -> Message:
        while not self.queue:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            assert data, "device closed the connection"
            self.queue += self.parser.feed(data)
        return self.queue.pop(0)


class Device(AdbConnection):
    """The connection under test; ``finish()`` closes both ends and waits for the serve task."""

    peer: Host
    task: asyncio.Task[None]

    async def finish(self) -> None:
        await self.close()
        self.peer.writer.close()
        await self.peer.writer.wait_closed()
        await self.task


async def _connect(
    auth: AuthPolicy | None = None, max_payload: int = 1 << 20
) -> tuple[Host, Resolver, Device]:
    a, b = socket.socketpair()
    resolver = Resolver()
    dev_reader, dev_writer = await asyncio.open_connection(sock=a)
    conn = Device(dev_reader, dev_writer, resolver, auth=auth, name="test")
    conn.task = asyncio.ensure_future(conn.serve())
    host = Host(*(await asyncio.open_connection(sock=b)))
    conn.peer = host
    host.send(Message(A_CNXN, 0x01000001, max_payload, b"host::features=shell_v2\0"))
    return host, resolver, conn


def test_cnxn_is_answered_with_the_banner() -> None:
    async def go() -> None:
        host, _, conn = await _connect()
        reply = await host.recv()
        assert reply.command == A_CNXN
        assert reply.arg0 == 0x01000001
        assert reply.data.decode() == BANNER
        await conn.finish()

    asyncio.run(go())


def test_open_write_and_close_a_stream() -> None:
    async def go() -> None:
        host, resolver, conn = await _connect()
        await host.recv()
        host.send(Message(A_OPEN, 5, 0, b"echo:\0"))
        ok = await host.recv()
        assert (ok.command, ok.arg1) == (A_OKAY, 5)
        device_id = ok.arg0
        host.send(Message(A_WRTE, 5, device_id, b"hello"))
        assert (await host.recv()).command == A_OKAY  # our WRTE acknowledged
        data = await host.recv()
        assert (data.command, data.data) == (A_WRTE, b"HELLO")
        host.send(Message(A_OKAY, 5, device_id))
        host.send(Message(A_CLSE, 5, device_id))
        await asyncio.sleep(0.05)
        assert resolver.opened == ["echo:"]
        await conn.finish()

    asyncio.run(go())


def test_an_unknown_service_is_refused_with_clse() -> None:
    async def go() -> None:
        host, _, conn = await _connect()
        await host.recv()
        host.send(Message(A_OPEN, 9, 0, b"framebuffer:\0"))
        refused = await host.recv()
        assert (refused.command, refused.arg0, refused.arg1) == (A_CLSE, 0, 9)
        await conn.finish()

    asyncio.run(go())


def test_one_write_in_flight_and_writes_fit_the_hosts_payload() -> None:
    async def go() -> None:
        host, _, conn = await _connect(max_payload=65536)
        await host.recv()
        host.send(Message(A_OPEN, 2, 0, b"big:\0"))
        ok = await host.recv()
        received = b""
        while True:
            msg = await host.recv()
            if msg.command == A_CLSE:
                break
            assert msg.command == A_WRTE
            assert len(msg.data) <= 65536
            received += msg.data
            await asyncio.sleep(0.01)
            assert not host.queue, "a second WRTE came before our OKAY"
            host.send(Message(A_OKAY, 2, ok.arg0))
        assert received == b"z" * 300_000
        await conn.finish()

    asyncio.run(go())


def test_auth_token_then_trusted_signature_goes_online() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    policy = AuthPolicy(required=True)
    policy.authorize(encode_public_key(key.public_key()))

    async def go() -> None:
        host, _, conn = await _connect(auth=policy)
        token = await host.recv()
        assert (token.command, token.arg0, len(token.data)) == (A_AUTH, AUTH_TOKEN, 20)
        signature = key.sign(token.data, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
        host.send(Message(A_AUTH, AUTH_SIGNATURE, 0, signature))
        assert (await host.recv()).command == A_CNXN
        await conn.finish()

    asyncio.run(go())


def test_an_unknown_key_stays_unauthorized() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    policy = AuthPolicy(required=True)

    async def go() -> None:
        host, _, conn = await _connect(auth=policy)
        token = await host.recv()
        host.send(Message(A_AUTH, AUTH_SIGNATURE, 0, os.urandom(256)))
        again = await host.recv()
        assert again.command == A_AUTH
        assert again.data != token.data
        host.send(Message(A_AUTH, AUTH_RSAPUBLICKEY, 0, encode_public_key(key.public_key()).encode() + b"\0"))
        host.send(Message(A_OPEN, 1, 0, b"echo:\0"))  # ignored while unauthorized
        await asyncio.sleep(0.1)
        assert not host.queue
        assert not conn.online
        assert policy.offered_keys
        await conn.finish()

    asyncio.run(go())


def test_a_peer_that_never_sends_cnxn_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from phonehome.virtual.adb import transport

    monkeypatch.setattr(transport, "HANDSHAKE_TIMEOUT_S", 0.2)

    async def go() -> None:
        a, b = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=a)
        conn = AdbConnection(reader, writer, Resolver(), name="silent")
        peer_reader, peer_writer = await asyncio.open_connection(sock=b)
        await asyncio.wait_for(conn.serve(), 5)
        assert await asyncio.wait_for(peer_reader.read(), 5) == b""
        peer_writer.close()
        await peer_writer.wait_closed()

    asyncio.run(go())
