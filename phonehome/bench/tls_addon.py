"""The mitmproxy add-on of the bench's TLS service: which certificate each connection gets, and what is kept.

Every TCP flow of a ``tls: validate`` or ``tls: intercept`` bench reaches
mitmproxy (``tls_service``), which has no upstream: this add-on decides the
layers itself. A ClientHello gets mitmproxy's TLS server side with the
certificate the endpoint's turn calls for (``Rotation``); what follows, in
clear or decrypted, is HTTP (answered ``204 No Content`` here, as the sinks
do; a WebSocket upgrade goes to the service's own WebSocket peer) or anything
else, which is read and counted and never answered. Each TLS connection
becomes a ``TlsOffer`` record and each HTTP request an ``Exchange`` record
(``phonehome.traffic.interception``), with the flow's 5-tuple.

Imports mitmproxy, which lives in the TLS service's own environment
(``bootstrap.sh``: ``.venv-tls``); nothing else of phonehome imports this module.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http
from mitmproxy.addons.tlsconfig import AppData, alpn_select_callback
from mitmproxy.net import tls as net_tls
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import commands, events, layer, layers
from mitmproxy.proxy.layers.http import HTTPMode
from OpenSSL import SSL

from phonehome.bench.certs import Forge
from phonehome.traffic.interception import CONTROL, PROBES_IN_TURN, Exchange, Handshake, TlsOffer

HEAD_BYTES = 512
"""Application bytes kept per TLS connection (all are counted; the capture and the key log hold them)."""
BODY_HEAD = 4096
HEADERS_KEPT = 64
HEADER_VALUE_MAX = 1024
URL_MAX = 2048
HTTP_PREFIXES = (
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"PRI ",
)

Write = Callable[[dict[str, Any]], None]


class Rotation:
    """Which probe each endpoint gets next: in ``validate`` every bad certificate in turn, then the lab CA's
    good one (a control: it tells pinning and a missing lab CA from the rest); in ``intercept`` always the
    lab CA's. Kept per endpoint for the whole run, so each retry is the next probe."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.tried: dict[str, int] = {}

    def next(self, endpoint: str) -> tuple[str, int]:
        attempt = self.tried.get(endpoint, 0) + 1
        self.tried[endpoint] = attempt
        if self.mode != "validate":
            return CONTROL, attempt
        return PROBES_IN_TURN[(attempt - 1) % len(PROBES_IN_TURN)], attempt


def classify(error: str) -> Handshake:
    """``refused`` when the handset sent an alert or hung up during the handshake, else ``failed``.

    mitmproxy words both: "...does not trust the proxy's certificate... (tlsv1 alert unknown ca)",
    "The client disconnected during the handshake...". An alert about protocol versions or ciphers is the
    bench failing to speak the handset's TLS, not the handset refusing a certificate.
    """
    lowered = error.lower()
    if any(w in lowered for w in ("protocol version", "no shared cipher", "wrong version", "unsupported")):
        return "failed"
    if "alert" in lowered or "disconnected during the handshake" in lowered or "does not trust" in lowered:
        return "refused"
    return "failed"


@dataclass
class Connection:
    """What the add-on knows of one client connection while it lasts."""

    client: tuple[str, int]
    dst: tuple[str, int]
    ts: float
    sni: str | None = None
    offer: TlsOffer | None = None
    app_bytes: int = 0
    app_head: bytes = b""
    requests: int = 0
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    """By mitmproxy flow id: requests whose WebSocket messages are still being counted."""

    def saw(self, data: bytes) -> None:
        """Application data the handset sent after the handshake (or in clear)."""
        self.app_bytes += len(data)
        if len(self.app_head) < HEAD_BYTES:
            self.app_head += data[: HEAD_BYTES - len(self.app_head)]

    def waiting(self, data: bytes) -> None:
        """The bytes buffered while the next layer is undecided (each call sees all of them so far)."""
        self.app_bytes = max(self.app_bytes, len(data))
        self.app_head = data[:HEAD_BYTES]

    def record(self) -> dict[str, Any]:
        """A connection that was not TLS: what the sinks would have recorded of it."""
        return {
            "type": "tcp",
            "client": list(self.client),
            "dst": list(self.dst),
            "ts": self.ts,
            "end": time.time(),
            "bytes": self.app_bytes,
            "head": base64.b64encode(self.app_head).decode(),
            "requests": self.requests,
        }


