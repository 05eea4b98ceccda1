"""Every keyboard shortcut in one table: the main window builds its actions from it and the
help dialog lists it, so the two never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class Shortcut:
    action: str
    label: str
    keys: str
    icon: str = ""
    group: str = ""


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("next", "Next record", "PgDown", "mdi6.chevron-right", "Navigate"),
    Shortcut("prev", "Previous record", "PgUp", "mdi6.chevron-left", "Navigate"),
    Shortcut(
        "next_unreviewed", "Next unreviewed record", "Ctrl+PgDown", "mdi6.skip-next", "Navigate"
    ),
    Shortcut(
        "take_next",
        "Take the next record to work on",
        "Ctrl+N",
        "mdi6.account-arrow-right-outline",
        "Navigate",
    ),
    Shortcut(
        "release_claim", "Release my claim on this record", "", "mdi6.lock-open-outline", "Navigate"
    ),
    Shortcut("next_turn", "Next turn", "Alt+PgDown", "", "Navigate"),
    Shortcut("prev_turn", "Previous turn", "Alt+PgUp", "", "Navigate"),
    Shortcut(
        "new_conversation",
        "New conversation…",
        "Ctrl+Shift+N",
        "mdi6.chat-plus-outline",
        "Conversation",
    ),
    Shortcut(
        "draft_conversations", "Draft conversations…", "", "mdi6.message-draw", "Conversation"
    ),
    Shortcut("add_images", "Add images…", "Ctrl+Shift+I", "mdi6.image-plus", "File"),
    Shortcut(
        "duplicate_conversation",
        "Duplicate with another focus…",
        "Ctrl+Shift+U",
        "mdi6.content-duplicate",
        "Conversation",
    ),
    Shortcut(
        "delete_conversation",
        "Delete conversation",
        "Ctrl+Delete",
        "mdi6.delete-outline",
        "Conversation",
    ),
    Shortcut(
        "restore_conversation",
        "Restore the deleted conversation",
        "",
        "mdi6.delete-restore",
        "Conversation",
    ),
    Shortcut(
        "add_turn",
        "Add a turn before the selected one",
        "Ctrl+Shift+T",
        "mdi6.table-row-plus-before",
        "Conversation",
    ),
    Shortcut(
        "remove_turn",
        "Remove the selected turn",
        "Ctrl+Shift+Delete",
        "mdi6.table-row-remove",
        "Conversation",
    ),
    Shortcut(
        "move_turn_up", "Move the selected turn up", "Alt+Up", "mdi6.arrow-up", "Conversation"
    ),
    Shortcut(
        "move_turn_down",
        "Move the selected turn down",
        "Alt+Down",
        "mdi6.arrow-down",
        "Conversation",
    ),
    Shortcut("brush", "Brush", "B", "mdi6.brush", "Tools"),
    Shortcut("eraser", "Eraser", "E", "mdi6.eraser", "Tools"),
    Shortcut("polygon", "Polygon", "P", "mdi6.vector-polygon", "Tools"),
    Shortcut("sam", "SAM clicks / box", "S", "mdi6.auto-fix", "Tools"),
    Shortcut("pan", "Pan / select (no tool)", "H", "mdi6.hand-back-right-outline", "Tools"),
    Shortcut("bigger", "Bigger brush", "]", "", "Tools"),
    Shortcut("smaller", "Smaller brush", "[", "", "Tools"),
    Shortcut("fill_holes", "Fill holes", "Ctrl+Shift+F", "mdi6.format-color-fill", "Mask"),
    Shortcut("keep_largest", "Keep largest part", "Ctrl+Shift+L", "mdi6.shape-outline", "Mask"),
    Shortcut("clear", "Clear mask", "Ctrl+Shift+Backspace", "mdi6.delete-sweep-outline", "Mask"),
    Shortcut("take_draft", "Take draft mask", "Ctrl+Shift+D", "mdi6.file-download-outline", "Mask"),
    Shortcut(
        "take_proposal",
        "Take proposal (answer and mask)",
        "Ctrl+Shift+M",
        "mdi6.robot-outline",
        "Mask",
    ),
    Shortcut("undo", "Undo", "Ctrl+Z", "mdi6.undo", "Edit"),
    Shortcut("redo", "Redo", "Ctrl+Shift+Z", "mdi6.redo", "Edit"),
    Shortcut("approve", "Approve record", "Ctrl+Return", "mdi6.check-bold", "Review"),
    Shortcut("reject", "Reject record", "Ctrl+Backspace", "mdi6.close-thick", "Review"),
    Shortcut("reopen", "Reopen record", "Ctrl+R", "mdi6.restore", "Review"),
    Shortcut("history", "Record history", "Ctrl+H", "mdi6.history", "Review"),
    Shortcut("team_progress", "Team progress…", "", "mdi6.account-group-outline", "Review"),
    Shortcut("assign", "Assign this record to…", "", "mdi6.account-arrow-left-outline", "Review"),
    Shortcut(
        "approve_turn",
        "Approve the selected turn",
        "Alt+Return",
        "mdi6.check-circle-outline",
        "Review",
    ),
    Shortcut(
        "reject_turn",
        "Reject the selected turn (with its reason)",
        "Alt+Backspace",
        "mdi6.close-circle-outline",
        "Review",
    ),
    Shortcut("propose", "Propose for the whole record", "Ctrl+P", "mdi6.robot-outline", "Review"),
    Shortcut(
        "propose_turn", "Propose for the selected turn", "Ctrl+Shift+P", "mdi6.robot", "Review"
    ),
    Shortcut(
        "propose_listed",
        "Propose for every record in the list (in the background)",
        "",
        "mdi6.robot-happy-outline",
        "Review",
    ),
    Shortcut(
        "cancel_propose", "Cancel Propose", "Ctrl+Shift+.", "mdi6.robot-off-outline", "Review"
    ),
    Shortcut("toggle_draft", "Show draft mask", "1", "", "View"),
    Shortcut("toggle_proposal", "Show proposal mask", "2", "", "View"),
    Shortcut("toggle_final", "Show final mask", "3", "", "View"),
    Shortcut("toggle_diff", "Show diff (kept / added / removed)", "4", "mdi6.compare", "View"),
    Shortcut("fit", "Fit image", "F", "mdi6.fit-to-screen-outline", "View"),
    Shortcut("actual", "Zoom 100%", "Ctrl+0", "mdi6.magnify-scan", "View"),
    Shortcut("dashboard", "Quality dashboard", "Ctrl+Shift+Q", "mdi6.chart-box-outline", "View"),
    Shortcut(
        "save", "Save now (retry a failed save)", "Ctrl+S", "mdi6.content-save-outline", "File"
    ),
    Shortcut("import", "Import…", "Ctrl+I", "mdi6.import", "File"),
    Shortcut("sample", "Add the sample project", "", "mdi6.flask-outline", "File"),
    Shortcut("export", "Export…", "Ctrl+E", "mdi6.export", "File"),
    Shortcut("settings", "Settings…", "Ctrl+,", "mdi6.cog-outline", "File"),
    Shortcut("help", "Keyboard shortcuts", "F1", "mdi6.keyboard-outline", "Help"),
    Shortcut("about", "About PRIST Annotator", "", "mdi6.information-outline", "Help"),
)

CANVAS_KEYS: tuple[tuple[str, str], ...] = (
    ("Wheel", "Zoom around the cursor"),
    ("Middle drag / Space+drag", "Pan"),
    ("Shift while painting", "Erase with the brush / paint with the eraser"),
    ("SAM: click / right click", "Positive / negative point (refines the mask shown)"),
    ("SAM: drag", "Box prompt"),
    ("SAM: Tab or click a score chip", "Next candidate mask (the one the next click refines)"),
    ("SAM: Backspace or Ctrl+Z", "Take back the last click or box"),
    ("SAM: Enter or A / Shift+Enter", "Add candidate to the final mask / subtract it"),
    ("Polygon: double click or Enter", "Close and fill (Shift: erase)"),
    ("Esc", "Cancel the stroke, polygon or SAM prompts (next click: a new object)"),
)


def by_action() -> dict[str, Shortcut]:
    return {s.action: s for s in SHORTCUTS}


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(620, 640)
        lay = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by action or key…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        lay.addWidget(self.filter)
        rows = [(s.group, s.label, s.keys) for s in SHORTCUTS] + [
            ("Canvas", d, k) for k, d in CANVAS_KEYS
        ]
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["Group", "Action", "Keys"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = table.horizontalHeader()
        for column in (0, 2):  # keys are never cut short; the action takes what is left
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                table.setItem(r, c, QTableWidgetItem(v))
        self.table = table
        lay.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _apply_filter(self, text: str) -> None:
        words = text.casefold().split()
        for r in range(self.table.rowCount()):
            row = " ".join(self.table.item(r, c).text() for c in range(3)).casefold()
            self.table.setRowHidden(r, not all(w in row for w in words))
