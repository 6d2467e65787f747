"""Results folders the report's tests read: a compliance run's own writers, the bench and handset faked.

`handset_folder` judges a crafted capture through `ComplianceRun` (the same
``judge`` the pytest fixtures call), so the folder holds what a run leaves:
capture.json and the sealed capture, the phase-marked copy, identity.json,
the manifest's copy, run.json, analysis.json, evaluation.json, report.html
and, once sealed, the evidence bundle. With ``hostile`` the handset's SNI,
Host header and DHCP host name carry markup, script, ANSI sequences, control
characters and a bidi override.
"""

from __future__ import annotations

import time
from pathlib import Path

from phonehome.compliance import ComplianceRun, DeviceSpec
from phonehome.policy import Identity
from phonehome.report import bundle
from phonehome.report import folder as results
from phonehome.traffic import dhcp, http, tls
from phonehome.traffic.capture import Capture, CaptureDrops, file_digest
from phonehome.traffic.factory import ETHERNET, TcpConversation, UdpConversation, interleave
from phonehome.traffic.timeline import PhaseMarker
from tests.unit.policy import captures

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "manifests" / "nokia-7-plus-global-2019.yaml"
SNI = "<script>window.pwned=1</script>\x1b[31mred\u202egnp.exe"
HOST = '"><img src=x onerror="window.pwned=2">\x1b]0;title\x07'
DHCP_NAME = "</script><script>window.pwned=3</script>\u202e\u200bx"
HOSTILE = (SNI, HOST, DHCP_NAME)
"""What a hostile handset claims: each must reach the report as text, never as markup or script."""


def hostile_packets(t0: float) -> list:  # type: ignore[type-arg]
    hello = TcpConversation((captures.HANDSET, 41100), ("203.0.113.77", 443), ts=t0 + 4).handshake()
    hello.send(tls.build_client_hello(SNI.encode("utf-8"))).close()
    request = http.build_request("GET", "/", [("Host", HOST)], b"")
    web = TcpConversation((captures.HANDSET, 41101), ("203.0.113.78", 80), ts=t0 + 4.5).handshake()
    web.send(request).close()
    lease = UdpConversation(("0.0.0.0", 68), ("255.255.255.255", 67), ts=t0 + 0.5)
    lease.send(dhcp.build_dhcpv4(1, "02:00:00:00:00:01", hostname=DHCP_NAME))
    return [*hello.packets, *web.packets, *lease.packets]


def handset_folder(parent: Path, *, hostile: bool = False, sealed: bool = True) -> Path:
    """A Nokia 7 Plus run's results folder (the 2019 self-registration FAILs), judged and reported."""
    run = ComplianceRun(
        DeviceSpec("virtual", "nokia-7-plus-2019"),
        bench_file=REPO / "benches" / "virtual.yaml",
        manifest_file=MANIFEST,
        results_parent=parent,
        time_scale=1.0,
    )
    where = run.claim()
    (where / "bench").mkdir()
    t0 = captures.T0
    packets = captures.nokia_2019_packets()
    if hostile:
        packets = interleave(packets, hostile_packets(t0))
    captures.write(where / "bench" / "wlan.pcapng", packets)
    n = len(packets)
    markers = [
        PhaseMarker(t0 - 1, "boot", {"boot_count": 1}),
        PhaseMarker(t0 + 2.5, "setup-wizard", {"screen": "welcome"}),
        PhaseMarker(t0 + 3.5, "consent", {"accepted": True}),
        PhaseMarker(t0 + 9, "setup-wizard", {"end": True, "completed": True}),
    ]
    capture = Capture(
        files=[file_digest(where / "bench" / "wlan.pcapng")], interface="ph-wlan", port="wlan",
        format="pcapng", tool="dumpcap", started=t0 - 1, ended=t0 + 10, handset_ip=captures.HANDSET,
        markers=markers, drops=[CaptureDrops("dumpcap", "ph-wlan", n, n, 0, link_packets=n)],
        router_macs=[ETHERNET.server_mac],  # the factory's router side: an isolated port's only other MAC
    )  # fmt: skip
    run.capture = capture
    run.write_json(
        results.CAPTURE, results.relative_paths(capture.to_dict(), where, ("timeline", "resolver_log"))
    )
    run._mark_phases(capture)
    identity = Identity.model_validate(
        {"imei": captures.IMEI, "iccid": captures.ICCID, "wifi_mac": captures.MAC, "unread": {"imsi": "denied"},
         "sources": {"imei": "inventory", "iccid": "inventory", "wifi_mac": "adb:ip-link"}}
    )  # fmt: skip
    run.write_json(results.IDENTITY, identity.model_dump(mode="json", exclude_defaults=True))
    run.phases = ("boot", "setup-wizard", "consent")
    manifest = run.read_manifest()
    run.judge(capture, identity, manifest)
    if sealed:
        bundle.seal(where)
    return where


def wait_mtime_tick() -> None:
    """File times are compared in tests that rewrite files: let the clock move on."""
    time.sleep(0.01)
