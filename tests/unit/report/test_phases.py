"""Phase markers inside the capture: packet comments in a copy, the sealed file untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.report import phases
from phonehome.traffic import analyze
from phonehome.traffic.capture import file_sha256
from phonehome.traffic.factory import Packet, UdpConversation, pcap_bytes, pcapng_bytes
from phonehome.traffic.timeline import PhaseMarker

T0 = 1_700_000_000.0


def _packets(n: int = 6) -> list[Packet]:
    conv = UdpConversation(("10.0.0.2", 40000), ("10.0.0.1", 53), ts=T0)
    for i in range(n):
        conv.send(b"q%d" % i)
    for i, packet in enumerate(conv.packets):
        packet.ts = T0 + i  # one a second: T0, T0+1, ...
    return conv.packets


MARKERS = [
    PhaseMarker(T0 - 5, "boot", {"boot_count": 1}),
    PhaseMarker(T0 + 2.5, "setup-wizard", {"screen": "welcome"}),
    PhaseMarker(T0 + 2.7, "consent", {"accepted": False}),
    PhaseMarker(T0 + 4, "setup-wizard", {"end": True}),
    PhaseMarker(T0 + 99, "idle", {}),
]


def _tshark_comments(path: Path) -> list[tuple[int, str]]:
    done = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "frame.comment", "-T", "fields", "-e", "frame.number", "-e", "frame.comment"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    out = []
    for line in done.stdout.splitlines():
        number, _, text = line.partition("\t")
        out.append((int(number), text))
    return out


def _need_tshark() -> None:
    if shutil.which("tshark") is None:
        if os.environ.get("CI"):
            pytest.fail("tshark is not installed (phonehome doctor --install installs it)")
        pytest.skip("tshark is not installed (phonehome doctor --install)")


@pytest.mark.parametrize("fmt", ["pcapng", "pcap"])
def test_each_marker_is_a_comment_on_the_first_packet_at_or_after_it(tmp_path: Path, fmt: str) -> None:
    source = tmp_path / f"wlan.{fmt}"
    source.write_bytes(pcapng_bytes(_packets()) if fmt == "pcapng" else pcap_bytes(_packets()))
    before = source.read_bytes()
    placed = phases.annotate(source, file_sha256(source), MARKERS, tmp_path / "phases.pcapng")
    assert [(p.marker.phase, p.frame) for p in placed] == [
        ("boot", 1), ("setup-wizard", 4), ("consent", 4), ("setup-wizard", 5), ("idle", None),
    ]  # fmt: skip
    assert source.read_bytes() == before, "the sealed capture is never touched"
    copy = analyze(tmp_path / "phases.pcapng")
    original = analyze(source)
    assert copy.packets == original.packets == 6
    comments = copy.files[0].comments
    assert (1, phases.comment(MARKERS[0])) in comments
    assert [frame for frame, _ in comments].count(4) == 2
    assert (None, phases.comment(MARKERS[4])) in comments  # after the last packet: the section's comment


def test_tshark_lists_the_phases(tmp_path: Path) -> None:
    _need_tshark()
    source = tmp_path / "wlan.pcapng"
    source.write_bytes(pcapng_bytes(_packets()))
    phases.annotate(source, file_sha256(source), MARKERS, tmp_path / "phases.pcapng")
    listed = _tshark_comments(tmp_path / "phases.pcapng")
    assert [n for n, _ in listed] == [1, 4, 5]
    text = " ".join(t for _, t in listed)
    for phase in ("boot begins", "setup-wizard begins", "consent begins", "setup-wizard ends"):
        assert f"phonehome phase {phase}" in text


def test_a_capture_that_is_not_the_sealed_one_gets_no_copy(tmp_path: Path) -> None:
    source = tmp_path / "wlan.pcapng"
    source.write_bytes(pcapng_bytes(_packets()))
    with pytest.raises(phases.PhaseCopyError, match="SHA-256 differs"):
        phases.annotate(source, "0" * 64, MARKERS, tmp_path / "phases.pcapng")
    assert not (tmp_path / "phases.pcapng").exists()


def test_a_comment_never_carries_a_line_break_or_runs_long() -> None:
    marker = PhaseMarker(T0, "setup-wizard", {"screen": "x" * 5000})
    assert len(phases.comment(marker)) <= 1000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=0, max_value=400),
    flip=st.integers(min_value=0, max_value=400),
    value=st.integers(0, 255),
)
def test_a_damaged_capture_is_an_error_never_a_crash(tmp_path: Path, cut: int, flip: int, value: int) -> None:
    data = bytearray(pcapng_bytes(_packets(4)))
    if flip < len(data):
        data[flip] = value
    data = data[: max(len(data) - cut, 0)]
    source = tmp_path / "damaged.pcapng"
    source.write_bytes(bytes(data))
    try:
        phases.annotate(source, file_sha256(source), MARKERS, tmp_path / "out.pcapng")
    except phases.PhaseCopyError:
        assert not (tmp_path / "out.pcapng.tmp").exists()


def test_a_packet_block_too_short_for_its_header_is_an_error(tmp_path: Path) -> None:
    data = pcapng_bytes(_packets(2))
    short = (6).to_bytes(4, "little") + (16).to_bytes(4, "little") + b"\0\0\0\0" + (16).to_bytes(4, "little")
    source = tmp_path / "short.pcapng"
    source.write_bytes(data + short)
    with pytest.raises(phases.PhaseCopyError, match="too short"):
        phases.annotate(source, file_sha256(source), MARKERS, tmp_path / "out.pcapng")
