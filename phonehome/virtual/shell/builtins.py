"""mksh's builtins and the small utilities every script uses (echo, test, cd, env, sh -c)."""

from __future__ import annotations

import asyncio
import re

from phonehome.virtual.fs import FsError
from phonehome.virtual.shell.args import err_text, parse_flags
from phonehome.virtual.shell.flow import LoopControl
from phonehome.virtual.shell.interpreter import SH, BytesInput, CommandFn, Invocation, ShellExit, ShellSession

SHELL_ID = (
    "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),"
    "1015(sdcard_rw),1028(sdcard_r),1078(ext_data_rw),1079(ext_obb_rw),3001(net_bt_admin),"
    "3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:shell:s0"
)
ROOT_ID = (
    "uid=0(root) gid=0(root) groups=0(root),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),"
    "3001(net_bt_admin),3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:su:s0"
)
MAX_SLEEP_S = 24 * 3600.0
SHELL_ONLY = frozenset(
    {"cd", "export", "unset", "exit", "command", "type", "[", "test", "pwd", "true", "false", ":", "break",
     "continue", "read"}
)  # fmt: skip


async def echo(inv: Invocation) -> int:
    args = inv.args
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline = newline and "n" not in args[0]
        escapes = "e" in args[0] or escapes
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = text.encode().decode("unicode_escape", "replace")
    await inv.out(text + ("\n" if newline else ""))
    return 0


async def printf(inv: Invocation) -> int:
    if not inv.args:
        return await inv.fail("needs 1 argument")
    fmt, values = inv.args[0], inv.args[1:]
    fmt = fmt.encode().decode("unicode_escape", "replace")
    out = []
    specs = re.findall(r"%[-+ 0#]*\d*(?:\.\d+)?[sdxXo%]", fmt)
    if not specs:
        await inv.out(fmt)
        return 0
    consumed = 0
    while True:
        piece = fmt
        for spec in specs:
            if spec == "%%":
                piece = piece.replace("%%", "\0pct\0", 1)
                continue
            value = values[consumed] if consumed < len(values) else ""
            consumed += 1
            if spec[-1] in "dxXo":
                try:
                    rendered = (spec[:-1] + spec[-1]) % int(value or 0)
                except ValueError:
                    rendered = "0"
            else:
                rendered = spec % value
            piece = piece.replace(spec, rendered, 1)
        out.append(piece.replace("\0pct\0", "%"))
        if consumed >= len(values):
            break
    await inv.out("".join(out))
    return 0


async def true(inv: Invocation) -> int:
    return 0


async def false(inv: Invocation) -> int:
    return 1


async def cd(inv: Invocation) -> int:
    target = inv.args[0] if inv.args else "/"
    path = inv.session.fs.normalize(target, inv.session.cwd)
    try:
        host = inv.session.fs.host_path(path)
    except FsError as exc:
        await inv.err(f"{SH}: cd: {exc}\n")
        return 2
    if not host.is_dir():
        await inv.err(f"{SH}: cd: {path}: No such file or directory\n")
        return 2
    inv.session.cwd = path
    return 0


async def pwd(inv: Invocation) -> int:
    await inv.out(inv.session.cwd + "\n")
    return 0


async def export(inv: Invocation) -> int:
    for arg in inv.args:
        name, sep, value = arg.partition("=")
        inv.session.env[name] = value if sep else inv.session.vars.get(name, inv.session.env.get(name, ""))
    return 0


async def unset(inv: Invocation) -> int:
    for name in inv.args:
        inv.session.vars.pop(name, None)
        inv.session.env.pop(name, None)
    return 0


async def exit_(inv: Invocation) -> int:
    try:
        status = int(inv.args[0]) & 0xFF if inv.args else inv.session.status
    except ValueError:
        status = 2
    raise ShellExit(status)


async def sleep(inv: Invocation) -> int:
    if not inv.args:
        return await inv.fail("Needs 1 argument")
    try:
        seconds = float(inv.args[0].rstrip("s"))
    except ValueError:
        return await inv.fail(f"invalid number '{inv.args[0]}'")
    await asyncio.sleep(min(max(seconds, 0.0), MAX_SLEEP_S))
    return 0


