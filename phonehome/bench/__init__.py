"""The bench: an isolated router namespace with DHCP, DNS, sinks or NAT, and lossless capture.

Public surface: ``Bench`` (from a definition file, a context manager), its
``Port``s, the ``Capture`` it hands back (``phonehome.traffic.capture``), the
records it keeps (``Lease``, ``DnsLogEntry``, ``SinkRecord``), ``clean_stale``
and ``BenchError``.
"""

from phonehome.bench.bench import Bench
from phonehome.bench.cleanup import clean_stale
from phonehome.bench.definition import BenchDef, load_bench
from phonehome.bench.dnsmasq import Lease
from phonehome.bench.netops import BenchError
from phonehome.bench.resolver import DnsLogEntry
from phonehome.bench.sinks import SinkRecord
from phonehome.bench.topology import Port
from phonehome.traffic.capture import Capture

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
