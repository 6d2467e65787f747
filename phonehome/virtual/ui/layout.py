"""A screen definition and the wizard's state in, the window's node tree out (pure, no I/O).

Pages follow SetupDesign's GLIF layout (icon, title, description, a scroll
view, a footer bar); dialogs follow AlertDialog (``android:id/alertTitle``,
``message``, ``button1``/``button2``). Content that scrolls is laid out at its
unscrolled position (``frame``) and clipped to the scroll view; nodes scrolled
out of sight leave the tree, as they leave a real dump (the dumper skips
children that are not visible to the user).
"""

from __future__ import annotations

from phonehome.virtual.ui import text as txt
from phonehome.virtual.ui.builder import (
    FRAME,
    LINEAR,
    TEXT_VIEW,
    Builder,
    Layout,
    View,
    clip,
    enabled,
    fill,
    inherit_packages,
    shift,
    shift_x,
)
from phonehome.virtual.ui.flavour import App, Button, Flavour, ScreenDef
from phonehome.virtual.ui.hierarchy import Bounds, Node, Tap
from phonehome.virtual.ui.items import add_item


def build_screen(flavour: Flavour, screen: ScreenDef, view: View) -> Layout:
    """The window of a wizard screen (page, progress page or dialog)."""
    builder = Builder(flavour, screen, view)
    if screen.kind == "dialog":
        return _dialog(builder, screen)
    return _page(builder, screen)


