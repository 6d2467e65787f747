"""Parser for the subset of Android's mksh that adb clients and lab scripts send.

Lists (``;`` ``&`` newline), and-or lists (``&&`` ``||``), pipelines (``|``,
``!``), subshells ``( )`` and groups ``{ }``, ``if``/``then``/``elif``/``else``/``fi``,
``for``/``while``/``until`` ... ``do``/``done``, ``case`` ... ``esac``,
redirections (``>`` ``>>`` ``<`` ``2>&1`` ``&>``), assignments before a
command. Words, quotes and ``$`` expansions are read by `WordParser`
(`words.py`). The parser produces a tree (`syntax.py`); expansion happens
when the interpreter runs it, so ``echo $?`` sees the status of the command
before it.
"""

from __future__ import annotations

from phonehome.virtual.shell.syntax import (
    AndOr,
    Arith,
    Case,
    CaseItem,
    CmdSub,
    Command,
    For,
    Group,
    If,
    Lit,
    Loop,
    Param,
    Pipeline,
    Redirect,
    Script,
    ShellSyntaxError,
    Simple,
    Word,
)
from phonehome.virtual.shell.words import MAX_DEPTH, WORD_END, WordParser, is_name

MAX_SCRIPT = 1024 * 1024
TERMINATORS = frozenset({"then", "elif", "else", "fi", "do", "done", "esac"})
"""Reserved words that end a list; one where a command should start is a syntax error."""

__all__ = [
    "MAX_DEPTH",
    "AndOr",
    "Arith",
    "Case",
    "CaseItem",
    "CmdSub",
    "Command",
    "For",
    "Group",
    "If",
    "Lit",
    "Loop",
    "Param",
    "Pipeline",
    "Redirect",
    "Script",
    "ShellSyntaxError",
    "Simple",
    "Word",
    "parse",
]


def parse(text: str) -> Script:
    """The syntax tree of ``text``; `ShellSyntaxError` with mksh's wording when it is not sh."""
    if len(text) > MAX_SCRIPT:
        raise ShellSyntaxError(f"/system/bin/sh: script too long ({len(text)} bytes)")
    parser = _Parser(text)
    script = parser.script(closing="")
    if parser.pos < len(text):
        raise parser.unexpected()
    return script


class _Parser(WordParser):
    # -- lists ------------------------------------------------------------------------------
    def script(self, closing: str, stop: frozenset[str] = frozenset()) -> Script:
        """A list up to ``closing`` (')' or '}' or end of text) or a reserved word in ``stop``
        (``;;`` included for case items), not consuming it."""
        self.enter()
        items: list[tuple[AndOr, bool]] = []
        while True:
            self.skip_space()
            if self._at_end_of_list(closing, stop):
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
            elif not self._at_end_of_list(closing, stop):
                raise self.unexpected()
            items.append((and_or, background))
        self.depth -= 1
        return Script(tuple(items))

    def _at_end_of_list(self, closing: str, stop: frozenset[str]) -> bool:
        if self.at_end() or (closing and self._at_closing(closing)):
            return True
        if ";;" in stop and self.peek(2) == ";;":
            return True
        return bool(stop) and self.at_word(stop) is not None

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

    # -- commands ---------------------------------------------------------------------------
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
        keyword = self.at_word(("if", "while", "until", "for", "case"))
        if keyword is not None:
            self.enter()
            self.pos += len(keyword)
            compound = self._compound(keyword)
            self.depth -= 1
            return compound
        if self.at_word(TERMINATORS) is not None:
            raise self.unexpected()
        return self.simple(closing)

    def _compound(self, keyword: str) -> Command:
        if keyword == "if":
            return self._if()
        if keyword in ("while", "until"):
            condition = self.script(closing="", stop=frozenset({"do"}))
            body = self._do_done()
            return Loop(condition, body, keyword == "until", self.redirects())
        if keyword == "for":
            return self._for()
        return self._case()

    def _expect(self, word: str) -> None:
        self.skip_space()
        if self.at_word((word,)) is None:
            raise self.unexpected()
        self.pos += len(word)

    def _do_done(self) -> Script:
        self._expect("do")
        body = self.script(closing="", stop=frozenset({"done"}))
        self._expect("done")
        return body

    def _if(self) -> If:
        branches = []
        otherwise = None
        while True:
            condition = self.script(closing="", stop=frozenset({"then"}))
            self._expect("then")
            body = self.script(closing="", stop=frozenset({"elif", "else", "fi"}))
            branches.append((condition, body))
            found = self.at_word(("elif", "else", "fi"))
            if found is None:
                raise self.unexpected()
            self.pos += len(found)
            if found == "else":
                otherwise = self.script(closing="", stop=frozenset({"fi"}))
                self._expect("fi")
            if found != "elif":
                return If(tuple(branches), otherwise, self.redirects())

    def _for(self) -> For:
        self.skip_blanks()
        name_word = self.word()
        name = name_word.literal if name_word is not None else None
        if name is None or not is_name(name):
            raise ShellSyntaxError(f"/system/bin/sh: for: {name or 'missing'}: bad identifier")
        self.skip_space()
        words: list[Word] = []
        if self.at_word(("in",)) is not None:
            self.pos += 2
            while True:
                self.skip_blanks()
                if self.at_end() or self.peek() in (";", "\n"):
                    break
                word = self.word()
                if word is None:
                    raise self.unexpected()
                words.append(word)
            if self.peek() in (";", "\n"):
                self.pos += 1
        elif self.peek() == ";":
            self.pos += 1
        body = self._do_done()
        return For(name, tuple(words), body, self.redirects())

    def _case(self) -> Case:
        self.skip_blanks()
        subject = self.word()
        if subject is None:
            raise self.unexpected()
        self._expect("in")
        items: list[CaseItem] = []
        while True:
            self.skip_space()
            if self.at_word(("esac",)) is not None:
                self.pos += 4
                return Case(subject, tuple(items), self.redirects())
            if self.peek() == "(":
                self.pos += 1
            patterns = []
            while True:
                self.skip_blanks()
                pattern = self.word()
                if pattern is None:
                    raise self.unexpected()
                patterns.append(pattern)
                self.skip_blanks()
                if self.peek() != "|":
                    break
                self.pos += 1
            if self.peek() != ")":
                raise self.unexpected()
            self.pos += 1
            body = self.script(closing="", stop=frozenset({";;", "esac"}))
            items.append(CaseItem(tuple(patterns), body))
            if self.peek(2) == ";;":
                self.pos += 2

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


def _assignment_name(word: Word) -> str | None:
    first = word.parts[0]
    if not isinstance(first, Lit) or first.quoted or "=" not in first.text:
        return None
    name = first.text.split("=", 1)[0]
    return name if is_name(name) else None


def _assignment_value(word: Word) -> Word:
    first = word.parts[0]
    assert isinstance(first, Lit)
    rest = first.text.split("=", 1)[1]
    parts = ((Lit(rest, False),) if rest else ()) + word.parts[1:]
    return Word(parts or (Lit("", True),))