class Swallow(layer.Layer):  # type: ignore[misc]
    """Reads what the client sends and never answers (the sinks' raw TCP): no upstream exists."""

    def __init__(self, context: Any, connection: Connection | None) -> None:
        super().__init__(context)
        self.connection = connection

    def _handle_event(self, event: events.Event) -> Generator[Any, Any, None]:
        if isinstance(event, events.DataReceived) and event.connection == self.context.client:
            if self.connection is not None:
                self.connection.saw(event.data)
        elif isinstance(event, events.ConnectionClosed) and event.connection == self.context.client:
            yield commands.CloseConnection(self.context.client)
        yield from ()


class Interceptor:
    """The add-on: layers, certificates, records. ``write`` gets each record as a dict (a JSON line)."""

    def __init__(
        self,
        mode: str,
        forge: Forge,
        write: Write,
        websocket_peer: tuple[str, int] | None = None,
    ) -> None:
        self.mode = mode
        self.forge = forge
        self.write = write
        self.rotation = Rotation(mode)
        self.websocket_peer = websocket_peer
        self.connections: dict[str, Connection] = {}

    # --- connections ---------------------------------------------------------------------------

    def client_connected(self, client: Any) -> None:
        self.connections[client.id] = Connection(_addr(client.peername), _addr(client.sockname), time.time())

    def client_disconnected(self, client: Any) -> None:
        conn = self.connections.pop(client.id, None)
        if conn is None:
            return
        if conn.offer is None:
            self.write(conn.record())
            return
        offer = conn.offer
        offer.end = time.time()
        offer.app_bytes, offer.app_head, offer.requests = conn.app_bytes, conn.app_head, conn.requests
        if offer.handshake == "completed" and offer.tls_version is None:
            offer.tls_version = client.tls_version
        self.write(offer.to_dict())

    def next_layer(self, nextlayer: Any) -> None:
        if nextlayer.layer is not None:
            return
        context = nextlayer.context
        conn = self.connections.get(context.client.id)
        data = nextlayer.data_client()
        if not data:
            return
        if len(context.layers) == 1 and starts_like_tls_record(data):
            nextlayer.layer = layers.ClientTLSLayer(context)
            return
        if conn is not None:
            conn.waiting(data)
        if context.client.alpn in (b"h2", b"http/1.1", b"http/1.0") or data.startswith(HTTP_PREFIXES):
            nextlayer.layer = layers.HttpLayer(context, HTTPMode.transparent)
        elif any(p.startswith(data) for p in HTTP_PREFIXES):
            return  # could still be a method: wait for more
        else:
            if conn is not None:  # the new layer is handed these same bytes again and counts them
                conn.app_bytes, conn.app_head = 0, b""
            nextlayer.layer = Swallow(context, conn)

    # --- TLS ---------------------------------------------------------------------------------

    def tls_clienthello(self, data: Any) -> None:
        data.establish_server_tls_first = False  # there is no server: the certificate is ours alone
        conn = self.connections.get(data.context.client.id)
        if conn is not None:
            conn.sni = data.client_hello.sni

    def tls_start_client(self, tls_start: Any) -> None:
        client = tls_start.conn
        conn = self.connections.get(client.id)
        if conn is None:
            conn = self.connections[client.id] = Connection(
                _addr(client.peername), _addr(client.sockname), time.time()
            )
        name = conn.sni or conn.dst[0]
        endpoint = f"{name}:{conn.dst[1]}"
        probe, attempt = self.rotation.next(endpoint)
        issued = self.forge.issue(probe, name)
        conn.offer = TlsOffer(
            client=conn.client,
            dst=conn.dst,
            ts=conn.ts,
            end=0.0,
            mode=self.mode,
            endpoint=endpoint,
            attempt=attempt,
            sni=conn.sni,
            certificate=issued.info,
            handshake="failed",
            error="the handshake did not finish",
        )
        context = net_tls.create_client_proxy_context(
            method=net_tls.Method.TLS_SERVER_METHOD,
            min_version=net_tls.Version.UNBOUNDED,
            max_version=net_tls.Version.UNBOUNDED,
            cipher_list=None,
            ecdh_curve=None,
            chain_file=None,
            request_client_cert=False,
            alpn_select_callback=alpn_select_callback,
            extra_chain_certs=(),
            dhparams=None,
        )
        ssl_conn = SSL.Connection(context)
        ssl_conn.use_certificate(issued.cert)
        ssl_conn.use_privatekey(issued.key)
        ssl_conn.set_app_data(AppData(client_alpn=client.alpn, server_alpn=None, http2=True))
        ssl_conn.set_accept_state()
        tls_start.ssl_conn = ssl_conn

    def tls_established_client(self, data: Any) -> None:
        conn = self.connections.get(data.conn.id)
        if conn is not None and conn.offer is not None:
            conn.offer.handshake, conn.offer.error = "completed", ""
            conn.offer.tls_version = data.conn.tls_version
            alpn = data.conn.alpn
            conn.offer.alpn = alpn.decode("latin-1") if alpn else None

    def tls_failed_client(self, data: Any) -> None:
        conn = self.connections.get(data.conn.id)
        if conn is not None and conn.offer is not None:
            error = str(data.conn.error or "")
            conn.offer.handshake = classify(error)
            conn.offer.error = error[:400]

    # --- HTTP and WebSocket --------------------------------------------------------------------

    def request(self, flow: Any) -> None:
        conn = self.connections.get(flow.client_conn.id)
        request = flow.request
        body = request.raw_content or b""
        exchange = Exchange(
            client=_addr(flow.client_conn.peername),
            dst=_addr(flow.client_conn.sockname),
            ts=request.timestamp_start or time.time(),
            tls=bool(flow.client_conn.tls_established),
            sni=flow.client_conn.sni,
            method=request.method[:32],
            url=_url(request, bool(flow.client_conn.tls_established))[:URL_MAX],
            http_version=request.http_version,
            headers=[
                (k[:HEADER_VALUE_MAX], v[:HEADER_VALUE_MAX])
                for k, v in list(request.headers.items(True))[:HEADERS_KEPT]
            ],
            body_bytes=len(body),
            body_head=body[:BODY_HEAD],
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
        if conn is not None:  # the first request's head was counted while the layer was chosen
            conn.requests += 1
            conn.app_bytes += len(body)
        upgrade = request.headers.get("upgrade", "").lower() == "websocket"
        if upgrade and self.websocket_peer is not None:
            if conn is not None:
                conn.exchanges[flow.id] = exchange
            return  # answered by the WebSocket peer (server_connect below), so mitmproxy relays its frames
        flow.response = http.Response.make(204)
        exchange.status = 204
        self.write(exchange.to_dict())

    def response(self, flow: Any) -> None:
        conn = self.connections.get(flow.client_conn.id)
        exchange = conn.exchanges.get(flow.id) if conn else None
        if exchange is not None and flow.response is not None:
            exchange.status = flow.response.status_code
            if exchange.status != 101 and conn is not None:
                self.write(conn.exchanges.pop(flow.id).to_dict())

    def server_connect(self, data: Any) -> None:
        """Only a WebSocket upgrade gets this far (every other request is answered above): to the peer."""
        if self.websocket_peer is None:
            data.server.error = "the bench has no upstream"
            return
        data.server.address = self.websocket_peer

    def websocket_message(self, flow: Any) -> None:
        conn = self.connections.get(flow.client_conn.id)
        message = flow.websocket.messages[-1] if flow.websocket and flow.websocket.messages else None
        if conn is None or message is None or not message.from_client:
            return
        conn.saw(message.content)
        exchange = conn.exchanges.get(flow.id)
        if exchange is not None:
            exchange.websocket_messages += 1
            if exchange.websocket_messages <= 64:
                self.write(
                    {
                        "type": "websocket",
                        "client": list(exchange.client),
                        "dst": list(exchange.dst),
                        "ts": message.timestamp,
                        "bytes": len(message.content),
                        "sha256": hashlib.sha256(message.content).hexdigest(),
                    }
                )

    def websocket_end(self, flow: Any) -> None:
        conn = self.connections.get(flow.client_conn.id)
        if conn is not None and flow.id in conn.exchanges:
            self.write(conn.exchanges.pop(flow.id).to_dict())


def _addr(value: Any) -> tuple[str, int]:
    if not value:
        return ("?", 0)
    return (str(value[0]), int(value[1]))


def _url(request: Any, tls: bool) -> str:
    scheme = "https" if tls else "http"
    authority = request.authority or request.host_header or request.host
    return f"{scheme}://{authority}{request.path}"