def _page(b: Builder, screen: ScreenDef) -> Layout:
    ids, width, height, m = b.flavour.ids, b.width, b.height, b.margin
    full = Bounds(0, 0, width, height)
    root = Node(FRAME, full, package=b.flavour.package_of(screen))
    content = root.add(Node(FRAME, full, resource_id="android:id/content"))
    page = content.add(Node(LINEAR, full, resource_id=b.rid(ids.layout)))
    centered = b.flavour.style.title_align == "center"
    y = b.px(40)
    if screen.icon:
        size = b.px(40)
        x = (width - size) // 2 if centered else m
        page.add(
            Node(
                "android.widget.ImageView",
                Bounds(x, y, x + size, y + size),
                resource_id=b.rid(ids.icon),
                content_desc=screen.icon,
                role="icon",
            )
        )
        y += size + b.px(20)
    align = "center" if centered else ""
    if screen.title:
        title = fill(screen.title, b.view.vars)
        y = b.text(
            page, title, "title", y, x=m, width=width - 2 * m, resource_id=b.rid(ids.title), align=align
        )
        y += b.px(12)
    if screen.description:
        description = fill(screen.description, b.view.vars)
        y = b.text(
            page,
            description,
            "description",
            y,
            x=m,
            width=width - 2 * m,
            resource_id=b.rid(ids.description),
            align=align,
        )
        y += b.px(16)
    footer_top = height - b.px(88) if (screen.primary or screen.secondary) else height
    viewport = Bounds(0, y, width, footer_top)
    items: list[Node] = []
    content_height = _items(b, screen, items, origin=0)
    max_scroll = max(0, content_height + b.px(16) - viewport.height)
    scroll = min(max(b.view.scroll, 0), max_scroll)
    scroller = page.add(
        Node(
            "android.widget.ScrollView",
            viewport,
            resource_id=b.rid(ids.scroll),
            scrollable=max_scroll > 0,
            focusable=max_scroll > 0,
        )
    )
    box = Bounds(
        0, viewport.top - scroll, width, viewport.top - scroll + max(content_height, viewport.height)
    )
    container = scroller.add(Node(LINEAR, box, resource_id=b.rid(ids.content), frame=box))
    for node in items:
        shift(node, viewport.top - scroll)
        container.add(node)
    if screen.kind == "progress":
        bar = Bounds((width - b.px(48)) // 2, y, (width + b.px(48)) // 2, y + b.px(48))
        container.add(Node("android.widget.ProgressBar", bar, role="progress", frame=bar))
    clip(scroller, viewport)
    inherit_packages(root)
    if footer_top < height:
        _footer(b, screen, page, Bounds(0, footer_top, width, height), at_end=scroll >= max_scroll)
    return Layout(root, viewport if max_scroll > 0 else None, max_scroll, max(1, viewport.height * 4 // 5))


def _items(b: Builder, screen: ScreenDef, out: list[Node], origin: int) -> int:
    """Lays the screen's items from y=``origin`` into ``out`` (detached); returns the content height."""
    holder = Node(LINEAR, Bounds(0, 0, b.width, 0))
    y = origin + b.px(8)
    for item in screen.items:
        y = add_item(b, holder, item, y) + b.px(8)
    for node in holder.children:
        node.parent = None
        out.append(node)
    return y - origin


def _footer(b: Builder, screen: ScreenDef, page: Node, area: Bounds, *, at_end: bool) -> None:
    footer = page.add(Node(LINEAR, area, resource_id=b.rid(b.flavour.ids.footer)))
    m, bh = b.margin, b.px(48)
    top = area.top + (area.height - bh) // 2
    buttons: list[tuple[Button, str]] = [
        (btn, role)
        for btn, role in ((screen.secondary, "secondary"), (screen.primary, "primary"))
        if btn is not None
    ]
    if b.flavour.style.footer == "split":
        gap = b.px(12)
        w = (area.width - 2 * m - gap * (len(buttons) - 1)) // len(buttons)
        frames = [
            Bounds(m + i * (w + gap), top, m + i * (w + gap) + w, top + bh) for i in range(len(buttons))
        ]
    else:
        frames = []
        for btn, role in buttons:
            w = max(
                b.px(64), txt.text_width(btn.text, b.sp("button")) + b.px(32 if role == "secondary" else 48)
            )
            x = m if role == "secondary" else area.width - m - w
            frames.append(Bounds(x, top, x + w, top + bh))
    for (btn, role), frame in zip(buttons, frames, strict=True):
        more = bool(btn.more_text) and not at_end
        label = fill(btn.more_text if more else btn.text, b.view.vars)
        tap = Tap("action", "more" if more else btn.action)
        on = more or enabled(btn.enabled_if, b.view)
        b.button(footer, label, role=f"footer_{role}", frame=frame, rid=b.rid(btn.id), tap=tap, on=on)


def _dialog(b: Builder, screen: ScreenDef) -> Layout:
    m = b.px(24)
    width = b.width - 2 * b.px(28)
    x0 = b.px(28)
    root = Node(FRAME, Bounds(x0, 0, x0 + width, 0), package=b.flavour.package_of(screen))
    panel = root.add(Node(LINEAR, root.bounds, resource_id="android:id/parentPanel"))
    y = m
    if screen.title:
        title = fill(screen.title, b.view.vars)
        y = b.text(
            panel,
            title,
            "dialog_title",
            y,
            x=x0 + m,
            width=width - 2 * m,
            resource_id="android:id/alertTitle",
        )
        y += b.px(16)
    if screen.description:
        message = fill(screen.description, b.view.vars)
        y = b.text(
            panel, message, "dialog_body", y, x=x0 + m, width=width - 2 * m, resource_id="android:id/message"
        )
        y += b.px(8)
    if screen.items:
        custom = panel.add(Node(FRAME, Bounds(x0, y, x0 + width, y), resource_id="android:id/custom"))
        sub = Builder(b.flavour, screen, b.view)
        sub.width, sub.margin = width, m
        for item in screen.items:
            y = add_item(sub, custom, item, y) + b.px(8)
        for node in custom.children:
            shift_x(node, x0)
        custom.bounds = Bounds(x0, custom.bounds.top, x0 + width, y)
    buttons = panel.add(
        Node(LINEAR, Bounds(x0, y, x0 + width, y + b.px(64)), resource_id="android:id/buttonPanel")
    )
    right = x0 + width - b.px(16)
    for btn, role in ((screen.primary, "dialog_primary"), (screen.secondary, "dialog_secondary")):
        if btn is None:
            continue
        label = fill(btn.text, b.view.vars)
        w = txt.text_width(label, b.sp("button")) + b.px(24)
        frame = Bounds(right - w, y + b.px(8), right, y + b.px(56))
        on = enabled(btn.enabled_if, b.view)
        b.button(
            buttons, label, role=role, frame=frame, rid=b.rid(btn.id), tap=Tap("action", btn.action), on=on
        )
        right -= w + b.px(8)
    buttons.children.reverse()  # negative button first, as AlertDialog lays them out
    for index, child in enumerate(buttons.children):
        child.index = index
    height = y + b.px(64) + b.px(8)
    root.bounds = panel.bounds = Bounds(x0, 0, x0 + width, height)
    shift(root, (b.height - height) // 2)
    inherit_packages(root)
    return Layout(root, None, 0, 0)


def build_launcher(flavour: Flavour) -> Layout:
    """The home screen: the flavour's apps as icons in a four-column grid."""
    b = Builder(flavour, None, View({}, "", {}, {}, None, 0, None, ()))
    launcher = flavour.launcher
    full = Bounds(0, 0, b.width, b.height)
    root = Node(FRAME, full, package=launcher.package)
    workspace = root.add(
        Node("android.widget.ScrollView", full, resource_id=f"{launcher.package}:id/{launcher.workspace_id}")
    )
    cell_w, cell_h, top = b.width // 4, b.px(96), b.px(160)
    for i, app in enumerate(launcher.apps):
        x, y = (i % 4) * cell_w, top + (i // 4) * cell_h
        frame = Bounds(x, y, x + cell_w, y + cell_h)
        workspace.add(
            Node(
                TEXT_VIEW,
                frame,
                text=app.label,
                content_desc=app.label,
                clickable=True,
                focusable=True,
                long_clickable=True,
                role="launcher_icon",
                text_px=b.sp("launcher"),
                tap=Tap("app", app.package),
                frame=frame,
            )
        )
    inherit_packages(root)
    return Layout(root, None, 0, 0)


def build_app(flavour: Flavour, app: App) -> Layout:
    """A launched app: its title bar and nothing else (the virtual handset runs no apps)."""
    b = Builder(flavour, None, View({}, "", {}, {}, None, 0, None, ()))
    full = Bounds(0, 0, b.width, b.height)
    root = Node(FRAME, full, package=app.package)
    content = root.add(Node(FRAME, full, resource_id="android:id/content"))
    bar = content.add(Node(LINEAR, Bounds(0, 0, b.width, b.px(112)), resource_id=f"{app.package}:id/toolbar"))
    b.text(
        bar,
        app.label,
        "app_title",
        b.px(56),
        x=b.margin,
        width=b.width - 2 * b.margin,
        resource_id="android:id/title",
    )
    inherit_packages(root)
    return Layout(root, None, 0, 0)
