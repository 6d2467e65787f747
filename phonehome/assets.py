"""The shipped definitions (compliance suite, benches, manifests), found from any working folder.

A lab's own file of the same relative path in the working folder wins (its definitions override the
shipped ones by path); otherwise the one beside the installed package is used, so ``phonehome run``
works outside the checkout. Profiles and screen maps have their own search paths
(`phonehome.virtual.profile.profile_dirs`, `phonehome.scenario.screenmap`).
"""

from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "shipped"
"""Where the package's definitions live (benches, devices, manifests, scenarios): inside the package, so a
wheel carries them; a checkout links its top-level folders of the same names here."""

SUITE = Path(__file__).resolve().parent / "suite" / "compliance"
"""The compliance suite labs run (``pytest --pyargs phonehome.suite``)."""


def shipped(relative: str | Path) -> Path:
    """``relative`` in the working folder if it is there, else the shipped one (which may not exist either:
    the caller's error then names the shipped path)."""
    path = Path(relative)
    if path.is_absolute() or path.exists():
        return path
    candidate = SHIPPED / path
    return candidate if candidate.exists() else path


def shipped_or_none(given: str | None) -> str | None:
    """A path option as given, or the shipped file of that relative path when the working folder has none
    (``--inventory devices/virtual-inventory.yaml`` from any folder)."""
    return str(shipped(given)) if given else None
