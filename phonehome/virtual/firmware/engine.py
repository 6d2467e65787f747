"""`Firmware`: a virtual handset's firmware behaviour, driven by what happens to the handset.

Boot completes -> ``boot``; a DHCP lease -> ``network-attach``; Setup Wizard
screens, consent and completion -> ``screen:NAME``, ``consent-accepted`` /
``consent-declined``, ``setup-complete``, then ``idle``. The system broadcasts
an app's receivers get drive the rest: SIM_STATE_CHANGED (LOADED) ->
``sim-inserted``, and ``sim-change`` for an ICCID its slot did not hold before;
USER_PRESENT -> ``unlock``; SCREEN_ON / SCREEN_OFF -> ``screen-on`` /
``screen-off``. A factory reset wipes what the apps remembered (consent, setup,
the ICCIDs seen). ``trigger(phase)`` starts any phase by hand. Each phase's
actions run on the handset's loop; a phase is
*done* when every attempt of every action has been sent (or has failed), so a
test stops the capture after ``wait_window()`` instead of sleeping blindly.

    with VirtualHandset("nokia-7-plus-2019", netns=port.netns, time_scale=1e-4) as handset:
        firmware = Firmware(handset, on_marker=bench.mark)
        firmware.attach_network(port.netns, port.handset_ifname)
        firmware.wait_window(timeout=30)
    capture = bench.stop_capture()

``on_marker(phase, **detail)`` (optional) is called in order, on entry to each
phase and before any of its traffic, with the timeline's phase names (``boot``,
``network-attach``, ``setup-wizard``, ``consent``, ``setup-complete``,
``idle``, and the other phases by their own name), so the consent assertion
can tell before from after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome.virtual.broadcasts import SCREEN_OFF, SCREEN_ON, USER_PRESENT
from phonehome.virtual.firmware import values
from phonehome.virtual.firmware.actions import ActionRunner, Outcome
from phonehome.virtual.firmware.model import Action, Behaviour
from phonehome.virtual.firmware.template import render
from phonehome.virtual.net import HandsetNetwork, Lease
from phonehome.virtual.net.procnet import SocketTable, app_uid
from phonehome.virtual.screen import UiEvent
from phonehome.virtual.telephony import SIM_STATE_CHANGED, slots

if TYPE_CHECKING:
    from phonehome.virtual.events import HandsetEvent
    from phonehome.virtual.handset import VirtualHandset

log = logging.getLogger(__name__)

Marker = Callable[..., object]
"""``on_marker(phase, **detail)``: e.g. ``bench.mark``."""

LAUNCHER_SCREEN = "launcher"  # phonehome.virtual.ui.LAUNCHER (not imported: the UI is optional)
ATTACH_TIMEOUT_S = 30.0
BROADCAST_PHASES = {USER_PRESENT: "unlock", SCREEN_ON: "screen-on", SCREEN_OFF: "screen-off"}


class FirmwareError(RuntimeError):
    """The firmware could not do what was asked in time; the message names the handset and phase."""


@dataclass(slots=True)
class PhaseRun:
    """One time a phase started: its trigger's detail and what its actions did."""

    phase: str
    started: float
    detail: dict[str, object] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    done: bool = False


@dataclass(frozen=True, slots=True)
class FirmwareEvent:
    """``phase-started``, ``phase-done`` or ``attempt`` (with its outcome), for listeners."""

    kind: str
    phase: str
    detail: dict[str, object] = field(default_factory=dict)
    outcome: Outcome | None = None


