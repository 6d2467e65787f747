"""Transcripts of adb shell sessions replay as a shell."""

from __future__ import annotations

import pytest

from phonehome.device.errors import AdbCommandError
from phonehome.device.testing import RecordedShell, parse_transcript

TRANSCRIPT = """# a comment before the first command
$ getprop ro.serialno
B2NGAA1881902345
$ pm list packages -f -U  #exit=1 #stderr=Error: Unknown option: -U
$ echo 'a b'
a b

"""


def test_blocks_become_results_with_exit_status_and_stderr() -> None:
    results = parse_transcript(TRANSCRIPT)
    assert results["getprop ro.serialno"].stdout == "B2NGAA1881902345\n"
    failed = results["pm list packages -f -U"]
    assert (failed.exit_code, failed.stdout, failed.stderr) == (1, "", "Error: Unknown option: -U\n")
    assert results["echo 'a b'"].stdout == "a b\n\n"


def test_replay_quotes_argv_like_the_handset() -> None:
    shell = RecordedShell("S", parse_transcript(TRANSCRIPT))
    assert shell.shell(["echo", "a b"]).stdout.startswith("a b")
    assert shell.calls == ["echo 'a b'"]


def test_a_failed_command_raises_when_checked() -> None:
    shell = RecordedShell("S", parse_transcript(TRANSCRIPT))
    with pytest.raises(AdbCommandError) as err:
        shell.shell(["pm", "list", "packages", "-f", "-U"], step="read build identity")
    assert err.value.exit_code == 1
    assert "Unknown option" in err.value.stderr


def test_an_unrecorded_command_is_an_error_in_the_test() -> None:
    with pytest.raises(LookupError, match=r"no '\$ id'"):
        RecordedShell("S", {}).shell(["id"])
