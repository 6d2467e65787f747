from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual.shell.parser import (
    Arith,
    Case,
    CmdSub,
    For,
    Group,
    If,
    Lit,
    Loop,
    Param,
    ShellSyntaxError,
    Simple,
    parse,
)


def words(script: str) -> list[list[object]]:
    """The parts of each word of the first simple command."""
    command = parse(script).items[0][0].first.commands[0]
    assert isinstance(command, Simple)
    return [list(w.parts) for w in command.words]


def test_lists_and_or_and_background() -> None:
    script = parse("a; b && c || d & e\nf")
    assert [bg for _, bg in script.items] == [False, True, False, False]
    assert [op for op, _ in script.items[1][0].rest] == ["&&", "||"]


def test_quotes_keep_what_they_quote() -> None:
    assert words("echo 'a $b' \"c $d\" e\\ f") == [
        [Lit("echo", False)],
        [Lit("a $b", True)],
        [Lit("c ", True), Param("d", True), Lit("", True)],
        [Lit("e", False), Lit(" ", True), Lit("f", False)],
    ]


def test_special_parameters_and_command_substitution() -> None:
    parts = words("echo X4EXIT:$? $(getprop ro.serialno) `id -u`")
    assert parts[1] == [Lit("X4EXIT:", False), Param("?", False)]
    assert isinstance(parts[2][0], CmdSub)
    assert isinstance(parts[3][0], CmdSub)


def test_assignments_before_the_command() -> None:
    command = parse("CLASSPATH=/data/local/tmp/u2.jar app_process / com.wetest.uia2.Main -p 9008").items[0][0]
    simple = command.first.commands[0]
    assert isinstance(simple, Simple)
    assert [name for name, _ in simple.assigns] == ["CLASSPATH"]
    assert [w.literal for w in simple.words] == ["app_process", "/", "com.wetest.uia2.Main", "-p", "9008"]


def test_redirections() -> None:
    simple = parse("cmd >out 2>&1 <in >>log &>both").items[0][0].first.commands[0]
    assert isinstance(simple, Simple)
    assert [(r.fd, r.op, r.target.literal) for r in simple.redirects] == [
        (1, ">", "out"), (2, ">&", "1"), (0, "<", "in"), (1, ">>", "log"), (-1, ">", "both"),
    ]  # fmt: skip


def test_pipelines_groups_and_negation() -> None:
    and_or = parse("! ps -A | grep x | wc -l").items[0][0]
    assert and_or.first.negate
    assert len(and_or.first.commands) == 3
    assert isinstance(parse("(cd /; ls)").items[0][0].first.commands[0], Group)
    assert isinstance(parse("{ echo a; echo b; }").items[0][0].first.commands[0], Group)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("echo 'open", "no closing quote"),
        ('echo "open', "no closing quote"),
        ("echo a ;; b", "';;' unexpected"),
        ("| a", r"'\|' unexpected"),
        ("echo $(", r"unmatched '\('"),
        ("a &&", "unexpected end of file"),
    ],
)
def test_syntax_errors_are_worded_like_mksh(script: str, message: str) -> None:
    with pytest.raises(ShellSyntaxError, match=message):
        parse(script)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ShellSyntaxError, match="nesting"):
        parse("$(" * 200 + ")" * 200)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab $?'\"\\;&|<>()`{}#\n=*19-")), max_size=60))
def test_any_text_parses_or_is_a_syntax_error(text: str) -> None:
    with contextlib.suppress(ShellSyntaxError):
        parse(text)


def test_compound_commands_parse_into_their_own_nodes() -> None:
    script = parse(
        "if a; then b; elif c; then d; else e; fi\n"
        "for x in 1 $y; do f; done > out\n"
        "while g; do h; done | i\n"
        "until j\ndo k\ndone\n"
        "case $z in a|b) l;; (*) m;; esac"
    )
    first = [item[0].first.commands[0] for item in script.items]
    assert isinstance(first[0], If)
    assert len(first[0].branches) == 2
    assert first[0].otherwise is not None
    assert isinstance(first[1], For)
    assert (first[1].name, len(first[1].words), len(first[1].redirects)) == ("x", 2, 1)
    assert isinstance(first[2], Loop)
    assert len(script.items[2][0].first.commands) == 2
    assert isinstance(first[3], Loop)
    assert first[3].until
    assert isinstance(first[4], Case)
    assert [len(item.patterns) for item in first[4].items] == [2, 1]


def test_reserved_words_are_reserved_only_where_a_command_starts() -> None:
    simple = parse("echo if then fi done").items[0][0].first.commands[0]
    assert isinstance(simple, Simple)
    assert [w.literal for w in simple.words] == ["echo", "if", "then", "fi", "done"]
    assert isinstance(parse("'if' x").items[0][0].first.commands[0], Simple)


def test_arithmetic_expansion_keeps_its_parameters() -> None:
    parts = words("echo $(($i + ${j} * k))")
    assert isinstance(parts[1][0], Arith)
    assert [p for p in parts[1][0].parts if isinstance(p, Param)] == [Param("i", True), Param("j", True)]


SOUP = ["if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while", "until", "case", "esac",
        "x", "$((", "))", ";", ";;", "\n", "|", "&&", ")", "(", "{", "}", "'", '"', "*", "$x", "`"]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(SOUP), max_size=30))
def test_any_keyword_soup_parses_or_is_a_syntax_error(tokens: list[str]) -> None:
    with contextlib.suppress(ShellSyntaxError):
        parse(" ".join(tokens))
