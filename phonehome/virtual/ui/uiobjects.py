"""Named UiObjects: what ``childByText``, ``childByDescription`` and ``childByInstance`` return.

The Java server hands back a UUID for a ``UiObject`` built from a UiSelector
chain and re-resolves it on the current window whenever the client uses the
name; here a name stands for a `Locator` doing the same. As in
``AutomatorServiceImpl.addUiObject`` the names are not kept forever (the
Java server drops each after 60 s; here the oldest go beyond a count).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable

from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.hierarchy import Node

Locator = Callable[[Node | None], Node | None]
MAX_NAMED = 1000


class UiObjects:
    """The names handed out so far and what each designates."""

    def __init__(self, limit: int = MAX_NAMED) -> None:
        self.limit = limit
        self._named: OrderedDict[str, Locator] = OrderedDict()

    def add(self, locator: Locator) -> str:
        name = str(uuid.uuid4())
        self._named[name] = locator
        while len(self._named) > self.limit:
            self._named.popitem(last=False)
        return name

    def get(self, name: str) -> Locator | None:
        return self._named.get(name)


def selector_locator(selector: sel.Selector) -> Locator:
    return lambda root: sel.find(root, selector)


def child_locator(collection: sel.Selector, pattern: sel.Selector, test: Callable[[Node], bool]) -> Locator:
    """The first ``pattern`` match inside a ``collection`` match that passes ``test`` itself or below it.

    ``UiCollection.getChildByText``: each instance of the child pattern is
    checked for the text on itself, then anywhere in its sub-hierarchy.
    """

    def locate(root: Node | None) -> Node | None:
        for container in sel.find_all(root, collection):
            for child in sel.find_all(container, pattern):
                if child is not container and any(test(n) for n in child.walk()):
                    return child
        return None

    return locate


def instance_locator(collection: sel.Selector, pattern: sel.Selector, instance: int) -> Locator:
    """The ``instance``-th ``pattern`` match inside the first ``collection`` match that has one."""

    def locate(root: Node | None) -> Node | None:
        for container in sel.find_all(root, collection):
            children = [c for c in sel.find_all(container, pattern) if c is not container]
            if instance < len(children):
                return children[instance]
        return None

    return locate
