"""What a step works with: the handset over ADB, the operator, the bench timeline, options, the clock.

The run builds one `Context` per scenario run. Steps reach the handset only
through the device layer (`Device` is the part of `phonehome.device.Handset`
they use), so a real phone and a virtual one are driven the same way; the
run decides how a handset is connected (``connect``) and who does the
physical acts (``operator``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from phonehome.device.inventory import AdbMode
from phonehome.device.transport import ShellResult
from phonehome.scenario.model import StepFailed, StepTimeout
from phonehome.scenario.operator import Operator
from phonehome.scenario.ui import Ui

T = TypeVar("T")
POLL_S = 0.25
CONNECT_TIMEOUT_S = 30.0


class Session(Protocol):
    """A uiautomator2 session (`phonehome.device.UiSession`)."""

    @property
    def device(self) -> Any: ...

    def stop(self) -> None: ...


class Device(Protocol):
    """What steps use of `phonehome.device.Handset`."""

    serial: str

    def shell(
        self, argv: Sequence[str], *, timeout: float | None = None, step: str = "shell", check: bool = True
    ) -> ShellResult: ...

    def getprop(self, name: str, *, timeout: float | None = None, step: str = "getprop") -> str: ...

    def wait_boot_completed(self, timeout: float = ..., step: str = ...) -> None: ...

    def wait_for_device(self, timeout: float = ..., step: str = ...) -> None: ...

    def handle_reboot(self, timeout: float = ...) -> AbstractContextManager[None]: ...

    def uiautomator2(self, timeout: float = ...) -> Session: ...


class OptionError(ValueError):
    """A scenario option with a value its scenario cannot use (bad input: say which and what is allowed)."""


@dataclass
class Options:
    """``--consent`` and ``--scenario-option KEY=VALUE``: what a scenario may be told."""

    consent: str = "accept-all"
    values: Mapping[str, str] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)
    """Keys a scenario asked for: any other given key is a typo (`unknown`)."""

    def text(self, key: str, default: str) -> str:
        self.read.add(key)
        return self.values.get(key, default)

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        self.read.add(key)
        raw = self.values.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise OptionError(f"scenario option {key}={raw!r}: expected a number of seconds") from None
        if not (math.isfinite(value) and value >= minimum):
            raise OptionError(f"scenario option {key}={raw!r}: expected a finite number >= {minimum:g}")
        return value

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise OptionError(f"scenario option {key}={value!r}: choose one of {', '.join(choices)}")
        return value

    def unknown(self) -> list[str]:
        return sorted(set(self.values) - self.read)


class Resetter(Protocol):
    """What resets the handset to its first boot (`phonehome.device.lifecycle.Lifecycle`)."""

    def reset(self) -> Any: ...


Marker = Callable[..., object]
"""``mark(phase, **detail)``: the bench's timeline (e.g. ``bench.mark``)."""


