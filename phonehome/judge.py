"""``phonehome judge``'s old home: re-judging lives in `phonehome.report.rejudge` now."""

from __future__ import annotations

from phonehome.report.rejudge import JudgeError, Rejudged, compare, rejudge

__all__ = ["JudgeError", "Rejudged", "compare", "rejudge"]
