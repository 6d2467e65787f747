"""The lexical half of the shell parser: words, quotes, ``$`` expansions, backquotes.

``shlex`` is not enough: it loses which parts of a word were quoted, which
decides whether ``$VAR`` expands, the result is split into fields and ``*``
globs. `WordParser` reads one word at a time; the grammar (`parser.py`)
builds on it and supplies ``script`` for ``$(...)`` and backquotes.
"""

from __future__ import annotations

from phonehome.virtual.shell.syntax import Arith, CmdSub, Lit, Param, Part, Script, ShellSyntaxError, Word

MAX_DEPTH = 64
BLANKS = " \t"
WORD_END = BLANKS + "\n;&|<>()"
PARAM_SPECIAL = "?$#!@*0123456789-"


class WordParser:
    """A cursor over the script text with the word rules of mksh."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = 0
        self.depth = 0

    def script(self, closing: str, stop: frozenset[str] = frozenset()) -> Script:
        raise NotImplementedError  # the grammar (parser._Parser) provides it

    # -- helpers --------------------------------------------------------------------------
    def peek(self, n: int = 1) -> str:
        return self.s[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.s)

    def unexpected(self) -> ShellSyntaxError:
        if self.at_end():
            return ShellSyntaxError("/system/bin/sh: syntax error: unexpected end of file")
        near = self.s[self.pos : self.pos + 2] if self.peek(2) in ("&&", "||", ";;") else self.peek()
        if near not in ("\n", "&&", "||", ";;") and near not in WORD_END:
            end = self.pos
            while end < len(self.s) and self.s[end] not in WORD_END:
                end += 1
            near = self.s[self.pos : end]
        near = "newline" if near == "\n" else near
        return ShellSyntaxError(f"/system/bin/sh: syntax error: '{near}' unexpected")

    def skip_blanks(self) -> None:
        while not self.at_end():
            ch = self.s[self.pos]
            if ch in BLANKS:
                self.pos += 1
            elif ch == "\\" and self.peek(2) == "\\\n":
                self.pos += 2
            elif ch == "#":
                while not self.at_end() and self.s[self.pos] != "\n":
                    self.pos += 1
            else:
                return

    def skip_space(self) -> None:
        """Blanks, comments and newlines (where a command may continue on the next line)."""
        while True:
            self.skip_blanks()
            if self.peek() == "\n":
                self.pos += 1
            else:
                return

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ShellSyntaxError("/system/bin/sh: syntax error: nesting too deep")

    def at_word(self, words: frozenset[str] | tuple[str, ...]) -> str | None:
        """The reserved word (one of ``words``) that starts here, unquoted and whole; else None."""
        for word in words:
            if self.s.startswith(word, self.pos):
                after = self.s[self.pos + len(word) : self.pos + len(word) + 1]
                if after == "" or after in WORD_END:
                    return word
        return None

    # -- words ------------------------------------------------------------------------------
    def word(self) -> Word | None:
        parts: list[Part] = []
        buf: list[str] = []

        def flush(quoted: bool = False) -> None:
            if buf:
                parts.append(Lit("".join(buf), quoted))
                buf.clear()

        while not self.at_end():
            ch = self.s[self.pos]
            if ch in WORD_END:
                break
            if ch == "\\":
                nxt = self.s[self.pos + 1 : self.pos + 2]
                self.pos += 2
                if nxt == "\n" or not nxt:
                    continue
                flush()
                parts.append(Lit(nxt, quoted=True))
            elif ch == "'":
                flush()
                end = self.s.find("'", self.pos + 1)
                if end < 0:
                    raise ShellSyntaxError("/system/bin/sh: no closing quote")
                parts.append(Lit(self.s[self.pos + 1 : end], quoted=True))
                self.pos = end + 1
            elif ch == '"':
                flush()
                self.pos += 1
                parts.extend(self.double_quoted())
            elif ch == "$":
                flush()
                parts.append(self.dollar(quoted=False))
            elif ch == "`":
                flush()
                parts.append(self.backquote(quoted=False))
            else:
                buf.append(ch)
                self.pos += 1
        flush()
        if not parts:
            return None
        return Word(tuple(parts))

    def double_quoted(self) -> list[Part]:
        parts: list[Part] = []
        buf: list[str] = []
        while True:
            if self.at_end():
                raise ShellSyntaxError("/system/bin/sh: no closing quote")
            ch = self.s[self.pos]
            if ch == '"':
                self.pos += 1
                break
            if ch == "\\" and self.s[self.pos + 1 : self.pos + 2] in ("$", "`", '"', "\\", "\n"):
                if self.s[self.pos + 1] != "\n":
                    buf.append(self.s[self.pos + 1])
                self.pos += 2
            elif ch == "$":
                if buf:
                    parts.append(Lit("".join(buf), True))
                    buf.clear()
                parts.append(self.dollar(quoted=True))
            elif ch == "`":
                if buf:
                    parts.append(Lit("".join(buf), True))
                    buf.clear()
                parts.append(self.backquote(quoted=True))
            else:
                buf.append(ch)
                self.pos += 1
        # An empty "" still makes a (possibly empty) field.
        parts.append(Lit("".join(buf), True))
        return parts

    def dollar(self, quoted: bool) -> Part:
        self.pos += 1  # the '$'
        ch = self.peek()
        if self.peek(2) == "((":
            return self.arithmetic(quoted)
        if ch == "(":
            self.pos += 1
            body = self.script(closing=")")
            if self.peek() != ")":
                raise ShellSyntaxError("/system/bin/sh: syntax error: unmatched '('")
            self.pos += 1
            return CmdSub(body, quoted)
        if ch == "{":
            end = self.s.find("}", self.pos)
            if end < 0:
                raise ShellSyntaxError("/system/bin/sh: syntax error: missing '}'")
            inner = self.s[self.pos + 1 : end]
            self.pos = end + 1
            name, sep, default = inner.partition(":-")
            if not (is_name(name) or (len(name) == 1 and name in PARAM_SPECIAL)):
                raise ShellSyntaxError(f"/system/bin/sh: ${{{inner}}}: bad substitution")
            default_word = type(self)(default).word() if sep else None
            return Param(name, quoted, default_word or (Word((Lit("", True),)) if sep else None))
        if ch and ch in PARAM_SPECIAL:
            self.pos += 1
            return Param(ch, quoted)
        start = self.pos
        while not self.at_end() and (self.s[self.pos].isalnum() or self.s[self.pos] == "_"):
            if self.pos == start and self.s[self.pos].isdigit():
                break
            self.pos += 1
        if self.pos == start:
            return Lit("$", quoted)
        return Param(self.s[start : self.pos], quoted)

    def arithmetic(self, quoted: bool) -> Arith:
        """``$((...))`` up to the ``))`` that closes it; the inside expands as in double quotes."""
        start = self.pos + 2
        depth, end = 0, start
        while True:
            if end >= len(self.s):
                raise ShellSyntaxError("/system/bin/sh: syntax error: unmatched '(('")
            ch = self.s[end]
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    if self.s[end + 1 : end + 2] != ")":
                        raise ShellSyntaxError("/system/bin/sh: syntax error: unmatched '(('")
                    break
                depth -= 1
            end += 1
        inner = self.s[start:end]
        if '"' in inner:
            raise ShellSyntaxError(f"/system/bin/sh: {inner}: unexpected '\"'")
        sub = type(self)(inner + '"')
        sub.depth = self.depth
        sub.enter()
        parts = sub.double_quoted()
        self.pos = end + 2
        return Arith(tuple(parts), quoted)

    def backquote(self, quoted: bool) -> Part:
        self.pos += 1
        end = self.pos
        inner: list[str] = []
        while True:
            if end >= len(self.s):
                raise ShellSyntaxError("/system/bin/sh: no closing quote")
            ch = self.s[end]
            if ch == "\\" and self.s[end + 1 : end + 2] in ("`", "\\", "$"):
                inner.append(self.s[end + 1])
                end += 2
            elif ch == "`":
                break
            else:
                inner.append(ch)
                end += 1
        self.pos = end + 1
        sub = type(self)("".join(inner))
        sub.depth = self.depth
        body = sub.script(closing="")
        return CmdSub(body, quoted)


def is_name(text: str) -> bool:
    return bool(text) and (text[0].isalpha() or text[0] == "_") and all(c.isalnum() or c == "_" for c in text)
