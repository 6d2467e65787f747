from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual import parcel


def test_a_string_reply_prints_like_service_call() -> None:
    text = parcel.format_parcel(parcel.string_reply("353867098521557"))
    assert text == (
        "Result: Parcel(\n"
        "  0x00000000: 00000000 0000000f 00350033 00380033 '........3.5.3.8.'\n"
        "  0x00000010: 00370036 00390030 00350038 00310032 '6.7.0.9.8.5.2.1.'\n"
        "  0x00000020: 00350035 00000037                   '5.5.7...        ')"
    )


def test_a_short_parcel_prints_on_one_line() -> None:
    assert parcel.format_parcel(b"\0\0\0\0\1\0\0\0") == "Result: Parcel(00000000 00000001   '........')"


def test_security_exception_parcel_carries_code_and_message() -> None:
    message = "getDeviceId: The user 2000 does not meet the requirements to access device identifiers."
    data = parcel.exception_reply(parcel.EX_SECURITY, message)
    assert data[:4] == b"\xff\xff\xff\xff"
    assert message.encode("utf-16-le") in data
    assert parcel.parse_parcel_text(parcel.format_parcel(data)) == data


def test_transaction_numbers_follow_the_release() -> None:
    assert parcel.method_for(28, 1) == "getDeviceId"
    assert parcel.method_for(28, 10) == "getIccSerialNumber"
    assert parcel.method_for(28, 7) == "getSubscriberId"
    assert parcel.method_for(34, 12) == "getIccSerialNumber"
    assert parcel.method_for(34, 8) == "getSubscriberId"
    assert parcel.method_for(34, 999) is None


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=60)))
def test_any_string_survives_print_and_parse(value: str | None) -> None:
    data = parcel.string_reply(value)
    assert len(data) % 4 == 0
    assert parcel.parse_parcel_text(parcel.format_parcel(data)) == data
