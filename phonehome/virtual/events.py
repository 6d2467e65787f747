"""What a virtual handset tells the code around it: its events and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field

BOOT_STARTED = "boot-started"
BOOT_COMPLETED = "boot-completed"
SHUTDOWN = "shutdown"
BROADCAST = "broadcast"
WIPED = "factory-reset"


class HandsetError(RuntimeError):
    """A virtual handset that cannot do what was asked; the message names it and what to do."""


@dataclass(frozen=True, slots=True)
class HandsetEvent:
    """What happened to the handset, for firmware behaviour.

    ``boot-started``, ``boot-completed``, ``shutdown`` (``detail``: the reason),
    ``broadcast`` (``detail``: the intent action, ``extras``: its extras, e.g.
    ``SIM_STATE_CHANGED`` with ``ss=LOADED`` and ``slot``), ``factory-reset``
    (user data was wiped; the next boot is a first boot).
    """

    kind: str
    at: float
    detail: str = ""
    extras: dict[str, str] = field(default_factory=dict)
