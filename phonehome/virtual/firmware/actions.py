"""Running one action of a firmware profile: its timing, its attempts, and what each attempt did.

An attempt looks the host up through the lease's resolver (IP literals are
used as they are), opens the transport the action names and sends its bytes,
all within the action's deadline. A failed attempt is an `Outcome` with
``ok=False`` and is logged; it never raises, because an app's network error
does not bring a phone down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from phonehome.virtual.firmware import encode, template
from phonehome.virtual.firmware.model import Action, HttpSpec, TrustSpec
from phonehome.virtual.net import httpclient, packets, secure
from phonehome.virtual.net.network import HandsetNetwork, is_address
from phonehome.virtual.net.procnet import SocketTable, acting_as
from phonehome.virtual.net.sockets import close_quietly, connect_tcp, family_of, udp_socket
from phonehome.virtual.services import socket_in_namespace

log = logging.getLogger(__name__)

Values = Callable[[int], Mapping[str, object]]
"""Template values for attempt number N (1...): identity, build, lease, clock."""
Logger = Callable[[str, str, str], None]
"""``(priority, tag, message)``: the handset's log (logcat)."""


@dataclass(slots=True)
class Outcome:
    """What one attempt of one action did."""

    phase: str
    label: str
    kind: str
    """``dns``, ``http``, ``tls``, ``quic``, ``udp``, ``tcp``, ``raw``, ``frame`` or ``listen``."""
    target: str
    """``host:port`` (or the name looked up) as rendered."""
    ok: bool
    detail: str
    attempt: int = 1
    started: float = 0.0
    ended: float = 0.0
    address: str | None = None
    """The address the host resolved to (or the literal)."""
    sent: int = 0
    """Payload bytes handed to the transport (request, datagram...)."""
    status: int | None = None
    """HTTP status, when a response came."""
    extra: dict[str, object] = field(default_factory=dict)


