"""Borrowing a labgrid place for one run: find it, hold it, resolve its handset, give it back.

labgrid's tools leave acquiring to the user (``labgrid-client -p PLACE acquire``) and check it; a
compliance run in CI wants one command that holds the handset exactly as long as the run. So a run
acquires a free place and releases it at the end, also after a failure or Ctrl-C; a place already
acquired by this user on this host (``LG_USERNAME``/``LG_HOSTNAME``, or ``labgrid-client allow``)
is used as it is and left acquired, for whoever acquired it to release. A place someone else holds
is never taken.

Each step opens its own session with the coordinator (as ``labgrid-client`` does): nothing is
connected while the run goes on for half an hour, and an acquisition outlives its session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from phonehome import exits
from phonehome.lab.handset import RESOURCE, LabHandset, LendError, resolve

DEFAULT_COORDINATOR = "127.0.0.1:20408"
"""labgrid's own default (labgrid-client, labgrid-exporter, the pytest plugin): ``LG_COORDINATOR``."""
CONNECT_TIMEOUT_S = 30.0
"""How long the coordinator may take to answer (it answers in milliseconds when it is there)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A place held for one run, and its handset."""

    place: str
    coordinator: str
    resource: str
    """The handset's resource, EXPORTER/GROUP/CLASS/NAME."""
    handset: LabHandset
    holder: str
    """Who holds the place (HOST/USER, as labgrid names them)."""
    acquired: bool
    """Acquired for this run (and to be released after it); False: it was already held by us."""


class _Logged(logging.Handler):
    """labgrid logs a failed connection on the root logger: kept for the one line we print instead."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _session(coordinator: str, place: str) -> Iterator[Any]:
    """A labgrid client session; `LendError` (NO_VERDICT) when the coordinator does not answer.

    Its chatter (``acquired place X`` on stdout, errors on the root logger) stays out of the run's
    output, which may be JSON for a script."""
    from labgrid.remote.client import ClientSession, Error, ensure_event_loop  # noqa: PLC0415

    logged = _Logged()
    root = logging.getLogger()
    root.addHandler(logged)
    loop = ensure_event_loop()  # labgrid's loop for this thread: gRPC's channel belongs to one loop
    address = coordinator if ":" in coordinator.rsplit("]", 1)[-1] else f"{coordinator}:20408"
    args = argparse.Namespace(place=place, allow_unmatched=False, kick=False)
    session = ClientSession(address, loop, args=args)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                loop.run_until_complete(asyncio.wait_for(session.start(), CONNECT_TIMEOUT_S))
            except (Error, TimeoutError, OSError) as exc:
                why = logged.messages[-1] if logged.messages else str(exc)
                raise LendError(
                    "coordinator",
                    f"labgrid coordinator {address} does not answer ({why}): start labgrid-coordinator there, or "
                    "name the lab's with --lg-coordinator or LG_COORDINATOR",
                    exits.NO_VERDICT,
                ) from exc
            yield session
    finally:
        with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
            loop.run_until_complete(session.stop())
            loop.run_until_complete(session.close())
        root.removeHandler(logged)


def find_place(session: Any, name: str, coordinator: str) -> Any:
    """The place called ``name`` (or with that alias): exactly, where labgrid-client takes any place whose
    name contains it, because a run on another handset than the one meant must not happen quietly."""
    places = session.places
    found = places.get(name) or next((p for p in places.values() if name in p.aliases), None)
    if found is None:
        known = ", ".join(sorted(places)) or "none"
        raise LendError(
            "place",
            f"no place {name!r} on labgrid coordinator {coordinator} (it has: {known}): create it "
            f"(labgrid-client -p {name} create; labgrid-client -p {name} add-match EXPORTER/GROUP/{RESOURCE}), "
            "or fix --lg-place / LG_PLACE",
            exits.BAD_INPUT,
        )
    return found


def handset_resource(session: Any, place: Any) -> tuple[str, dict[str, Any]]:
    """The place's one `RESOURCE`: its path and the parameters its exporter published."""
    found = [
        ("/".join((exporter, group, entry.cls, name)), entry)
        for exporter, groups in sorted(session.resources.items())
        for group, entries in sorted(groups.items())
        for name, entry in sorted(entries.items())
        if "cls" in entry.data
        and entry.cls == RESOURCE
        and place.hasmatch((exporter, group, entry.cls, name))
    ]
    matches = sorted(str(m) for m in place.matches)
    if not found:
        waiting = [m for m in matches if m.split("/")[2] in (RESOURCE, "*")]
        if waiting:
            raise LendError(
                "resource",
                f"place {place.name}'s {', '.join(waiting)} is not exported now: start labgrid-exporter on the host "
                "the handset is cabled to (labgrid-client resources lists what is exported)",
                exits.NO_VERDICT,
            )
        raise LendError(
            "resource",
            f"place {place.name} has no {RESOURCE} resource (its matches: {', '.join(matches) or 'none'}): "
            f"export the handset and add it: labgrid-client -p {place.name} add-match EXPORTER/GROUP/{RESOURCE}",
            exits.BAD_INPUT,
        )
    if len(found) > 1:
        raise LendError(
            "resource",
            f"place {place.name} matches {len(found)} {RESOURCE} resources ({', '.join(p for p, _ in found)}): "
            "a place lends one handset; narrow its matches",
            exits.BAD_INPUT,
        )
    path, entry = found[0]
    if not entry.avail:
        raise LendError(
            "resource",
            f"{path} is not available (its exporter says so): check the exporter's log",
            exits.NO_VERDICT,
        )
    return path, dict(entry.params)