async def test(inv: Invocation) -> int:
    args = inv.args
    if inv.name == "[":
        if not args or args[-1] != "]":
            return await inv.fail("missing ]", 2)
        args = args[:-1]
    try:
        result = _evaluate_test(inv.session, args)
    except _TestError as exc:
        return await inv.fail(str(exc), 2)
    return 0 if result else 1


class _TestError(ValueError):
    """What mksh says about a test expression it cannot evaluate (status 2)."""


_NUMERIC = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
            "-gt": int.__gt__, "-ge": int.__ge__}  # fmt: skip
_BINARY = frozenset({"=", "==", "!=", *_NUMERIC})
_UNARY = frozenset({"-n", "-z", "-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h"})


def _evaluate_test(session: ShellSession, args: list[str]) -> bool:
    """POSIX ``test`` by argument count (so ``[ "$x" = -n ]`` compares), then ``-o``/``-a``/``!``/``( )``."""
    n = len(args)
    if n == 0:
        return False
    if n == 1:
        return args[0] != ""
    if n == 2:
        if args[0] == "!":
            return not _evaluate_test(session, args[1:])
        return _unary(session, args[0], args[1])
    if n == 3:
        if args[1] in _BINARY:
            return _binary(args[0], args[1], args[2])
        if args[1] in ("-a", "-o"):
            left, right = args[0] != "", args[2] != ""
            return (left and right) if args[1] == "-a" else (left or right)
        if args[0] == "!":
            return not _evaluate_test(session, args[1:])
        if args[0] == "(" and args[2] == ")":
            return args[1] != ""
        raise _TestError(f"{args[1]}: unexpected operator")
    for op in ("-o", "-a"):
        for i in range(len(args) - 2, 0, -1):
            if args[i] == op:
                before, after = args[:i], args[i + 1 :]
                if op == "-o":
                    return _evaluate_test(session, before) or _evaluate_test(session, after)
                return _evaluate_test(session, before) and _evaluate_test(session, after)
    if args[0] == "!":
        return not _evaluate_test(session, args[1:])
    if args[0] == "(" and args[-1] == ")":
        return _evaluate_test(session, args[1:-1])
    raise _TestError(f"{args[0]}: unexpected operator")


def _unary(session: ShellSession, op: str, operand: str) -> bool:
    if op in ("-n", "-z"):
        return (operand != "") == (op == "-n")
    if op not in _UNARY:
        raise _TestError(f"{op}: unexpected operator")
    try:
        host = session.fs.host_path(operand, session.cwd)
    except FsError:
        return False
    if op == "-d":
        return host.is_dir()
    if op == "-f":
        return host.is_file()
    if op == "-s":
        return host.is_file() and host.stat().st_size > 0
    if op in ("-L", "-h"):
        return host.is_symlink()
    return host.exists()


def _binary(left: str, op: str, right: str) -> bool:
    if op in ("=", "=="):
        return left == right
    if op == "!=":
        return left != right
    numbers = []
    for text in (left, right):
        try:
            numbers.append(int(text.strip()))
        except ValueError:
            raise _TestError(f"{text}: bad number") from None
    return bool(_NUMERIC[op](numbers[0], numbers[1]))


async def which(inv: Invocation) -> int:
    status = 0
    for name in inv.args:
        if name in inv.session.commands and name not in SHELL_ONLY:
            await inv.out(f"/system/bin/{name}\n")
        else:
            status = 1
    return status


async def command(inv: Invocation) -> int:
    if inv.args[:1] == ["-v"]:
        status = 0
        for name in inv.args[1:]:
            if name in SHELL_ONLY:
                await inv.out(name + "\n")
            elif name in inv.session.commands:
                await inv.out(f"/system/bin/{name}\n")
            else:
                status = 1
        return status
    if not inv.args:
        return 0
    return await inv.session.call(inv.args, inv.io, inv.env)


async def type_(inv: Invocation) -> int:
    status = 0
    for name in inv.args:
        if name in SHELL_ONLY:
            await inv.out(f"{name} is a shell builtin\n")
        elif name in inv.session.commands:
            await inv.out(f"{name} is a tracked alias for /system/bin/{name}\n")
        else:
            await inv.out(f"{name} not found\n")
            status = 1
    return status


