"""Operators: the terminal prompt (timestamped, Enter to confirm), the scripted one, and their answers."""

from __future__ import annotations

import io
import os
import pty
import select

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonehome.scenario import OperatorError, ScriptedOperator, TerminalOperator, parse_answer


def test_the_terminal_operator_prints_the_instruction_timestamped_and_returns_what_was_typed() -> None:
    typed, shown = io.StringIO("iccid=8947010000001234568\n"), io.StringIO()
    times = iter([1_700_000_000.0, 1_700_000_012.5])
    operator = TerminalOperator(streams=(typed, shown), clock=lambda: next(times))
    answer = operator.perform("sim.insert", {"slot": 1}, "Insert a new SIM into slot 1.")
    assert answer == "iccid=8947010000001234568"
    text = shown.getvalue()
    assert "[2023-11-14 22:13:20.000Z] phonehome asks the operator (sim.insert): Insert a new SIM" in text
    assert "Press Enter" in text
    assert "[2023-11-14 22:13:32.500Z] confirmed" in text
    (done,) = operator.log
    assert (done.asked_at, done.confirmed_at, done.params) == (1_700_000_000.0, 1_700_000_012.5, {"slot": 1})


def test_a_terminal_that_closes_is_not_a_confirmation() -> None:
    operator = TerminalOperator(streams=(io.StringIO(""), io.StringIO()))
    with pytest.raises(OperatorError, match="closed before the operator confirmed"):
        operator.perform("power.on", {}, "Switch it on.")
    assert operator.log == []


def test_without_a_terminal_the_act_fails_instead_of_waiting_forever(tmp_path: object) -> None:
    operator = TerminalOperator(tty="/nonexistent/tty")
    with pytest.raises(OperatorError, match="no terminal to ask the operator on"):
        operator.perform("power.on", {}, "Switch it on.")


def test_the_terminal_operator_asks_on_a_real_terminal_device() -> None:
    """A tty is not seekable: the prompt must not open it as one read-write buffered file (which raised
    UnsupportedOperation at the first prompt of every lab run)."""
    main, child = pty.openpty()
    try:
        os.write(main, b"8947010000001234568\n")  # typed ahead, as the person answers
        operator = TerminalOperator(tty=os.ttyname(child))
        assert operator.perform("sim.insert", {}, "Insert a new SIM.") == "8947010000001234568"
        shown = b""
        while select.select([main], [], [], 0.5)[0]:
            shown += os.read(main, 65536)
        assert b"phonehome asks the operator (sim.insert): Insert a new SIM." in shown
        assert b"confirmed" in shown
    finally:
        os.close(main)
        os.close(child)


def test_the_scripted_operator_refuses_acts_it_was_not_given() -> None:
    operator = ScriptedOperator({"power.on": "", "sim.swap": lambda params: f"slot {params['slot']}"})
    assert operator.perform("sim.swap", {"slot": 2}, "") == "slot 2"
    with pytest.raises(OperatorError, match="factory-reset: not in the operator's script"):
        operator.perform("factory-reset", {}, "")
    assert operator.acts == ["sim.swap"]


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        (
            "iccid=8947010000001234568 imsi=242011234567890",
            {"iccid": "8947010000001234568", "imsi": "242011234567890"},
        ),
        (
            "ICCID: 8947010000001234568, IMSI: 242011234567890",
            {"iccid": "8947010000001234568", "imsi": "242011234567890"},
        ),
        ("8947 0100 0000 1234 568", {"iccid": "8947010000001234568"}),
        ("", {}),
        ("done", {}),
        ("pin=1234", {}),
    ],
)
def test_an_answer_names_the_new_sim(typed: str, parsed: dict[str, str]) -> None:
    assert parse_answer(typed) == parsed


@given(st.text(max_size=300))
def test_parsing_any_answer_never_raises_and_keeps_only_identifier_keys(typed: str) -> None:
    assert set(parse_answer(typed)) <= {"iccid", "imsi", "msisdn"}
