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
    from annotator.services.open_record import OpenRecord
    from annotator.ui.authoring_actions import AuthoringActions
    from annotator.ui.dashboard_dock import DashboardDock
    from annotator.ui.editor_controller import EditorController
    from annotator.ui.file_jobs import FileJobs
    from annotator.ui.main_window import MainWindow
    from annotator.ui.propose_actions import ProposeActions
    from annotator.ui.review_actions import ReviewActions

TOOLS = ("brush", "eraser", "polygon", "sam", "pan")
CHECKABLE = ("toggle_draft", "toggle_proposal", "toggle_final", "toggle_diff")
MENUS = ("File", "Edit", "View", "Navigate", "Conversation", "Tools", "Mask", "Review", "Help")


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


def window_handlers(
    w: MainWindow,
    record: OpenRecord,
    editor: EditorController,
    reviews: ReviewActions,
    proposing: ProposeActions,
    files: FileJobs,
    dashboard: DashboardDock,
    authoring: AuthoringActions,
) -> dict[str, Callable[[], object]]:
    """What each action of the shortcut table does: the window's own intents (navigation,
    tools, undo, layers, settings) and those of the parts it is given."""
    return {
        "next": lambda: w.queue.go(+1),
        "prev": lambda: w.queue.go(-1),
        "next_unreviewed": w.queue.next_unreviewed,
        "take_next": w.team.take_next,
        "release_claim": w.team.release,
        "team_progress": w.team.show_progress,
        "assign": w.team.assign,
        "next_turn": lambda: record.select_turn(record.turn + 1),
        "prev_turn": lambda: record.select_turn(record.turn - 1),
        "new_conversation": authoring.new_conversation,
        "draft_conversations": lambda: w.drafting.draft(),
        "add_images": authoring.add_images,
        "duplicate_conversation": authoring.duplicate,
        "delete_conversation": authoring.delete,
        "restore_conversation": authoring.restore,
        "add_turn": lambda: authoring.reshape(record.turn, "add_before"),
        "remove_turn": lambda: authoring.reshape(record.turn, "remove"),
        "move_turn_up": lambda: authoring.reshape(record.turn, "up"),
        "move_turn_down": lambda: authoring.reshape(record.turn, "down"),
        **{name: (lambda n=name: w.set_tool(n)) for name in ("brush", "eraser", "polygon", "sam")},
        "pan": lambda: w.set_tool(None),
        "bigger": lambda: editor.set_brush_radius(editor.brush_radius * 1.25),
        "smaller": lambda: editor.set_brush_radius(editor.brush_radius / 1.25),
        "fill_holes": editor.fill_holes,
        "keep_largest": editor.keep_largest,
        "clear": editor.clear_mask,
        "take_draft": record.take_draft_mask,
        "take_proposal": lambda: record.use_proposal(record.turn),
        "undo": w.undo,
        "redo": w.redo,
        "approve": lambda: reviews.decide(Decision.APPROVE),
        "reject": lambda: reviews.decide(Decision.REJECT),
        "reopen": lambda: reviews.decide(Decision.REOPEN),
        "approve_turn": lambda: reviews.turn_review(record.turn, Decision.APPROVE, None),
        "reject_turn": reviews.reject_selected_turn,
        "history": reviews.show_history,
        "propose": lambda: proposing.propose(None),
        "propose_turn": lambda: proposing.propose([record.turn]),
        "propose_listed": lambda: proposing.propose_listed(
            w.jobs,
            w.store,
            w.browser.query(),
            lambda: (w.model.reload(), record.reload_proposals()),
        ),
        "cancel_propose": proposing.cancel,
        **{
            f"toggle_{key}": (lambda k=key: w.set_layer(k))
            for key in ("draft", "proposal", "final", "diff")
        },
        "fit": w.canvas.fit,
        "actual": w.canvas.actual_size,
        "dashboard": dashboard.show,
        "save": w.save_now,
        "import": files.import_dialog,
        "sample": w.files.add_sample,
        "export": files.export_dialog,
        "settings": w.settings_dialog,
        "help": lambda: run_modal(ShortcutsDialog(w)),
        "about": lambda: run_modal(
            AboutDialog(facts_of(w.store, w.sam, w.proposer.state_text()), w)
        ),
    }
