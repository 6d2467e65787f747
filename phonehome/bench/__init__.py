"""The bench: an isolated router namespace with DHCP, DNS, sinks or NAT, and lossless capture.

Public surface: ``Bench`` (from a definition file, a context manager), its
``Port``s, the ``Capture`` it hands back (``phonehome.traffic.capture``), the
records it keeps (``Lease``, ``DnsLogEntry``, ``SinkRecord``), ``clean_stale``
and ``BenchError``.

Names are imported when first used: the bench's services run as
``python -m phonehome.bench.<service>``, one process each per handset, and
importing the whole bench cost each of them a second of CPU at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from phonehome.bench.bench import Bench
    from phonehome.bench.cleanup import clean_stale
    from phonehome.bench.definition import BenchDef, load_bench
    from phonehome.bench.dnsmasq import Lease
    from phonehome.bench.netops import BenchError
    from phonehome.bench.resolver import DnsLogEntry
    from phonehome.bench.sinks import SinkRecord
    from phonehome.bench.topology import Port
    from phonehome.traffic.capture import Capture

_WHERE = {
    "Bench": "phonehome.bench.bench",
    "BenchDef": "phonehome.bench.definition",
    "BenchError": "phonehome.bench.netops",
    "Capture": "phonehome.traffic.capture",
    "DnsLogEntry": "phonehome.bench.resolver",
    "Lease": "phonehome.bench.dnsmasq",
    "Port": "phonehome.bench.topology",
    "SinkRecord": "phonehome.bench.sinks",
    "clean_stale": "phonehome.bench.cleanup",
    "load_bench": "phonehome.bench.definition",
}

__all__ = [
    "Bench",
    "BenchDef",
    "BenchError",
    "Capture",
    "DnsLogEntry",
    "Lease",
    "Port",
    "SinkRecord",
    "clean_stale",
    "load_bench",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'phonehome.bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
