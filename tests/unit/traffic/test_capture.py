"""The Capture record: JSON round trip, when it may call itself lossless, and its files' digests."""

from __future__ import annotations

from pathlib import Path

from phonehome.traffic.capture import Capture, CaptureDrops, file_digest
from phonehome.traffic.timeline import PhaseMarker


def capture(tmp_path: Path, **overrides: object) -> Capture:
    path = tmp_path / "wlan.pcapng"
    if not path.exists():
        path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(24))
    fields: dict[str, object] = {
        "files": [file_digest(path)],
        "interface": "ph3f2a1c-wlan",
        "port": "wlan",
        "format": "pcapng",
        "tool": "dumpcap",
        "started": 10.0,
        "ended": 20.0,
        "handset_mac": "02:00:00:00:00:01",
        "handset_ip": "172.16.0.50",
        "markers": [PhaseMarker(12.0, "consent", {"accepted": False})],
        "drops": [CaptureDrops("dumpcap", "ph3f2a1c-wlan", 40, 40, 0, 0, 40)],
        "timeline": tmp_path / "timeline.jsonl",
    }
    fields.update(overrides)
    return Capture(**fields)  # type: ignore[arg-type]


def test_a_capture_reads_back_from_its_json_unchanged(tmp_path: Path) -> None:
    original = capture(tmp_path)
    original.save(tmp_path / "capture.json")
    assert Capture.load(tmp_path / "capture.json") == original


def test_lossless_only_when_every_count_is_known_zero_and_nothing_went_wrong(tmp_path: Path) -> None:
    assert capture(tmp_path).lossless
    assert not capture(tmp_path, drops=[]).lossless
    assert not capture(tmp_path, drops=[CaptureDrops("dumpcap", "x", None, None, None)]).lossless
    assert not capture(tmp_path, drops=[CaptureDrops("dumpcap", "x", 40, 41, 1)]).lossless
    assert not capture(tmp_path, drops=[CaptureDrops("dumpcap", "x", 40, 40, 0, 0, 45)]).lossless
    assert not capture(tmp_path, problems=["the capture tool died"]).lossless


def test_verify_notices_a_changed_or_missing_file(tmp_path: Path) -> None:
    record = capture(tmp_path)
    assert record.verify() == []
    record.files[0].path.write_bytes(b"tampered")
    assert "differs" in record.verify()[0]
    record.files[0].path.unlink()
    assert "missing" in record.verify()[0]
