"""The interpreter, through a booted handset's shell (as `adb shell` gets it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Sh = Callable[..., tuple[int, str, str]]


def test_exit_status_and_dollar_question_at_run_time(sh: Sh) -> None:
    assert sh("false; echo X4EXIT:$?") == (0, "X4EXIT:1\n", "")
    assert sh("true && echo yes || echo no; false && echo yes || echo no")[1] == "yes\nno\n"


def test_unknown_command_is_127_with_androids_message(sh: Sh) -> None:
    status, out, err = sh("frobnicate --now")
    assert (status, out) == (127, "")
    assert err == "/system/bin/sh: frobnicate: inaccessible or not found\n"
    assert sh("frobnicate; echo $?")[1] == "127\n"


def test_variables_assignments_and_quotes(sh: Sh) -> None:
    assert sh('A="x  y"; echo $A "$A" \'$A\'')[1] == "x y x  y $A\n"
    assert sh("FOO=bar env | grep FOO")[1] == "FOO=bar\n"
    assert sh("echo ${UNSET:-fallback} ${HOME}")[1] == "fallback /\n"


def test_pipes_and_command_substitution(sh: Sh) -> None:
    assert sh("echo one two | wc -w")[1] == "2\n"
    assert sh("echo serial=$(getprop ro.serialno)")[1].startswith("serial=B2NGAA")


def test_redirections_write_files_and_merge_streams(sh: Sh) -> None:
    assert (
        sh("echo hi > /data/local/tmp/a; echo more >> /data/local/tmp/a; cat /data/local/tmp/a")[1]
        == "hi\nmore\n"
    )
    status, out, err = sh("ls /nope 2>&1")
    assert out == "ls: /nope: No such file or directory\n"
    assert err == ""
    assert status == 1
    assert sh("ls /nope 2>/dev/null")[2] == ""
    status, _, err = sh("echo x > /system/x")
    assert status == 1
    assert "Read-only file system" in err


def test_glob_expands_against_the_device_files(sh: Sh) -> None:
    sh("touch /data/local/tmp/a.jar /data/local/tmp/b.jar /data/local/tmp/c.txt")
    assert sh("echo /data/local/tmp/*.jar")[1] == "/data/local/tmp/a.jar /data/local/tmp/b.jar\n"
    assert sh("echo /data/local/tmp/*.zip")[1] == "/data/local/tmp/*.zip\n"


def test_subshell_keeps_its_directory_to_itself(sh: Sh) -> None:
    assert sh("(cd /sdcard; pwd); pwd")[1] == "/sdcard\n/\n"


def test_exit_ends_the_script_with_its_status(sh: Sh) -> None:
    assert sh("echo a; exit 3; echo b")[:2] == (3, "a\n")


def test_background_job_holding_output_finishes_before_the_session(sh: Sh) -> None:
    assert sh("(sleep 0.05; echo late) & echo now")[1] == "now\nlate\n"


def test_syntax_error_is_status_1_on_stderr(sh: Sh) -> None:
    assert sh("echo 'x") == (1, "", "/system/bin/sh: no closing quote\n")


@pytest.mark.parametrize("script", ["[ 1 -lt 2 ]", "test -d /sdcard", "[ -n abc ]", "! false"])
def test_tests_that_hold(sh: Sh, script: str) -> None:
    assert sh(script)[0] == 0
