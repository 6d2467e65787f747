"""The /proc/net parsers on hostile input: never raise, rows bounded by the lines."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.device.sockets import parse_poll, parse_table

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
hexish = st.text(alphabet="0123456789ABCDEFabcdefxyz:- \t", max_size=60)


@FUZZ
@given(st.text(max_size=2000))
def test_any_text_parses_without_raising(text: str) -> None:
    rows, odd = parse_table(text, "tcp")
    assert len(rows) + odd <= len(text.splitlines())


@FUZZ
@given(st.lists(st.lists(hexish, min_size=0, max_size=14).map(" ".join), max_size=30))
def test_table_shaped_lines_parse_without_raising(lines: list[str]) -> None:
    rows, _ = parse_table("\n".join(f"  {i}: {line}" for i, line in enumerate(lines)), "udp")
    for row in rows:
        assert 0 <= row.lport <= 0xFFFF
        assert 0 <= row.uid < 2**32


@FUZZ
@given(st.text(max_size=3000), st.text(max_size=300))
def test_any_poll_output_parses_without_raising(stdout: str, stderr: str) -> None:
    marker = "@@phonehome-0"
    poll = parse_poll(stdout.replace("|", f"\n{marker} "), stderr, marker)
    assert set(poll.unreadable) <= {"tcp", "tcp6", "udp", "udp6"}
