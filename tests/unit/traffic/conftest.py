"""Shared helpers for the analyzer's tests: write factory packets to a capture and analyze it."""

from __future__ import annotations

import gc
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
        return _without_cyclic_garbage(lambda: analyze(path, observer=observer, **kw))  # type: ignore[arg-type]

    return _run


def _without_cyclic_garbage(analysis: Callable[[], Analysis]) -> Analysis:
    """Runs an analysis with the cyclic collector off and checks that it left nothing for it: the
    analyzer frees what it no longer needs by reference counting alone (ended flows cut their own
    cycles), which is why it may run the collector rarely (``analyzer.YOUNG_COLLECTION_EVERY``)."""
    gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        result = analysis()
    finally:
        if collecting:
            gc.enable()
    found = gc.collect()
    assert found == 0, f"the analysis left {found} objects in reference cycles"
    return result


@pytest.fixture
def recorder() -> RecordingObserver:
    return RecordingObserver()
