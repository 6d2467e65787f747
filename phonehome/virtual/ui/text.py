"""Fonts and line wrapping shared by the layout and the renderer.

The layout sizes a text node by wrapping it with the same font the renderer
draws it with, so node bounds in the hierarchy enclose exactly the text a
screenshot shows.
"""

from __future__ import annotations

import functools

from PIL import ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=64)
def font(px: int) -> Font:
    """Pillow's bundled font at ``px`` pixels (no system fonts needed)."""
    return ImageFont.load_default(size=px)


def line_height(px: int) -> int:
    return round(px * 1.35)


def text_width(text: str, px: int) -> int:
    return round(font(px).getlength(text))


@functools.lru_cache(maxsize=4096)
def wrap(text: str, px: int, width: int) -> tuple[str, ...]:
    """Greedy word wrap to ``width`` pixels; words wider than a line are split by character.

    Cached: the same texts are laid out every time the window is looked at.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, px) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for ch in word:
                if line and text_width(line + ch, px) > width:
                    lines.append(line)
                    line = ""
                line += ch
        lines.append(line)
    return tuple(lines)


def text_height(text: str, px: int, width: int) -> int:
    return len(wrap(text, px, width)) * line_height(px) if text else 0
