"""`VirtualHandset`: a phone that the real adb server, adbutils and uiautomator2 talk to.

One instance is one handset: its identity (from a seed), build properties,
settings, a file system in a private temporary folder, packages, SIM slots, a
`Display` over its UI, device-local TCP services and a boot state. It runs its
own asyncio loop in a thread, so a plain script or a pytest test uses it with
``start()``/``stop()`` or ``with VirtualHandset(...) as handset:``. A reboot
drops ADB, stays away for the profile's boot time and comes back with a new
``boot_id`` and ``sys.boot_completed`` going 0 then 1, as a phone does. What a
person does with their hands (a SIM card, the power button, a factory reset
from Settings) are methods here; `VirtualOperator` performs them by name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from phonehome.virtual.adb.auth import AuthPolicy
from phonehome.virtual.adbd import Adbd
from phonehome.virtual.assembly import assemble_state, default_wizard, wipe_user_data
from phonehome.virtual.broadcasts import BOOT_COMPLETED as ACTION_BOOT_COMPLETED
from phonehome.virtual.events import (
    BOOT_COMPLETED,
    BOOT_STARTED,
    BROADCAST,
    SHUTDOWN,
    WIPED,
    HandsetError,
    HandsetEvent,
)
from phonehome.virtual.fastboot.mode import INTO_BOOTLOADER, FastbootMode
from phonehome.virtual.fastboot.server import free_port
from phonehome.virtual.fs import DeviceFs
from phonehome.virtual.hands import Hands
from phonehome.virtual.identity import HandsetIdentity, after_factory_reset, generate_identity
from phonehome.virtual.net.truststore import TrustStore
from phonehome.virtual.profile import Profile, load_profile
from phonehome.virtual.properties import build_properties, consent_settings
from phonehome.virtual.screen import Screen, UiEvent
from phonehome.virtual.services import TcpHandler
from phonehome.virtual.shell import ShellSession, build_commands, new_session
from phonehome.virtual.state import HandsetState
from phonehome.virtual.telephony import SimTray, slots
from phonehome.virtual.ui import SetupWizard
from phonehome.virtual.ui.display import Display

__all__ = ["HandsetError", "HandsetEvent", "VirtualHandset"]

log = logging.getLogger(__name__)
T = TypeVar("T")

START_TIMEOUT_S = 30.0
TEST_HARNESS_SETTINGS = (
    ("secure", "user_setup_complete", "1"),
    ("global", "device_provisioned", "1"),
    ("global", "adb_enabled", "1"),
    ("global", "package_verifier_enable", "0"),
)
"""What Test Harness Mode sets at the boot after its wipe: setup done, ADB on, package verification off."""
BOOT_ID = "/proc/sys/kernel/random/boot_id"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class VirtualHandset(Hands, FastbootMode):
    """A virtual Android handset reachable over ADB at ``adb_serial`` (``127.0.0.1:PORT``).

    ``profile``: a `Profile`, a profile name (``aosp-clean``) or a YAML path.
    ``seed``: the identity seed (default: the profile's, else a random one).
    ``netns``: the handset's network namespace, if it has one (``tcp:`` streams
    with no device-local service go to 127.0.0.1 there; ``ip addr`` reads it).
    ``adb_port``: 0 picks a free port; never in 5554-5585. ``auth``: an
    `AuthPolicy` to require ADB authentication. ``time_scale`` multiplies
    boot delays (0.1 boots ten times faster). ``screen``: the UI; by default
    the Setup Wizard of the profile's flavour. ``sims_at_boot``: the slots
    whose profile SIM is in at power-on (default: the profile's ``inserted``
    ones; ``()``: no SIM). ``fastboot_port``: where its bootloader listens in fastboot mode (0: a
    free port, fixed for the handset's life); ``bootloader_unlocked`` overrides the profile's lock.
    ``adb``: ``after-setup`` keeps ADB off until setup is done and USB debugging is enabled
    (`enable_usb_debugging`), as on a retail build (default: the profile's).
    """

    def __init__(
        self,
        profile: Profile | str | Path,
        *,
        seed: str | None = None,
        name: str | None = None,
        netns: str | None = None,
        adb_host: str = "127.0.0.1",
        adb_port: int = 0,
        screen: Screen | None = None,
        auth: AuthPolicy | None = None,
        time_scale: float = 1.0,
        workdir: Path | None = None,
        sims_at_boot: Sequence[int] | None = None,
        fastboot_port: int = 0,
        bootloader_unlocked: bool | None = None,
        adb: Literal["at-boot", "after-setup"] | None = None,
    ) -> None:
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        if time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {time_scale}")
        if not _is_loopback(adb_host):
            raise ValueError(
                f"adb_host {adb_host!r} is not a loopback address: ADB is out of band (like USB) and must "
                "never be reachable from the bench, where it would show in the capture"
            )
        self.seed = seed or self.profile.identity.seed or secrets.token_hex(8)
        self._state: HandsetState | None = None
        factory = generate_identity(self.seed, self.profile.identity_spec())
        inserted = self.profile.sim_slots_at_boot() if sims_at_boot is None else tuple(sims_at_boot)
        unknown = sorted(set(inserted) - {s.slot for s in factory.sims})
        if unknown:
            raise ValueError(
                f"sims_at_boot {unknown}: the profile defines SIMs for slots {[s.slot for s in factory.sims]}"
            )
        self._identity = replace(factory, sims=tuple(s for s in factory.sims if s.slot in inserted))
        self._tray = SimTray(
            self.seed,
            self.profile.identity_spec().carriers,
            tuple(s for s in factory.sims if s.slot not in inserted),
        )
        self._tray.seen(self._identity)
        self._sim_lock = threading.Lock()
        self._resets = 0
        self._persist: dict[str, str] = {}
        self._boot_reason = "cold,powerkey"
        self.name = name or f"{self.profile.name}-{self.identity.serial[-6:].lower()}"
        self.netns = netns
        self.time_scale = time_scale
        self.auth = auth
        self._adb_host = adb_host
        self._adb_port = adb_port
        self._screen = screen
        self._workdir = workdir
        self._own_workdir = workdir is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._adbd: Adbd | None = None
        self._booted = threading.Event()
        self._online = threading.Event()
        self._listeners: list[Callable[[HandsetEvent], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._rebooting: asyncio.Task[None] | None = None
        self._commands: dict[str, Any] = {}
        self._boot_count = 0
        self._harness = False
        self.adb_mode = adb or self.profile.adb
        if self.adb_mode == "after-setup" and not adb_port:
            self._adb_port = free_port(adb_host)  # known before ADB first listens (the lab's inventory)
        self._init_fastboot(fastboot_port, bootloader_unlocked)
        self.trust = TrustStore()
        """The CAs installed on it (none from the factory: no real server is on a bench)."""

    def __repr__(self) -> str:
        return f"<VirtualHandset {self.name} {self.identity.serial} adb={self.adb_serial}>"

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT_S) -> VirtualHandset:
        """Powers on: ADB listening when this returns; ``sys.boot_completed`` follows shortly."""
        if self._thread is not None:
            raise HandsetError(f"<VirtualHandset {self.name}> is already started")
        self._boot_reason = "cold,powerkey"
        self._state = self._build_state()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run_loop, args=(ready,), name=f"handset-{self.name}", daemon=True
        )
        self._thread.start()
        try:
            ready.result(timeout)
        except BaseException as exc:
            self.stop()
            raise HandsetError(f"<VirtualHandset {self.name}> did not start: {exc}") from exc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Powers off and removes the handset's files (unless a ``workdir`` was given)."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        self._thread = None
        self._loop = None
        self._booted.clear()
        self._online.clear()
        if self._own_workdir and self._state is not None:
            shutil.rmtree(self._state.fs.root, ignore_errors=True)

    def __enter__(self) -> VirtualHandset:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reboot(self, reason: str = "", wait: bool = False, timeout: float = 60.0) -> None:
        """Reboots (``adb reboot`` does the same): ADB drops now and returns after the boot time.

        With ``wait``, returns once the new boot has completed.
        """
        before = self._boot_count
        self.loop.call_soon_threadsafe(self._reboot_from_loop, reason)
        if wait:
            self._wait_boot_after(before, timeout, "reboot")

    def _wait_boot_after(self, before: int, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._boot_count > before and self._booted.is_set():
                return
            time.sleep(0.02)
        raise HandsetError(
            f"<VirtualHandset {self.name}> did not come back from {what} within {timeout:.0f} s"
        )

    def wait_boot_completed(self, timeout: float = 30.0) -> None:
        if not self._booted.wait(timeout):
            raise HandsetError(f"<VirtualHandset {self.name}> did not complete boot within {timeout:.0f} s")

    @property
    def boot_completed(self) -> bool:
        return self._booted.is_set()

    @property
    def adb_online(self) -> bool:
        """Whether ADB is listening (False while rebooting or stopped)."""
        return self._online.is_set()

    # -- what the handset is -------------------------------------------------------------------
    @property
    def serial(self) -> str:
        """``ro.serialno`` (the hardware serial, not the ADB address)."""
        return self.identity.serial

    @property
    def adb_port(self) -> int:
        return self._adbd.port if self._adbd is not None else self._adb_port

    @property
    def adb_address(self) -> tuple[str, int]:
        return self._adb_host, self.adb_port

    @property
    def adb_serial(self) -> str:
        """What ``adb connect`` takes and ``adb devices`` lists: ``127.0.0.1:PORT``."""
        host = f"[{self._adb_host}]" if ":" in self._adb_host else self._adb_host
        return f"{host}:{self.adb_port}"

    @property
    def identity(self) -> HandsetIdentity:
        """Its identifiers now: SIM changes and factory resets change some (``sims``, ``android_id``...)."""
        return self._state.identity if self._state is not None else self._identity

    def _set_identity(self, identity: HandsetIdentity) -> None:
        self._identity = identity
        if self._state is not None:
            self._state.identity = identity

    @property
    def screen(self) -> Screen:
        """The UI behind the display (the Setup Wizard, then the launcher; or the ``screen`` given)."""
        return self.state.display.inner

    @property
    def display(self) -> Display:
        """The panel: power and keyguard over ``screen``; what ADB and uiautomator2 see."""
        return self.state.display

    @property
    def state(self) -> HandsetState:
        """Everything the handset knows (properties, settings, files, packages, services)."""
        if self._state is None:
            raise HandsetError(f"<VirtualHandset {self.name}> is not started")
        return self._state

    @property
    def wifi_mac(self) -> str:
        """The MAC its Wi-Fi interface uses (randomized on Android 10+ when the profile says so)."""
        if self.profile.uses_randomized_mac:
            return self.identity.wifi_mac_randomized
        return self.identity.wifi_mac

    def getprop(self, name: str, default: str = "") -> str:
        return self.state.props.get(name, default)

    def set_wifi(self, ssid: str | None, bssid: str | None = None, frequency_mhz: int = 2437) -> None:
        """The access point the handset is associated with (``dumpsys wifi``); None: disconnected."""
        wifi = self.state.wifi
        wifi.ssid, wifi.bssid, wifi.frequency_mhz = ssid, bssid, frequency_mhz

    def subscribe(self, callback: Callable[[HandsetEvent], None]) -> None:
        """Calls ``callback`` for each `HandsetEvent`, in the handset's loop thread."""
        self._listeners.append(callback)

    # -- device-local services and code running "on" the handset ----------------------------------
    def register_service(self, port: int, handler: TcpHandler, owner: str = "") -> None:
        """Listens on the handset's 127.0.0.1:``port``: ``tcp:PORT`` streams reach ``handler``."""
        self.state.services.register(port, handler, owner)

    def unregister_service(self, port: int) -> None:
        self.state.services.unregister(port)

    def run(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Runs ``coro`` on the handset's loop (from any thread); its result comes through the future."""
        if self._loop is None:
            coro.close()
            raise HandsetError(f"<VirtualHandset {self.name}> is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise HandsetError(f"<VirtualHandset {self.name}> is not started")
        return self._loop

    def new_shell(self) -> ShellSession:
        """A shell session on the handset, as ``adb shell`` gets (run it on the handset's loop)."""
        return new_session(self.state, self._commands)

    # -- internals -------------------------------------------------------------------------------
    def _build_state(self) -> HandsetState:
        root = self._workdir or Path(tempfile.mkdtemp(prefix=f"phonehome-{self.name}-"))
        display = Display(
            self._screen or default_wizard(self.profile, self.identity, self.time_scale),
            lock=self.profile.lock_screen,
            provisioned=self._provisioned,
            broadcast=lambda action: self._broadcast(action, {}),
            keyguard_window="StatusBar" if self.profile.build.sdk < 30 else "NotificationShade",
        )
        fs = DeviceFs(root)
        self.trust.write(fs)
        state = assemble_state(
            self.profile,
            self._identity,
            fs,
            display,
            netns=self.netns,
            reboot=self._reboot_from_loop,
            factory_reset=self._factory_reset_from_loop,
            test_harness=self._test_harness_from_loop,
            broadcast=self._broadcast,
            spawn=self._spawn,
        )
        self._commands = build_commands(state)
        self._state = state
        self._default_adb_setting()
        display.subscribe(self._on_ui_event)
        return state

    def install_ca(self, pem: bytes, store: str = "system") -> str:
        """Puts a CA into its trust store, as a lab does on a userdebug build (``adb remount``, a file in
        /system/etc/security/cacerts): it is then trusted by every app (``user``: only by apps that trust
        user CAs). Before or after ``start``; the path it took on the handset."""
        return self.trust.install(pem, store, self._state.fs if self._state is not None else None)

    def _provisioned(self) -> bool:
        state = self._state
        return state is not None and state.settings.get("global", "device_provisioned") == "1"

    def _on_ui_event(self, event: UiEvent) -> None:
        """Keeps settings in step with what the user did in the wizard (consent toggles persist)."""
        state = self._state
        if state is None:
            return
        if event.kind == "setup-complete":
            state.settings.put("secure", "user_setup_complete", "1")
            state.settings.put("global", "device_provisioned", "1")
        elif event.kind == "consent":
            toggles = {k: v for k, v in event.detail.items() if k not in ("screen", "accepted")}
            for namespace, key, value in consent_settings(toggles):
                state.settings.put(namespace, key, value)

    def _broadcast(self, action: str, extras: dict[str, str]) -> None:
        """Sends a system broadcast from any thread: recorded now, heard by listeners on the loop."""
        state, loop = self._state, self._loop
        if state is None or loop is None:
            return
        state.broadcasts.record(action, extras)
        event = HandsetEvent(BROADCAST, time.time(), action, dict(extras))
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody is listening
            loop.call_soon_threadsafe(self._deliver, event)

    def _run_loop(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        boot = loop.create_task(self._power_on(ready))
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                pending.append(boot)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _power_on(self, ready: concurrent.futures.Future[None] | None) -> None:
        state = self.state
        # A boot starts from the build's properties; only persist.* survive (init reloads them).
        state.props.reset(
            {
                **build_properties(self.profile, self.identity),
                **self._bootloader.build_props(),
                **self._persist,
                "sys.boot_completed": "0",
                "dev.bootcomplete": "0",
                "init.svc.bootanim": "running",
                "sys.boot.reason": self._boot_reason,
                "ro.boot.bootreason": self._boot_reason.split(",")[0],
            }
        )
        state.fs.install_file(BOOT_ID, f"{uuid.uuid4()}\n")
        state.booted_at = time.monotonic()
        state.display.power_on()
        state.logs.clear()  # logd's buffers are RAM: a boot starts them empty (what was not read is gone)
        state.logs.log("I", "init", "init first stage started!", pid=1)
        self._emit(BOOT_STARTED)
        if self._adb_allowed():
            try:
                await self._start_adbd()
            except Exception as exc:
                if ready is not None:
                    ready.set_exception(exc)
                else:  # a reboot that cannot listen again leaves the handset off, as a bricked phone
                    log.error("%r: ADB cannot listen again after reboot: %s", self, exc)
                return
        if ready is not None:
            ready.set_result(None)
        self._spawn(self._complete_boot())

    def _adb_allowed(self) -> bool:
        """Whether adbd runs this boot: always on an ``at-boot`` build; on an ``after-setup`` one only once
        a person enabled USB debugging (``adb_enabled``, kept until the next wipe)."""
        if self.adb_mode == "at-boot":
            return True
        return self.state.settings.get("global", "adb_enabled") == "1"

    async def _start_adbd(self) -> None:
        state = self.state
        if self._adbd is None:
            self._adbd = Adbd(state, self.new_shell, self.auth, self._adb_host, self._adb_port)
        await self._adbd.listen()
        self._adb_port = self._adbd.port
        self._online.set()
        state.props.set("init.svc.adbd", "running")

    def enable_usb_debugging(self, timeout: float = 10.0) -> None:
        """Developer options > USB debugging, as a person enables it once setup is done: adbd starts.
        A handset whose ADB runs from boot has nothing to enable."""
        if self.adb_mode == "at-boot" or self.adb_online:
            return
        if not self._provisioned():
            raise HandsetError(
                f"<VirtualHandset {self.name}> USB debugging is in Developer options, after setup: finish the "
                "Setup Wizard first"
            )
        self.state.settings.put("global", "adb_enabled", "1")
        self.run(self._start_adbd()).result(timeout)

    async def _complete_boot(self) -> None:
        await asyncio.sleep(self.profile.boot.complete_s * self.time_scale)
        state = self.state
        state.props.update(
            {
                "sys.boot_completed": "1",
                "dev.bootcomplete": "1",
                "init.svc.bootanim": "stopped",
                "service.bootanim.exit": "1",
            }
        )
        state.logs.log("I", "ActivityManager", "System now ready", pid=1024)
        state.logs.log("I", "BootReceiver", "Copying audit failures to DropBox", pid=1024)
        if self._harness:  # Test Harness Mode: setup is skipped, ADB stays (AOSP TestHarnessModeService)
            self._harness = False
            for namespace, key, value in TEST_HARNESS_SETTINGS:
                state.settings.put(namespace, key, value)
            if isinstance(state.display.inner, SetupWizard):
                state.display.inner.skip()
        self._boot_count += 1
        self._emit(BOOT_COMPLETED)
        self._broadcast(ACTION_BOOT_COMPLETED, {})
        for slot, sim in enumerate(slots(self.identity)):  # the SIM cards' state, as telephony reports it
            self._sim_broadcasts(slot, sim)
        state.display.system_ready()
        self._booted.set()  # last: whoever waits for the boot sees everything it announced

    def _reboot_from_loop(self, reason: str, wipe: bool = False) -> None:
        if self._rebooting is None or self._rebooting.done():
            self._rebooting = self._spawn_untracked(self._async_reboot(reason, wipe))

    def _factory_reset_from_loop(self) -> None:
        self.state.logs.log("W", "MasterClearReceiver", "!!! FACTORY RESET !!!", pid=1024)
        self._reboot_from_loop("recovery", wipe=True)

    def _test_harness_from_loop(self) -> None:
        self._harness = True
        self._factory_reset_from_loop()

    async def _async_reboot(self, reason: str, wipe: bool = False) -> None:
        if reason in INTO_BOOTLOADER and not wipe:
            await self._enter_bootloader()
            return
        state = self.state
        self._booted.clear()
        self._emit(SHUTDOWN, reason)
        state.logs.log("I", "ShutdownThread", f"Rebooting, reason: {reason or 'null'}", pid=1024)
        await self._power_off()
        await asyncio.sleep(self.profile.boot.offline_s * self.time_scale)
        self._boot_reason = f"reboot,{reason}" if reason else "reboot"
        if wipe:  # recovery: erase user data, then reboot into the first boot
            self._wipe()
            self._emit(WIPED)
            await asyncio.sleep(self.profile.boot.offline_s * self.time_scale)
            self._boot_reason = "reboot,factory_reset"
        await self._power_on(None)

    def _wipe(self) -> None:
        """What ``recovery --wipe_data`` erases, and the identifiers the first boot after it creates."""
        self._resets += 1
        self._set_identity(after_factory_reset(self.identity, self._resets))
        self._persist = {}
        wipe_user_data(self.state)
        self._default_adb_setting()
        if self._harness:
            self.state.settings.put("global", "adb_enabled", "1")  # the workstation's keys are kept

    def _default_adb_setting(self) -> None:
        """``adb_enabled`` as a fresh install has it: on where adbd runs from boot, off on a retail build."""
        self.state.settings.put("global", "adb_enabled", "1" if self.adb_mode == "at-boot" else "0")

    async def _power_off(self) -> None:
        self._online.clear()
        state = self.state
        self._persist = state.props.persistent()
        state.props.update({"sys.boot_completed": "0", "dev.bootcomplete": "0", "init.svc.adbd": "stopped"})
        state.services.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._adbd is not None:
            await self._adbd.shutdown()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _shutdown(self) -> None:
        if self._rebooting is not None:
            self._rebooting.cancel()
            with contextlib.suppress(BaseException):
                await self._rebooting
        self._emit(SHUTDOWN, "stop")
        await self._close_fastboot()
        await self._power_off()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task that dies with this boot (background jobs, the boot sequence)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _spawn_untracked(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return asyncio.ensure_future(coro)

    def _emit(self, kind: str, detail: str = "") -> None:
        self._deliver(HandsetEvent(kind, time.time(), detail))

    def _deliver(self, event: HandsetEvent) -> None:
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:
                log.exception("%r: handset event listener failed on %s", self, event.kind)