class ActionRunner:
    """Runs actions for one handset on its network, scaled by its time scale."""

    def __init__(
        self,
        network: HandsetNetwork,
        values: Values,
        *,
        time_scale: float,
        network_wait_s: float,
        logcat: Logger,
        trust: TrustSpec | None = None,
        cas: Callable[[bool], str] | None = None,
        owner: Callable[[Action], tuple[SocketTable, int]] | None = None,
    ) -> None:
        self.network = network
        self.owner = owner
        """The socket table and uid an action's sockets are listed with; None: not listed."""
        self.values = values
        self.time_scale = time_scale
        self.network_wait_s = network_wait_s
        self.logcat = logcat
        self.trust = trust
        """The firmware's default checks of TLS servers; None: the host's CAs (before trust stores)."""
        self.cas = cas
        """The handset's trusted CAs in PEM (True: with the user's)."""

    async def run(self, phase: str, action: Action, sink: Callable[[Outcome], None]) -> None:
        """Every attempt of ``action`` (delay, repeats, retries), each outcome handed to ``sink``."""
        with acting_as(*self.owner(action)) if self.owner else contextlib.nullcontext():
            await self._attempts(phase, action, sink)

    async def _attempts(self, phase: str, action: Action, sink: Callable[[Outcome], None]) -> None:
        await self._sleep(action.delay_s)
        count = action.repeat.count if action.repeat else 1
        attempts = action.retry.attempts if action.retry else 1
        attempt_no = 0
        for rep in range(count):
            for tried in range(attempts):
                attempt_no += 1
                outcome = await self.attempt(phase, action, attempt_no)
                sink(outcome)
                if outcome.ok:
                    break
                if tried + 1 < attempts and action.retry is not None:
                    await self._sleep(action.retry.interval_s)
            if rep + 1 < count and action.repeat is not None:
                await self._sleep(action.repeat.interval_s)

    async def attempt(self, phase: str, action: Action, number: int) -> Outcome:
        """One attempt, bounded by a deadline of a few times the action's timeout; never raises."""
        label = action.label or f"{phase}/{action.kind}"
        outcome = Outcome(phase, label, action.kind, action.target, False, "", number, started=time.time())
        try:
            if self.network.lease is None:
                await self.network.wait_ready(self.network_wait_s)
            values = self.values(number)
            step = self._dispatch(action, values, outcome)
            await asyncio.wait_for(step, action.timeout_s * 4)
        except (OSError, TimeoutError, ssl.SSLError, EOFError) as exc:
            outcome.ok, outcome.detail = False, _describe(exc)
        except (template.TemplateError, ValueError) as exc:
            outcome.ok, outcome.detail = False, f"cannot build the request: {exc}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not take the handset down with it
            log.exception("%s: %s attempt %d failed unexpectedly", label, action.kind, number)
            outcome.ok, outcome.detail = False, f"internal error: {exc!r}"
        outcome.ended = time.time()
        self._log(outcome)
        return outcome

    def _log(self, outcome: Outcome) -> None:
        tag = outcome.label[:23] or "phonehome"
        what = f"{outcome.kind} {outcome.target} (attempt {outcome.attempt}): {outcome.detail}"
        if outcome.ok:
            self.logcat("I", tag, what)
            log.debug("%s", what)
        else:
            self.logcat("W", tag, what)
            log.info("%s: %s", outcome.label, what)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.time_scale > 0:
            await asyncio.sleep(seconds * self.time_scale)

    async def _dispatch(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        if action.dns_spec is not None:
            await self._dns(action, values, out)
        elif action.http is not None:
            await self._http(action.http, action, values, out)
        elif action.tls is not None:
            await self._tls(action, values, out)
        elif action.quic is not None:
            await self._quic(action, values, out)
        elif action.udp is not None:
            await self._udp(action, values, out)
        elif action.tcp is not None:
            await self._tcp(action, values, out)
        elif action.raw is not None:
            await self._raw(action, values, out)
        elif action.frame is not None:
            await self._frame(action, values, out)
        elif action.listen is not None:
            await self._listen(action, values, out)

    async def _connect(self, host: str, port: int, timeout: float, out: Outcome) -> socket.socket:
        """Looks ``host`` up and connects, with no other lookup in between (see `HandsetNetwork.naming`)."""
        async with self.network.naming:
            out.address = await self.network.address_of(host, timeout)
            return await connect_tcp(self.network.netns, out.address, port, timeout)

    async def _dns(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        assert action.dns_spec is not None
        name = template.render(action.dns_spec.name, values)
        out.target = name
        answers = []
        async with self.network.naming:
            for rdtype in action.dns_spec.types:
                answer = await self.network.lookup(name, rdtype, action.timeout_s)
                answers.append(f"{rdtype} {answer.rcode} {','.join(answer.addresses) or '-'}")
                out.address = out.address or (answer.addresses[0] if answer.addresses else None)
        out.ok, out.detail = True, "; ".join(answers)

    async def _http(self, spec: HttpSpec, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        url = urlsplit(template.render(spec.url, values))
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        out.target = f"{url.scheme}://{host}:{port}{url.path or '/'}"
        body = encode.build(spec.body, values) if spec.body is not None else None
        headers = [(name, template.render(value, values)) for name, value in spec.headers.items()]
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        request = httpclient.build_request(
            spec.method,
            target,
            httpclient.host_header(host, port, url.scheme),
            headers,
            body,
            chunked=spec.chunked,
            chunk_size=spec.chunk_size,
            content_type=encode.content_type(spec.body) if spec.body is not None else None,
        )
        sock = await self._connect(host, port, action.timeout_s, out)
        if url.scheme == "https":
            sni = None if is_address(host) else host
            reader, writer = await secure.start_tls(
                sock,
                out.address or host,
                sni=sni,
                alpn=spec.alpn,
                timeout=action.timeout_s,
                checks=self._checks(spec.trust),
            )
        else:
            reader, writer = await asyncio.open_connection(sock=sock, limit=httpclient.MAX_HEAD)
        try:
            writer.write(request)
            await asyncio.wait_for(writer.drain(), action.timeout_s)
            out.sent = len(request)
            response = await httpclient.read_response(reader, action.timeout_s, spec.method)
        finally:
            await secure.close_writer(writer)
        out.status = response.status
        until = action.until
        if until is None:
            out.ok, out.detail = True, f"HTTP {response.status} {response.reason}".rstrip()
            return
        wanted = until.body_contains
        body_ok = wanted is None or wanted.encode() in response.body
        out.ok = response.status in until.status and body_ok
        out.detail = f"HTTP {response.status} {response.reason}".rstrip() + (
            ""
            if out.ok
            else f" (not a success: want status {until.status}"
            + (f" and a body containing {wanted!r})" if wanted else ")")
        )

    async def _tls(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        spec = action.tls
        assert spec is not None
        host = template.render(spec.host, values)
        out.target = f"{host}:{spec.port}"
        sni = _sni(spec.sni, host, values)
        sock = await self._connect(host, spec.port, action.timeout_s, out)
        _reader, writer = await secure.start_tls(
            sock,
            out.address or host,
            sni=sni,
            alpn=spec.alpn,
            timeout=action.timeout_s,
            checks=self._checks(spec.trust),
        )
        try:
            if spec.payload is not None:
                payload = encode.build(spec.payload, values)
                writer.write(payload)
                await asyncio.wait_for(writer.drain(), action.timeout_s)
                out.sent = len(payload)
        finally:
            await secure.close_writer(writer)
        out.ok, out.detail = (
            True,
            f"TLS handshake completed (SNI {sni or 'none'})"
            + (f", {out.sent} bytes sent" if spec.payload is not None else ""),
        )

    def _checks(self, spec: TrustSpec | None) -> secure.Checks | None:
        """The app's checks of the server: its own, else the firmware's; None before trust stores existed."""
        chosen = spec or self.trust
        if chosen is None or self.cas is None:
            return None
        return secure.Checks(self.cas(chosen.user_cas), chosen.validation, tuple(chosen.pins))

    async def _quic(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        spec = action.quic
        assert spec is not None
        host = template.render(spec.host, values)
        out.target = f"{host}:{spec.port}"
        sni = _sni(spec.sni, host, values)
        async with self.network.naming:
            out.address = await self.network.address_of(host, action.timeout_s)
            out.sent = await secure.quic_initial(
                self.network.netns, out.address, spec.port, sni=sni, alpn=spec.alpn, timeout=action.timeout_s
            )
        out.ok, out.detail = True, f"QUIC Initial sent ({out.sent} bytes, SNI {sni or 'none'})"

    async def _udp(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        spec = action.udp
        assert spec is not None
        host = template.render(spec.host, values)
        out.target = f"{host}:{spec.port}"
        payload = encode.build(spec.payload, values)
        loop = asyncio.get_running_loop()
        sock = None
        try:
            async with self.network.naming:
                out.address = await self.network.address_of(host, action.timeout_s)
                sock = udp_socket(self.network.netns, out.address)
                if ":" not in out.address:  # a broadcast needs it, anything else ignores it
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                if spec.source_port:
                    sock.bind(("::" if ":" in out.address else "0.0.0.0", spec.source_port))  # noqa: S104
                await loop.sock_connect(sock, (out.address, spec.port))
                await asyncio.wait_for(loop.sock_sendall(sock, payload), action.timeout_s)
            out.sent = len(payload)
            if spec.wait_reply:
                reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), action.timeout_s)
                out.extra["reply_bytes"] = len(reply)
        finally:
            close_quietly(sock)
        out.ok, out.detail = True, f"{out.sent} bytes sent" + (" and a reply came" if spec.wait_reply else "")

    async def _tcp(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        spec = action.tcp
        assert spec is not None
        host = template.render(spec.host, values)
        out.target = f"{host}:{spec.port}"
        payload = encode.build(spec.payload, values)
        if spec.tls_records:
            payload = packets.tls_records(payload)
        if spec.client_hello is not None:
            sni = template.render(spec.client_hello.sni, values) if spec.client_hello.sni else None
            payload = packets.client_hello(sni, spec.client_hello.alpn) + payload
        if spec.source_port:
            async with self.network.naming:
                out.address = await self.network.address_of(host, action.timeout_s)
                sock = socket_in_namespace(self.network.netns, family_of(out.address), socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.bind(("::" if ":" in out.address else "0.0.0.0", spec.source_port))  # noqa: S104
                try:
                    await asyncio.wait_for(
                        asyncio.get_running_loop().sock_connect(sock, (out.address, spec.port)),
                        action.timeout_s,
                    )
                except BaseException:
                    sock.close()
                    raise
        else:
            sock = await self._connect(host, spec.port, action.timeout_s, out)
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            writer.write(payload)
            await asyncio.wait_for(writer.drain(), action.timeout_s)
            out.sent = len(payload)
            if spec.read_reply:
                reply = await asyncio.wait_for(reader.read(httpclient.MAX_BODY), action.timeout_s)
                out.extra["reply_bytes"] = len(reply)
        finally:
            await secure.close_writer(writer)
        out.ok, out.detail = True, f"{out.sent} bytes sent"

    async def _raw(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        """One IP packet of any protocol; the kernel writes the outer header (and routes it)."""
        spec = action.raw
        assert spec is not None
        host = template.render(spec.host, values)
        async with self.network.naming:
            out.address = await self.network.address_of(host, action.timeout_s)
        six = ":" in out.address
        if spec.inner is not None:
            inner = spec.inner
            body = packets.udp_packet(
                inner.src, inner.dst, 40000, inner.port, encode.build(inner.payload, values)
            )
            data = packets.gre(body) if spec.proto == 47 else body
        else:
            assert spec.payload is not None
            payload = encode.build(spec.payload, values)
            if spec.proto == 1:
                data = packets.icmp_echo(payload)
            elif spec.proto == 58:
                data = packets.icmpv6_echo(payload)
            else:
                data = payload
        sock = socket_in_namespace(
            self.network.netns, socket.AF_INET6 if six else socket.AF_INET, socket.SOCK_RAW, spec.proto
        )
        try:
            sock.setblocking(False)
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_sendto(sock, data, (out.address, 0)), action.timeout_s
            )
        finally:
            close_quietly(sock)
        out.sent = len(data)
        out.ok, out.detail = True, f"{len(data)} bytes of IP protocol {spec.proto} sent"

    async def _frame(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        """An Ethernet frame of any EtherType on the handset's own interface."""
        spec = action.frame
        assert spec is not None
        payload = encode.build(spec.payload, values)
        sock = socket_in_namespace(self.network.netns, socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.bind((self.network.ifname, 0))
            src = bytes.fromhex(spec.src_mac.replace(":", "")) if spec.src_mac else sock.getsockname()[4]
            frame = (
                bytes.fromhex(spec.dst_mac.replace(":", ""))
                + src
                + spec.ethertype.to_bytes(2, "big")
                + payload
            )
            sock.send(frame)
        finally:
            close_quietly(sock)
        out.sent = len(frame)
        out.ok, out.detail = True, f"{len(frame)}-byte frame of EtherType 0x{spec.ethertype:04x} sent"

    async def _listen(self, action: Action, values: Mapping[str, object], out: Outcome) -> None:
        """Accepts connections on the handset's port and answers each with the payload."""
        spec = action.listen
        assert spec is not None
        payload = encode.build(spec.payload, values)
        lease = self.network.require()
        server = socket_in_namespace(self.network.netns, socket.AF_INET, socket.SOCK_STREAM)
        loop = asyncio.get_running_loop()
        served = 0
        try:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((lease.ip, spec.port))
            server.listen(8)
            server.setblocking(False)
            out.address = lease.ip
            while served < spec.connections:
                conn, _peer = await asyncio.wait_for(loop.sock_accept(server), action.timeout_s)
                try:
                    await asyncio.wait_for(loop.sock_sendall(conn, payload), action.timeout_s)
                finally:
                    close_quietly(conn)
                served += 1
                out.sent += len(payload)
        finally:
            close_quietly(server)
        out.ok, out.detail = True, f"answered {served} connection(s) on port {spec.port}"


def _sni(declared: str | None, host: str, values: Mapping[str, object]) -> str | None:
    if declared is not None:
        return template.render(declared, values)
    return None if is_address(host.strip("[]")) else host


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out (deadline reached)"
    if isinstance(exc, ssl.SSLError):
        # OpenSSL's errors carry a reason; one raised in Python (a pin mismatch) has none.
        return f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}"
    return f"{type(exc).__name__}: {exc}"