class Context:
    """One scenario run's handles; see the module docstring."""

    def __init__(
        self,
        *,
        mark: Marker,
        operator: Operator,
        evidence: Path,
        options: Options | None = None,
        time_scale: float = 1.0,
        handset: Device | None = None,
        connect: Callable[[float], Device] | None = None,
        online: Callable[[], bool] | None = None,
        lifecycle: Callable[[str | None], Resetter | None] | None = None,
        adb: AdbMode = "at-boot",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str, str], None] | None = None,
    ) -> None:
        self._mark = mark
        self.progress = progress or (lambda kind, text: None)
        """``progress(kind, text)``: what the run is doing now (``step``, ``screen``), for the operator."""
        self.operator = operator
        self.evidence = evidence
        """The folder a failed step's screenshot and hierarchy go to."""
        self.options = options or Options()
        self.time_scale = time_scale
        """Handset seconds -> real seconds: 1 for a real phone; a virtual handset's firmware scale."""
        self._handset = handset
        self._connect = connect
        self._online = online
        self._lifecycle = lifecycle
        self.adb = adb
        """``after-setup``: the handset's ADB runs only once setup is done (a retail build)."""
        self.adb_gone = False
        """A reset took ADB away until setup is done (set by the reset, cleared by `reacquire`)."""
        self.clock = clock
        self.sleep = sleep
        self.decisions: list[str] = []
        """Decision markers written (``consent``): phases the run covered beside the declared ones."""
        self.learned: dict[str, list[str]] = {}
        """Identifiers the scenario learned (a new SIM's ICCID from the operator), by identity key."""
        self.doubts: list[str] = []
        """What the scenario could not make sure of: every would-be PASS becomes INCONCLUSIVE."""
        self.reports: dict[str, Any] = {}
        """What steps want kept in the results beside their markers (the wizard's walk, screen by screen)."""
        self._session: Session | None = None
        self._ui: Ui | None = None

    # -- the timeline ---------------------------------------------------------------------------
    def mark(self, phase: str, **detail: object) -> None:
        self._mark(phase, **detail)

    def decide(self, phase: str, **detail: object) -> None:
        """A decision marker inside the running phase (the consent choice), written now."""
        self._mark(phase, **detail)
        if phase not in self.decisions:
            self.decisions.append(phase)

    # -- the handset ----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._handset is not None

    @property
    def handset(self) -> Device:
        """The handset over ADB; connected on first use when no step connected it yet."""
        if self._handset is None:
            if self._connect is None:
                raise StepFailed("no ADB connection to the handset (a scenario starts with its boot phase)")
            return self.connect(CONNECT_TIMEOUT_S)
        return self._handset

    def online(self) -> bool:
        """Whether the handset answers over ADB now (a quick look; no waiting)."""
        if self._handset is not None and not self.adb_gone:
            return True
        return bool(self._online and self._online())

    @property
    def waits_for_setup(self) -> bool:
        """ADB is not there until setup is done: the first boot is the operator's to drive."""
        return self.adb == "after-setup" and (self.adb_gone or self._handset is None)

    def reacquire(self, timeout: float) -> Device:
        """ADB back after setup (or a reboot): the transport is found again, or connected the first time."""
        if self._handset is None:
            return self.connect(timeout)
        self._handset.wait_for_device(timeout, step="reacquire ADB")
        self.adb_gone = False
        return self._handset

    def lifecycle(self, method: str | None) -> Resetter | None:
        """What resets this handset by ``method`` (None: the inventory's); None when nothing is named."""
        return self._lifecycle(method) if self._lifecycle is not None else None

    def connect(self, timeout: float) -> Device:
        """Connects over ADB, waiting up to ``timeout`` for the handset to come online."""
        if self._handset is None:
            if self._connect is None:
                raise StepFailed("this run has no way to connect to the handset over ADB")
            self._handset = self._connect(timeout)
        return self._handset

    def ui(self, timeout: float = 60.0) -> Ui:
        """The uiautomator2 session, started on first use (stopped by `close`)."""
        if self._ui is None:
            self._session = self.handset.uiautomator2(timeout)
            self._ui = Ui(self._session.device)
        return self._ui

    @property
    def ui_started(self) -> Ui | None:
        return self._ui

    def close(self) -> None:
        if self._session is not None:
            self._session.stop()
        self._session, self._ui = None, None

    # -- time -----------------------------------------------------------------------------------
    def scaled(self, seconds: float) -> float:
        """``seconds`` of handset time in real seconds (virtual handsets run their clock faster)."""
        return seconds * self.time_scale

    def wait_until(
        self, probe: Callable[[], T | None], *, what: str, timeout: float, poll: float = POLL_S
    ) -> T:
        """Polls ``probe`` until it returns something other than None or False; `StepTimeout` after
        ``timeout`` seconds, naming ``what`` was awaited."""
        deadline = self.clock() + timeout
        while True:
            value = probe()
            if value is not None and value is not False:
                return value
            left = deadline - self.clock()
            if left <= 0:
                raise StepTimeout(f"{what}: not seen within {timeout:g} s")
            self.sleep(min(poll, left))

    # -- what the scenario learned ------------------------------------------------------------
    def learn(self, key: str, value: str) -> None:
        values = self.learned.setdefault(key, [])
        if value not in values:
            values.append(value)

    def doubt(self, text: str) -> None:
        if text not in self.doubts:
            self.doubts.append(text)
