"""Argument helpers shared by the shell's commands (toybox's flag style, errno wording)."""

from __future__ import annotations

import os


def err_text(exc: OSError) -> str:
    """The errno's text, as toybox prints it (``No such file or directory``)."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def parse_flags(args: list[str], known: str) -> tuple[set[str], list[str]]:
    """Splits ``-abc`` style flags (only letters in ``known``) from operands; ``--`` ends flags."""
    found: set[str] = set()
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--":
            rest.extend(it)
            break
        if arg.startswith("-") and len(arg) > 1 and all(c in known for c in arg[1:]):
            found.update(arg[1:])
        else:
            rest.append(arg)
    return found, rest