class Firmware:
    """The behaviour of ``handset``'s firmware (default: its profile's ``behaviour:``).

    Create it before or after ``handset.start()``. Public methods are safe
    from any thread except the handset's loop, where the ``async_`` variants
    are used.
    """

    def __init__(
        self,
        handset: VirtualHandset,
        behaviour: Behaviour | None = None,
        *,
        on_marker: Marker | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.handset = handset
        self.behaviour = behaviour if behaviour is not None else handset.profile.behaviour
        self.on_marker = on_marker
        self._workdir = workdir
        self.network: HandsetNetwork | None = None
        self._cond = threading.Condition()
        self._runs: list[PhaseRun] = []
        self._listeners: list[Callable[[FirmwareEvent], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._booted = False
        self._setup_done = False
        self._pending_screen: str | None = None
        self._consent: dict[str, object] = {}
        self._created = time.time()
        self._iccids: dict[int, str | None] | None = None
        """The ICCID each slot last held, as the apps remember it (None: nothing remembered yet)."""
        self._boot_sims: set[int] = set()
        """Slots whose card the boot itself announces: their ``sim-inserted`` is part of the boot, unmarked."""
        self._screen_subscribed = False
        self._stopped = False
        handset.subscribe(self._on_handset_event)
        if _started(handset):
            handset.run(self._catch_up()).result(10)

    def __repr__(self) -> str:
        return f"<Firmware {self.handset.name} {self.handset.profile.name}>"

    # -- what tests and the plugin call ------------------------------------------------------------

    def attach_network(
        self, netns: str | None = None, ifname: str | None = None, timeout: float = ATTACH_TIMEOUT_S
    ) -> Lease:
        """Joins the bench port: waits for boot, takes a DHCP lease, starts ``network-attach``."""
        netns = netns or self.handset.netns
        if not netns:
            raise FirmwareError(f"{self!r}: no network namespace (give the bench port's netns)")
        ifname = ifname or self.handset.profile.wifi_interface
        future = self.handset.run(self.async_attach(netns, ifname, timeout))
        try:
            return future.result(timeout + 5)
        except TimeoutError as exc:
            future.cancel()
            raise FirmwareError(f"{self!r}: no lease on {netns}/{ifname} within {timeout:g} s") from exc

    async def async_attach(self, netns: str, ifname: str, timeout: float = ATTACH_TIMEOUT_S) -> Lease:
        deadline = time.monotonic() + timeout
        while not self._booted:
            if time.monotonic() > deadline:
                raise FirmwareError(f"{self!r}: the handset did not boot within {timeout:g} s")
            await asyncio.sleep(0.02)
        if self.network is None:
            self.network = HandsetNetwork(netns, ifname, self._workdir_path())
        elif (self.network.netns, self.network.ifname) != (netns, ifname):
            self.network.detach()  # actions waiting for a network keep this object: move it
            self.network.netns, self.network.ifname = netns, ifname
        fixed = self.static_values()
        hostname_t = self.behaviour.dhcp.hostname_template(self.handset.profile.build.sdk)
        vendor_t = self.behaviour.dhcp.vendor_class
        lease = await self.network.attach(
            hostname=render(hostname_t, fixed) if hostname_t else None,
            vendor_class=render(vendor_t, fixed) if vendor_t else None,
            timeout=max(deadline - time.monotonic(), 1.0),
        )
        self.handset.state.logs.log(
            "I", "DhcpClient", f"{ifname} bound {lease.ip}/{lease.prefixlen} router {lease.router}", pid=1130
        )
        self._enter(
            "network-attach",
            "network-attach",
            {"ip": lease.ip, "router": lease.router, "dns": list(lease.dns)},
        )
        return lease

    def trigger(self, phase: str, **detail: object) -> None:
        """Starts ``phase`` now (``sim-change``, or any phase a test wants to replay)."""
        self.behaviour.actions(phase)  # KeyError naming the phases for an unknown one
        marker = _marker_of(phase)
        self.handset.loop.call_soon_threadsafe(self._enter, phase, marker, dict(detail))

    def wait_phase(self, phase: str, timeout: float = 60.0) -> list[Outcome]:
        """Blocks until ``phase`` has started and all its runs are done; returns their outcomes."""
        return self._wait_phase(phase, time.monotonic() + timeout, timeout)

    def wait_window(self, timeout: float = 60.0) -> list[Outcome]:
        """The boot-and-attach window: ``boot`` and ``network-attach`` have sent everything."""
        deadline = time.monotonic() + timeout
        boot = self._wait_phase("boot", deadline, timeout)
        return boot + self._wait_phase("network-attach", deadline, timeout)

    def _wait_phase(self, phase: str, deadline: float, timeout: float) -> list[Outcome]:
        with self._cond:
            while True:
                runs = [r for r in self._runs if r.phase == phase]
                if runs and all(r.done for r in runs):
                    return [o for r in runs for o in r.outcomes]
                left = deadline - time.monotonic()
                if left <= 0:
                    busy = sum(not r.done for r in runs)
                    state = f"{busy} run(s) still sending" if runs else "never started"
                    raise FirmwareError(f"{self!r}: phase {phase} not done within {timeout:g} s ({state})")
                self._cond.wait(left)

    def wait_settled(self, timeout: float = 60.0) -> list[Outcome]:
        """Every phase started so far is done (idle included once it started)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(r.done for r in self._runs):
                left = deadline - time.monotonic()
                if left <= 0:
                    busy = sorted({r.phase for r in self._runs if not r.done})
                    raise FirmwareError(f"{self!r}: still sending in {', '.join(busy)} after {timeout:g} s")
                self._cond.wait(left)
            return [o for r in self._runs for o in r.outcomes]

    @property
    def runs(self) -> list[PhaseRun]:
        with self._cond:
            return list(self._runs)

    def outcomes(self, phase: str | None = None) -> list[Outcome]:
        with self._cond:
            return [o for r in self._runs if phase in (None, r.phase) for o in r.outcomes]

    def subscribe(self, callback: Callable[[FirmwareEvent], None]) -> None:
        """Calls ``callback`` for each `FirmwareEvent`, in the handset's loop thread."""
        self._listeners.append(callback)

    def stop(self, timeout: float = 5.0) -> None:
        """Stops reacting and cancels what is still being sent (the handset keeps running)."""
        self._stopped = True
        if _started(self.handset):
            try:
                self.handset.run(self._cancel_all()).result(timeout)
            except Exception as exc:  # the handset may be stopping at the same time
                log.debug("%r: cancelling firmware tasks: %s", self, exc)

    def __enter__(self) -> Firmware:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- template values -------------------------------------------------------------------------

    def static_values(self) -> dict[str, object]:
        """Identity and build values every template may use."""
        return values.static_values(self.handset.profile, self.handset.identity)

    def values(self, attempt: int) -> Mapping[str, object]:
        """Template values for attempt ``attempt``: identity, build, clock, lease."""
        lease = self.network.lease if self.network else None
        return values.attempt_values(self.handset.profile, self.handset.identity, attempt, lease)

    # -- events from the handset (its loop thread) ---------------------------------------------------

    def _on_handset_event(self, event: HandsetEvent) -> None:
        if self._stopped:
            return
        if event.kind == "boot-started":
            self._subscribe_screen()
        elif event.kind == "boot-completed":
            self._on_boot()
        elif event.kind == "shutdown":
            self._booted = False
            if self.network is not None:
                self.network.detach()
        elif event.kind == "broadcast" and event.at >= self._created:  # none sent before it existed
            self._on_broadcast(event.detail, event.extras)
        elif event.kind == "factory-reset":  # the apps' data is gone: first boot again
            self._setup_done = False
            self._consent = {}
            self._iccids = None
            self._pending_screen = None

    async def _catch_up(self) -> None:
        """Created after ``start()``: hear the screen from now on, and boot if it already has."""
        self._subscribe_screen()
        if self.handset.boot_completed and not self._booted:
            self._on_boot()

    def _subscribe_screen(self) -> None:
        if self._screen_subscribed:
            return
        self._screen_subscribed = True
        self.handset.display.subscribe(self._on_ui_event)

    def _on_boot(self) -> None:
        self._booted = True
        self._boot_sims = {slot for slot, sim in enumerate(slots(self.handset.identity)) if sim is not None}
        if self._iccids is None:  # first boot (or after a wipe): what is in now is not a change
            self._iccids = {
                slot: sim.iccid if sim else None for slot, sim in enumerate(slots(self.handset.identity))
            }
        self._enter("boot", "boot", {"boot_count": sum(r.phase == "boot" for r in self.runs) + 1})
        if self._pending_screen is not None:
            screen, self._pending_screen = self._pending_screen, None
            self._on_screen(screen)
        network = self.network
        if network is not None and network.lease is None:  # a reboot: Wi-Fi joins again
            self._spawn(self._reattach(network))

    async def _reattach(self, network: HandsetNetwork) -> None:
        try:
            await self.async_attach(network.netns, network.ifname)
        except Exception as exc:
            self.handset.state.logs.log("W", "DhcpClient", f"no lease after reboot: {exc}", pid=1130)
            log.warning("%r: no lease after reboot: %s", self, exc)

    def _on_broadcast(self, action: str, extras: dict[str, str]) -> None:
        if action in BROADCAST_PHASES:
            phase = BROADCAST_PHASES[action]
            self._enter(phase, phase, {})
        elif action == SIM_STATE_CHANGED and extras.get("ss") == "LOADED":
            self._on_sim_loaded(extras)

    def _on_sim_loaded(self, extras: dict[str, str]) -> None:
        try:
            slot = int(extras.get("slot", "0"))
            sim = slots(self.handset.identity)[slot]
        except (ValueError, IndexError):
            return
        if sim is None:
            return
        at_boot = slot in self._boot_sims
        self._boot_sims.discard(slot)
        self._enter("sim-inserted", None if at_boot else "sim-inserted", {"slot": slot})
        if self._iccids is None:  # nothing remembered (no boot seen yet): this card is the baseline
            self._iccids = {}
        elif self._iccids.get(slot) != sim.iccid:
            self._enter("sim-change", "sim-change", {"slot": slot})
        self._iccids[slot] = sim.iccid

    def _on_ui_event(self, event: UiEvent) -> None:
        """From whichever thread touched the screen: hop to the handset's loop."""
        if self._stopped:
            return
        try:
            loop = self.handset.loop
        except RuntimeError:
            return
        loop.call_soon_threadsafe(self._handle_ui, event)

    def _handle_ui(self, event: UiEvent) -> None:
        if self._stopped:
            return
        if event.kind == "screen":
            screen = str(event.detail.get("screen", ""))
            if not self._booted:
                self._pending_screen = screen  # the wizard shows once boot completes
            else:
                self._on_screen(screen)
        elif event.kind == "consent":
            self._consent.update(event.detail)
            accepted = bool(event.detail.get("accepted"))
            phase = "consent-accepted" if accepted else "consent-declined"
            self._enter(phase, "consent", dict(event.detail))
        elif event.kind == "setup-complete":
            self._setup_done = True
            self._enter("setup-complete", "setup-complete", dict(event.detail))

    def _on_screen(self, screen: str) -> None:
        marker = None if self._setup_done or screen == LAUNCHER_SCREEN else "setup-wizard"
        if marker is None and not self.behaviour.screens.get(screen):
            return  # the launcher and apps after setup: no phase unless the profile names them
        self._enter(f"screen:{screen}", marker, {"screen": screen})

    # -- phases (on the handset's loop) -------------------------------------------------------------

    def _enter(self, phase: str, marker: str | None, detail: dict[str, object]) -> None:
        if self._stopped:
            return
        run = PhaseRun(phase, time.time(), detail)
        with self._cond:
            self._runs.append(run)
            self._cond.notify_all()
        if marker is not None and self.on_marker is not None:
            try:
                self.on_marker(marker, **detail)
            except Exception:
                log.exception("%r: the marker callback failed on %s", self, marker)
        self._emit(FirmwareEvent("phase-started", phase, detail))
        self._spawn(self._run_phase(run))

    async def _run_phase(self, run: PhaseRun) -> None:
        actions = [a for a in self.behaviour.actions(run.phase) if self._allowed(a, run.phase)]
        try:
            if actions:
                runner = self._runner()

                def sink(outcome: Outcome) -> None:
                    with self._cond:
                        run.outcomes.append(outcome)
                    self._emit(FirmwareEvent("attempt", run.phase, {}, outcome))

                await asyncio.gather(*(runner.run(run.phase, action, sink) for action in actions))
        finally:
            with self._cond:
                run.done = True
                self._cond.notify_all()
            self._emit(FirmwareEvent("phase-done", run.phase, run.detail))
        if run.phase == "setup-complete":
            self._enter("idle", "idle", {})

    def _allowed(self, action: Action, phase: str) -> bool:
        """Whether the action runs: the consent it needs was given, the SIM it needs is in."""
        why = [
            f"{key} not consented" for key in action.requires_consent if self._consent.get(key) is not True
        ]
        if action.requires_sim and not self.handset.identity.sims:
            why.append("no SIM")
        if why:
            what = action.label or action.kind
            self._logcat("I", "phonehome", f"{phase}: {what} not sent ({', '.join(why)})")
        return not why

    def _runner(self) -> ActionRunner:
        if self.network is None:
            # Actions before any attach wait for one (bounded by network_wait_s); the network object
            # is created here so that the wait has something to wait on.
            netns = self.handset.netns or ""
            self.network = HandsetNetwork(netns, self.handset.profile.wifi_interface, self._workdir_path())
        return ActionRunner(
            self.network,
            self.values,
            time_scale=self.handset.time_scale,
            network_wait_s=self.behaviour.network_wait_s,
            logcat=self._logcat,
            trust=self.behaviour.trust,
            cas=lambda user: self.handset.trust.bundle(self.handset.state.fs, user=user),
            owner=self._owner,
        )

    def _owner(self, action: Action) -> tuple[SocketTable, int]:
        """The app whose uid the action's sockets carry (`phonehome.virtual.net.procnet`)."""
        state = self.handset.state
        found = app_uid(
            action.package, action.label, lambda name: getattr(state.packages.get(name), "uid", None)
        )
        return state.sockets, found

    def _logcat(self, priority: str, tag: str, message: str) -> None:
        with contextlib.suppress(RuntimeError):
            self.handset.state.logs.log(priority, tag, message, pid=2048)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self.handset.state.spawn(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_all(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _emit(self, event: FirmwareEvent) -> None:
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:
                log.exception("%r: firmware event listener failed on %s", self, event.kind)

    def _workdir_path(self) -> Path:
        """Where the DHCP client keeps its hook and lease: the handset's own /data/misc/dhcp
        (removed with the handset), unless a ``workdir`` was given."""
        if self._workdir is not None:
            return self._workdir
        return self.handset.state.fs.host_path("/data/misc/dhcp")


def _started(handset: VirtualHandset) -> bool:
    try:
        handset.loop  # noqa: B018  (raises when not started)
    except RuntimeError:
        return False
    return True


def _marker_of(phase: str) -> str | None:
    if phase.startswith("screen:"):
        return "setup-wizard"
    if phase in ("consent-accepted", "consent-declined"):
        return "consent"
    return phase
