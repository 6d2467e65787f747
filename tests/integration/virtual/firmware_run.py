"""One end-to-end run of a virtual handset profile on a real bench, judged by the policy.

The bench (``benches/virtual.yaml``) comes up, a `VirtualHandset` boots in its
port's namespace with `Firmware` marking phases on the bench's timeline, takes a
DHCP lease, sends its boot-and-attach traffic (and, when asked, walks the AOSP
Setup Wizard through consent to the launcher), then the capture is stopped and
analysed with the profile's manifest and an `Identity` built from the handset's.
Used by the integration tests and by ``benchmarks/bench_firmware_run.py``.
Everything is torn down in ``finally`` blocks, also when a step fails.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phonehome.bench import Bench, Capture, DnsLogEntry, Lease, SinkRecord
from phonehome.bench.definition import load_bench
from phonehome.device.build import build_from
from phonehome.device.dumps import packages
from phonehome.policy import Evaluation, Identity, evaluate_capture, load_manifest
from phonehome.policy.build import BuildIdentity
from phonehome.policy.identity import Cell, Location
from phonehome.traffic import Analysis
from phonehome.virtual import HandsetIdentity, SimCard, VirtualHandset
from phonehome.virtual.firmware import Firmware, Outcome
from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.hierarchy import Node, parse_xml

REPO = Path(__file__).resolve().parents[3]
BENCH = REPO / "benches" / "virtual.yaml"
TIME_SCALE = 1e-4
"""One hour of firmware time is 0.36 s: the Nokia's ten hourly registrations take about 3.3 s."""


def policy_identity(handset: HandsetIdentity, sims: Sequence[SimCard] = ()) -> Identity:
    """What a lab's identity file would list for this handset (every identifier it has), with the SIM
    cards it held during the run (``sims``: all of them when cards were swapped)."""
    cards = list(dict.fromkeys([*sims, *handset.sims]))
    return Identity(
        imei=list(handset.imeis),
        imeisv=[handset.imeisv],
        meid=[handset.meid],
        imsi=[s.imsi for s in cards],
        iccid=[s.iccid for s in cards],
        msisdn=[s.msisdn for s in cards],
        serial=[handset.serial],
        wifi_mac=[handset.wifi_mac, handset.wifi_mac_randomized],
        bt_mac=[handset.bt_mac],
        android_id=[handset.android_id],
        advertising_id=[handset.advertising_id],
        gsf_id=[handset.gsf_id],
        location=Location(lat=handset.location.latitude, lon=handset.location.longitude),
        cell=Cell(
            mcc=int(handset.cell.mcc),
            mnc=int(handset.cell.mnc),
            lac=handset.cell.lac,
            tac=handset.cell.tac,
            cid=handset.cell.cid,
        ),
        sources=dict.fromkeys(
            ("imei", "imsi", "iccid", "serial", "wifi_mac", "android_id", "cell", "location"), "inventory"
        ),
    )


# The AOSP wizard, screen by screen: what a user taps to go on (phonehome/virtual/ui/flavours/aosp.yaml).
AOSP_STEPS: dict[str, list[dict[str, str]]] = {
    "welcome": [{"resourceId": "com.google.android.setupwizard:id/start"}],
    "wifi": [{"text": "phonehome-bench"}],
    "sim": [{"resourceId": "com.google.android.setupwizard:id/next_button"}],
    "signin": [{"resourceId": "com.google.android.gms:id/skip_button"}],
    "signin_skip": [{"resourceId": "android:id/button1"}],
    "pin": [{"resourceId": "com.android.settings:id/skip_button"}],
    "pin_skip": [{"text": "Skip anyway"}],
    "done": [{"text": "Done"}],
}


def find(screen: object, selector: dict[str, str]) -> Node | None:
    return sel.find(parse_xml(screen.hierarchy_xml()), sel.parse(selector))  # type: ignore[attr-defined]


def tap(screen: object, selector: dict[str, str]) -> bool:
    node = find(screen, selector)
    if node is None:
        return False
    screen.tap(*node.bounds.center)  # type: ignore[attr-defined]
    return True


DIAGNOSTICS = {"resourceId": "com.google.android.gms:id/usage_reporting_toggle"}


def walk_aosp_wizard(handset: VirtualHandset, *, diagnostics: bool = False, timeout: float = 20.0) -> None:
    """Taps from wherever the wizard is to the launcher; on the consent screen sets diagnostics, accepts."""
    screen = handset.screen
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        name = screen.screen_name  # type: ignore[attr-defined]
        if name == "launcher":
            return
        if name == "google_services":
            while (toggle := find(screen, DIAGNOSTICS)) is None:
                assert tap(screen, {"text": "More"}), "no diagnostics toggle and no More button"
            if toggle.checked != diagnostics:
                tap(screen, DIAGNOSTICS)
            while tap(screen, {"text": "More"}):
                pass
            assert tap(screen, {"text": "Accept"}), "no Accept button on the consent screen"
        elif name in AOSP_STEPS:
            for selector in AOSP_STEPS[name]:
                assert tap(screen, selector), f"{selector} not on screen {name}"
        else:
            time.sleep(0.01)  # a progress screen ("checking") passes on its own
    raise AssertionError(f"the wizard did not reach the launcher within {timeout:g} s")


