"""Capture files to flows: who the handset talked to, how, and what it said in the clear.

    analysis = analyze("capture.pcapng")            # or a list of rotated files
    for flow in analysis.flows: ...                  # Flow records (see flow.py)
    for endpoint in analysis.endpoints(): ...        # servers, by name or address
    analyze(paths, observer=my_observer)             # stream unencrypted bytes to a FlowObserver
    analyze(paths, keylog="sslkeys.log")             # decrypt TLS with an SSLKEYLOGFILE (and the capture's
                                                     # own Decryption Secrets Blocks, used without it too)

Offline and I/O-free besides reading the capture; hostile input never raises
beyond CaptureError for a file that is not a capture at all.
"""

from phonehome.traffic._compiled import refuse_stale_extensions

refuse_stale_extensions()

from phonehome.traffic.analysis import Analysis, OtherTraffic, Stats
from phonehome.traffic.analyzer import BODY_LIMIT, analyze
from phonehome.traffic.endpoints import Endpoint, endpoints
from phonehome.traffic.flow import DnsQuery, Flow, FlowObserver, HttpRequest, TlsHello
from phonehome.traffic.keylog import KeyLog, KeyLogError, load_keylog
from phonehome.traffic.pcapfile import CaptureError, CaptureFile

__all__ = [
    "BODY_LIMIT",
    "Analysis",
    "CaptureError",
    "CaptureFile",
    "DnsQuery",
    "Endpoint",
    "Flow",
    "FlowObserver",
    "HttpRequest",
    "KeyLog",
    "KeyLogError",
    "OtherTraffic",
    "Stats",
    "TlsHello",
    "analyze",
    "endpoints",
    "load_keylog",
]
