"""Named fields: key=value text read in full or with the place it stopped, coordinate names and values."""

from __future__ import annotations

from phonehome.policy.fields import kind_of, read_text_pairs, text_pairs


def test_text_pairs_say_where_the_limit_stopped_them() -> None:
    text = b"&".join(b"k%d=v%d" % (i, i) for i in range(50))
    read = read_text_pairs(text, limit=10)
    assert len(read.pairs) == 10
    assert read.cut_at == text.index(b"k10=")
    assert read_text_pairs(text).cut_at is None
    assert list(text_pairs(text)) == read_text_pairs(text).pairs


def test_a_long_log_is_read_past_five_hundred_pairs() -> None:
    text = b"\n".join(b"t=%d" % i for i in range(600)) + b"\nCELLID=19"
    assert ("CELLID", "19") in [(k, v) for k, v, _ in text_pairs(text)]


def test_coordinate_field_names_in_the_forms_firmware_uses() -> None:
    for name in ("lat", "latitude", "latitudeE7", "gpsLat", "lat_deg", "lng", "longitudeE7", "locationLon"):
        assert kind_of(name) == "location", name
    assert kind_of("latency") is None
