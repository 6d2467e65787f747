"""The report's tests analyze factory captures the way the analyzer's own tests do."""

from __future__ import annotations

from tests.unit.traffic.conftest import recorder, run

__all__ = ["recorder", "run"]
