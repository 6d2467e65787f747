"""Fixtures for the policy tests (plain builders are in builders.py)."""

from __future__ import annotations

import pytest

from phonehome.policy.identity import Identity
from phonehome.policy.leaks import LeakDetector
from tests.unit.policy.builders import IDENTITY


@pytest.fixture(scope="session")
def identity() -> Identity:
    return Identity.model_validate(IDENTITY)


@pytest.fixture(scope="session")
def detector_factory(identity: Identity):
    """Detectors share one compiled identity: compiling per test would dominate the suite."""
    base = LeakDetector(identity)

    def make() -> LeakDetector:
        fresh = LeakDetector.__new__(LeakDetector)
        fresh.__dict__.update(
            {
                k: getattr(base, k)
                for k in ("identity", "expansion", "matcher", "judge", "sends", "limits", "phase_at")
            }
        )
        fresh.findings, fresh._flows, fresh.bytes_scanned = [], {}, 0
        return fresh

    return make
