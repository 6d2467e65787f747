"""The ``behaviour:`` section of a virtual handset profile: what its firmware sends, when, how.

Per phase (``boot``, ``network-attach``, each wizard screen, ``consent-accepted``,
``consent-declined``, ``setup-complete``, ``idle``, ``sim-inserted``, ``sim-change``,
``unlock``, ``screen-on``, ``screen-off``) a list of actions: a DNS lookup, an HTTP(S) request, a TLS or QUIC handshake, or a plain
UDP/TCP payload, each with its timing (delay, repeats, retries; scaled by the
handset's time scale) and a deadline (never scaled: the network is real).
Validated strictly, because a lab's verdicts rest on the traffic it produces.

    network-attach:
      - label: autoregistration
        http:
          url: http://zzhc.vnet.cn/
          method: POST
          headers: {Content-Type: application/encrypted-json}
          body: {json: {IMEI1: "{imei1}"}, encode: [base64]}
        retry: {attempts: 10, interval_s: 3600}
        until: {status: [200], body_contains: '"resultCode":"0"'}
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import urlsplit

import dns.rdatatype
import pydantic

from phonehome.virtual.firmware import template
from phonehome.yamlconf import StrictModel

Encoding = Literal["gzip", "deflate", "base64", "base64-nowrap", "base64-url", "url", "hex"]
"""Applied to a body's bytes in order. ``base64`` is Android's ``Base64.DEFAULT`` (MIME: standard
alphabet, padded, a line feed after every 76 characters and at the end)."""

PHASES = (
    "boot",
    "network-attach",
    "consent-accepted",
    "consent-declined",
    "setup-complete",
    "idle",
    "sim-inserted",
    "sim-change",
    "unlock",
    "screen-on",
    "screen-off",
)
"""Phase keys besides ``screen:NAME`` (one per Setup Wizard screen). ``sim-inserted``: a SIM's records
are loaded (SIM_STATE_CHANGED LOADED), at boot for each SIM in and whenever one is put in;
``sim-change``: a SIM comes in whose ICCID differs from the one its slot held before (an empty slot
counts: the first SIM put into a handset that booted without one is a change; the SIMs present at the
first boot after a factory reset are not); ``unlock``: each USER_PRESENT; ``screen-on``/``screen-off``:
SCREEN_ON/SCREEN_OFF."""


def _template(value: str) -> str:
    template.parse(value)
    return value


Template = Annotated[str, pydantic.AfterValidator(_template)]


def _json_templates(value: pydantic.JsonValue) -> pydantic.JsonValue:
    for text in _strings(value):
        template.parse(text)
    return value


def _strings(value: pydantic.JsonValue) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class Body(StrictModel):
    """Bytes to send: exactly one of ``text``, ``json``, ``form``, ``hex`` or ``sntp``, then ``encode``."""

    text: Template | None = None
    json_value: Annotated[pydantic.JsonValue, pydantic.AfterValidator(_json_templates)] = pydantic.Field(
        default=None, alias="json"
    )
    """A JSON document; its strings are templates (keys are literal). Serialised compactly."""
    form: dict[str, Template] | None = None
    """``application/x-www-form-urlencoded`` fields, in order."""
    hex: str | None = pydantic.Field(default=None, pattern=r"^([0-9a-fA-F]{2})*$")
    sntp: bool = False
    """An SNTP client request (RFC 4330, version 3, mode 3), as Android's SntpClient sends it."""
    encode: list[Encoding] = pydantic.Field(default_factory=list, max_length=8)
    content_type: str | None = None
    """Sent as Content-Type when the request's headers do not name one."""

    @pydantic.model_validator(mode="after")
    def _one_kind(self) -> Body:
        given = [
            name
            for name, value in (
                ("text", self.text),
                ("json", self.json_value),
                ("form", self.form),
                ("hex", self.hex),
                ("sntp", self.sntp or None),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"a body is exactly one of text, json, form, hex or sntp (got {given or 'none'})"
            )
        return self

    def templates(self) -> Iterator[str]:
        if self.text is not None:
            yield self.text
        if self.json_value is not None:
            yield from _strings(self.json_value)
        if self.form:
            yield from self.form.values()


def _url(value: str) -> str:
    _template(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    return value


PIN = r"^sha256/[A-Za-z0-9+/]{43}=$"


class TrustSpec(StrictModel):
    """How an app's TLS stack checks the server it reached: its trust manager, hostname verifier and pins.

    ``full``: the chain must lead to a CA in the handset's trust store and name the host (Android's
    default); ``any-certificate``: a trust manager that accepts every chain (an empty
    ``checkServerTrusted``), and no hostname check with it; ``no-hostname``: the chain is checked but not
    the name (an ``ALLOW_ALL`` hostname verifier). ``pins`` (OkHttp's ``sha256/`` + base64 of the
    certificate's SubjectPublicKeyInfo): when given, a server whose certificate matches none is hung up on
    right after the handshake, before any request, as OkHttp's CertificatePinner does.
    """

    validation: Literal["full", "any-certificate", "no-hostname"] = "full"
    pins: list[Annotated[str, pydantic.StringConstraints(pattern=PIN)]] = pydantic.Field(
        default_factory=list, max_length=16
    )
    user_cas: bool = False
    """Also trust CAs the user installed (an app's network security config must say so since Android 7)."""


class HttpSpec(StrictModel):
    """An HTTP/1.1 request; over TLS (with its ClientHello) for https URLs."""

    url: Annotated[str, pydantic.AfterValidator(_url)]
    method: Literal["GET", "POST", "PUT", "HEAD", "DELETE", "PATCH", "OPTIONS"] = "GET"
    headers: dict[str, Template] = pydantic.Field(default_factory=dict)
    """In the order sent. ``Host`` and the body's length or chunking are added when absent."""
    body: Body | None = None
    chunked: bool = False
    """Send the body with ``Transfer-Encoding: chunked`` (RFC 9112 7.1) instead of Content-Length."""
    chunk_size: int = pydantic.Field(default=1024, ge=1, le=1 << 20)
    alpn: list[str] = pydantic.Field(default_factory=lambda: ["http/1.1"])
    trust: TrustSpec | None = None
    """https: how this app checks the server (default: the firmware's ``behaviour.trust``)."""

    @pydantic.field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if not name or any(c in name for c in " \t\r\n:"):
                raise ValueError(f"{name!r} is not an HTTP header name")
        return headers


def _host(value: str) -> str:
    _template(value)
    if "{" not in value and not value.strip():
        raise ValueError("empty host")
    return value


Host = Annotated[str, pydantic.AfterValidator(_host)]
Port = Annotated[int, pydantic.Field(ge=1, le=65535)]


class TlsSpec(StrictModel):
    """A TLS handshake (Python's ssl): its ClientHello carries ``sni`` and ``alpn``."""

    host: Host
    """A name (looked up through the lease's resolver) or an IP literal (no lookup)."""
    port: Port = 443
    sni: Template | None = None
    """Default: ``host`` when it is a name; none for an IP literal."""
    alpn: list[str] = pydantic.Field(default_factory=lambda: ["h2", "http/1.1"])
    trust: TrustSpec | None = None
    """How this app checks the server (default: the firmware's ``behaviour.trust``)."""
    payload: Body | None = None
    """Application data sent once the handshake is done (and the server passed the app's checks)."""


class QuicSpec(StrictModel):
    """A QUIC version 1 Initial (aioquic) whose ClientHello carries ``sni`` and ``alpn``."""

    host: Host
    port: Port = 443
    sni: Template | None = None
    alpn: list[str] = pydantic.Field(default_factory=lambda: ["h3"])


class UdpSpec(StrictModel):
    host: Host
    port: Port
    payload: Body
    wait_reply: bool = False
    """Wait (up to the deadline) for one datagram back; a missing reply is a failure."""
    source_port: Port | None = None
    """Send from this port (e.g. 53, so port rank would call the handset the server)."""


class ClientHelloSpec(StrictModel):
    """A real TLS ClientHello (Python's ssl writes it), sent as the stream's first bytes."""

    sni: Template | None = None
    alpn: list[str] = pydantic.Field(default_factory=lambda: ["http/1.1"])


class TcpSpec(StrictModel):
    host: Host
    port: Port
    payload: Body
    read_reply: bool = False
    """Read what the server sends back (up to the deadline) before closing."""
    source_port: Port | None = None
    client_hello: ClientHelloSpec | None = None
    """Send a TLS ClientHello first, then the payload in clear: encryption claimed, not delivered."""
    tls_records: bool = False
    """Wrap the payload in TLS application-data record headers (it stays plain text inside)."""


IP_PROTOCOLS = {"icmp": 1, "ipip": 4, "ipv6": 41, "gre": 47, "esp": 50, "icmpv6": 58}


def _protocol(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 256:
        return value
    if isinstance(value, str) and value.lower() in IP_PROTOCOLS:
        return IP_PROTOCOLS[value.lower()]
    raise ValueError(f"{value!r} is not an IP protocol: a number 1-255 or one of {', '.join(IP_PROTOCOLS)}")


class InnerSpec(StrictModel):
    """The UDP datagram a tunnel carries (GRE, IP-in-IP, 6in4): inner addresses are the sender's choice."""

    src: str
    dst: str
    port: Port
    payload: Body

    @pydantic.field_validator("src", "dst")
    @classmethod
    def _addresses(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))


class RawSpec(StrictModel):
    """One IP packet of any protocol, from a raw socket (the kernel writes the outer IP header)."""

    host: Host
    proto: Annotated[int, pydantic.BeforeValidator(_protocol)]
    payload: Body | None = None
    """ICMP/ICMPv6: the echo request's data; other protocols: the whole protocol payload."""
    inner: InnerSpec | None = None
    """GRE (IPv4 inside), IP-in-IP or 6in4: the packet the tunnel carries."""

    @pydantic.model_validator(mode="after")
    def _needs(self) -> RawSpec:
        tunnel = self.proto in (4, 41, 47)
        if tunnel != (self.inner is not None):
            raise ValueError("`inner` is for tunnel protocols (gre, ipip, ipv6) and they need it")
        if not tunnel and self.payload is None:
            raise ValueError("a raw packet needs a payload")
        return self


_MAC = r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"


class FrameSpec(StrictModel):
    """An Ethernet frame without IP, on the handset's interface (a packet socket)."""

    ethertype: int = pydantic.Field(ge=0x0600, le=0xFFFF)
    dst_mac: str = pydantic.Field(default="ff:ff:ff:ff:ff:ff", pattern=_MAC)
    src_mac: str | None = pydantic.Field(default=None, pattern=_MAC)
    """Default: the interface's own; another one is a second host on the port."""
    payload: Body

    @pydantic.field_validator("ethertype")
    @classmethod
    def _not_ip(cls, value: int) -> int:
        if value in (0x0800, 0x86DD):
            raise ValueError("IP packets go through raw, udp or tcp actions; a frame is for other EtherTypes")
        return value


class ListenSpec(StrictModel):
    """A TCP server on the handset: each connection it accepts gets ``payload`` (a handset that
    answers flows someone else opens)."""

    port: Port
    payload: Body
    connections: int = pydantic.Field(default=1, ge=1, le=100)
    """Accept this many connections, then stop listening (or at the deadline)."""


class DnsSpec(StrictModel):
    """A lookup through the lease's resolver, with no connection after it."""

    name: Template
    types: list[str] = pydantic.Field(default_factory=lambda: ["A"], min_length=1, max_length=8)

    @pydantic.field_validator("types")
    @classmethod
    def _types(cls, types: list[str]) -> list[str]:
        for name in types:
            try:
                dns.rdatatype.from_text(name)
            except dns.rdatatype.UnknownRdatatype as exc:
                raise ValueError(f"{name!r} is not a DNS record type (A, AAAA, HTTPS, TXT...)") from exc
        return [t.upper() for t in types]


class Repeat(StrictModel):
    """Send ``count`` times in all, ``interval_s`` apart (scaled): heartbeats, periodic uploads."""

    count: int = pydantic.Field(ge=1, le=1000)
    interval_s: float = pydantic.Field(ge=0, le=7 * 86400)


class Retry(StrictModel):
    """After a failed attempt (no connection, or ``until`` not met), try again, ``attempts`` in all."""

    attempts: int = pydantic.Field(ge=1, le=100)
    interval_s: float = pydantic.Field(ge=0, le=7 * 86400)


class Until(StrictModel):
    """What counts as success for an HTTP request (else the attempt failed and ``retry`` applies)."""

    status: list[int] = pydantic.Field(default_factory=lambda: [200], min_length=1)
    body_contains: str | None = None


class Action(StrictModel):
    """One thing the firmware does on the network: exactly one of dns, http, tls, quic, udp, tcp."""

    label: str = ""
    """Who does it (``com.qualcomm.qti.autoregistration``): the handset's log names it."""
    package: str | None = None
    """The app that sends it: its uid owns the sockets (``/proc/net/tcp``...). Default: the label's package
    (before any ``/``) when the build has it, else the system (uid 1000)."""
    dns_spec: DnsSpec | None = pydantic.Field(default=None, alias="dns")
    http: HttpSpec | None = None
    tls: TlsSpec | None = None
    quic: QuicSpec | None = None
    udp: UdpSpec | None = None
    tcp: TcpSpec | None = None
    raw: RawSpec | None = None
    frame: FrameSpec | None = None
    listen: ListenSpec | None = None
    delay_s: float = pydantic.Field(default=0.0, ge=0, le=7 * 86400)
    """Wait this long (scaled) after the phase starts."""
    repeat: Repeat | None = None
    retry: Retry | None = None
    until: Until | None = None
    timeout_s: float = pydantic.Field(default=5.0, gt=0, le=120)
    """Deadline of each network operation (lookup, connect, handshake, reply); not scaled."""
    requires_consent: list[str] = pydantic.Field(default_factory=list)
    """Consent toggles (``diagnostics``, ``location``...) that must be on, as the user left them
    on the consent screens, for the action to run at all; empty: it always runs."""
    requires_sim: bool = False
    """Run only when a SIM is in (any slot) as the phase starts: a carrier's client (self-registration)
    does nothing on a handset without one."""

    @pydantic.model_validator(mode="after")
    def _one_kind(self) -> Action:
        kinds = self.kinds()
        if len(kinds) != 1:
            raise ValueError(
                "an action is exactly one of dns, http, tls, quic, udp, tcp, raw, frame, listen "
                f"(got {kinds or 'none'})"
            )
        if self.until is not None and self.http is None:
            raise ValueError("`until` judges HTTP responses: it needs an http action")
        return self

    def kinds(self) -> list[str]:
        return [
            name
            for name, spec in (
                ("dns", self.dns_spec),
                ("http", self.http),
                ("tls", self.tls),
                ("quic", self.quic),
                ("udp", self.udp),
                ("tcp", self.tcp),
                ("raw", self.raw),
                ("frame", self.frame),
                ("listen", self.listen),
            )
            if spec is not None
        ]

    @property
    def kind(self) -> str:
        return self.kinds()[0]

    @property
    def target(self) -> str:
        """Where it goes, as declared (templates unfilled): ``host:port``, the URL, or the name looked up."""
        if self.dns_spec:
            return self.dns_spec.name
        if self.http:
            return self.http.url
        if self.raw:
            return f"{self.raw.host} (IP protocol {self.raw.proto})"
        if self.frame:
            return f"{self.frame.dst_mac} (EtherType 0x{self.frame.ethertype:04x})"
        if self.listen:
            return f"listening on {self.listen.port}"
        spec = self.tls or self.quic or self.udp or self.tcp
        assert spec is not None
        return f"{spec.host}:{spec.port}"

    def templates(self) -> Iterator[tuple[str, str]]:
        """``(field, template)`` for every templated string of the action."""
        if self.dns_spec:
            yield "dns.name", self.dns_spec.name
        if self.http:
            yield "http.url", self.http.url
            for name, value in self.http.headers.items():
                yield f"http.headers.{name}", value
            if self.http.body:
                yield from (("http.body", t) for t in self.http.body.templates())
        for kind, spec in (("tls", self.tls), ("quic", self.quic)):
            if spec is not None:
                yield f"{kind}.host", spec.host
                if spec.sni:
                    yield f"{kind}.sni", spec.sni
        if self.tls is not None and self.tls.payload is not None:
            yield from (("tls.payload", t) for t in self.tls.payload.templates())
        for kind, plain in (("udp", self.udp), ("tcp", self.tcp)):
            if plain is not None:
                yield f"{kind}.host", plain.host
                yield from ((f"{kind}.payload", t) for t in plain.payload.templates())
        if self.tcp is not None and self.tcp.client_hello and self.tcp.client_hello.sni:
            yield "tcp.client_hello.sni", self.tcp.client_hello.sni
        if self.raw is not None:
            yield "raw.host", self.raw.host
            for body in (self.raw.payload, self.raw.inner.payload if self.raw.inner else None):
                if body is not None:
                    yield from (("raw.payload", t) for t in body.templates())
        for kind, other in (("frame", self.frame), ("listen", self.listen)):
            if other is not None:
                yield from ((f"{kind}.payload", t) for t in other.payload.templates())


Actions = list[Action]


class DhcpSpec(StrictModel):
    """What the handset's DHCP client says about itself (options 12 and 60)."""

    hostname: Template | None = None
    """Absent: as the release does (``android-<ANDROID_ID>`` before Android 11, none after); null: none."""
    vendor_class: Template | None = "android-dhcp-{release}"
    """Android's DhcpClient sends ``android-dhcp-`` + Build.VERSION.RELEASE (AOSP DhcpPacket)."""

    def hostname_template(self, sdk: int) -> str | None:
        """Option 12 as the release with API level ``sdk`` sends it, unless ``hostname`` says otherwise.

        Before Android 11, ConnectivityService set ``net.hostname`` to
        ``android-`` + the ANDROID_ID system_server reads (Android 8 hid the
        property from apps, not from DhcpClient). From Android 11 the NetworkStack's
        DhcpClient sends a host name only when ``config_dhcp_client_hostname`` is on
        (off in AOSP), and then the device name.
        """
        if "hostname" in self.model_fields_set:
            return self.hostname
        return "android-{android_id}" if sdk < 30 else None


class Behaviour(StrictModel):
    """What the firmware does on the network, per phase. Empty: a handset that sends nothing."""

    manifest: str | None = None
    """The manifest this firmware is judged against by default (a name in manifests/ or a path)."""
    dhcp: DhcpSpec = DhcpSpec()
    trust: TrustSpec = TrustSpec()
    """How the firmware's TLS stacks check servers, unless an action says otherwise."""
    network_wait_s: float = pydantic.Field(default=60.0, gt=0, le=3600)
    """How long (not scaled) actions of a phase that came before the network wait for a lease."""
    boot: Actions = pydantic.Field(default_factory=list)
    network_attach: Actions = pydantic.Field(default_factory=list, alias="network-attach")
    screens: dict[str, Actions] = pydantic.Field(default_factory=dict)
    """Per Setup Wizard screen name (``welcome``, ``google_services``...): sent when it shows."""
    consent_accepted: Actions = pydantic.Field(default_factory=list, alias="consent-accepted")
    consent_declined: Actions = pydantic.Field(default_factory=list, alias="consent-declined")
    setup_complete: Actions = pydantic.Field(default_factory=list, alias="setup-complete")
    idle: Actions = pydantic.Field(default_factory=list)
    """Starts when the setup-complete actions are done; bound it with repeat counts."""
    sim_inserted: Actions = pydantic.Field(default_factory=list, alias="sim-inserted")
    sim_change: Actions = pydantic.Field(default_factory=list, alias="sim-change")
    unlock: Actions = pydantic.Field(default_factory=list)
    screen_on: Actions = pydantic.Field(default_factory=list, alias="screen-on")
    screen_off: Actions = pydantic.Field(default_factory=list, alias="screen-off")

    def actions(self, phase: str) -> Actions:
        """The actions of ``phase`` (``boot``... or ``screen:NAME``)."""
        if phase.startswith("screen:"):
            return self.screens.get(phase[7:], [])
        if phase not in PHASES:
            raise KeyError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}, screen:NAME")
        return list(getattr(self, phase.replace("-", "_")))

    def phases(self) -> Iterator[tuple[str, Actions]]:
        for phase in PHASES:
            yield phase, self.actions(phase)
        for name, actions in self.screens.items():
            yield f"screen:{name}", actions

    def templates(self) -> Iterator[tuple[str, str]]:
        """``(where, template)`` of every template, ``where`` naming the phase and action index."""
        for key, value in (
            ("dhcp.hostname", self.dhcp.hostname),
            ("dhcp.vendor_class", self.dhcp.vendor_class),
        ):
            if value:
                yield key, value
        for phase, actions in self.phases():
            shown = f"screens.{phase[7:]}" if phase.startswith("screen:") else phase
            for i, action in enumerate(actions):
                for field, text in action.templates():
                    yield f"behaviour.{shown}[{i}].{field}", text

    @property
    def empty(self) -> bool:
        return not any(actions for _phase, actions in self.phases())


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
