"""toybox's text filters that lab scripts pipe into: seq, sort, uniq, cut, tr.

Each reads its files or stdin whole (as every pipe here does) and writes
what toybox would; ``seq`` is bounded, since a shell loop over it must end.
"""

from __future__ import annotations

from collections.abc import Callable

from phonehome.virtual.shell.args import parse_flags
from phonehome.virtual.shell.interpreter import CommandFn, Invocation
from phonehome.virtual.shell.toybox import input_text

MAX_SEQ = 1_000_000


async def seq(inv: Invocation) -> int:
    """``seq [FIRST [INCREMENT]] LAST`` (integers)."""
    try:
        numbers = [int(a) for a in inv.args]
    except ValueError:
        return await inv.fail(f"invalid integer in {' '.join(inv.args)}")
    if not 1 <= len(numbers) <= 3:
        return await inv.fail("needs 1 to 3 arguments")
    first, step, last = (1, 1, numbers[0]) if len(numbers) == 1 else (numbers[0], 1, numbers[-1])
    if len(numbers) == 3:
        step = numbers[1]
    if step == 0:
        return await inv.fail("increment 0 never ends")
    count = max((last - first) // step + 1, 0)
    if count > MAX_SEQ:
        return await inv.fail(f"more than {MAX_SEQ} numbers")
    await inv.out("".join(f"{first + i * step}\n" for i in range(count)))
    return 0


async def sort(inv: Invocation) -> int:
    flags, names = parse_flags(inv.args, "rnu")
    text, status = await input_text(inv, names)
    lines = text.splitlines()
    if "u" in flags:
        lines = list(dict.fromkeys(lines))
    if "n" in flags:
        lines.sort(key=_leading_number, reverse="r" in flags)
    else:
        lines.sort(reverse="r" in flags)
    await inv.out("".join(line + "\n" for line in lines))
    return status


def _leading_number(line: str) -> float:
    digits = ""
    for ch in line.strip():
        if ch.isdigit() or (ch in "-." and not digits.endswith(ch)):
            digits += ch
        else:
            break
    try:
        return float(digits)
    except ValueError:
        return 0.0


async def uniq(inv: Invocation) -> int:
    flags, names = parse_flags(inv.args, "c")
    text, status = await input_text(inv, names)
    runs: list[tuple[str, int]] = []
    for line in text.splitlines():
        if runs and runs[-1][0] == line:
            runs[-1] = (line, runs[-1][1] + 1)
        else:
            runs.append((line, 1))
    for line, count in runs:
        await inv.out((f"{count:>7} {line}\n") if "c" in flags else f"{line}\n")
    return status


async def cut(inv: Invocation) -> int:
    """``cut -d DELIM -f LIST`` or ``cut -c LIST`` (LIST: N, N-M, N-, -M, comma-separated)."""
    args, delimiter, fields, chars, names = list(inv.args), "\t", "", "", []
    while args:
        arg = args.pop(0)
        if arg.startswith("-d"):
            delimiter = arg[2:] or (args.pop(0) if args else "")
        elif arg.startswith("-f"):
            fields = arg[2:] or (args.pop(0) if args else "")
        elif arg.startswith("-c"):
            chars = arg[2:] or (args.pop(0) if args else "")
        else:
            names.append(arg)
    try:
        wanted = _ranges(fields or chars)
    except ValueError:
        return await inv.fail("bad list (use -f or -c with N, N-M, N-, -M)")
    text, status = await input_text(inv, names)
    for line in text.splitlines():
        if chars:
            await inv.out("".join(c for i, c in enumerate(line, 1) if wanted(i)) + "\n")
        elif delimiter[:1] not in line:
            await inv.out(line + "\n")
        else:
            parts = line.split(delimiter[:1])
            await inv.out(delimiter[:1].join(p for i, p in enumerate(parts, 1) if wanted(i)) + "\n")
    return status


def _ranges(spec: str) -> Callable[[int], bool]:
    if not spec:
        raise ValueError(spec)
    spans = []
    for piece in spec.split(","):
        low, sep, high = piece.partition("-")
        start = int(low) if low else 1
        end = (int(high) if high else 1 << 31) if sep else start
        if start < 1 or end < start:
            raise ValueError(piece)
        spans.append((start, end))
    return lambda i: any(a <= i <= b for a, b in spans)


async def tr(inv: Invocation) -> int:
    """``tr SET1 SET2`` and ``tr -d SET1`` (literal characters, ``a-z`` ranges)."""
    flags, sets = parse_flags(inv.args, "d")
    if not sets or (not flags and len(sets) < 2):
        return await inv.fail("needs 1 or 2 arguments")
    source = _expand_set(sets[0])
    text = (await inv.stdin()).decode("utf-8", "replace")
    if "d" in flags:
        await inv.out("".join(c for c in text if c not in source))
        return 0
    target = _expand_set(sets[1])
    table = {ord(c): target[min(i, len(target) - 1)] for i, c in enumerate(source)} if target else {}
    await inv.out(text.translate(table))
    return 0


def _expand_set(spec: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-" and ord(spec[i]) <= ord(spec[i + 2]):
            out.extend(chr(c) for c in range(ord(spec[i]), min(ord(spec[i + 2]), ord(spec[i]) + 256) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


def register(table: dict[str, CommandFn]) -> None:
    table.update({"seq": seq, "sort": sort, "uniq": uniq, "cut": cut, "tr": tr})
