"""Shared helpers for the analyzer's tests: write factory packets to a capture and analyze it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from phonehome.traffic import Analysis, analyze, factory
from phonehome.traffic.factory import Packet, RecordingObserver

Analyze = Callable[..., Analysis]


@pytest.fixture
def run(tmp_path: Path) -> Analyze:
    """run(packets, ..., fmt="pcapng", observer=None) -> Analysis of those packets written as one capture."""
    counter = [0]

    def _run(
        packets: Sequence[Packet], *, fmt: str = "pcapng", observer: object = None, **kw: object
    ) -> Analysis:
        counter[0] += 1
        path = tmp_path / f"capture{counter[0]}.{fmt}"
        data = factory.pcapng_bytes(packets) if fmt == "pcapng" else factory.pcap_bytes(packets)
        path.write_bytes(data)
        return analyze(path, observer=observer, **kw)  # type: ignore[arg-type]

    return _run


@pytest.fixture
def recorder() -> RecordingObserver:
    return RecordingObserver()
