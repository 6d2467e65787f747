"""Runs parsed shell scripts: expansion, redirections, pipelines, and-or lists, background jobs.

Commands are async Python functions that get an `Invocation` (argv, I/O, the
session). A pipeline runs its commands one after the other, each reading the
previous one's output: adb clients pipe finite output (``ps -A | grep x``),
and it keeps every command a plain function. Background jobs (``&``) whose
output still goes to the session keep the session open until they finish, as
on a phone where they hold adbd's pipe; redirected ones run detached.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import posixpath
import shlex
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from phonehome.virtual.fs import DeviceFs, FsError
from phonehome.virtual.shell import flow
from phonehome.virtual.shell.arith import ArithError, evaluate
from phonehome.virtual.shell.parser import parse
from phonehome.virtual.shell.streams import (
    BufferOutput,
    BytesInput,
    FileOutput,
    Input,
    Io,
    NullOutput,
    Output,
)
from phonehome.virtual.shell.syntax import (
    AndOr,
    Arith,
    CmdSub,
    Command,
    Group,
    Lit,
    Param,
    Pipeline,
    Redirect,
    Script,
    ShellSyntaxError,
    Simple,
    Word,
)

__all__ = [
    "SH",
    "BufferOutput",
    "BytesInput",
    "CommandFn",
    "FileOutput",
    "Input",
    "Invocation",
    "Io",
    "NullOutput",
    "Output",
    "ShellExit",
    "ShellSession",
    "quote",
]

SH = "/system/bin/sh"
MAX_CALL_DEPTH = 32


class ShellExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Invocation:
    """One command run: what it was called with and where its output goes."""

    argv: list[str]
    io: Io
    session: ShellSession
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return posixpath.basename(self.argv[0])

    @property
    def args(self) -> list[str]:
        return self.argv[1:]

    async def out(self, text: str | bytes) -> None:
        await self.io.stdout.write(text.encode() if isinstance(text, str) else text)

    async def err(self, text: str | bytes) -> None:
        await self.io.stderr.write(text.encode() if isinstance(text, str) else text)

    async def fail(self, message: str, status: int = 1) -> int:
        """Prints ``NAME: message`` on stderr (toybox's style) and returns ``status``."""
        await self.err(f"{self.name}: {message}\n")
        return status

    async def stdin(self) -> bytes:
        return await self.io.stdin.read()


CommandFn = Callable[[Invocation], Awaitable[int]]


class ShellSession:
    """One shell (one ``adb shell`` stream): its variables, working directory and last status."""

    def __init__(
        self,
        fs: DeviceFs,
        commands: dict[str, CommandFn],
        env: dict[str, str] | None = None,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]] | None = None,
        parent: ShellSession | None = None,
    ) -> None:
        """``parent``: the shell that started this one (``sh -c``); nesting depth and the loop budget
        are shared with it, so a script that starts shells in a loop or recursively still ends."""
        self.fs = fs
        self.commands = commands
        self.env: dict[str, str] = dict(env or {})
        self.vars: dict[str, str] = {}
        self.cwd = "/"
        self.status = 0
        self.pid = 4242
        self.last_bg_pid = 0
        self._spawn = spawn or asyncio.ensure_future
        self._attached: list[asyncio.Task[Any]] = []
        self.parent = parent
        self._depth: int = parent._depth if parent is not None else 0
        self.budget: flow.LoopBudget = parent.budget if parent is not None else flow.LoopBudget()
        """Loop iterations the script has run, with its child shells (`flow.MAX_LOOP_ITERATIONS`)."""
        self.loop_depth = 0
        """How many loops enclose the command running now (``break`` outside one is an error)."""

    # -- entry points ---------------------------------------------------------------------
    async def run(self, text: str, io: Io) -> int:
        """Runs ``text``; returns its exit status (syntax errors: 1, as mksh -c)."""
        try:
            script = parse(text)
        except ShellSyntaxError as exc:
            await io.stderr.write(f"{exc}\n".encode())
            self.status = 1
            return 1
        if self.parent is None:
            self.budget.count = 0
        try:
            status = await self.run_script(script, io)
        except ShellExit as exc:
            status = exc.status
        except (flow.LoopLimit, ArithError) as exc:
            await io.stderr.write(f"{exc}\n".encode())
            status = 1
        except flow.LoopControl:  # break/continue that left every loop (mksh ignores it)
            status = 0
        self.status = status
        return status

    async def wait_attached(self) -> None:
        """Waits for background jobs that write to the session's output."""
        while self._attached:
            task = self._attached.pop(0)
            with contextlib.suppress(Exception):
                await task

    def cancel_jobs(self) -> None:
        for task in self._attached:
            task.cancel()

    def lookup(self, name: str) -> str | None:
        if name == "?":
            return str(self.status)
        if name == "$":
            return str(self.pid)
        if name == "!":
            return str(self.last_bg_pid) if self.last_bg_pid else ""
        if name == "#":
            return "0"
        if name == "0":
            return SH
        if name in self.vars:
            return self.vars[name]
        return self.env.get(name)

    # -- execution --------------------------------------------------------------------------
    async def run_script(self, script: Script, io: Io) -> int:
        status = self.status
        for and_or, background in script.items:
            if background:
                task = self._spawn(self._background(and_or, io))
                self.last_bg_pid = self.pid + 1 + len(self._attached)
                if _writes_to_session(and_or):
                    self._attached.append(task)
                status = 0
            else:
                status = await self.run_and_or(and_or, io)
            self.status = status
        return status

    async def _background(self, and_or: AndOr, io: Io) -> int:
        return await self.run_and_or(and_or, io)

    async def run_and_or(self, node: AndOr, io: Io) -> int:
        status = await self.run_pipeline(node.first, io)
        for op, pipeline in node.rest:
            self.status = status
            if (op == "&&" and status == 0) or (op == "||" and status != 0):
                status = await self.run_pipeline(pipeline, io)
        return status

    async def run_pipeline(self, node: Pipeline, io: Io) -> int:
        stdin: Input = io.stdin
        status = 0
        for i, command in enumerate(node.commands):
            last = i == len(node.commands) - 1
            stdout: Output = io.stdout if last else BufferOutput()
            status = await self.run_command(command, Io(stdin, stdout, io.stderr))
            if not last:
                assert isinstance(stdout, BufferOutput)
                stdin = BytesInput(bytes(stdout.data))
        if node.negate:
            status = 0 if status else 1
        return status

    async def run_command(self, node: Command, io: Io) -> int:
        try:
            io = await self._redirect(node.redirects, io)
        except (FsError, OSError) as exc:
            await io.stderr.write(f"{SH}: {_os_message(exc)}\n".encode())
            return 1
        if not isinstance(node, Simple | Group):
            return await flow.run_compound(self, node, io)
        if isinstance(node, Group):
            if not node.subshell:
                return await self.run_script(node.body, io)
            saved = (self.cwd, dict(self.vars), dict(self.env))
            try:
                return await self.run_script(node.body, io)
            except ShellExit as exc:
                return exc.status
            finally:
                self.cwd, self.vars, self.env = saved
        return await self._run_simple(node, io)

    async def _run_simple(self, node: Simple, io: Io) -> int:
        assigns = {name: " ".join(await self.expand(value, io, split=False)) for name, value in node.assigns}
        argv: list[str] = []
        for word in node.words:
            argv.extend(await self.expand(word, io))
        if not argv:
            self.vars.update(assigns)
            return 0
        env = {**self.env, **{k: v for k, v in self.vars.items() if k in self.env}, **assigns}
        return await self.call(argv, io, env)

    async def call(self, argv: list[str], io: Io, env: dict[str, str] | None = None) -> int:
        """Runs one command by name, as the shell would find it on $PATH."""
        name = argv[0]
        fn = self.commands.get(name)
        if fn is None and "/" in name:
            base = posixpath.basename(name)
            device_path = self.fs.normalize(name, self.cwd)
            if device_path in (f"/system/bin/{base}", f"/system/xbin/{base}", f"/vendor/bin/{base}"):
                fn = self.commands.get(base)
        if fn is None:
            await io.stderr.write(f"{SH}: {name}: inaccessible or not found\n".encode())
            return 127
        self._depth += 1
        if self._depth > MAX_CALL_DEPTH:
            self._depth -= 1
            await io.stderr.write(f"{SH}: {name}: too many nested shells\n".encode())
            return 1
        try:
            return await fn(Invocation(argv, io, self, env if env is not None else dict(self.env)))
        finally:
            self._depth -= 1

    async def _redirect(self, redirects: tuple[Redirect, ...], io: Io) -> Io:
        if not redirects:
            return io
        stdin, stdout, stderr = io.stdin, io.stdout, io.stderr
        for r in redirects:
            target = " ".join(await self.expand(r.target, io, split=False))
            if r.op in (">&", "<&"):
                if target == "-":
                    new: Output = NullOutput()
                elif target in ("1", "2"):
                    new = stdout if target == "1" else stderr
                else:
                    new = self._file_output(target, append=False)
                if r.fd == 1:
                    stdout = new
                elif r.fd == 2:
                    stderr = new
                continue
            if r.op == "<":
                if target == "/dev/null":
                    stdin = BytesInput(b"")
                else:
                    stdin = BytesInput(self.fs.read_bytes(target, self.cwd))
                continue
            out = self._file_output(target, append=r.op == ">>")
            if r.fd in (1, -1):
                stdout = out
            if r.fd in (2, -1):
                stderr = out
        return Io(stdin, stdout, stderr)

    def _file_output(self, path: str, append: bool) -> Output:
        if path == "/dev/null":
            return NullOutput()
        return FileOutput(self.fs, path, self.cwd, append)

    # -- expansion ------------------------------------------------------------------------
    async def expand(self, word: Word, io: Io, split: bool = True) -> list[str]:
        """Fields of ``word`` after parameter and command expansion, field splitting and globbing."""
        fields: list[str] = []
        current: list[str] = []
        started = False  # a quoted part makes a field even when empty
        glob = False
        for part in word.parts:
            if isinstance(part, Lit):
                current.append(part.text)
                started = started or part.quoted or bool(part.text)
                glob = glob or (not part.quoted and any(c in part.text for c in "*?["))
                continue
            value = await self._expand_part(part, io)
            if part.quoted or not split:
                current.append(value)
                started = True
                continue
            pieces = value.split()
            if not pieces:
                continue
            if value[:1].isspace() and started:
                fields.append("".join(current))
                current = []
            current.append(pieces[0])
            started = True
            for piece in pieces[1:]:
                fields.append("".join(current))
                current = [piece]
            if value[-1:].isspace():
                fields.append("".join(current))
                current, started = [], False
        if started or current:
            fields.append("".join(current))
        if glob and split:
            return [match for f in fields for match in self._glob(f)]
        return fields

    async def _expand_part(self, part: Param | CmdSub | Arith, io: Io) -> str:
        if isinstance(part, Arith):
            text = " ".join(await self.expand(Word(part.parts), io, split=False))
            return str(evaluate(text, self.lookup))
        if isinstance(part, Param):
            value = self.lookup(part.name)
            if (value is None or value == "") and part.default is not None:
                return " ".join(await self.expand(part.default, io, split=False))
            return value or ""
        out = BufferOutput()
        # $? becomes the substitution's status, as in sh (visible when no command follows).
        self.status = await self.run_script(part.body, Io(BytesInput(b""), out, io.stderr))
        return bytes(out.data).decode("utf-8", "replace").rstrip("\n")

    def _glob(self, pattern: str) -> list[str]:
        """Pathname expansion in the last component; no match leaves the word as it is (sh)."""
        directory, sep, name = pattern.rpartition("/")
        if not name or any(c in directory for c in "*?["):
            return [pattern]
        base = (directory or "/") if sep else "."
        try:
            host = self.fs.host_path(self.fs.normalize(base, self.cwd))
            names = sorted(p.name for p in host.iterdir())
        except (FsError, OSError):
            return [pattern]
        matches = [n for n in names if fnmatch.fnmatchcase(n, name) and (name[:1] == "." or n[:1] != ".")]
        if not matches:
            return [pattern]
        prefix = directory + "/" if sep else ""
        return [prefix + m for m in matches]


def _writes_to_session(node: AndOr) -> bool:
    """False when every command of a background job sends both stdout and stderr elsewhere."""
    for pipeline in (node.first, *(p for _, p in node.rest)):
        for command in pipeline.commands:
            fds = {r.fd for r in command.redirects if r.op in (">", ">>", ">&")}
            if not ({1, 2} <= fds or -1 in fds):
                return True
    return False


def _os_message(exc: OSError) -> str:
    path = getattr(exc, "path", None) or exc.filename
    reason = exc.strerror or str(exc)
    return f"{path}: {reason}" if path else reason


def quote(args: list[str]) -> str:
    """A command line that the shell parses back into ``args`` (what adbutils' list2cmdline does)."""
    return " ".join(shlex.quote(a) for a in args)
