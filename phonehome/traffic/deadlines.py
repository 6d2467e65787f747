"""When open flows may be over: their deadlines in one-second buckets, so the idle sweep looks only
at the flows that may be due rather than at every open flow every few seconds of capture time.

Hand-written for speed: on a capture of many short flows, the sweep that read every open flow's last
packet time was a tenth of the analysis; a heap of (deadline, flow) entries then cost a twentieth, in
its tuple comparisons. Buckets need one append per schedule and a heap only of the seconds that hold
some. They only narrow the search; each candidate is still checked against its flow's real deadline,
so flows end at exactly the sweeps they did before.
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
    """The ids of every open flow, at least once each, in the bucket of the second (of capture time)
    from which it may be over.

    A flow's deadline only moves later while timestamps go forward (its last packet is later); one
    that moves earlier (a TCP flow closed) is scheduled again. Timestamps that go back by more than
    SWEEP_SLACK could move deadlines earlier unseen: from then on ``scan_all`` is set and the caller
    looks at every flow, as before this schedule existed.
    """

    def __init__(self) -> None:
        self.buckets: dict[int, list[int]] = {}
        """Flow ids by the whole second their deadline falls in (floor)."""
        self.seconds: list[int] = []
        """The keys of ``buckets``, as a heap."""
        self.high_ts = -math.inf
        """The latest timestamp seen before a step back (kept only at steps back: no cost per packet)."""
        self.scan_all = False

    def schedule(self, flow_id: int, at: float) -> None:
        if self.scan_all:
            return
        second = math.floor(at)
        bucket = self.buckets.get(second)
        if bucket is None:
            self.buckets[second] = [flow_id]
            heapq.heappush(self.seconds, second)
        else:
            bucket.append(flow_id)

    def clock_back(self, before: float, ts: float) -> None:
        """A packet at ``ts`` came after one at ``before`` (later): past the slack, stop trusting the schedule."""
        self.high_ts = max(self.high_ts, before)
        if self.high_ts - ts > SWEEP_SLACK and not self.scan_all:
            self.scan_all = True
            self.buckets = {}
            self.seconds = []

    def due(
        self,
        now: float,
        active: Mapping[int, State],
        over: Callable[[State, float], bool],
        deadline: Callable[[State], float],
    ) -> list[State]:
        """The open flows ``over`` at ``now``, in the order of their ids (the order they began).

        Every bucket of a second before ``now`` + SWEEP_SLACK + 1 is looked at: each holds flows whose
        deadline was then at most that late, and an entry is never later than its flow's deadline plus
        SWEEP_SLACK. A flow looked at before it is over is scheduled again at its deadline as it is now.
        """
        seconds, buckets = self.seconds, self.buckets
        last = math.ceil(now + SWEEP_SLACK + 1.0) - 1
        found: dict[int, State] = {}
        later = []
        while seconds and seconds[0] <= last:
            for flow_id in buckets.pop(heapq.heappop(seconds)):
                state = active.get(flow_id)
                if state is None or flow_id in found:
                    continue
                if over(state, now):
                    found[flow_id] = state
                else:
                    later.append((flow_id, deadline(state)))
        for flow_id, at in later:
            self.schedule(flow_id, at)
        return [found[flow_id] for flow_id in sorted(found)]
