"""Judging a bench's Capture record: the lease names the handset, losses and problems never pass."""

from __future__ import annotations

import time
from pathlib import Path

from phonehome.policy import Identity, evaluate_capture, load_manifest
from phonehome.traffic.capture import Capture, CaptureDrops, file_digest
from phonehome.traffic.timeline import PhaseMarker
from tests.unit.policy import captures

REPO = Path(__file__).resolve().parents[3]
NOKIA = load_manifest(REPO / "manifests" / "nokia-7-plus-global-2019.yaml")
IDENTITY = Identity.model_validate({"imei": captures.IMEI, "iccid": captures.ICCID, "wifi_mac": captures.MAC})


def _capture(
    path: Path, *, dropped: int | None = 0, link: int | None = None, problems: list[str] | None = None
) -> Capture:
    packets = captures.nokia_2019_packets()
    captures.write(path, packets)
    drops = CaptureDrops(
        tool="dumpcap",
        interface="ph-wlan",
        captured=len(packets),
        received=len(packets),
        dropped=dropped,
        link_packets=len(packets) if link is None else link,
    )
    return Capture(
        files=[file_digest(path)],
        interface="ph-wlan",
        port="wlan",
        format="pcapng",
        tool="dumpcap",
        started=captures.T0 - 1,
        ended=time.time(),
        handset_ip=captures.HANDSET,
        markers=[PhaseMarker(captures.T0 - 1, "boot")],
        drops=[drops],
        problems=problems or [],
    )


def _verdict(evaluation, assertion: str) -> str:  # type: ignore[no-untyped-def]
    return next(v.result for v in evaluation.verdicts if v.assertion == assertion)


def test_lossless_capture_is_judged_for_the_leased_handset(tmp_path: Path) -> None:
    _, evaluation = evaluate_capture(_capture(tmp_path / "c.pcapng"), identity=IDENTITY, manifest=NOKIA)
    assert evaluation.handset_how == "the bench's DHCP lease"
    assert captures.HANDSET in evaluation.handset
    assert evaluation.result == "FAIL"
    leaked = {f.identifier for f in evaluation.findings if f.rule == "cleartext-identifier"}
    assert {"imei", "iccid", "wifi_mac"} <= leaked
    assert all(f.phase == "boot" for f in evaluation.findings if f.rule == "cleartext-identifier")


def test_frames_the_files_lack_make_a_would_be_pass_inconclusive(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "c.pcapng", link=10_000)
    assert not capture.lossless
    _, evaluation = evaluate_capture(capture, identity=Identity(), manifest=NOKIA)
    visible = next(v for v in evaluation.verdicts if v.assertion == "no-cleartext-identifiers")
    assert visible.result == "INCONCLUSIVE"
    assert "dropped" in visible.reason


def test_a_capture_problem_is_carried_into_every_reason(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "c.pcapng", problems=["dumpcap exited with status 1 before the stop"])
    _, evaluation = evaluate_capture(capture, identity=Identity(), manifest=NOKIA)
    assert _verdict(evaluation, "no-cleartext-identifiers") == "INCONCLUSIVE"
    assert "dumpcap exited" in next(v.reason for v in evaluation.verdicts if v.result == "INCONCLUSIVE")


def test_missing_counters_are_not_read_as_lossless(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "c.pcapng", dropped=None)
    _, evaluation = evaluate_capture(capture, identity=Identity(), manifest=NOKIA)
    assert _verdict(evaluation, "no-cleartext-identifiers") == "INCONCLUSIVE"


def test_bench_problems_given_by_the_caller_count_too(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "c.pcapng")
    problems = ["bench not isolated: the handset reached 192.0.2.2"]
    _, evaluation = evaluate_capture(capture, identity=Identity(), manifest=NOKIA, problems=problems)
    assert _verdict(evaluation, "no-cleartext-identifiers") == "INCONCLUSIVE"


def test_consent_cannot_pass_when_the_scenario_never_reaches_it(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "c.pcapng")
    _, evaluation = evaluate_capture(
        capture, identity=IDENTITY, manifest=NOKIA, phases=("boot", "network-attach")
    )
    consent = next(v for v in evaluation.verdicts if v.assertion == "consent")
    assert consent.result == "INCONCLUSIVE"
    assert "boot, network-attach" in consent.reason
    _, evaluation = evaluate_capture(capture, identity=IDENTITY, manifest=NOKIA, phases=("boot", "consent"))
    assert _verdict(evaluation, "consent") == "INCONCLUSIVE"  # it set out to reach consent and has no marker