async def id_(inv: Invocation) -> int:
    root = inv.session.env.get("USER") == "root"
    if inv.args[:1] == ["-u"]:
        await inv.out("0\n" if root else "2000\n")
    elif inv.args[:2] == ["-u", "-n"] or inv.args[:1] == ["-un"]:
        await inv.out("root\n" if root else "shell\n")
    else:
        await inv.out((ROOT_ID if root else SHELL_ID) + "\n")
    return 0


async def whoami(inv: Invocation) -> int:
    await inv.out("root\n" if inv.session.env.get("USER") == "root" else "shell\n")
    return 0


async def env(inv: Invocation) -> int:
    if inv.args:
        assigns = {}
        rest = list(inv.args)
        while rest and "=" in rest[0]:
            k, _, v = rest.pop(0).partition("=")
            assigns[k] = v
        if rest:
            return await inv.session.call(rest, inv.io, {**inv.env, **assigns})
    for k, v in sorted(inv.env.items()):
        await inv.out(f"{k}={v}\n")
    return 0


async def sh(inv: Invocation) -> int:
    """``sh -c SCRIPT``: a child shell with the same commands and environment."""
    child = ShellSession(inv.session.fs, inv.session.commands, env=inv.env, parent=inv.session)
    child.cwd = inv.session.cwd
    if inv.args[:1] == ["-c"] and len(inv.args) >= 2:
        return await child.run(inv.args[1], inv.io)
    if inv.args:
        try:
            script = inv.session.fs.read_bytes(inv.args[0], inv.session.cwd).decode("utf-8", "replace")
        except FsError as exc:
            await inv.err(f"{SH}: {inv.args[0]}: {err_text(exc)}\n")
            return 127
        return await child.run(script, inv.io)
    script = (await inv.stdin()).decode("utf-8", "replace")
    return await child.run(script, inv.io)


async def log_(inv: Invocation) -> int:
    return 0


async def loop_control(inv: Invocation) -> int:
    """``break [N]`` / ``continue [N]``: leave or restart the Nth enclosing loop."""
    try:
        levels = int(inv.args[0]) if inv.args else 1
    except ValueError:
        return await inv.fail(f"{inv.args[0]}: bad number")
    if levels < 1:
        return await inv.fail(f"{levels}: bad number")
    if inv.session.loop_depth == 0:
        return await inv.fail(f"can't {inv.name}")
    raise LoopControl(inv.name, min(levels, inv.session.loop_depth))


async def read(inv: Invocation) -> int:
    """``read [-r] [NAME...]``: one line of input into variables (the last takes the rest); 1 at the end."""
    flags, names = parse_flags(inv.args, "r")
    stdin = inv.io.stdin
    if isinstance(stdin, BytesInput):
        raw = await stdin.readline()
    else:  # a stream that only reads whole: take the first line (the rest is lost, as after `head -1`)
        raw = (await stdin.read()).split(b"\n", 1)[0] + b"\n"
    if not raw:
        return 1
    line = raw.decode("utf-8", "replace").removesuffix("\n")
    if "r" not in flags:
        line = re.sub(r"\\(.)", r"\1", line)
    names = names or ["REPLY"]
    fields = line.split(None, len(names) - 1) if len(names) > 1 else [line.strip()]
    for i, name in enumerate(names):
        inv.session.vars[name] = fields[i] if i < len(fields) else ""
    return 0 if raw.endswith(b"\n") else 1


def register(table: dict[str, CommandFn]) -> None:
    """Adds the shell builtins to a command table."""
    table.update(
        {
            "echo": echo,
            "printf": printf,
            "true": true,
            ":": true,
            "false": false,
            "break": loop_control,
            "continue": loop_control,
            "read": read,
            "cd": cd,
            "pwd": pwd,
            "export": export,
            "unset": unset,
            "exit": exit_,
            "sleep": sleep,
            "test": test,
            "[": test,
            "which": which,
            "command": command,
            "type": type_,
            "id": id_,
            "whoami": whoami,
            "env": env,
            "sh": sh,
            "log": log_,
        }
    )
