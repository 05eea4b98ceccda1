"""The main window's actions (one per row of the shortcut table, so menus, tool bars, keys and
the help dialog agree) and its menus."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from annotator.ui.icons import Icons
from annotator.ui.shortcuts import SHORTCUTS, by_action

TOOLS = ("brush", "eraser", "polygon", "sam", "pan")
CHECKABLE = ("toggle_draft", "toggle_proposal", "toggle_final", "toggle_diff")
MENUS = ("File", "Edit", "View", "Navigate", "Tools", "Mask", "Review", "Help")


def build_actions(
    window: QMainWindow, icons: Icons, handlers: dict[str, Callable[[], object]]
) -> dict[str, QAction]:
    """An action per shortcut row whose name has a handler; tools are exclusive and checkable,
    layer toggles checkable (their handler runs on toggle)."""
    actions: dict[str, QAction] = {}
    tools = QActionGroup(window)
    table = by_action()
    for name, handler in handlers.items():
        sc = table[name]
        act = QAction(sc.label, window)
        if sc.icon:
            act.setIcon(icons.get(sc.icon, "#c8ccd4", active="#ffffff"))
        if sc.keys:
            act.setShortcut(QKeySequence(sc.keys))
            act.setToolTip(f"{sc.label} ({sc.keys})")
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if name in TOOLS:
            act.setCheckable(True)
            tools.addAction(act)
        if name in CHECKABLE:
            act.setCheckable(True)
            act.toggled.connect(lambda _on, h=handler: h())
        else:
            act.triggered.connect(lambda _checked=False, h=handler: h())
        window.addAction(act)
        actions[name] = act
    return actions


def build_menus(
    window: QMainWindow, actions: dict[str, QAction], extra: dict[str, list[QAction]]
) -> dict[str, QMenu]:
    """Menus in the shortcut table's groups; ``extra`` actions are appended after a separator."""
    groups: dict[str, list[str]] = {}
    for sc in SHORTCUTS:
        if sc.action in actions:
            groups.setdefault(sc.group, []).append(sc.action)
    menus = {}
    bar = window.menuBar()
    for title in MENUS:
        menu = bar.addMenu(f"&{title}")
        for name in groups.get(title, []):
            menu.addAction(actions[name])
        if extra.get(title):
            menu.addSeparator()
            for act in extra[title]:
                menu.addAction(act)
        menus[title] = menu
    return menus
