"""The virtual handset's network stack use: DHCP in its namespace, DNS, TCP, TLS, QUIC, UDP.

Public surface: `HandsetNetwork` (a lease and name resolution on a bench
port's namespace), `Lease`, `Answer` and the errors. Every operation runs on
the handset's asyncio loop with sockets created inside its namespace, and has
a deadline.
"""

from phonehome.virtual.net.dhcp import DhcpError, Lease
from phonehome.virtual.net.network import HandsetNetwork, NetworkDown
from phonehome.virtual.net.resolver import Answer, ResolveError

__all__ = ["Answer", "DhcpError", "HandsetNetwork", "Lease", "NetworkDown", "ResolveError"]
