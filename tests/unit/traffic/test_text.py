"""Names from the wire rendered as Wireshark shows them: the fast path for plain ASCII must give what
the full rendering gives, for any bytes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from phonehome.traffic import _text

_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e]*")
_BYTES = st.binary(max_size=80) | st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass"))


@given(_BYTES)
def test_any_bytes_render_as_the_full_rendering_does(raw: bytes) -> None:
    if _PRINTABLE_ASCII.fullmatch(raw):
        assert _text.render(raw) == raw.decode("ascii")
    else:
        assert _text.render(raw) == _text._render_slow(raw)
    assert _text.render_lower(raw) == _text.render(raw).lower()


def test_controls_and_the_byte_after_tilde_are_not_taken_as_plain() -> None:
    assert _text.render(b"a\tb") == "a\\tb"
    assert _text.render(b"a\x7fb") == "a\\177b"
    assert _text.render_lower(b"WWW.Example.COM") == "www.example.com"
    assert _text.render(b"") == ""