def _build_of(handset: VirtualHandset) -> BuildIdentity:
    """The build as `phonehome.device.build.read_build` reads it over ADB (getprop, pm list packages -f -U),
    taken from the handset's own tables: this harness drives the firmware without the device layer."""
    state = handset.state
    listed = "\n".join(f"package:{p.path}={p.name} uid:{p.uid}" for p in state.packages.all())
    return build_from(dict(state.props.items()), packages(listed))


@dataclass
class ProfileRun:
    """What one run produced, for assertions and reports."""

    profile: str
    run_id: str
    """The bench's run id (what `leftovers` looks for after the run)."""
    handset: HandsetIdentity
    identity: Identity
    capture: Capture
    analysis: Analysis
    evaluation: Evaluation
    outcomes: list[Outcome]
    leases: list[Lease]
    dns_queries: list[DnsLogEntry]
    sink_records: list[SinkRecord]
    timings: dict[str, float] = field(default_factory=dict)
    observed: dict[str, object] = field(default_factory=dict)

    def verdict(self, assertion: str) -> str:
        return next(v.result for v in self.evaluation.verdicts if v.assertion == assertion)

    def failing(self) -> set[str]:
        return {v.assertion for v in self.evaluation.verdicts if v.result == "FAIL"}


def run_profile(
    profile: str,
    workdir: Path,
    *,
    seed: str = "e2e",
    time_scale: float = TIME_SCALE,
    wizard: bool = False,
    diagnostics: bool = False,
    during: Callable[[VirtualHandset, Bench], dict[str, object]] | None = None,
    acts: Callable[[VirtualHandset, Firmware], None] | None = None,
    tls: str = "alert",
    **handset_options: Any,
) -> ProfileRun:
    """Bench up, handset booted and attached, window sent (wizard walked), capture judged; all torn down.

    ``during`` runs beside the firmware from the moment the handset is attached (in a thread): a peer
    that talks to the handset while it sends its window. ``acts`` runs once the window is sent (what
    a person does next: unlock, swap the SIM); the capture then waits until every phase is done.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    observed: dict[str, object] = {}
    definition = load_bench(BENCH)
    if tls != "alert":  # QUIC clients fall back to TLS over TCP, where the TLS service is
        definition = definition.model_validate({**definition.model_dump(), "tls": tls, "block_quic": True})
    bench = Bench(definition, workdir=workdir, source=BENCH)
    bench.up()
    run_id = bench.run_id
    try:
        timings["bench_up"] = time.perf_counter() - started
        port = bench.port()
        handset = VirtualHandset(
            profile, seed=seed, netns=port.netns, time_scale=time_scale, **handset_options
        )
        firmware = Firmware(handset, on_marker=bench.mark)
        if bench.lab_ca is not None:  # the lab's CA in its system store, as on a userdebug build
            handset.install_ca(bench.lab_ca.read_bytes())
        sims = list(handset.identity.sims)
        handset.start()
        beside: concurrent.futures.Future[dict[str, object]] | None = None
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            firmware.attach_network(port.netns, port.handset_ifname)
            timings["attached"] = time.perf_counter() - started
            if during is not None:
                beside = pool.submit(during, handset, bench)
            outcomes = firmware.wait_window(timeout=60)
            timings["window_sent"] = time.perf_counter() - started
            if wizard:
                walk_aosp_wizard(handset, diagnostics=diagnostics)
                firmware.wait_phase("idle", timeout=30)
                outcomes = firmware.wait_settled(timeout=30)
                timings["wizard_done"] = time.perf_counter() - started
            if acts is not None:
                acts(handset, firmware)
                sims += handset.identity.sims
                outcomes = firmware.wait_settled(timeout=60)
                timings["acts_done"] = time.perf_counter() - started
            if beside is not None:
                observed = beside.result(timeout=60)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            firmware.stop()
            build = _build_of(handset)
            handset.stop()
        capture = bench.stop_capture()[port.name]
        leases, queries, records = bench.leases(), bench.dns_queries(), bench.sink_records()
    finally:
        bench.down()
    timings["torn_down"] = time.perf_counter() - started
    manifest_name = handset.profile.behaviour.manifest
    assert manifest_name, f"profile {profile} names no manifest"
    manifest = load_manifest(REPO / "manifests" / f"{manifest_name}.yaml")
    identity = policy_identity(handset.identity, sims)
    analysis, evaluation = evaluate_capture(capture, identity=identity, manifest=manifest, build=build)
    timings["analysed"] = time.perf_counter() - started
    return ProfileRun(
        profile,
        run_id,
        handset.identity,
        identity,
        capture,
        analysis,
        evaluation,
        outcomes,
        leases,
        queries,
        records,
        timings,
        observed,
    )
