"""The exit statuses of ``phonehome run``, ``analyze`` and ``judge``: part of the interface, labs script on them.

Each status means one thing, whichever command gives it, and a crash can
never look like a FAIL: an unexpected exception exits `INTERNAL_ERROR`,
never 1 (Python's own status for an uncaught exception).
"""

from __future__ import annotations

from collections.abc import Iterable

PASS = 0
"""Every verdict PASS or NOT_APPLICABLE (analyze without --identity/--manifest: analyzed)."""
FAIL = 1
"""A verdict is FAIL."""
USAGE = 2
"""A command line that cannot be run as given (argparse's own status)."""
INCONCLUSIVE = 3
"""No FAIL, but a verdict is INCONCLUSIVE: a PASS that was not earned."""
BAD_INPUT = 4
"""Input that cannot be used: a bad --device, a manifest, identity, inventory, bench or capture with an
error (the message names the file, line and key)."""
NO_VERDICT = 5
"""A run ended without verdicts: a bench or device error (or it was interrupted)."""
INTERNAL_ERROR = 6
"""phonehome itself failed: a crash, a full disk, results that contradict each other."""

FOR_RESULT: dict[str, int] = {
    "PASS": PASS,
    "NOT_APPLICABLE": PASS,
    "FAIL": FAIL,
    "INCONCLUSIVE": INCONCLUSIVE,
}

# When several handsets end differently, the status that most needs a human wins.
_PRECEDENCE = (INTERNAL_ERROR, BAD_INPUT, USAGE, NO_VERDICT, FAIL, INCONCLUSIVE, PASS)


def worst(statuses: Iterable[int]) -> int:
    """The status a command gives for several handsets: an error before a FAIL before INCONCLUSIVE."""
    seen = set(statuses)
    return next((s for s in _PRECEDENCE if s in seen), PASS)


def describe(*, analyzed: bool = False, no_verdict: str = "a bench or device error") -> str:
    """The statuses as a help epilog (``analyzed``: 0 also means an analysis without verdicts)."""
    zero = "every verdict PASS or NOT_APPLICABLE" + (" (or analyzed, when not judging)" if analyzed else "")
    return (
        f"exit status: {PASS} {zero}; {FAIL} a verdict is FAIL; {USAGE} usage error; "
        f"{INCONCLUSIVE} no FAIL but a verdict is INCONCLUSIVE; {BAD_INPUT} bad input (a --device, "
        f"capture, identity, manifest, inventory or bench file that cannot be used: the message names "
        f"file, line and key); {NO_VERDICT} no verdict ({no_verdict}); {INTERNAL_ERROR} internal error "
        "(a crash, a full disk, results that contradict each other). A crash never exits 1."
    )
