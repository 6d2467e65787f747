"""Real third-party captures (shared/captures/public): leak detection never crashes and finds no leak of an
identity that is not in them (the false-positive rate a lab sees on ordinary traffic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.policy import Identity, analyze_capture
from phonehome.traffic import CaptureError
from tests.unit.policy.builders import IDENTITY


@pytest.mark.slow
def test_no_false_leaks_and_no_crash_on_any_public_capture(shared: Path) -> None:
    identity = Identity.model_validate(IDENTITY)
    analyzed, false_leaks = 0, []
    for path in sorted((shared / "captures" / "public").iterdir()):
        try:
            _analysis, evaluation = analyze_capture([path], identity=identity)
        except CaptureError:
            continue  # not a capture at all: the analyzer's tests cover how that is reported
        analyzed += 1
        false_leaks += [
            (path.name, f.identifier, f.decode, f.excerpt)
            for f in evaluation.findings
            if f.rule in ("cleartext-identifier", "identifier-shaped-field")
        ]
    assert analyzed > 250
    assert false_leaks == []
