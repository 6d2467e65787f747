"""When open flows may be over: a heap of deadlines, so the idle sweep looks only at the flows that
may be due rather than at every open flow every few seconds of capture time.

Hand-written for speed (``heapq``): on a capture of many short flows, the sweep that read every open
flow's last packet time was a tenth of the analysis. The heap only narrows the search; each candidate
is still checked against its flow's real deadline, so flows end at exactly the sweeps they did before.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from typing import Final, Generic, TypeVar

SWEEP_SLACK: Final = 2.0
"""How far a flow's last packet may fall behind the latest timestamp seen before the schedule is no
longer trusted and every sweep looks at every flow again (see ``Deadlines.clock_back``)."""

State = TypeVar("State")


class Deadlines(Generic[State]):
    """(earliest capture time a flow may be over, its id) for every open flow, at least once each.

    A flow's deadline only moves later while timestamps go forward (its last packet is later); one
    that moves earlier (a TCP flow closed) is scheduled again. Timestamps that go back by more than
    SWEEP_SLACK could move deadlines earlier unseen: from then on ``scan_all`` is set and the caller
    looks at every flow, as before this schedule existed.
    """

    def __init__(self) -> None:
        self.heap: list[tuple[float, int]] = []
        self.high_ts = -math.inf
        """The latest timestamp seen before a step back (kept only at steps back: no cost per packet)."""
        self.scan_all = False

    def schedule(self, flow_id: int, at: float) -> None:
        if not self.scan_all:
            heapq.heappush(self.heap, (at, flow_id))

    def clock_back(self, before: float, ts: float) -> None:
        """A packet at ``ts`` came after one at ``before`` (later): past the slack, stop trusting the schedule."""
        self.high_ts = max(self.high_ts, before)
        if self.high_ts - ts > SWEEP_SLACK and not self.scan_all:
            self.scan_all = True
            self.heap = []

    def due(
        self,
        now: float,
        active: Mapping[int, State],
        over: Callable[[State, float], bool],
        deadline: Callable[[State], float],
    ) -> list[State]:
        """The open flows ``over`` at ``now``, in the order of their ids (the order they began).

        An entry is never later than its flow's deadline plus SWEEP_SLACK; one popped before its flow
        is over is pushed back with the flow's deadline as it is now.
        """
        heap = self.heap
        found: dict[int, State] = {}
        later = []
        horizon = now + SWEEP_SLACK + 1.0
        while heap and heap[0][0] < horizon:
            flow_id = heapq.heappop(heap)[1]
            state = active.get(flow_id)
            if state is None or flow_id in found:
                continue
            if over(state, now):
                found[flow_id] = state
            else:
                later.append((deadline(state), flow_id))
        for entry in later:
            heapq.heappush(heap, entry)
        return [found[flow_id] for flow_id in sorted(found)]
