"""pytest-xdist's scheduling by handset: every test of one handset to one worker.

xdist's own ``loadgroup`` names each test by its ``xdist_group`` mark, but
pytest-xdist 3.8 renames the node id in a way pytest 9 no longer reads, so its
groups are lost and one handset's tests are spread over every worker (each
bringing a bench up for the same handset). This scheduler groups by the
handset named in the node id's parameters instead, which works on both.
Imported only when xdist asks for a scheduler (`phonehome.pytest_plugin`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from xdist.remote import Producer  # type: ignore[import-untyped]
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]


def handset_scope(nodeid: str, devices: Sequence[str]) -> str:
    """The handset ``nodeid`` judges (its parameter id, as `phonehome.pytest_handsets` sets it), or the
    node id itself for a test of no handset. One handset: every test is its."""
    if len(devices) == 1:
        return f"handset:{devices[0]}"
    _name, bracket, rest = nodeid.partition("[")
    params, closed, _group = rest.rpartition("]")  # xdist may append @GROUP after the brackets
    if not (bracket and closed):
        return nodeid
    params = f"-{params}-"
    for device in sorted(devices, key=len, reverse=True):  # virtual:a-b before virtual:a
        if f"-{device}-" in params:
            return f"handset:{device}"
    return nodeid


class HandsetScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
    """xdist's load-by-scope scheduling with a handset as the scope."""

    def __init__(self, config: pytest.Config, log: Producer | None, devices: Sequence[str]) -> None:
        super().__init__(config, log)
        self.devices = tuple(devices)

    def _split_scope(self, nodeid: str) -> str:
        return handset_scope(nodeid, self.devices)
