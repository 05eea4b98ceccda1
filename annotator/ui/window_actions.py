"""The main window's actions (one per row of the shortcut table, so menus, tool bars, keys and
the help dialog agree) and its menus."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from annotator.core.model import Decision
from annotator.ui.about_dialog import AboutDialog, facts_of
from annotator.ui.icons import Icons
from annotator.ui.modal import run_modal
from annotator.ui.shortcuts import SHORTCUTS, ShortcutsDialog, by_action

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow

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


def window_handlers(w: MainWindow) -> dict[str, Callable[[], object]]:
    """What each action of the shortcut table does in ``w``."""
    e = w.editor
    return {
        "next": lambda: w.go(+1),
        "prev": lambda: w.go(-1),
        "next_unreviewed": w.next_unreviewed,
        "next_turn": lambda: w.select_turn(e.turn + 1),
        "prev_turn": lambda: w.select_turn(e.turn - 1),
        **{name: (lambda n=name: w.set_tool(n)) for name in ("brush", "eraser", "polygon", "sam")},
        "pan": lambda: w.set_tool(None),
        "bigger": lambda: e.set_brush_radius(e.brush_radius * 1.25),
        "smaller": lambda: e.set_brush_radius(e.brush_radius / 1.25),
        "fill_holes": e.fill_holes,
        "keep_largest": e.keep_largest,
        "clear": e.clear_mask,
        "take_draft": e.take_draft_mask,
        "take_proposal": lambda: w.use_proposal(e.turn),
        "undo": w.undo,
        "redo": w.redo,
        "approve": lambda: w.decide(Decision.APPROVE, w.review.comment.text()),
        "reject": lambda: w.decide(Decision.REJECT, w.review.comment.text()),
        "reopen": lambda: w.decide(Decision.REOPEN, w.review.comment.text()),
        "approve_turn": lambda: w.turn_review(e.turn, Decision.APPROVE, None),
        "reject_turn": w.reviews.reject_selected_turn,
        "history": w.reviews.show_history,
        "propose": lambda: w.propose(None),
        "propose_turn": lambda: w.propose([e.turn]),
        "cancel_propose": w.proposer.cancel,
        **{
            f"toggle_{key}": (lambda k=key: w.set_layer(k))
            for key in ("draft", "proposal", "final", "diff")
        },
        "fit": w.canvas.fit,
        "actual": w.canvas.actual_size,
        "dashboard": w.dashboard.show,
        "save": w.save_now,
        "import": w.files.import_dialog,
        "sample": w.add_sample,
        "export": w.files.export_dialog,
        "settings": w.settings_dialog,
        "help": lambda: run_modal(ShortcutsDialog(w)),
        "about": lambda: run_modal(AboutDialog(facts_of(w), w)),
    }
