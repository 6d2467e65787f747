"""``service call iphonesubinfo``: reply Parcels as real phones print them, and transactions per release."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.device import parcel
from phonehome.device.parcel import decode_reply, methods_for, plan, transaction
from tests.unit.device.phones import PKG, output


def _print_parcel(data: bytes) -> str:
    """Parcel::print's layout, written here independently of the virtual handset's formatter."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        padded = chunk + bytes(-len(chunk) % 4)
        words = " ".join(f"{w:08x}" for w in struct.unpack(f"<{len(padded) // 4}I", padded))
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"  0x{offset:08x}: {words:<35} '{text:<16}'")
    return "Result: Parcel(\n" + "\n".join(lines) + ")"


def _string_reply(value: str) -> bytes:
    encoded = value.encode("utf-16-le")
    body = struct.pack("<ii", 0, len(encoded) // 2) + encoded + b"\0\0"
    return body + bytes(-len(body) % 4)


def test_android9_imei_reply_is_read_from_the_hexdump() -> None:
    text = output("nokia-7-plus-android9", f"service call iphonesubinfo 3 i32 0 {PKG}")
    assert decode_reply(text).value == "353867091234562"


def test_android9_second_slot_imei() -> None:
    text = output("nokia-7-plus-android9", f"service call iphonesubinfo 3 i32 1 {PKG}")
    assert decode_reply(text).value == "353867091234570"


def test_null_string_reply_on_one_line_is_no_value() -> None:
    reply = decode_reply("Result: Parcel(00000000 ffffffff   '........')")
    assert reply.value is None
    assert reply.exception is None
    assert reply.error is None


def test_android14_security_exception_is_recognised_with_its_message() -> None:
    text = output("pixel-7-android14", f"service call iphonesubinfo 4 i32 0 {PKG}")
    reply = decode_reply(text)
    assert reply.value is None
    assert reply.denied
    assert reply.exception == (
        "SecurityException: getDeviceId: The user 2000 does not meet the requirements to access device identifiers."
    )


def test_android10_security_exception_without_stack_trace_header() -> None:
    message = "getSubscriberId: The user 2000 does not meet the requirements to access device identifiers."
    encoded = message.encode("utf-16-le")
    data = struct.pack("<ii", -1, len(message)) + encoded + b"\0\0"
    reply = decode_reply(_print_parcel(data + bytes(-len(data) % 4)))
    assert reply.denied
    assert message in (reply.exception or "")


def test_android44_reply_without_arguments() -> None:
    assert (
        decode_reply(output("galaxy-s4-android4.4", "service call iphonesubinfo 1")).value
        == "354654051234561"
    )


@pytest.mark.parametrize(
    "text",
    [
        'Result: Parcel(Error: 0xffffffb6 "Not a data message")',  # 32-bit devices
        'Result: Parcel(Error: 0xffffffffffffffb6 "Not a data message")',  # 64-bit: (void*) of the status
    ],
)
def test_unknown_transaction_is_an_error_not_a_value(text: str) -> None:
    reply = decode_reply(text)
    assert reply.value is None
    assert reply.error is not None
    assert "0x" in reply.error


def test_empty_reply_prints_null() -> None:
    assert decode_reply("Result: Parcel(NULL)").error == "empty reply (NULL)"


def test_reply_header_is_skipped_before_the_string() -> None:
    # Parcel.readExceptionCode: EX_HAS_REPLY_HEADER (-128), header size, header bytes, then no exception.
    header = struct.pack("<ii", -128, 8) + struct.pack("<ii", 0x11, 0)
    body = _string_reply("353867091234562")[4:]
    assert decode_reply(_print_parcel(header + body)).value == "353867091234562"


def test_length_word_larger_than_the_parcel_is_garbled_not_a_crash() -> None:
    data = struct.pack("<ii", 0, 500) + "35".encode("utf-16-le")
    assert decode_reply(_print_parcel(data)).error is not None


def test_text_that_is_not_a_parcel() -> None:
    assert decode_reply("/system/bin/sh: service: not found").error is not None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40))
def test_any_printed_string_reply_round_trips(value: str) -> None:
    assert decode_reply(_print_parcel(_string_reply(value))).value == (value or None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_decoding_arbitrary_text_never_raises(text: str) -> None:
    decode_reply(text)
    decode_reply("Result: Parcel(\n  0x00000000: " + text + ")")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoding_arbitrary_parcel_bytes_never_raises(data: bytes) -> None:
    decode_reply(_print_parcel(data + bytes(-len(data) % 4)))


def test_the_virtual_handsets_parcels_decode_the_same() -> None:
    """The two sides agree on the format (the virtual handset's formatter is its own code)."""
    from phonehome.virtual import parcel as virtual_parcel

    for value in ("353867091234562", "+4791234567", "03", ""):
        text = virtual_parcel.format_parcel(virtual_parcel.string_reply(value))
        assert decode_reply(text).value == (value or None)
    denied = virtual_parcel.format_parcel(virtual_parcel.exception_reply(-1, "getDeviceId: no"))
    assert decode_reply(denied).exception == "SecurityException: getDeviceId: no"


# -- transaction tables --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sdk", "method", "code"),
    [
        (19, "getDeviceId", 1),
        (19, "getSubscriberId", 3),
        (19, "getIccSerialNumber", 5),
        (16, "getIccSerialNumber", 4),
        (21, "getSubscriberId", 5),
        (21, "getIccSerialNumber", 9),
        (23, "getSubscriberId", 7),
        (23, "getIccSerialNumber", 11),
        (23, "getLine1Number", 13),
        (28, "getDeviceIdForPhone", 3),
        (28, "getIccSerialNumber", 10),
        (28, "getLine1Number", 12),
        (29, "getLine1NumberForSubscriber", 13),
        (30, "getDeviceIdForPhone", 4),
        (34, "getSubscriberId", 8),
        (34, "getIccSerialNumber", 12),
        (34, "getLine1Number", 15),
        (36, "getIccSerialNumber", 13),
    ],
)
def test_transaction_numbers_follow_the_aidl_of_each_release(sdk: int, method: str, code: int) -> None:
    assert transaction(sdk, method) == code


def test_unknown_sdk_falls_back_to_the_oldest_table() -> None:
    assert methods_for(0)[0] == "getDeviceId"


def test_plan_android9_dual_sim_reads_each_slot_and_each_subscription() -> None:
    labels = [c.label for c in plan(28, 2)]
    assert labels[:3] == [
        f"service call iphonesubinfo 3 i32 0 {PKG}",
        f"service call iphonesubinfo 3 i32 1 {PKG}",
        f"service call iphonesubinfo 5 {PKG}",
    ]
    assert f"service call iphonesubinfo 8 i32 2 {PKG}" in labels
    assert f"service call iphonesubinfo 13 i32 1 {PKG}" in labels


def test_plan_android44_passes_no_arguments() -> None:
    assert [c.label for c in plan(19, 1)] == [
        "service call iphonesubinfo 1",
        "service call iphonesubinfo 2",
        "service call iphonesubinfo 3",
        "service call iphonesubinfo 5",
        "service call iphonesubinfo 6",
    ]


def test_plan_android50_passes_long_subscription_ids() -> None:
    assert all("i32" not in c.argv for c in plan(21, 2))


def test_plan_never_sends_more_arguments_than_the_method_reads() -> None:
    # Android 13+ stubs call enforceNoDataAvail(): a surplus argument is an exception, not ignored.
    for call in plan(34, 2):
        args = call.argv[4:]
        assert args.count("s16") <= 1
        assert args.count("i32") <= 1
    assert parcel.SHELL_PACKAGE == "com.android.shell"
