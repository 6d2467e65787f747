"""Compound commands, loops and their limits, through a booted handset's shell (as `adb shell` gets it)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from phonehome.virtual.shell.flow import MAX_LOOP_ITERATIONS

Sh = Callable[..., tuple[int, str, str]]


def test_if_elif_else_picks_the_first_branch_that_holds(sh: Sh) -> None:
    script = 'for v in 1 2 3; do if [ "$v" = 1 ]; then echo one; elif [ "$v" -eq 2 ]; then echo two; else echo other; fi; done'
    assert sh(script) == (0, "one\ntwo\nother\n", "")


def test_if_on_several_lines_as_a_lab_script_writes_it(sh: Sh) -> None:
    script = """
    state=$(getprop sys.boot_completed)
    if [ "$state" = "1" ]
    then
        echo booted
    else
        echo booting
    fi
    """
    assert sh(script)[1] == "booted\n"


def test_if_without_a_branch_that_holds_is_status_0(sh: Sh) -> None:
    assert sh("if false; then echo x; fi; echo $?")[1] == "0\n"


def test_for_iterates_over_expanded_and_split_words(sh: Sh) -> None:
    assert (
        sh('L="a b"; for x in $L "c d" $(echo e f); do echo "[$x]"; done')[1] == "[a]\n[b]\n[c d]\n[e]\n[f]\n"
    )


def test_while_and_until_with_arithmetic(sh: Sh) -> None:
    assert sh("i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done")[1] == "0\n1\n2\n"
    assert sh("i=3; until [ $i -eq 0 ]; do i=$(($i - 1)); done; echo $i")[1] == "0\n"


def test_while_read_consumes_piped_lines(sh: Sh) -> None:
    script = "getprop | grep ro.product. | while read line; do echo got; done | wc -l"
    count = int(sh(script)[1])
    assert count == int(sh("getprop | grep -c ro.product.")[1]) > 3


def test_break_and_continue_with_levels(sh: Sh) -> None:
    script = "for a in 1 2 3; do for b in x y; do [ $a = 2 ] && continue 2; [ $b = y ] && break; echo $a$b; done; done"
    assert sh(script)[1] == "1x\n3x\n"
    assert sh("while true; do echo once; break; done")[1] == "once\n"


def test_case_matches_globs_alternatives_and_quoted_patterns(sh: Sh) -> None:
    script = 'for v in READY ABSENT "*" x; do case $v in READY|LOADED) echo in;; ABS*) echo out;; "*") echo star;; *) echo other;; esac; done'
    assert sh(script)[1] == "in\nout\nstar\nother\n"


def test_compound_commands_take_redirections_and_pipes(sh: Sh) -> None:
    assert sh("for x in b a; do echo $x; done | sort")[1] == "a\nb\n"
    assert sh("if true; then echo hi; fi > /data/local/tmp/f; cat /data/local/tmp/f")[1] == "hi\n"


def test_a_loop_in_command_substitution(sh: Sh) -> None:
    assert sh('echo "$(for x in 1 2; do printf %s $x; done)"')[1] == "12\n"


def test_test_operators_by_argument_count(sh: Sh) -> None:
    assert sh('x=-n; [ "$x" = -n ] && echo eq')[1] == "eq\n"
    assert sh("[ -z '' -a -n x ] && echo and; [ 1 -gt 2 -o 2 -gt 1 ] && echo or")[1] == "and\nor\n"
    assert sh("[ ! -e /nope ] && [ -d /sdcard ] && [ -f /system/build.prop ] && echo files")[1] == "files\n"
    status, _, err = sh("[ abc -lt 1 ]")
    assert status == 2
    assert "abc: bad number" in err


def test_arithmetic_is_32_bit_c_integer_math(sh: Sh) -> None:
    assert sh("echo $((7 / -2)) $((7 % -2)) $((2147483647 + 1)) $((0x10 << 2)) $((3 > 2 && 1))")[1] == (
        "-3 1 -2147483648 64 1\n"
    )
    status, _, err = sh("echo $((1 / 0)); echo after")
    assert status == 1
    assert "divided by zero" in err


def test_a_runaway_loop_stops_with_an_error_not_a_hang(sh: Sh) -> None:
    started = time.monotonic()
    status, out, err = sh("while true; do :; done; echo never")
    assert (status, out) == (1, "")
    assert f"more than {MAX_LOOP_ITERATIONS} iterations" in err
    assert time.monotonic() - started < 10


def test_nested_loops_share_one_budget(sh: Sh) -> None:
    status, _, err = sh("for a in $(seq 1 1000); do for b in $(seq 1 1000); do :; done; done")
    assert status == 1
    assert "iterations" in err


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("if true; then echo", "unexpected end of file"),
        ("fi", "'fi' unexpected"),
        ("for 1x in a; do :; done", "bad identifier"),
        ("while true; echo; done", "'done' unexpected"),
        ("case x in a) echo", "unexpected end of file"),
    ],
)
def test_broken_compound_commands_are_syntax_errors(sh: Sh, script: str, message: str) -> None:
    status, _, err = sh(script)
    assert status == 1
    assert message in err


def test_shells_started_in_a_loop_share_its_budget(sh: Sh) -> None:
    started = time.monotonic()
    status, _, err = sh("while true; do sh -c 'while true; do :; done'; done; echo never")
    assert status == 1
    assert "iterations" in err
    assert time.monotonic() - started < 10


def test_a_script_that_runs_itself_ends_at_the_nesting_limit(sh: Sh) -> None:
    _, out, err = sh(
        "echo 'sh /data/local/tmp/r.sh' > /data/local/tmp/r.sh; sh /data/local/tmp/r.sh; echo done"
    )
    assert out == "done\n"
    assert "too many nested shells" in err
