"""TCP reassembly of one direction: order, retransmissions, overlaps, gaps, wraparound, counting only."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.traffic.tcp import Budget, TcpStream


class Sink:
    def __init__(self) -> None:
        self.chunks: list[tuple[int, bytes, int]] = []

    def __call__(self, offset: int, data: bytes, frame: int) -> None:
        self.chunks.append((offset, data, frame))

    @property
    def data(self) -> bytes:
        return b"".join(c[1] for c in self.chunks)

    def contiguous(self) -> bool:
        at = self.chunks[0][0] if self.chunks else 0
        for offset, data, _ in self.chunks:
            if offset != at:
                return False
            at += len(data)
        return True


def stream(base: int = 1000, **kw: int) -> tuple[TcpStream, Sink]:
    sink = Sink()
    return TcpStream(base, sink, **kw), sink


def test_in_order_segments_are_delivered_at_their_offsets_with_their_frames() -> None:
    s, sink = stream()
    s.add(1000, b"hello ", 4)
    s.add(1006, b"world", 5)
    assert sink.chunks == [(0, b"hello ", 4), (6, b"world", 5)]
    assert (s.high, s.gaps) == (11, 0)


def test_out_of_order_segments_wait_for_the_hole() -> None:
    s, sink = stream()
    s.add(1006, b"world", 5)
    assert sink.chunks == []
    s.add(1000, b"hello ", 6)
    assert sink.data == b"hello world"
    assert sink.contiguous()


def test_retransmissions_are_delivered_once() -> None:
    s, sink = stream()
    s.add(1000, b"abc", 1)
    s.add(1000, b"abc", 2)
    s.add(1003, b"def", 3)
    s.add(1003, b"def", 4)
    assert sink.data == b"abcdef"
    assert s.high == 6


def test_overlapping_retransmission_adds_only_the_new_bytes() -> None:
    s, sink = stream()
    s.add(1000, b"abcd", 1)
    s.add(1002, b"cdefgh", 2)
    assert sink.chunks == [(0, b"abcd", 1), (4, b"efgh", 2)]


def test_overlap_keeps_the_bytes_that_came_first() -> None:
    s, sink = stream()
    s.add(1004, b"EFGH", 1)
    s.add(1006, b"xyIJ", 2)
    s.add(1000, b"abcd", 3)
    assert sink.data == b"abcdEFGHIJ"


def test_gap_is_skipped_at_the_end_and_counted() -> None:
    s, sink = stream()
    s.add(1000, b"abc", 1)
    s.add(1010, b"xyz", 2)
    s.flush()
    assert sink.chunks == [(0, b"abc", 1), (10, b"xyz", 2)]
    assert s.gaps == 7
    assert s.high == 13


def test_out_of_order_bytes_are_bounded_by_skipping_the_hole() -> None:
    s, sink = stream(max_pending=100)
    s.add(1000, b"a", 1)
    for i in range(20):
        s.add(1101 + i * 10, b"b" * 10, 2)
    assert s.pending_bytes <= 100
    assert s.gaps == 100
    assert sink.chunks[1][0] == 101


def test_sequence_numbers_wrap_around() -> None:
    s, sink = stream(base=0xFFFFFFFE)
    s.add(0xFFFFFFFE, b"ab", 1)
    s.add(0, b"cd", 2)
    s.add(2, b"ef", 3)
    assert sink.chunks == [(0, b"ab", 1), (2, b"cd", 2), (4, b"ef", 3)]


def test_snap_length_cut_becomes_a_gap() -> None:
    s, sink = stream()
    s.add(1000, b"abc", 1, cut=97)
    s.add(1100, b"next", 2)
    assert sink.chunks == [(0, b"abc", 1), (100, b"next", 2)]
    assert s.gaps == 97


def test_snap_length_cut_out_of_order() -> None:
    s, sink = stream()
    s.add(1100, b"next", 2)
    s.add(1000, b"abc", 1, cut=97)
    assert sink.chunks == [(0, b"abc", 1), (100, b"next", 2)]


def test_counting_only_measures_the_stream_once() -> None:
    s, sink = stream()
    s.add(1000, b"abc", 1)
    s.stop()
    s.add(1003, b"d" * 100, 2)
    s.add(1003, b"d" * 100, 3)  # retransmitted
    s.add(1203, b"e" * 10, 4)  # after a loss
    assert sink.data == b"abc"
    assert s.high == 213


def test_segment_from_far_outside_the_window_is_ignored() -> None:
    s, sink = stream()
    s.add(1000 + (1 << 31) - 5, b"junk", 1)
    s.add(1000, b"ok", 2)
    assert sink.data == b"ok"


def test_stopping_inside_delivery_drops_what_waits() -> None:
    sink = Sink()
    holder: list[TcpStream] = []

    def stop_after_first(offset: int, data: bytes, frame: int) -> None:
        sink(offset, data, frame)
        holder[0].stop()

    s = TcpStream(0, stop_after_first)
    holder.append(s)
    s.add(3, b"def", 1)
    s.add(0, b"abc", 2)
    assert sink.data == b"abc"
    assert s.pending == []


@settings(max_examples=200, deadline=500)
@given(
    st.binary(min_size=1, max_size=3000),
    st.lists(st.tuples(st.integers(0, 2999), st.integers(1, 400)), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
    st.integers(0, 0xFFFFFFFF),
)
def test_any_arrival_order_with_duplicates_delivers_the_stream_exactly(
    data: bytes, cuts: list[tuple[int, int]], rnd: object, base: int
) -> None:
    segments = [(o, data[o : o + n]) for o, n in cuts if o < len(data)]
    segments += [(o, data[o : o + 200]) for o in range(0, len(data), 200)]  # full coverage
    rnd.shuffle(segments)  # type: ignore[attr-defined]
    s, sink = stream(base=base)
    for i, (offset, chunk) in enumerate(segments):
        s.add((base + offset) & 0xFFFFFFFF, chunk, i)
    s.flush()
    assert sink.data == data
    assert sink.contiguous()
    assert (s.gaps, s.high) == (0, len(data))


@settings(max_examples=200, deadline=500)
@given(
    st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), st.binary(max_size=64), st.integers(0, 100)), max_size=60)
)
def test_hostile_segments_never_raise_and_offsets_only_grow(segments: list[tuple[int, bytes, int]]) -> None:
    s, sink = stream(base=12345, max_pending=512)
    for seq, chunk, cut in segments:
        s.add(seq, chunk, 1, cut)
    s.flush()
    assert sink.contiguous() or all(
        b[0] >= a[0] + len(a[1]) for a, b in zip(sink.chunks, sink.chunks[1:], strict=False)
    )
    assert s.pending_bytes == 0


def test_streams_sharing_a_budget_give_up_holes_when_it_is_spent() -> None:
    budget = Budget(1000)
    a_sink, b_sink = Sink(), Sink()
    a, b = TcpStream(0, a_sink, budget=budget), TcpStream(0, b_sink, budget=budget)
    a.add(100, b"a" * 600, 1)  # a hole at 0..100
    assert budget.used == 600
    b.add(100, b"b" * 600, 2)  # over the shared limit: b gives up its hole
    assert budget.used == 600
    assert (b.gaps, b_sink.data) == (100, b"b" * 600)
    a.stop()
    assert budget.used == 0


class Overlaps:
    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes, int, str]] = []
        self.stream: TcpStream | None = None

    def __call__(self, offset: int, data: bytes, frame: int) -> None:
        assert self.stream is not None
        self.calls.append((offset, data, frame, self.stream.overlap_kind))


def watched(base: int = 1000, **kw: int) -> tuple[TcpStream, Sink, Overlaps]:
    sink, overlaps = Sink(), Overlaps()
    s = TcpStream(base, sink, on_overlap=overlaps, **kw)
    overlaps.stream = s
    return s, sink, overlaps


def test_a_retransmission_with_other_bytes_is_reported_and_the_first_bytes_kept() -> None:
    s, sink, overlaps = watched()
    s.add(1000, b"hello world", 1)
    s.add(1006, b"WORLD", 2)  # same offsets, other bytes
    s.add(1000, b"hello", 3)  # same bytes: nothing to say
    assert sink.data == b"hello world"
    assert overlaps.calls == [(6, b"WORLD", 2, "different")]


def test_a_segment_reaching_back_into_delivered_bytes_reports_only_its_overlap() -> None:
    s, sink, overlaps = watched()
    s.add(1000, b"abcdef", 1)
    s.add(1004, b"XYghij", 2)
    assert sink.data == b"abcdefghij"
    assert overlaps.calls == [(4, b"XY", 2, "different")]


def test_queued_segments_overlapping_each_other_with_other_bytes_are_reported() -> None:
    s, sink, overlaps = watched()
    s.add(1004, b"efgh", 1)  # out of order
    s.add(1006, b"XYij", 2)  # overlaps the queued segment with other bytes
    s.add(1000, b"abcd", 3)  # fills the hole: both drain
    assert sink.data == b"abcdefghij"
    assert overlaps.calls == [(6, b"XY", 2, "different")]


def test_bytes_behind_the_window_or_in_a_skipped_hole_are_reported_uncompared() -> None:
    s, sink, overlaps = watched(max_pending=8)
    s.add(1000, b"a" * 4, 1)
    s.add(1010, b"b" * 10, 2)  # past a hole, more than the stream may queue: the hole is skipped
    s.add(1004, b"HOLE!!", 3)  # the hole's bytes arrive late: never delivered, still seen
    assert sink.data == b"a" * 4 + b"b" * 10
    assert overlaps.calls == [(4, b"HOLE!!", 3, "uncompared")]


def test_segments_far_outside_the_stream_are_counted_and_reported() -> None:
    s, _, overlaps = watched()
    s.add(1000 + (1 << 31) - 5, b"stray", 1)
    assert s.stray == 1
    assert overlaps.calls[0][1:] == (b"stray", 1, "out-of-window")


def test_the_window_is_bounded_and_released() -> None:
    shared = Budget(1 << 20)
    s, _, overlaps = watched()
    s.recent_budget = shared
    for i in range(40):
        s.add(1000 + i * 10_000, bytes([i]) * 10_000, i)
    assert len(s.recent) <= 320 << 10
    assert shared.used == len(s.recent)
    s.add(1000, b"\xff" * 10, 99)  # long gone from the window: reported without comparing
    assert overlaps.calls[-1][3] == "uncompared"
    s.stop()
    assert shared.used == 0


def test_without_on_overlap_nothing_is_kept() -> None:
    s, _ = stream()
    s.add(1000, b"x" * 1000, 1)
    assert not s.recent
