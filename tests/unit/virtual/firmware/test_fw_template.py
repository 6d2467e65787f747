"""Payload templates: names checked when a profile loads, transforms applied in order, no Python format tricks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from phonehome.virtual.firmware import template
from phonehome.virtual.firmware.template import TemplateError, check_all, parse, render

VALUES = {
    "imei1": "353867090012346",
    "wifi_mac": "c0:ee:fb:12:ab:cd",
    "cell_id": str(858_123 << 8 | 2),
    "model": "Nokia 7 plus",
}


def test_plain_fields_are_filled_and_double_braces_stay_literal() -> None:
    assert render("{{id}}={imei1};m={model}", VALUES) == "{id}=353867090012346;m=Nokia 7 plus"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{wifi_mac:upper}", "C0:EE:FB:12:AB:CD"),
        ("{wifi_mac:plain}", "c0eefb12abcd"),
        ("{wifi_mac:plain|upper}", "C0EEFB12ABCD"),
        ("{cell_id:low8}", "2"),
        ("{cell_id:int-hex}", f"{858_123 << 8 | 2:x}"),
        ("{model:url}", "Nokia%207%20plus"),
        ("{imei1:sha256}", hashlib.sha256(b"353867090012346").hexdigest()),
        ("{imei1:md5}", hashlib.md5(b"353867090012346").hexdigest()),
        ("{imei1:sha1-base64}", base64.b64encode(hashlib.sha1(b"353867090012346").digest()).decode()),
        ("{wifi_mac:upper|sha1}", hashlib.sha1(b"C0:EE:FB:12:AB:CD").hexdigest()),
    ],
)
def test_transforms_apply_left_to_right(text: str, expected: str) -> None:
    assert render(text, VALUES) == expected


def test_now_takes_a_strftime_format() -> None:
    when = dt.datetime(2019, 2, 21, 9, 5, 7, tzinfo=dt.UTC)
    assert render("{now:%Y-%m-%d %H:%M:%S}", {"now": when}) == "2019-02-21 09:05:07"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{imie1}", "unknown name {imie1}"),
        ("{imei1:sha265}", "unknown transform 'sha265'"),
        ("{imei1!r}", "conversions"),
        ("{imei1.real}", "unknown name {imei1.real}"),
        ("{imei1[0]}", "unknown name"),
        ("{}", "names nothing"),
        ("{imei1:{model}}", "nested fields"),
        ("{imei1", "literal braces"),
    ],
)
def test_a_bad_template_is_refused_with_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(text)
    assert complaint in str(caught.value)


def test_a_name_the_handset_lacks_is_an_error_when_rendering() -> None:
    with pytest.raises(TemplateError, match=r"\{iccid2\} has no value"):
        render("{iccid2}", VALUES)


def test_check_all_names_where_a_slot_key_does_not_exist() -> None:
    problems = check_all([("behaviour.boot[0].udp.payload", "{imei2}{epoch_ms}")], {"imei1", "imei"})
    assert len(problems) == 1
    assert problems[0].startswith("behaviour.boot[0].udp.payload: {imei2} does not exist")


def test_the_vocabulary_covers_identity_build_and_runtime_names() -> None:
    words = template.vocabulary()
    assert {"imei1", "imei2", "iccid1", "wifi_mac", "cell_id", "android_id", "latitude"} <= words
    assert {"model", "release", "incremental", "now", "attempt", "ip"} <= words
