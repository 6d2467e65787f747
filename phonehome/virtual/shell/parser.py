"""Parser for the subset of Android's mksh that adb clients send.

Lists (``;`` ``&`` newline), and-or lists (``&&`` ``||``), pipelines (``|``,
``!``), subshells ``( )`` and groups ``{ }``, redirections (``>`` ``>>`` ``<``
``2>&1`` ``&>``), single and double quotes, backslashes, ``$VAR`` ``${VAR}``
``${VAR:-word}`` ``$?`` ``$$`` ``$#`` ``$(...)`` and backquotes, assignments
before a command. ``shlex`` is not enough: it loses which parts of a word were
quoted, which decides whether ``$VAR`` expands, the result is split into fields
and ``*`` globs. The parser produces a tree; expansion happens when the
interpreter runs it, so ``echo $?`` sees the status of the command before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_DEPTH = 64
MAX_SCRIPT = 1024 * 1024
BLANKS = " \t"
WORD_END = BLANKS + "\n;&|<>()"
PARAM_SPECIAL = "?$#!@*0123456789-"


class ShellSyntaxError(ValueError):
    """Worded as mksh reports it on Android (``/system/bin/sh: ...``)."""


# -- words ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Lit:
    text: str
    quoted: bool


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    quoted: bool
    default: Word | None = None  # ${NAME:-default}


@dataclass(frozen=True, slots=True)
class CmdSub:
    body: Script
    quoted: bool


Part = Lit | Param | CmdSub


@dataclass(frozen=True, slots=True)
class Word:
    parts: tuple[Part, ...]

    @property
    def literal(self) -> str | None:
        """The text when the word has no expansion at all (keywords, assignment names)."""
        if all(isinstance(p, Lit) for p in self.parts):
            return "".join(p.text for p in self.parts if isinstance(p, Lit))
        return None

    @property
    def has_quotes(self) -> bool:
        return any(getattr(p, "quoted", False) for p in self.parts)


# -- commands ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Redirect:
    fd: int  # the descriptor redirected (1 for '>', 0 for '<'); -1 for '&>' (both 1 and 2)
    op: str  # '>', '>>', '<', '>&', '<&'
    target: Word


@dataclass(frozen=True, slots=True)
class Simple:
    assigns: tuple[tuple[str, Word], ...]
    words: tuple[Word, ...]
    redirects: tuple[Redirect, ...]


@dataclass(frozen=True, slots=True)
class Group:
    body: Script
    subshell: bool
    redirects: tuple[Redirect, ...]


Command = Simple | Group


@dataclass(frozen=True, slots=True)
class Pipeline:
    commands: tuple[Command, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class AndOr:
    first: Pipeline
    rest: tuple[tuple[str, Pipeline], ...] = ()


@dataclass(frozen=True, slots=True)
class Script:
    items: tuple[tuple[AndOr, bool], ...] = field(default_factory=tuple)  # (and-or list, background)


def parse(text: str) -> Script:
    """The syntax tree of ``text``; `ShellSyntaxError` with mksh's wording when it is not sh."""
    if len(text) > MAX_SCRIPT:
        raise ShellSyntaxError(f"/system/bin/sh: script too long ({len(text)} bytes)")
    parser = _Parser(text)
    script = parser.script(closing="")
    if parser.pos < len(text):
        raise parser.unexpected()
    return script


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = 0
        self.depth = 0

    # -- helpers --------------------------------------------------------------------------
    def peek(self, n: int = 1) -> str:
        return self.s[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.s)

    def unexpected(self) -> ShellSyntaxError:
        if self.at_end():
            return ShellSyntaxError("/system/bin/sh: syntax error: unexpected end of file")
        near = self.s[self.pos : self.pos + 2] if self.peek(2) in ("&&", "||", ";;") else self.peek()
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

    # -- grammar ----------------------------------------------------------------------------
    def script(self, closing: str) -> Script:
        """A list up to ``closing`` (')' or '}' or '`' or end of text), not consuming it."""
        self.enter()
        items: list[tuple[AndOr, bool]] = []
        while True:
            self.skip_space()
            if self.at_end() or (closing and self._at_closing(closing)):
                break
            if self.peek() in (";", "&", "|", ")", "<", ">") and not self._at_redirect_start():
                raise self.unexpected()
            and_or = self.and_or(closing)
            self.skip_blanks()
            background = False
            if self.peek() == "&" and self.peek(2) != "&&":
                self.pos += 1
                background = True
            elif (self.peek() == ";" and self.peek(2) != ";;") or self.peek() == "\n":
                self.pos += 1
            elif not (self.at_end() or (closing and self._at_closing(closing))):
                raise self.unexpected()
            items.append((and_or, background))
        self.depth -= 1
        return Script(tuple(items))

    def _at_closing(self, closing: str) -> bool:
        if closing == "}":
            return self.peek() == "}" and (self.peek(2)[1:] in ("", *WORD_END))
        return self.peek() == closing

    def _at_redirect_start(self) -> bool:
        return self.peek() in ("<", ">")

    def and_or(self, closing: str) -> AndOr:
        first = self.pipeline(closing)
        rest = []
        while True:
            self.skip_blanks()
            op = self.peek(2)
            if op not in ("&&", "||"):
                break
            self.pos += 2
            self.skip_space()
            rest.append((op, self.pipeline(closing)))
        return AndOr(first, tuple(rest))

    def pipeline(self, closing: str) -> Pipeline:
        self.skip_blanks()
        negate = False
        if self.peek() == "!" and self.peek(2)[1:] in ("", " ", "\t"):
            negate = True
            self.pos += 1
            self.skip_blanks()
        commands = [self.command(closing)]
        while True:
            self.skip_blanks()
            if self.peek() == "|" and self.peek(2) != "||":
                self.pos += 1
                self.skip_space()
                commands.append(self.command(closing))
            else:
                break
        return Pipeline(tuple(commands), negate)

    def command(self, closing: str) -> Command:
        self.skip_blanks()
        if self.peek() == "(":
            self.pos += 1
            body = self.script(closing=")")
            if self.peek() != ")":
                raise self.unexpected()
            self.pos += 1
            return Group(body, subshell=True, redirects=self.redirects())
        if self.peek() == "{" and self.peek(2)[1:] in (" ", "\t", "\n"):
            self.pos += 1
            body = self.script(closing="}")
            if self.peek() != "}":
                raise self.unexpected()
            self.pos += 1
            return Group(body, subshell=False, redirects=self.redirects())
        return self.simple(closing)

    def redirects(self) -> tuple[Redirect, ...]:
        found: list[Redirect] = []
        while True:
            self.skip_blanks()
            redirect = self.redirect()
            if redirect is None:
                return tuple(found)
            found.append(redirect)

    def redirect(self) -> Redirect | None:
        start = self.pos
        digits = ""
        while self.peek().isdigit():
            digits += self.peek()
            self.pos += 1
        if self.peek(2) == "&>" and not digits:
            self.pos += 2
            return Redirect(-1, ">", self._redirect_target())
        op = ""
        for candidate in (">>", ">&", "<&", ">|", ">", "<"):
            if self.s.startswith(candidate, self.pos):
                op = candidate
                break
        if not op:
            self.pos = start
            return None
        self.pos += len(op)
        op = ">" if op == ">|" else op
        fd = int(digits) if digits else (0 if op.startswith("<") else 1)
        if fd > 9:
            raise ShellSyntaxError(f"/system/bin/sh: {digits}: bad file descriptor")
        return Redirect(fd, op, self._redirect_target())

    def _redirect_target(self) -> Word:
        self.skip_blanks()
        word = self.word()
        if word is None:
            raise self.unexpected()
        return word

    def simple(self, closing: str) -> Simple:
        assigns: list[tuple[str, Word]] = []
        words: list[Word] = []
        redirects: list[Redirect] = []
        while True:
            self.skip_blanks()
            redirect = self.redirect()
            if redirect is not None:
                redirects.append(redirect)
                continue
            if self.at_end() or self.peek() in (";", "&", "|", ")", "\n", "("):
                break
            if closing == "}" and not words and self._at_closing("}"):
                break
            word = self.word()
            if word is None:
                break
            if not words:
                name = _assignment_name(word)
                if name is not None:
                    assigns.append((name, _assignment_value(word)))
                    continue
            words.append(word)
        if not (assigns or words or redirects):
            raise self.unexpected()
        return Simple(tuple(assigns), tuple(words), tuple(redirects))

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
            raise ShellSyntaxError("/system/bin/sh: arithmetic expansion is not supported")
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
            if not (_is_name(name) or (len(name) == 1 and name in PARAM_SPECIAL)):
                raise ShellSyntaxError(f"/system/bin/sh: ${{{inner}}}: bad substitution")
            default_word = _Parser(default).word() if sep else None
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
        sub = _Parser("".join(inner))
        sub.depth = self.depth
        body = sub.script(closing="")
        return CmdSub(body, quoted)


def _is_name(text: str) -> bool:
    return bool(text) and (text[0].isalpha() or text[0] == "_") and all(c.isalnum() or c == "_" for c in text)


def _assignment_name(word: Word) -> str | None:
    first = word.parts[0]
    if not isinstance(first, Lit) or first.quoted or "=" not in first.text:
        return None
    name = first.text.split("=", 1)[0]
    return name if _is_name(name) else None


def _assignment_value(word: Word) -> Word:
    first = word.parts[0]
    assert isinstance(first, Lit)
    rest = first.text.split("=", 1)[1]
    parts = ((Lit(rest, False),) if rest else ()) + word.parts[1:]
    return Word(parts or (Lit("", True),))
