"""Which modules are built as C extensions (setup.py, with mypyc), and a guard against stale ones.

Python imports an extension module in preference to the source beside it. In a checkout installed
for development, the extensions are built in place: after an edit of one of these sources, the old
compiled code would run, silently, until the next build. The guard compares a digest of the sources
with the one recorded at build time and refuses to import on a difference, saying how to rebuild.

The records created per packet or per flow (``Flow``, ``DnsMessage``, ``DnsRecord``, ``DnsQuery``,
``TlsHello``, ``HttpRequest``, and inside ``traffic`` ``HandshakeMessage`` and ``ServerHello``) are
dataclasses with ``init=False`` and an ``__init__`` written out: mypyc compiles what a module
defines, but a dataclass's ``__init__`` is generated when the class is created, so it stays
interpreted (about 1 us a call, ten times the compiled one: a tenth of a run of many short flows).
``tests/unit/traffic/test_compiled.py`` checks each one against its fields and defaults. Frozen
records keep the generated one: interpreted, a written-out ``__init__`` could not assign their
fields.

Standard library only: setup.py loads this file by path, before phonehome's dependencies exist.
"""

from __future__ import annotations

import hashlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

MODULES = (
    "phonehome/traffic/_quic_crypto.py",
    "phonehome/traffic/_text.py",
    "phonehome/traffic/analysis.py",
    "phonehome/traffic/analyzer.py",
    "phonehome/traffic/deadlines.py",
    "phonehome/traffic/dns.py",
    "phonehome/traffic/endpoints.py",
    "phonehome/traffic/flow.py",
    "phonehome/traffic/flowtable.py",
    "phonehome/traffic/fragments.py",
    "phonehome/traffic/http.py",
    "phonehome/traffic/ip.py",
    "phonehome/traffic/keylog.py",
    "phonehome/traffic/link.py",
    "phonehome/traffic/naming.py",
    "phonehome/traffic/orientation.py",
    "phonehome/traffic/otherflows.py",
    "phonehome/traffic/pcapfile.py",
    "phonehome/traffic/pcapng.py",
    "phonehome/traffic/quic.py",
    "phonehome/traffic/sessions.py",
    "phonehome/traffic/starttls.py",
    "phonehome/traffic/tcp.py",
    "phonehome/traffic/tcp_session.py",
    "phonehome/traffic/tls.py",
    "phonehome/traffic/tls_plain.py",
    "phonehome/traffic/tls_records.py",
    "phonehome/traffic/tls_session.py",
    "phonehome/traffic/udp_session.py",
    "phonehome/report/analysis_json.py",
)
"""The modules every packet passes through (link, IP, flows, sessions, DNS/TLS/QUIC/HTTP parsing)
and the JSON record they end in; keylog because its error is a CaptureError, and interpreted classes
cannot subclass compiled ones. The slow paths (TLS decryption, DHCP, tunnels, WebSocket, HTTP/2,
timelines, capture writers) run per flow or per file and stay interpreted."""

DIGEST_FILE = "phonehome/traffic/compiled-from.sha256"

ROOT = Path(__file__).resolve().parent.parent.parent
"""The folder holding the ``phonehome`` package (a checkout, or site-packages)."""


def sources_digest(root: Path = ROOT) -> str | None:
    """SHA-256 over the compiled modules' paths and sources; None where a source is absent."""
    digest = hashlib.sha256()
    for name in MODULES:
        try:
            source = (root / name).read_bytes()
        except FileNotFoundError:
            return None
        digest.update(name.encode() + b"\0" + source + b"\0")
    return digest.hexdigest()


def extension_files(root: Path = ROOT) -> list[Path]:
    """The extension modules present for ``MODULES`` (none for a plain Python install)."""
    found: list[Path] = []
    for name in MODULES:
        stem = root / name[: -len(".py")]
        found.extend(p for suffix in EXTENSION_SUFFIXES if (p := stem.with_name(stem.name + suffix)).exists())
    return found


def compiled() -> bool:
    """Whether the analyzer in use is the compiled one (imports it)."""
    from phonehome.traffic import analyzer  # noqa: PLC0415  (not at import: setup.py loads this file alone)

    return not str(getattr(analyzer, "__file__", "")).endswith(".py")


def refuse_stale_extensions(root: Path = ROOT) -> None:
    """Raises ImportError when extension modules are present but were built from other sources."""
    built = extension_files(root)
    if not built:
        return
    try:
        recorded = (root / DIGEST_FILE).read_text(encoding="ascii").strip()
    except OSError:
        recorded = ""
    current = sources_digest(root)
    if current is None or current == recorded:
        return
    raise ImportError(
        f"phonehome: the compiled analyzer in {built[0].parent} was built from other sources than the "
        "ones beside it (edited since the last build?). Rebuild it with ./bootstrap.sh (or "
        "`pip install -e .`), or delete those .so files to run the sources as they are."
    )
