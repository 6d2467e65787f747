"""Screenshots: the node tree drawn with Pillow, good enough to attach to a lab report.

Each node is drawn from the role the layout gave it (title, switch, primary
button...) inside its bounds, so a screenshot shows exactly what the hierarchy
describes: a toggle's knob sits where its bounds are and shows its checked
state. Scrolled content is drawn on its own layer and cropped to the viewport.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from phonehome.virtual.screen import ImageFormat
from phonehome.virtual.ui import text as txt
from phonehome.virtual.ui.flavour import Style
from phonehome.virtual.ui.hierarchy import Bounds, Node

_DISABLED = "#bdbdbd"
_LINE = "#dadce0"
_WHITE = "#ffffff"
_SECONDARY_ROLES = frozenset({"description", "summary", "dialog_body"})


def render(
    layers: list[Node],
    size: tuple[int, int],
    style: Style,
    *,
    fmt: ImageFormat = "png",
    scale: float = 1.0,
    quality: int = 80,
) -> bytes:
    """Draws ``layers`` bottom to top (a dialog dims what is under it) and encodes the image."""
    if not 0 < scale <= 4:
        raise ValueError(f"screenshot scale must be in (0, 4], got {scale}")
    image = Image.new("RGB", size, style.background)
    for i, root in enumerate(layers):
        if i > 0:
            image = Image.blend(image, Image.new("RGB", size, "#000000"), 0.45)
        _Painter(image, style).tree(root, (0, 0))
    if scale != 1:
        image = image.resize(
            (max(1, round(size[0] * scale)), max(1, round(size[1] * scale))), Image.Resampling.LANCZOS
        )
    out = io.BytesIO()
    if fmt == "jpeg":
        image.save(out, "JPEG", quality=min(max(int(quality), 1), 100))
    else:
        image.save(out, "PNG")
    return out.getvalue()


class _Painter:
    def __init__(self, image: Image.Image, style: Style) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.style = style

    def tree(self, node: Node, offset: tuple[int, int]) -> None:
        full = Bounds(0, 0, *self.image.size)
        if node.parent is None and node.bounds != full and offset == (0, 0):
            self.draw.rounded_rectangle(_box(node.bounds), radius=28, fill=_WHITE)  # a dialog's window
        if node.cls == "android.widget.ScrollView" and node.children and offset == (0, 0):
            self.scrolled(node)
            return
        self.node(node, offset)
        for child in node.children:
            self.tree(child, offset)

    def scrolled(self, scroller: Node) -> None:
        """Draws the content on a layer the size of the viewport, so partly scrolled nodes are cut cleanly."""
        view = scroller.bounds
        layer = Image.new("RGB", (max(1, view.width), max(1, view.height)), self.style.background)
        painter = _Painter(layer, self.style)
        for child in scroller.children:
            painter.tree(child, (-view.left, -view.top))
        self.image.paste(layer, (view.left, view.top))

    def node(self, node: Node, offset: tuple[int, int]) -> None:
        frame = node.frame or node.bounds
        box = Bounds(
            frame.left + offset[0], frame.top + offset[1], frame.right + offset[0], frame.bottom + offset[1]
        )
        role = node.role
        accent = self.style.accent if node.enabled else _DISABLED
        if role in ("footer_primary", "primary"):
            self.draw.rounded_rectangle(_box(box), radius=box.height // 2, fill=accent)
            self.label(node.text, box, node.text_px, _WHITE, center=True)
        elif role in ("footer_secondary", "outline", "link", "dialog_primary", "dialog_secondary"):
            if role == "outline":
                self.draw.rounded_rectangle(_box(box), radius=box.height // 2, outline=_LINE, width=3)
            self.label(node.text, box, node.text_px, accent, center=role != "link")
        elif role == "switch":
            self.switch(box, node.checked)
        elif role == "checkbox":
            self.checkbox(node, box)
        elif role == "edit":
            self.edit(node, box)
        elif role == "row":
            if node.selected:
                self.draw.rectangle(_box(box), fill="#e8f0fe")
            self.draw.line((box.left, box.bottom - 1, box.right, box.bottom - 1), fill=_LINE, width=2)
        elif role in ("icon", "wifi_icon", "launcher_icon"):
            self.icon(node, box)
        elif role == "progress":
            self.draw.arc(_box(box), start=200, end=470, fill=self.style.accent, width=max(2, box.width // 8))
        elif node.text and node.text_px:
            color = self.style.secondary_text if role in _SECONDARY_ROLES else self.style.text
            if role == "heading":
                color = self.style.accent
            self.paragraph(node.text, box, node.text_px, color, center=node.align == "center")

    def paragraph(self, text: str, box: Bounds, px: int, color: str, *, center: bool = False) -> None:
        font = txt.font(px)
        y = box.top
        for line in txt.wrap(text, px, max(1, box.width)):
            x = box.left + (box.width - txt.text_width(line, px)) // 2 if center else box.left
            self.draw.text((x, y), line, font=font, fill=color)
            y += txt.line_height(px)

    def label(self, text: str, box: Bounds, px: int, color: str, *, center: bool) -> None:
        px = px or 36
        width = txt.text_width(text, px)
        x = box.left + (box.width - width) // 2 if center else box.left + 12
        y = box.top + (box.height - txt.line_height(px)) // 2
        self.draw.text((x, y), text, font=txt.font(px), fill=color)

    def switch(self, box: Bounds, checked: bool) -> None:
        track = self.style.accent if checked else "#9aa0a6"
        self.draw.rounded_rectangle(_box(box), radius=box.height // 2, fill=track)
        d = box.height - 8
        x = box.right - d - 4 if checked else box.left + 4
        self.draw.ellipse((x, box.top + 4, x + d, box.top + 4 + d), fill=_WHITE)

    def checkbox(self, node: Node, box: Bounds) -> None:
        size = min(box.height, 52) - 12
        top = box.top + (min(box.height, 64) - size) // 2
        square = (box.left + 6, top, box.left + 6 + size, top + size)
        if node.checked:
            self.draw.rounded_rectangle(square, radius=6, fill=self.style.accent)
            x0, y0 = square[0], square[1]
            self.draw.line(
                (
                    x0 + size * 0.2,
                    y0 + size * 0.5,
                    x0 + size * 0.42,
                    y0 + size * 0.72,
                    x0 + size * 0.8,
                    y0 + size * 0.28,
                ),
                fill=_WHITE,
                width=max(2, size // 8),
            )
        else:
            self.draw.rounded_rectangle(square, radius=6, outline="#5f6368", width=3)
        text_box = Bounds(box.left + size + 36, box.top + 6, box.right, box.bottom)
        self.paragraph(node.text, text_box, node.text_px or 36, self.style.text)

    def edit(self, node: Node, box: Bounds) -> None:
        line = self.style.accent if node.focused else "#80868b"
        self.draw.line(
            (box.left, box.bottom - 3, box.right, box.bottom - 3), fill=line, width=4 if node.focused else 2
        )
        showing_hint = bool(node.hint) and node.text == node.hint
        if node.password and not showing_hint:
            # The bundled font has no bullet glyph: draw the mask dots.
            r, step, middle = node.text_px // 5, node.text_px * 2 // 3, (box.top + box.bottom) // 2
            for i in range(len(node.text)):
                cx = box.left + 12 + r + i * step
                self.draw.ellipse((cx - r, middle - r, cx + r, middle + r), fill=self.style.text)
            end = box.left + 12 + len(node.text) * step
        else:
            color = "#80868b" if showing_hint else self.style.text
            self.label(node.text, box, node.text_px, color, center=False)
            end = box.left + 12 + (0 if showing_hint else txt.text_width(node.text, node.text_px))
        if node.focused:
            x = end
            self.draw.line((x + 2, box.top + 12, x + 2, box.bottom - 12), fill=self.style.accent, width=3)

    def icon(self, node: Node, box: Bounds) -> None:
        if node.role == "launcher_icon":
            size = min(box.width, box.height) * 3 // 5
            left = box.left + (box.width - size) // 2
            circle = (left, box.top + 8, left + size, box.top + 8 + size)
            self.draw.ellipse(circle, fill=self.style.accent)
            self.label(node.text[:1], Bounds(*circle), size // 2, _WHITE, center=True)
            below = Bounds(box.left, box.top + size + 16, box.right, box.bottom)
            self.paragraph(node.text, below, node.text_px or 34, self.style.text, center=True)
            return
        if node.role == "wifi_icon":
            self.draw.pieslice(_box(box.shifted(box.height // 3)), start=225, end=315, fill=self.style.text)
            return
        self.draw.ellipse(_box(box), fill=self.style.accent)
        self.label(node.content_desc[:1], box, box.height // 2, _WHITE, center=True)


def _box(b: Bounds) -> tuple[int, int, int, int]:
    return b.left, b.top, max(b.left, b.right - 1), max(b.top, b.bottom - 1)
