"""mksh's builtins and the small utilities every script uses (echo, test, cd, env, sh -c)."""

from __future__ import annotations

import asyncio
import re

from phonehome.virtual.fs import FsError
from phonehome.virtual.shell.args import err_text
from phonehome.virtual.shell.interpreter import SH, CommandFn, Invocation, ShellExit, ShellSession

SHELL_ID = (
    "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),"
    "1015(sdcard_rw),1028(sdcard_r),1078(ext_data_rw),1079(ext_obb_rw),3001(net_bt_admin),"
    "3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:shell:s0"
)
MAX_SLEEP_S = 24 * 3600.0
SHELL_ONLY = frozenset(
    {"cd", "export", "unset", "exit", "command", "type", "[", "test", "pwd", "true", "false"}
)


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
    negate = False
    if args and args[0] == "!":
        negate, args = True, args[1:]
    result = _evaluate_test(inv.session, args)
    if result is None:
        return await inv.fail("syntax error", 2)
    return 0 if result != negate else 1


def _evaluate_test(session: ShellSession, args: list[str]) -> bool | None:
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, operand = args
        if op in ("-n", "-z"):
            return (operand != "") == (op == "-n")
        if op in ("-e", "-f", "-d", "-s", "-r", "-w", "-x"):
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
            return host.exists()
        return None
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                   "-gt": int.__gt__, "-ge": int.__ge__}  # fmt: skip
        if op in numeric:
            try:
                return bool(numeric[op](int(left), int(right)))
            except ValueError:
                return None
    return None


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
    if inv.args[:1] == ["-u"]:
        await inv.out("2000\n")
    elif inv.args[:2] == ["-u", "-n"] or inv.args[:1] == ["-un"]:
        await inv.out("shell\n")
    else:
        await inv.out(SHELL_ID + "\n")
    return 0


async def whoami(inv: Invocation) -> int:
    await inv.out("shell\n")
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
    child = ShellSession(inv.session.fs, inv.session.commands, env=inv.env)
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


def register(table: dict[str, CommandFn]) -> None:
    """Adds the shell builtins to a command table."""
    table.update(
        {
            "echo": echo,
            "printf": printf,
            "true": true,
            "false": false,
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
