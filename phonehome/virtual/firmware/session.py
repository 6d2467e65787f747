"""A virtual handset on a bench port, its firmware running: what a pytest fixture or a script needs.

with on_port("nokia-7-plus-2019", port.netns, port.handset_ifname, time_scale=1e-4,
             on_marker=bench.mark) as firmware:
    firmware.wait_window(timeout=60)       # boot + network-attach traffic has been sent
    serial = firmware.handset.adb_serial   # ADB stays on loopback, out of band
capture = bench.stop_capture()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome.virtual.firmware.engine import ATTACH_TIMEOUT_S, Firmware, Marker
from phonehome.virtual.firmware.model import Behaviour

if TYPE_CHECKING:  # profile.py imports this package (for the behaviour model)
    from phonehome.virtual.profile import Profile


@contextlib.contextmanager
def on_port(
    profile: Profile | str | Path,
    netns: str,
    ifname: str,
    *,
    seed: str | None = None,
    time_scale: float = 1.0,
    on_marker: Marker | None = None,
    behaviour: Behaviour | None = None,
    attach_timeout: float = ATTACH_TIMEOUT_S,
    **handset_kwargs: Any,
) -> Iterator[Firmware]:
    """Starts a `VirtualHandset` of ``profile`` in ``netns``, boots it, takes a lease on ``ifname``.

    ``behaviour`` replaces the profile's. Yields its `Firmware` (``.handset`` is
    the handset); on exit both are stopped, also when the body or the attach failed.
    """
    from phonehome.virtual.handset import VirtualHandset  # noqa: PLC0415  (handset imports this package)

    handset = VirtualHandset(profile, seed=seed, netns=netns, time_scale=time_scale, **handset_kwargs)
    firmware = Firmware(handset, behaviour, on_marker=on_marker)
    try:
        handset.start()
        firmware.attach_network(netns, ifname, timeout=attach_timeout)
        yield firmware
    finally:
        firmware.stop()
        handset.stop()
