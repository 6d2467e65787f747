"""Screenshots agree with the hierarchy: sizes, formats, and what is drawn where the nodes are."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from phonehome.virtual.ui import SetupWizard
from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.hierarchy import Bounds, Node, parse_xml


def image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def node(w: SetupWizard, **selector: object) -> Node:
    found = sel.find(parse_xml(w.hierarchy_xml()), sel.parse(selector))
    assert found is not None
    return found


def region(img: Image.Image, b: Bounds) -> Image.Image:
    return img.crop((b.left, b.top, b.right, b.bottom))


def test_png_and_jpeg_have_the_display_size_and_their_magic() -> None:
    w = SetupWizard("oem")
    png, jpeg = w.screenshot("png"), w.screenshot("jpeg", quality=60)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert jpeg.startswith(b"\xff\xd8\xff")
    assert image(png).size == image(jpeg).size == (1080, 2160)


def test_scale_shrinks_the_image() -> None:
    assert image(SetupWizard().screenshot("jpeg", scale=0.5)).size == (540, 1200)


def test_a_scale_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        SetupWizard().screenshot(scale=0)


def test_text_is_drawn_inside_its_node_and_nothing_outside_the_nodes() -> None:
    w = SetupWizard()
    img = image(w.screenshot())
    title = node(w, resourceId="com.google.android.setupwizard:id/suc_layout_title").bounds
    assert ImageStat.Stat(region(img, title)).extrema[0][0] < 100  # dark glyphs on white
    gap = Bounds(0, 1300, 1080, 1900)  # between the content and the footer: no node there
    assert ImageStat.Stat(region(img, gap)).extrema == [(255, 255)] * 3


def test_a_switch_shows_its_checked_state_where_its_bounds_are() -> None:
    w = SetupWizard(start="google_services")
    switch = node(w, resourceId="com.google.android.gms:id/location_toggle")
    on = region(image(w.screenshot()), switch.bounds)
    w.tap(*switch.bounds.center)
    assert not node(w, resourceId="com.google.android.gms:id/location_toggle").checked
    off = region(image(w.screenshot()), switch.bounds)
    assert ImageStat.Stat(on).mean != ImageStat.Stat(off).mean
    blue = ImageStat.Stat(on).mean[2] - ImageStat.Stat(on).mean[0]
    assert (
        blue > ImageStat.Stat(off).mean[2] - ImageStat.Stat(off).mean[0]
    )  # the accent colour is on the track


def test_a_dialog_dims_the_screen_under_it() -> None:
    w = SetupWizard(start="signin")
    w.tap(*node(w, resourceId="com.google.android.gms:id/skip_button").bounds.center)
    assert w.screen_name == "signin_skip"
    img = image(w.screenshot())
    dialog = node(w, resourceId="android:id/parentPanel").bounds
    corner = img.getpixel((5, 5))
    assert isinstance(corner, tuple)
    assert max(corner) < 200  # the page under the dialog is dimmed
    assert img.getpixel(((dialog.left + dialog.right) // 2, dialog.top + 8)) == (255, 255, 255)


def test_scrolled_content_is_cut_at_the_viewport() -> None:
    w = SetupWizard("oem", start="services")
    w.swipe(540, 1500, 540, 1000)
    scroll = node(w, resourceId="com.android.provision:id/content_scroll").bounds
    img = image(w.screenshot())
    above = Bounds(0, 0, 1080, scroll.top)
    title = node(w, resourceId="com.android.provision:id/title").bounds
    # Above the viewport only the header is drawn: the band between title and scroll view stays background.
    band = Bounds(0, max(title.bottom, scroll.top - 20), 1080, scroll.top)
    assert above.height > 0
    assert ImageStat.Stat(region(img, band)).extrema[0][0] > 200
