"""Content items of a wizard page: texts, buttons, toggles, checkboxes, text fields and list rows.

Each function adds an item's nodes at ``y`` and returns the y below it. Rows
and toggles follow the platform's widgets: a Settings-style switch row is one
clickable container whose Switch is checkable but not itself clickable; a
CheckBox carries its own label and takes the touch.
"""

from __future__ import annotations

from phonehome.virtual.ui import text as txt
from phonehome.virtual.ui.builder import LINEAR, Builder, enabled, fill
from phonehome.virtual.ui.flavour import Item
from phonehome.virtual.ui.hierarchy import Bounds, Node, Tap


def add_item(b: Builder, parent: Node, item: Item, y: int) -> int:
    m, width, view = b.margin, b.width, b.view
    inner = width - 2 * m
    label = fill(item.text, view.vars)
    if item.kind in ("text", "heading"):
        top = y + (b.px(12) if item.kind == "heading" else 0)
        return b.text(
            parent,
            label,
            "heading" if item.kind == "heading" else "body",
            top,
            x=m,
            width=inner,
            resource_id=b.rid(item.id),
        )
    if item.kind == "button":
        w = txt.text_width(label, b.sp("button")) + b.px(48)
        frame = Bounds(m, y, m + inner if item.style == "primary" else min(m + w, width - m), y + b.px(48))
        on = enabled(item.enabled_if, view)
        b.button(
            parent,
            label,
            role=item.style,
            frame=frame,
            rid=b.rid(item.id),
            tap=Tap("action", item.action),
            on=on,
        )
        return frame.bottom
    if item.kind == "toggle":
        return _toggle(b, parent, item, label, y)
    if item.kind == "checkbox":
        px = b.sp("body")
        h = max(b.px(48), txt.text_height(label, px, inner - b.px(48)) + b.px(12))
        frame = Bounds(m, y, width - m, y + h)
        parent.add(
            Node(
                "android.widget.CheckBox",
                frame,
                text=label,
                resource_id=b.rid(item.id),
                checkable=True,
                checked=view.checks.get(item.key, item.default),
                clickable=True,
                focusable=True,
                role="checkbox",
                text_px=px,
                tap=Tap("check", item.key),
                frame=frame,
            )
        )
        return frame.bottom
    if item.kind == "edit":
        return _edit(b, parent, item, y)
    if item.kind == "networks":
        for network in view.networks:
            icon = "Wi-Fi signal full." + (" Secured network." if network.secured else "")
            tap = Tap("network", network.ssid)
            y = _row(
                b, parent, network.ssid, y, summary=network.summary, rid=b.rid(item.id), tap=tap, icon=icon
            )
        return y
    if item.kind == "languages":
        for language in b.flavour.languages:
            tap = Tap("language", language.code)
            chosen = language.code == view.language
            y = _row(b, parent, language.label, y, rid=b.rid(item.id), tap=tap, selected=chosen)
        return y
    frame = Bounds((width - b.px(48)) // 2, y, (width + b.px(48)) // 2, y + b.px(48))
    parent.add(Node("android.widget.ProgressBar", frame, role="progress", frame=frame))
    return frame.bottom


def _toggle(b: Builder, parent: Node, item: Item, label: str, y: int) -> int:
    m, width = b.margin, b.width
    checked = b.view.checks.get(item.key, item.default)
    summary = fill(item.summary, b.view.vars)
    if item.widget == "checkbox":
        group = parent.add(Node(LINEAR, Bounds(0, y, width, y)))
        px = b.sp("row_title")
        h = max(b.px(48), txt.text_height(label, px, width - 2 * m - b.px(48)) + b.px(12))
        box = Bounds(m, y, width - m, y + h)
        group.add(
            Node(
                "android.widget.CheckBox",
                box,
                text=label,
                resource_id=b.rid(item.id),
                checkable=True,
                checked=checked,
                clickable=True,
                focusable=True,
                role="checkbox",
                text_px=px,
                tap=Tap("toggle", item.key),
                frame=box,
            )
        )
        bottom = (
            b.text(
                group,
                summary,
                "summary",
                box.bottom,
                x=m + b.px(48),
                width=width - 2 * m - b.px(48),
                resource_id="android:id/summary",
            )
            if summary
            else box.bottom
        )
        group.bounds = group.frame = Bounds(0, y, width, bottom + b.px(8))
        return bottom + b.px(8)
    switch_w, switch_h = b.px(52), b.px(32)
    text_w = width - 2 * m - switch_w - b.px(16)
    row = parent.add(
        Node(LINEAR, Bounds(0, y, width, y), clickable=True, focusable=True, tap=Tap("toggle", item.key))
    )
    column = row.add(Node(LINEAR, Bounds(m, y, m + text_w, y)))
    bottom = b.text(
        column, label, "row_title", y + b.px(16), x=m, width=text_w, resource_id="android:id/title"
    )
    if summary:
        bottom = b.text(
            column, summary, "summary", bottom + b.px(4), x=m, width=text_w, resource_id="android:id/summary"
        )
    column.bounds = column.frame = Bounds(m, y + b.px(16), m + text_w, bottom)
    row.bounds = row.frame = Bounds(0, y, width, bottom + b.px(16))
    middle = (row.bounds.top + row.bounds.bottom) // 2
    knob = Bounds(width - m - switch_w, middle - switch_h // 2, width - m, middle + switch_h // 2)
    row.add(
        Node(
            "android.widget.Switch",
            knob,
            resource_id=b.rid(item.id),
            checkable=True,
            checked=checked,
            role="switch",
            frame=knob,
        )
    )
    return row.bounds.bottom


def _edit(b: Builder, parent: Node, item: Item, y: int) -> int:
    value = b.view.fields.get(item.key, "")
    screen_items = b.screen.items if b.screen else []
    revealed = any(i.reveals == item.key and b.view.checks.get(i.key, i.default) for i in screen_items)
    masked = item.password and not revealed
    shown = ("\u2022" * len(value) if masked else value) if value else item.hint
    frame = Bounds(b.margin, y, b.width - b.margin, y + b.px(56))
    parent.add(
        Node(
            "android.widget.EditText",
            frame,
            text=shown,
            hint=item.hint,
            resource_id=b.rid(item.id),
            clickable=True,
            focusable=True,
            long_clickable=True,
            focused=b.view.focus == item.key,
            password=masked,
            role="edit",
            text_px=b.sp("edit"),
            tap=Tap("focus", item.key),
            frame=frame,
        )
    )
    return frame.bottom


def _row(
    b: Builder,
    parent: Node,
    title: str,
    y: int,
    *,
    summary: str = "",
    rid: str,
    tap: Tap,
    icon: str = "",
    selected: bool = False,
) -> int:
    """A list row (Wi-Fi network, language): clickable container, title, optional summary."""
    m, width = b.margin, b.width
    height = b.px(72) if summary else b.px(56)
    frame = Bounds(0, y, width, y + height)
    row = parent.add(
        Node(
            LINEAR, frame, clickable=True, focusable=True, selected=selected, role="row", tap=tap, frame=frame
        )
    )
    x = m
    if icon:
        size = b.px(24)
        mid = y + height // 2
        row.add(
            Node(
                "android.widget.ImageView",
                Bounds(m, mid - size // 2, m + size, mid + size // 2),
                content_desc=icon,
                role="wifi_icon",
                frame=Bounds(m, mid - size // 2, m + size, mid + size // 2),
            )
        )
        x = m + size + b.px(24)
    top = y + (b.px(12) if summary else b.px(14))
    bottom = b.text(row, title, "row_title", top, x=x, width=width - m - x, resource_id=rid)
    if summary:
        b.text(row, summary, "summary", bottom, x=x, width=width - m - x, resource_id="android:id/summary")
    return frame.bottom
