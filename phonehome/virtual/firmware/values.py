"""What a template can be filled with: the handset's identity and build, then the clock and the lease.

Identity and build values are fixed per handset; runtime values (``now`` in
the handset's time zone, ``attempt``, random nonces, the lease) are taken
for each attempt, so a retried registration carries a new REGDATE as the
real client's does.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
import zoneinfo
from typing import TYPE_CHECKING

from phonehome.virtual.identity import HandsetIdentity
from phonehome.virtual.net import Lease

if TYPE_CHECKING:  # profile.py imports this package (see its __init__)
    from phonehome.virtual.profile import Profile


def static_values(profile: Profile, identity: HandsetIdentity) -> dict[str, object]:
    """Identity (``HandsetIdentity.as_dict``) and build values: the same on every attempt."""
    b = profile.build
    values: dict[str, object] = dict(identity.as_dict())
    # A slot without a SIM reads as empty strings, as the telephony APIs give an app null there.
    for n in range(1, max(len(identity.imeis), len(profile.region.sims)) + 1):
        for key in ("iccid", "imsi", "msisdn", "carrier"):
            values.setdefault(f"{key}{n}", "")
    for key in ("iccid", "imsi", "msisdn"):
        values.setdefault(key, "")
    values.update(
        brand=b.brand,
        manufacturer=b.manufacturer,
        model=b.model,
        product=b.name,
        device=b.device,
        board=b.board,
        hardware=b.hardware,
        release=b.release,
        sdk=str(b.sdk),
        build_id=b.build_id,
        incremental=b.incremental,
        fingerprint=b.computed_fingerprint,
        security_patch=b.security_patch,
        baseband=b.baseband,
        locale=profile.region.locale,
        timezone=profile.region.timezone,
    )
    return values


def attempt_values(
    profile: Profile, identity: HandsetIdentity, attempt: int, lease: Lease | None
) -> dict[str, object]:
    """Everything for attempt number ``attempt`` (1...), with the lease when the handset has one."""
    values = static_values(profile, identity)
    now = time.time()
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(profile.region.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    values.update(
        now=dt.datetime.fromtimestamp(now, zone),
        epoch_s=str(int(now)),
        epoch_ms=str(int(now * 1000)),
        attempt=str(attempt),
        nonce=secrets.token_hex(8),
        uuid=str(uuid.uuid4()),
    )
    if lease is not None:
        values.update(ip=lease.ip, router=lease.router or "", dns=lease.resolver or "")
    return values
