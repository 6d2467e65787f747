"""The physical seam: acts a person's hands do (power on, insert a SIM), asked of an `Operator`.

A manual step names a machine-readable *act* with parameters and a sentence
for a person. On a lab's terminal `TerminalOperator` prints the sentence and
waits for Enter; in tests `ScriptedOperator` answers; for a virtual handset
the run registers an operator of ``phonehome.virtual`` that does the act to
the virtual handset, as a lab assistant would with their hands. This module
imports neither: it is the protocol they meet on.

The answer is what the person typed before Enter (empty for a plain
confirmation). For a SIM act it names the new card, ``iccid=... imsi=...``
(or a bare ICCID, as printed on the card), so the run can look for it in
the traffic (`parse_answer`).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TextIO

POWER_ON = "power.on"
"""Power a switched-off handset on (hold the power button)."""
POWER_PRESS = "power.press"
"""Press the power button briefly (the screen toggles)."""
SIM_INSERT = "sim.insert"
"""params: slot (1 = the first), iccid (None: any card never used in this handset)."""
SIM_SWAP = "sim.swap"
"""params: slot, iccid (None: a card never used in this handset)."""
SIM_REMOVE = "sim.remove"
"""params: slot."""
FACTORY_RESET = "factory-reset"
"""Wipe the handset back to its first boot (Settings, recovery, or the lab's own way)."""
BOOTLOADER = "power.bootloader"
"""Boot the handset into its bootloader (fastboot mode): off, then Volume Down + Power."""
SETUP_WIZARD = "setup-wizard"
"""params: stage (``consent``: walk to the first consent screen and set its toggles, not deciding yet;
``finish``: decide and finish the wizard), consent (the variant), ssid, password: the Setup Wizard by hand,
on a build whose ADB runs only after setup."""
USB_DEBUGGING = "usb-debugging.enable"
"""Enable USB debugging (Developer options) and accept this computer's key: ADB after setup."""
NETWORK_JOIN = "network.join"
"""params: ssid, password: join the bench's network by hand."""
CONFIRM = "confirm"
"""Anything else a person must do and confirm; the instruction says what."""

_ANSWER_KEYS = ("iccid", "imsi", "msisdn")
_PAIR = re.compile(r"(?P<key>[A-Za-z_]+)\s*[=:]\s*(?P<value>[^\s,;]+)")


class OperatorError(Exception):
    """The act was not performed: no terminal to ask on, an act the operator cannot do, refused."""


class Operator(Protocol):
    """Performs an act (or has a person perform it) and returns what they typed, '' for a plain Enter."""

    def perform(self, act: str, params: Mapping[str, object], instruction: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Performed:
    """One act as it was asked and confirmed, with both times (seconds since the epoch)."""

    act: str
    params: dict[str, object]
    instruction: str
    asked_at: float
    confirmed_at: float
    answer: str


def parse_answer(answer: str) -> dict[str, str]:
    """``"iccid=8947... imsi=2420..."`` (or a bare 18-20 digit ICCID) -> {"iccid": ..., "imsi": ...}.

    Only identifier keys are kept; anything else a person typed stays in the step's record.
    """
    found = {m["key"].lower(): m["value"] for m in _PAIR.finditer(answer)}
    out = {key: value for key, value in found.items() if key in _ANSWER_KEYS}
    bare = answer.strip().replace(" ", "")
    if not out and re.fullmatch(r"\d{18,20}[Ff]?", bare):
        out["iccid"] = bare
    return out


class TerminalOperator:
    """Prints each instruction, timestamped, and waits for Enter on the controlling terminal.

    It opens ``/dev/tty`` itself rather than using stdin and stdout: pytest
    captures those, and ``phonehome run`` sends its child's output to a log,
    while the person at the bench still sees the prompt. Without a terminal
    (CI) the act fails with `OperatorError`, and so does its step: a
    scenario that needs hands cannot pass unattended.
    """

    def __init__(
        self,
        tty: str = "/dev/tty",
        *,
        streams: tuple[TextIO, TextIO] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tty = tty
        self._streams = streams
        self.clock = clock
        self.log: list[Performed] = []

    def perform(self, act: str, params: Mapping[str, object], instruction: str) -> str:
        asked = self.clock()
        with self._open() as (reader, writer):
            writer.write(f"\n[{_stamp(asked)}] phonehome asks the operator ({act}): {instruction}\n")
            writer.write("  Press Enter when done (type what the step asks for first, if anything): ")
            writer.flush()
            line = reader.readline()
            if not line:
                raise OperatorError(f"{act}: the terminal closed before the operator confirmed")
            confirmed = self.clock()
            writer.write(f"[{_stamp(confirmed)}] confirmed\n")
            writer.flush()
        answer = line.strip()
        self.log.append(Performed(act, dict(params), instruction, asked, confirmed, answer))
        return answer

    @contextlib.contextmanager
    def _open(self) -> Iterator[tuple[TextIO, TextIO]]:
        if self._streams is not None:
            yield self._streams
            return
        try:
            fd = os.open(self.tty, os.O_RDWR | os.O_NOCTTY)
        except OSError as exc:
            raise OperatorError(
                f"no terminal to ask the operator on ({self.tty}: {exc.strerror or exc}): run where a person "
                "can answer, or choose a scenario without manual steps"
            ) from exc
        # Two streams on one terminal: a tty is not seekable, so it cannot be one read-write buffered file.
        with (
            open(fd, encoding="utf-8", errors="replace") as reader,
            open(os.dup(fd), "w", encoding="utf-8", errors="replace", buffering=1) as writer,
        ):
            yield reader, writer


Answer = str | Callable[[Mapping[str, object]], str]


@dataclass
class ScriptedOperator:
    """Answers acts from a script: for tests, and for replaying a session whose answers are known.

    ``answers`` maps an act to its answer (or a function of the params); an
    act not in the script raises `OperatorError`, as a person would refuse an
    instruction they were not told about.
    """

    answers: Mapping[str, Answer] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    log: list[Performed] = field(default_factory=list)

    def perform(self, act: str, params: Mapping[str, object], instruction: str) -> str:
        asked = self.clock()
        if act not in self.answers:
            raise OperatorError(f"{act}: not in the operator's script (scripted: {', '.join(self.answers)})")
        answer = self.answers[act]
        text = answer(params) if callable(answer) else answer
        self.log.append(Performed(act, dict(params), instruction, asked, self.clock(), text))
        return text

    @property
    def acts(self) -> list[str]:
        return [p.act for p in self.log]


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
