"""The fastboot TCP protocol as a playbook: the host's bytes in, the device's bytes out."""

from __future__ import annotations

import asyncio
import itertools
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.virtual.fastboot import Bootloader, FastbootConnection
from phonehome.virtual.fastboot.protocol import MAX_COMMAND, frame
from phonehome.virtual.fastboot.server import FastbootServer, free_port


def bootloader(unlocked: bool = True) -> Bootloader:
    return Bootloader(serial="B2NGAA0001", product="B2N_sprout", version="B2N-1.0", unlocked=unlocked)


def packets(data: bytes) -> list[bytes]:
    """The framed packets in ``data`` (after a handshake, if it starts with one)."""
    if data.startswith(b"FB01"):
        data = data[4:]
    out = []
    while data:
        (length,) = struct.unpack(">Q", data[:8])
        out.append(data[8 : 8 + length])
        data = data[8 + length :]
    return out


def talk(conn: FastbootConnection, *commands: bytes) -> list[bytes]:
    return packets(conn.receive(b"".join(frame(c) for c in commands)))


def connected(device: Bootloader | None = None) -> FastbootConnection:
    conn = FastbootConnection(device or bootloader())
    assert conn.receive(b"FB01") == b"FB01"
    return conn


def test_the_handshake_is_answered_with_the_device_version() -> None:
    conn = FastbootConnection(bootloader())
    assert conn.receive(b"FB") == b""
    assert conn.receive(b"01") == b"FB01"


def test_a_connection_that_does_not_start_with_fb_is_closed_without_an_answer() -> None:
    conn = FastbootConnection(bootloader())
    assert conn.receive(b"CNXN\x00\x00\x00\x01") == b""
    assert conn.closed
    assert conn.receive(frame(b"getvar:product")) == b""


def test_getvar_answers_okay_with_the_value() -> None:
    conn = connected()
    assert talk(conn, b"getvar:product", b"getvar:unlocked", b"getvar:serialno") == [
        b"OKAYB2N_sprout",
        b"OKAYyes",
        b"OKAYB2NGAA0001",
    ]


def test_an_unknown_variable_fails_and_the_connection_goes_on() -> None:
    conn = connected()
    assert talk(conn, b"getvar:nonsense", b"getvar:product") == [
        b"FAILGetVar Variable Not found",
        b"OKAYB2N_sprout",
    ]


def test_getvar_all_sends_info_lines_then_okay() -> None:
    replies = talk(connected(), b"getvar:all")
    assert replies[-1] == b"OKAY"
    assert b"INFOproduct: B2N_sprout" in replies
    assert all(r.startswith(b"INFO") for r in replies[:-1])


def test_a_command_split_across_reads_is_answered_once_whole() -> None:
    conn = connected()
    data = frame(b"getvar:product")
    assert conn.receive(data[:5]) == b""
    assert conn.receive(data[5:11]) == b""
    assert packets(conn.receive(data[11:])) == [b"OKAYB2N_sprout"]


def test_download_then_flash_writes_the_image_and_a_build_prop_changes_the_build() -> None:
    device = bootloader()
    conn = connected(device)
    image = b"ro.build.fingerprint=Nokia/Onyx_00WW/B2N_sprout:9/PPR1/00WW_3_39B:user/release-keys\n"
    assert talk(conn, f"download:{len(image):08x}".encode()) == [f"DATA{len(image):08x}".encode()]
    assert packets(conn.receive(frame(image[:10]) + frame(image[10:]))) == [b"OKAY"]
    assert talk(conn, b"flash:system") == [b"OKAY"]
    assert device.images == {"system": len(image)}
    assert device.build_props()["ro.build.fingerprint"].endswith("00WW_3_39B:user/release-keys")


def test_an_image_that_is_not_a_build_prop_is_flashed_but_changes_nothing() -> None:
    device = bootloader()
    conn = connected(device)
    blob = bytes(range(256))
    talk(conn, f"download:{len(blob):08x}".encode())
    assert packets(conn.receive(frame(blob))) == [b"OKAY"]
    assert talk(conn, b"flash:system") == [b"OKAY"]
    assert device.images == {"system": 256}
    assert device.build_props() == {}


