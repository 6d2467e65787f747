"""Firmware behaviour of a virtual handset: what it sends over the network, in which phase.

Public surface: `Firmware` (drives a `VirtualHandset`'s behaviour from its
boot, lease and Setup Wizard events; waits for a phase's traffic to be sent),
the profile model `Behaviour` (the ``behaviour:`` section of
``devices/virtual/*.yaml``), `Outcome`, `PhaseRun`, `FirmwareEvent`,
`FirmwareError`, and `on_port` (a handset booted and attached on a bench
port, stopped on exit: what a pytest fixture needs).

``phonehome.virtual.profile`` imports this package for the behaviour model, so
no module here imports the profile or handset modules at run time (only for
type checking).
"""

from phonehome.virtual.firmware.actions import Outcome
from phonehome.virtual.firmware.engine import Firmware, FirmwareError, FirmwareEvent, PhaseRun
from phonehome.virtual.firmware.model import PHASES, Action, Behaviour, Body
from phonehome.virtual.firmware.session import on_port

__all__ = [
    "PHASES",
    "Action",
    "Behaviour",
    "Body",
    "Firmware",
    "FirmwareError",
    "FirmwareEvent",
    "Outcome",
    "PhaseRun",
    "on_port",
]