def held_by_us(session: Any, place: Any) -> bool:
    """Whether ``place`` is held by this user on this host, as labgrid names them, or they are allowed on it."""
    me = f"{session.gethostname()}/{session.getuser()}"
    return bool(place.acquired == me or me in place.allowed)


def borrow(name: str, coordinator: str) -> Lease:
    """Holds place ``name`` for a run (acquiring it when it is free) and resolves its handset through
    labgrid's `RemotePlace` and `phonehome.lab.labgrid.PhonehomeDriver`; `LendError` for each way it cannot."""
    with _session(coordinator, name) as session:
        place = find_place(session, name, coordinator)
        path, params = handset_resource(session, place)
        resolve(params, path)  # a description that does not fit fails before the place is taken
        me = f"{session.gethostname()}/{session.getuser()}"
        acquired = False
        if place.acquired and not held_by_us(session, place):
            raise LendError(
                "acquire",
                f"place {place.name} is acquired by {place.acquired}: wait until it is released "
                f"(labgrid-client -p {place.name} show), or have them allow you: labgrid-client -p {place.name} "
                f"allow {me}",
                exits.NO_VERDICT,
            )
        if not place.acquired:
            _acquire(session, place.name)
            acquired = True
        try:
            handset = _through_labgrid(session, place.name)
        except BaseException:
            if acquired:
                _release_quietly(session)
            raise
        return Lease(place.name, coordinator, path, handset, me, acquired)


def _acquire(session: Any, name: str) -> None:
    from labgrid.remote.client import Error  # noqa: PLC0415

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            session.loop.run_until_complete(session.acquire())
    except Error as exc:  # taken in between, or a resource another place holds
        raise LendError(
            "acquire", f"place {name}: {exc}: see labgrid-client -p {name} show", exits.NO_VERDICT
        ) from exc


def _release_quietly(session: Any) -> None:
    with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
        session.loop.run_until_complete(session.release())


def _through_labgrid(session: Any, name: str) -> LabHandset:
    """The handset as labgrid resolves a place for any client: a `RemotePlace` on a target expands to
    the place's resources, and the driver bound to ours says what the run takes."""
    from labgrid import Target  # noqa: PLC0415
    from labgrid.binding import BindingError  # noqa: PLC0415
    from labgrid.exceptions import InvalidConfigError, NoSupplierFoundError  # noqa: PLC0415
    from labgrid.factory import target_factory  # noqa: PLC0415
    from labgrid.remote.client import Error  # noqa: PLC0415
    from labgrid.resource.remote import RemotePlace, RemotePlaceManager  # noqa: PLC0415

    from phonehome.lab.labgrid import PhonehomeDriver  # noqa: PLC0415  (registers the classes)

    # The manager would open a session of its own from LG_COORDINATOR; labgrid-client hands it its own.
    manager = RemotePlaceManager.get()
    manager.session, manager.loop = session, session.loop
    target = Target(name)
    try:
        RemotePlace(target, name=name)
        driver = target_factory.make_driver(target, PhonehomeDriver.__name__, "phonehome", {})
        target.activate(driver)
        handset: LabHandset = driver.lab_handset()
        return handset
    except (Error, BindingError, InvalidConfigError, NoSupplierFoundError) as exc:  # labgrid's own
        raise LendError(
            "resource", f"labgrid could not bind place {name}'s {RESOURCE}: {exc}", exits.NO_VERDICT
        ) from exc
    finally:
        target.cleanup()
        manager.session = manager.loop = None


def give_back(lease: Lease) -> str | None:
    """Releases the place if this run acquired it; a line saying what to do when that fails, else None."""
    if not lease.acquired:
        return None
    from labgrid.remote.client import Error  # noqa: PLC0415

    try:
        with _session(lease.coordinator, lease.place) as session, contextlib.redirect_stdout(io.StringIO()):
            session.loop.run_until_complete(session.release())
    except (LendError, Error) as exc:
        return f"place {lease.place} was not released ({exc}): release it with labgrid-client -p {lease.place} release"
    return None