def test_a_locked_bootloader_refuses_erase_and_flash_with_the_lock_state() -> None:
    device = bootloader(unlocked=False)
    conn = connected(device)
    assert talk(conn, b"getvar:unlocked", b"erase:userdata", b"flash:boot") == [
        b"OKAYno",
        b"FAILFlashing is not allowed in Lock State",
        b"FAILFlashing is not allowed in Lock State",
    ]
    assert not device.wipe_pending


def test_erasing_userdata_makes_the_next_boot_a_first_boot_once() -> None:
    device = bootloader()
    assert talk(connected(device), b"erase:userdata") == [b"OKAY"]
    assert device.take_wipe()
    assert not device.take_wipe()


def test_an_unknown_partition_fails_by_name() -> None:
    assert talk(connected(), b"erase:bogus") == [b"FAILpartition (bogus) not found"]


def test_reboot_answers_okay_and_ends_the_connection_with_the_target() -> None:
    for command, target in (
        (b"reboot", "system"),
        (b"reboot-bootloader", "bootloader"),
        (b"reboot:bootloader", "bootloader"),
        (b"continue", "system"),
    ):
        conn = connected()
        assert talk(conn, command, b"getvar:product") == [b"OKAY"]
        assert conn.closed
        assert conn.reboot is not None
        assert conn.reboot.target == target


def test_an_unknown_command_fails_and_oem_device_info_prints_info() -> None:
    conn = connected()
    replies = talk(conn, b"frobnicate", b"oem device-info")
    assert replies[0] == b"FAILunknown command frobnicate"
    assert replies[1:] == [
        b"INFODevice unlocked: true",
        b"INFODevice critical unlocked: false",
        b"INFOBootloader version: B2N-1.0",
        b"OKAY",
    ]


def test_a_download_larger_than_max_download_size_fails() -> None:
    conn = FastbootConnection(bootloader(), max_download=1024)
    conn.receive(b"FB01")
    assert talk(conn, b"download:00000401") == [b"FAILdata too large (1025 > 1024 bytes)"]


def test_a_packet_longer_than_a_command_may_be_ends_the_connection() -> None:
    conn = connected()
    assert conn.receive(struct.pack(">Q", MAX_COMMAND + 1)) == b""
    assert conn.closed


def test_download_data_longer_than_announced_ends_the_connection() -> None:
    conn = connected()
    talk(conn, b"download:00000004")
    assert conn.receive(frame(b"12345")) == b""
    assert conn.closed


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=6))
def test_hostile_bytes_never_raise_and_answers_stay_small(stream: bytes, cuts: list[int]) -> None:
    conn = FastbootConnection(bootloader(), max_download=4096)
    bounds = sorted({0, len(stream), *(c for c in cuts if c <= len(stream))})
    out = b"".join(conn.receive(stream[a:b]) for a, b in itertools.pairwise(bounds))
    assert len(out) <= 4 + (len(stream) // 8 + 1) * 300 * 40
    assert len(conn._buffer) <= len(stream)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=80), max_size=20))
def test_framed_hostile_commands_get_one_answer_each_or_end(commands: list[bytes]) -> None:
    conn = connected()
    replies = packets(conn.receive(b"".join(frame(c) for c in commands)))
    assert all(r[:4] in (b"OKAY", b"FAIL", b"INFO", b"DATA") for r in replies)
    assert all(len(r) <= 256 for r in replies)


def test_the_server_announces_a_reboot_before_the_client_reads_its_okay() -> None:
    # A caller told OKAY (the fastboot client returned) must not still find the device in fastboot mode.
    async def scenario() -> tuple[list[bool], list[bytes]]:
        announced: list[bool] = []
        rebooted: list[bool] = []
        server = FastbootServer(
            bootloader(),
            lambda reboot: rebooted.append(True),
            port=free_port(),
            on_rebooting=lambda: announced.append(not rebooted),
        )
        await server.listen()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"FB01" + frame(b"reboot"))
            await writer.drain()
            seen_when_answered = []
            reply = await reader.read(4 + 8 + 4)
            while len(reply) < 16:
                reply += await reader.read(16 - len(reply))
            seen_when_answered.append(bool(announced))
            writer.close()
            return seen_when_answered, packets(reply)
        finally:
            await server.close()

    seen, answer = asyncio.run(scenario())
    assert answer == [b"OKAY"]
    assert seen == [True]
