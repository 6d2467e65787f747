"""Running compound commands: ``if``, ``while``/``until``, ``for``, ``case``, and ``break``/``continue``.

Loops are bounded: every iteration of every loop in one script counts
against `MAX_LOOP_ITERATIONS`, and the loop yields to the handset's event
loop as it goes, so ``while true; do :; done`` ends with an error instead of
hanging the handset (a real phone would spin until the client gave up).
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING

from phonehome.virtual.shell.syntax import Case, Compound, For, If, Lit, Loop, Script, Word

if TYPE_CHECKING:
    from phonehome.virtual.shell.interpreter import Io, ShellSession

MAX_LOOP_ITERATIONS = 50_000
YIELD_EVERY = 16


@dataclass
class LoopBudget:
    """Loop iterations run so far by one script and the shells it started."""

    count: int = 0


class LoopControl(Exception):
    """``break N`` / ``continue N`` unwinding to the Nth enclosing loop."""

    def __init__(self, kind: str, levels: int) -> None:
        super().__init__(kind, levels)
        self.kind = kind
        self.levels = levels


class LoopLimit(Exception):
    """A script ran more loop iterations than `MAX_LOOP_ITERATIONS`; it is stopped, status 1."""


async def run_compound(session: ShellSession, node: Compound, io: Io) -> int:
    if isinstance(node, If):
        return await _run_if(session, node, io)
    if isinstance(node, Loop):
        return await _run_loop(session, node, io)
    if isinstance(node, For):
        return await _run_for(session, node, io)
    return await _run_case(session, node, io)


async def _run_if(session: ShellSession, node: If, io: Io) -> int:
    for condition, body in node.branches:
        if await session.run_script(condition, io) == 0:
            return await session.run_script(body, io)
    if node.otherwise is not None:
        return await session.run_script(node.otherwise, io)
    return 0


async def tick(session: ShellSession) -> None:
    """Counts one loop iteration against the script's budget; lets other streams run now and then."""
    session.budget.count += 1
    if session.budget.count > MAX_LOOP_ITERATIONS:
        raise LoopLimit(f"/system/bin/sh: loop: more than {MAX_LOOP_ITERATIONS} iterations, stopped")
    if session.budget.count % YIELD_EVERY == 0:
        await asyncio.sleep(0)


async def _body(session: ShellSession, body: Script, io: Io) -> tuple[int, str | None]:
    """Runs one iteration's body: (status, ``break``/``continue`` if one ended it here)."""
    session.loop_depth += 1
    try:
        return await session.run_script(body, io), None
    except LoopControl as control:
        if control.levels > 1:
            control.levels -= 1
            raise
        return 0, control.kind
    finally:
        session.loop_depth -= 1


async def _run_loop(session: ShellSession, node: Loop, io: Io) -> int:
    status = 0
    while True:
        await tick(session)
        holds = await session.run_script(node.condition, io) == 0
        if holds == node.until:
            return status
        status, control = await _body(session, node.body, io)
        if control == "break":
            return status


async def _run_for(session: ShellSession, node: For, io: Io) -> int:
    values: list[str] = []
    for word in node.words:
        values.extend(await session.expand(word, io))
    status = 0
    for value in values:
        await tick(session)
        session.vars[node.name] = value
        status, control = await _body(session, node.body, io)
        if control == "break":
            break
    return status


async def _run_case(session: ShellSession, node: Case, io: Io) -> int:
    subject = " ".join(await session.expand(node.subject, io, split=False))
    for item in node.items:
        for pattern in item.patterns:
            if fnmatch.fnmatchcase(subject, await _pattern(session, pattern, io)):
                return await session.run_script(item.body, io)
    return 0


async def _pattern(session: ShellSession, word: Word, io: Io) -> str:
    """The glob of a case pattern: quoted parts match literally, unquoted ones as patterns."""
    out = []
    for part in word.parts:
        text = (
            part.text if isinstance(part, Lit) else " ".join(await session.expand(Word((part,)), io, False))
        )
        out.append(_escape(text) if getattr(part, "quoted", False) else text)
    return "".join(out)


def _escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
