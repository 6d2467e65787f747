"""mksh builtins and the toybox commands adb clients use, with toybox's output formats."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import shutil
import stat
import time
from collections.abc import Callable

from phonehome.virtual.fs import FsError
from phonehome.virtual.shell.interpreter import (
    SH,
    BytesInput,
    CommandFn,
    Invocation,
    Io,
    ShellExit,
    ShellSession,
)

SHELL_ID = (
    "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),"
    "1015(sdcard_rw),1028(sdcard_r),1078(ext_data_rw),1079(ext_obb_rw),3001(net_bt_admin),"
    "3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:shell:s0"
)
MAX_SLEEP_S = 24 * 3600.0


def _err_text(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _flags(args: list[str], known: str) -> tuple[set[str], list[str]]:
    """Splits ``-abc`` style flags (only letters in ``known``) from operands; ``--`` ends flags."""
    flags: set[str] = set()
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--":
            rest.extend(it)
            break
        if arg.startswith("-") and len(arg) > 1 and all(c in known for c in arg[1:]):
            flags.update(arg[1:])
        else:
            rest.append(arg)
    return flags, rest


# -- shell builtins ---------------------------------------------------------------------------
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
            await inv.err(f"{SH}: {inv.args[0]}: {_err_text(exc)}\n")
            return 127
        return await child.run(script, inv.io)
    script = (await inv.stdin()).decode("utf-8", "replace")
    return await child.run(script, inv.io)


# -- files ------------------------------------------------------------------------------------
def _mode_string(mode: int) -> str:
    return stat.filemode(mode)


def _owner_name(uid: int) -> str:
    return {0: "root", 2000: "shell", 1000: "system"}.get(uid, str(uid))


async def ls(inv: Invocation) -> int:
    flags, paths = _flags(inv.args, "laAd1RhtrsFn")
    fs, cwd = inv.session.fs, inv.session.cwd
    status = 0
    targets = paths or ["."]
    for i, target in enumerate(targets):
        device_path = fs.normalize(target, cwd)
        try:
            host = fs.host_path(device_path)
            st = host.lstat()
        except (FsError, OSError):
            await inv.err(f"ls: {target}: No such file or directory\n")
            status = 1
            continue
        if stat.S_ISDIR(st.st_mode) and "d" not in flags:
            names = sorted(os.listdir(host))
            if "a" in flags:
                names = [".", "..", *names]
            elif "A" not in flags:
                names = [n for n in names if not n.startswith(".")]
            if len(targets) > 1:
                await inv.out(("\n" if i else "") + f"{target}:\n")
            entries = [(n, host / n if n not in (".", "..") else host) for n in names]
        else:
            entries = [(target, host)]
        for name, path in entries:
            if "l" in flags or "n" in flags:
                try:
                    est = path.lstat()
                except OSError:
                    continue
                owner = _owner_name(fs.owner(fs.normalize(name, device_path)))
                stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(est.st_mtime))
                await inv.out(
                    f"{_mode_string(est.st_mode)} 1 {owner} {owner} {est.st_size:>8} {stamp} {name}\n"
                )
            else:
                await inv.out(name + "\n")
    return status


async def cat(inv: Invocation) -> int:
    if not inv.args or inv.args == ["-"]:
        await inv.out(await inv.stdin())
        return 0
    status = 0
    for name in inv.args:
        if name == "-":
            await inv.out(await inv.stdin())
            continue
        try:
            await inv.out(inv.session.fs.read_bytes(name, inv.session.cwd))
        except FsError as exc:
            await inv.err(f"cat: {name}: {_err_text(exc)}\n")
            status = 1
    return status


async def rm(inv: Invocation) -> int:
    flags, paths = _flags(inv.args, "rRfv")
    fs, status = inv.session.fs, 0
    if not paths and "f" not in flags:
        return await inv.fail("Needs 1 argument")
    for name in paths:
        try:
            host = fs.writable_path(name, inv.session.cwd)
            if host.is_dir() and not host.is_symlink():
                if not flags & {"r", "R"}:
                    raise FsError(errno.EISDIR, name)
                shutil.rmtree(host)
            else:
                host.unlink()
        except FileNotFoundError:
            if "f" not in flags:
                await inv.err(f"rm: {name}: No such file or directory\n")
                status = 1
        except FsError as exc:
            if not ("f" in flags and exc.errno == errno.ENOENT):
                await inv.err(f"rm: {name}: {_err_text(exc)}\n")
                status = 1
    return status


async def mkdir(inv: Invocation) -> int:
    flags, paths = _flags(inv.args, "pv")
    status = 0
    for name in paths:
        try:
            host = inv.session.fs.writable_path(name, inv.session.cwd)
            host.mkdir(parents="p" in flags, exist_ok="p" in flags)
        except FileExistsError:
            await inv.err(f"mkdir: '{name}': File exists\n")
            status = 1
        except (FsError, OSError) as exc:
            await inv.err(f"mkdir: '{name}': {_err_text(exc)}\n")
            status = 1
    return status


async def touch(inv: Invocation) -> int:
    status = 0
    for name in [a for a in inv.args if not a.startswith("-")]:
        try:
            inv.session.fs.writable_path(name, inv.session.cwd).touch()
        except (FsError, OSError) as exc:
            await inv.err(f"touch: '{name}': {_err_text(exc)}\n")
            status = 1
    return status


async def cp_mv(inv: Invocation) -> int:
    _, paths = _flags(inv.args, "rRfpa")
    if len(paths) < 2:
        return await inv.fail("Needs 2 arguments")
    fs, cwd = inv.session.fs, inv.session.cwd
    *sources, dest = paths
    try:
        dest_host = fs.writable_path(dest, cwd)
        for source in sources:
            src_host = fs.host_path(source, cwd)
            target = dest_host / src_host.name if dest_host.is_dir() else dest_host
            if inv.name == "mv":
                fs.writable_path(source, cwd)
                os.replace(src_host, target)
            elif src_host.is_dir():
                shutil.copytree(src_host, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(src_host, target)
    except (FsError, OSError) as exc:
        return await inv.fail(f"{_err_text(exc)}")
    return 0


async def chmod(inv: Invocation) -> int:
    _, args = _flags(inv.args, "R")
    if len(args) < 2:
        return await inv.fail("Needs 2 arguments")
    try:
        mode = int(args[0], 8)
    except ValueError:
        return await inv.fail(f"bad mode '{args[0]}'")
    for name in args[1:]:
        try:
            inv.session.fs.writable_path(name, inv.session.cwd).chmod(mode)
        except (FsError, OSError) as exc:
            return await inv.fail(f"{name}: {_err_text(exc)}")
    return 0


def _digest(algorithm: str) -> CommandFn:
    async def run(inv: Invocation) -> int:
        _, names = _flags(inv.args, "bcs")
        if not names:
            digest = hashlib.new(algorithm, await inv.stdin()).hexdigest()
            await inv.out(f"{digest}  -\n")
            return 0
        status = 0
        for name in names:
            try:
                host = inv.session.fs.host_path(name, inv.session.cwd)
                h = hashlib.new(algorithm)
                with host.open("rb") as f:
                    while block := f.read(1 << 20):
                        h.update(block)
                await inv.out(f"{h.hexdigest()}  {name}\n")
            except IsADirectoryError:
                await inv.err(f"{inv.name}: {name}: Is a directory\n")
                status = 1
            except (FsError, OSError) as exc:
                await inv.err(f"{inv.name}: {name}: {_err_text(exc)}\n")
                status = 1
        return status

    return run


async def toybox(inv: Invocation) -> int:
    if not inv.args:
        names = sorted(n for n in inv.session.commands if n in TOYBOX_COMMANDS)
        await inv.out(" ".join(names) + "\n")
        return 0
    if inv.args[0] not in TOYBOX_COMMANDS or inv.args[0] not in inv.session.commands:
        await inv.err(f"toybox: Unknown command {inv.args[0]}\n")
        return 1
    return await inv.session.call(inv.args, inv.io, inv.env)


# -- text -------------------------------------------------------------------------------------
async def _input_text(inv: Invocation, names: list[str]) -> tuple[str, int]:
    if not names:
        return (await inv.stdin()).decode("utf-8", "replace"), 0
    chunks, status = [], 0
    for name in names:
        try:
            chunks.append(inv.session.fs.read_bytes(name, inv.session.cwd).decode("utf-8", "replace"))
        except FsError as exc:
            await inv.err(f"{inv.name}: {name}: {_err_text(exc)}\n")
            status = 2
    return "".join(chunks), status


async def grep(inv: Invocation) -> int:
    args = list(inv.args)
    flags: set[str] = set()
    patterns: list[str] = []
    operands: list[str] = []
    while args:
        arg = args.pop(0)
        if arg == "-e" and args:
            patterns.append(args.pop(0))
        elif arg.startswith("-") and len(arg) > 1 and not operands:
            flags.update(arg[1:])
        else:
            operands.append(arg)
    if not patterns:
        if not operands:
            return await inv.fail("no pattern", 2)
        patterns.append(operands.pop(0))
    text, status = await _input_text(inv, operands)
    re_flags = re.IGNORECASE if "i" in flags else 0
    try:
        regexes = [re.compile(re.escape(p) if "F" in flags else p, re_flags) for p in patterns]
    except re.error:
        regexes = [re.compile(re.escape(p), re_flags) for p in patterns]
    matched = [line for line in text.splitlines() if any(r.search(line) for r in regexes) != ("v" in flags)]
    if "c" in flags:
        await inv.out(f"{len(matched)}\n")
    elif "q" not in flags:
        for line in matched:
            await inv.out(line + "\n")
    if status:
        return status
    return 0 if matched else 1


def _count_option(args: list[str], default: int) -> tuple[int, list[str]]:
    rest, count = [], default
    it = iter(args)
    for arg in it:
        if arg == "-n":
            count = int(next(it, str(default)))
        elif re.fullmatch(r"-n?\d+", arg):
            count = int(arg.lstrip("-n"))
        else:
            rest.append(arg)
    return count, rest


async def head_tail(inv: Invocation) -> int:
    try:
        count, names = _count_option(inv.args, 10)
    except ValueError:
        return await inv.fail("bad count")
    text, status = await _input_text(inv, names)
    lines = text.splitlines(keepends=True)
    chosen = lines[:count] if inv.name == "head" else lines[-count:] if count else []
    await inv.out("".join(chosen))
    return status


async def wc(inv: Invocation) -> int:
    flags, names = _flags(inv.args, "lwc")
    text, status = await _input_text(inv, names)
    counts = {"l": text.count("\n"), "w": len(text.split()), "c": len(text.encode())}
    shown = [str(counts[f]) for f in "lwc" if f in flags] or [str(counts[f]) for f in "lwc"]
    await inv.out(" ".join(shown) + "\n")
    return status


async def date(inv: Invocation) -> int:
    fmt = next((a[1:] for a in inv.args if a.startswith("+")), "%a %b %d %H:%M:%S %Z %Y")
    await inv.out(time.strftime(fmt, time.localtime()) + "\n")
    return 0


async def log_(inv: Invocation) -> int:
    return 0


def _table(entries: dict[str, CommandFn]) -> dict[str, CommandFn]:
    return entries


SHELL_ONLY = frozenset(
    {"cd", "export", "unset", "exit", "command", "type", "[", "test", "pwd", "true", "false"}
)
TOYBOX_COMMANDS = frozenset(
    {"ls", "cat", "rm", "mkdir", "touch", "cp", "mv", "chmod", "md5sum", "sha1sum", "sha256sum", "grep",
     "head", "tail", "wc", "date", "id", "whoami", "env", "sleep", "echo", "printf", "true", "false",
     "which", "ps", "kill", "uname", "ifconfig", "test", "sh", "pwd", "uptime"}
)  # fmt: skip


def register(table: dict[str, CommandFn]) -> None:
    """Adds the builtins and toybox commands to a command table."""
    entries: dict[str, Callable[[Invocation], object]] = {
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
        "ls": ls,
        "cat": cat,
        "rm": rm,
        "mkdir": mkdir,
        "touch": touch,
        "cp": cp_mv,
        "mv": cp_mv,
        "chmod": chmod,
        "md5sum": _digest("md5"),
        "md5": _digest("md5"),
        "sha1sum": _digest("sha1"),
        "sha256sum": _digest("sha256"),
        "toybox": toybox,
        "grep": grep,
        "head": head_tail,
        "tail": head_tail,
        "wc": wc,
        "date": date,
        "log": log_,
    }
    table.update(entries)  # type: ignore[arg-type]


__all__ = ["BytesInput", "Io", "register"]
