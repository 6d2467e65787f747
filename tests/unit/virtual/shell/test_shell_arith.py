"""``$((...))``: mksh's 32-bit C arithmetic, and hostile expressions that must end in an error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual.shell.arith import ArithError, evaluate, wrap32

VARS = {"i": "41", "hex": "0x1f", "neg": "-3", "empty": "", "word": "abc"}


def calc(text: str) -> int:
    return evaluate(text, VARS.get)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("i + 1", 42),
        ("hex", 31),
        ("neg * 2", -6),
        ("empty + unset", 0),
        ("-7 / 2", -3),
        ("-7 % 2", -1),
        ("010", 8),
        ("1 << 33", 2),
        ("2147483647 + 1", -2147483648),
        ("!0 + ~0", 0),
        ("3 > 2 && 2 > 3 || 5 == 5", 1),
        ("i > 40 ? 100 : 200", 100),
        ("6 & 3 | 8 ^ 1", 11),
    ],
)
def test_values_as_mksh_computes_them(text: str, value: int) -> None:
    assert calc(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 / 0", "divided by zero"),
        ("word + 1", "abc: bad number"),
        ("1 +", "unexpected end of expression"),
        ("i = 3", "not supported"),
        ("i++", "not supported"),
        ("(1", r"missing '\)'"),
        ("1 ? 2", "missing ':'"),
        ("2 $ 3", "unexpected"),
        ("- " * 200 + "1", "nested too deeply"),
        ("(" * 200 + "1" + ")" * 200, "nested too deeply"),
        ("1+" * 3000 + "1", "too long"),
    ],
)
def test_bad_expressions_are_errors_with_mksh_wording(text: str, message: str) -> None:
    with pytest.raises(ArithError, match=message):
        calc(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1), st.sampled_from("+-*&|^"))
def test_results_wrap_to_32_bits_like_c(a: int, b: int, op: str) -> None:
    expected = wrap32(eval(f"({a}) {op} ({b})"))
    assert evaluate(f"{a} {op} {b}", {}.get) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789xiab +-*/%<>=!~&|^?:() ")), max_size=80))
def test_any_text_evaluates_or_is_an_arith_error(text: str) -> None:
    try:
        value = evaluate(text, VARS.get)
    except ArithError:
        return
    assert -(2**31) <= value < 2**31
