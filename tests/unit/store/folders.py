"""Results folders for the store's tests, written by a compliance run's own writers (bench and handset faked).

`handset_folder` judges a crafted capture through `ComplianceRun.judge` (what the pytest fixtures
call), as tests/unit/report/runs.py does, so the folder holds what a run leaves: capture.json and
the sealed capture, identity.json, the manifest's copy, run.json, analysis.json, evaluation.json
and the evidence bundle. `batch_folder` puts several under one ``phonehome run`` folder with its
summary.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from phonehome.compliance import ComplianceRun, DeviceSpec
from phonehome.policy import Identity
from phonehome.report import bundle
from phonehome.report import folder as results
from phonehome.traffic.capture import Capture, CaptureDrops, file_digest
from phonehome.traffic.factory import ETHERNET, TcpConversation
from phonehome.traffic.timeline import PhaseMarker
from phonehome.traffic.tls_build import Tls13Connection
from tests.unit.policy import captures

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "manifests" / "nokia-7-plus-global-2019.yaml"
T0 = captures.T0
MARKERS = [
    PhaseMarker(T0 - 1, "boot", {"boot_count": 1}),
    PhaseMarker(T0 + 2.5, "setup-wizard", {"screen": "welcome"}),
    PhaseMarker(T0 + 3.5, "consent", {"accepted": True}),
    PhaseMarker(T0 + 9, "setup-wizard", {"end": True, "completed": True}),
]


def handset_folder(
    parent: Path,
    packets: list | None = None,  # type: ignore[type-arg]
    *,
    device: str = "nokia-7-plus-2019",
    dropped: int = 0,
    sealed: bool = True,
    keylog: bytes | None = None,
) -> Path:
    """A handset's results folder, judged against the Nokia 7 Plus manifest (default: the 2019
    self-registration capture, whose zzhc.vnet.cn POST carries the IMEI in the setup wizard)."""
    run = ComplianceRun(
        DeviceSpec("virtual", device),
        bench_file=REPO / "benches" / "virtual.yaml",
        manifest_file=MANIFEST,
        results_parent=parent,
        time_scale=1.0,
    )
    where = run.claim(results.new_folder(parent, DeviceSpec("virtual", device).slug))
    (where / "bench").mkdir()
    packets = captures.nokia_2019_packets() if packets is None else packets
    captures.write(where / "bench" / "wlan.pcapng", packets, **({"tls_keylog": keylog} if keylog else {}))
    n = len(packets)
    capture = Capture(
        files=[file_digest(where / "bench" / "wlan.pcapng")], interface="ph-wlan", port="wlan",
        format="pcapng", tool="dumpcap", started=T0 - 1, ended=T0 + 10, handset_ip=captures.HANDSET,
        markers=list(MARKERS), drops=[CaptureDrops("dumpcap", "ph-wlan", n + dropped, n, dropped, link_packets=n + dropped)],
        router_macs=[ETHERNET.server_mac],
    )  # fmt: skip
    run.capture = capture
    run.write_json(
        results.CAPTURE, results.relative_paths(capture.to_dict(), where, ("timeline", "resolver_log"))
    )
    identity = Identity.model_validate(
        {"imei": captures.IMEI, "iccid": captures.ICCID, "wifi_mac": captures.MAC, "unread": {"imsi": "denied"},
         "sources": {"imei": "inventory", "iccid": "inventory", "wifi_mac": "adb:ip-link"}}
    )  # fmt: skip
    run.write_json(results.IDENTITY, identity.model_dump(mode="json", exclude_defaults=True))
    run.phases = ("boot", "setup-wizard", "consent")
    run.judge(capture, identity, run.read_manifest())
    if sealed:
        bundle.seal(where)
    return where


def batch_folder(parent: Path, name: str, handsets: list[list | None], *, missing: int = 0) -> Path:  # type: ignore[type-arg]
    """A ``phonehome run`` folder of one handset per entry of ``handsets`` (its packets), plus ``missing``
    handsets that left no folder (a run that ended before claiming one)."""
    run_dir = parent / name
    run_dir.mkdir(parents=True)
    summary = []
    for i, packets in enumerate(handsets):
        folder = handset_folder(run_dir, packets, device=f"nokia-7-plus-2019-{i}")
        evaluation = json.loads((folder / results.EVALUATION).read_text())
        summary.append(
            {"device": evaluation["device"], "status": 1, "result": evaluation["result"], "reason": None,
             "pytest_status": 1, "results": str(folder), "verdicts": {}}
        )  # fmt: skip
    for i in range(missing):
        summary.append(
            {"device": f"virtual:lost-{i}", "status": 5, "result": None, "reason": "the bench did not come up",
             "pytest_status": 1, "results": None, "verdicts": {}}
        )  # fmt: skip
    results.write_json(run_dir / "summary.json", summary)
    bundle.seal(run_dir)
    return run_dir


def checkin_in_tls(t0: float = T0) -> tuple[list, bytes]:  # type: ignore[type-arg]
    """The clean first boot, then a Google checkin that posts the IMEI inside TLS 1.3 in the setup wizard
    (the manifest declares android.googleapis.com for the IMEI), and the key log that decrypts it."""
    connection = Tls13Connection(sni="android.googleapis.com")
    conv = TcpConversation((captures.HANDSET, 41010), (captures.GOOGLE, 443), ts=t0 + 3).handshake()
    body = b"imei=" + captures.IMEI.encode()
    connection.send(
        b"POST /checkin HTTP/1.1\r\nHost: android.googleapis.com\r\nContent-Type: application/x-www-form-urlencoded"
        b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False)
    for from_client, data in connection.flights():
        conv.send(data, from_client)
    conv.close()
    return [*captures.clean_packets(t0), *conv.packets], connection.keylog()
