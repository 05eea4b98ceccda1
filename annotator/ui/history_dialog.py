"""The record's history as a timeline: who changed what, when, in plain sentences.

The table gives one line per change; the pane below it shows the selected change in full (a
review comment or an answer is never cut). A text filter and a kind filter narrow the list.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import HistoryEvent
from annotator.services.history_timeline import KINDS, TimelineEntry, timeline

COLUMNS = ("When", "Who", "Kind", "What")
WHEN, WHO, KIND, WHAT = range(len(COLUMNS))
KIND_LABELS = {
    "review": "Reviews",
    "status": "Status",
    "text": "Text",
    "mask": "Masks",
    "turns": "Turns",
    "proposal": "Proposals",
    "import": "Import & creation",
    "record": "Delete & restore",
    "other": "Other",
}
ALL = ""  # the kind filter's data for "All"
ENTRY_ROLE = Qt.ItemDataRole.UserRole  # on the When cell: the row's index into entries


def local_time(entry: TimelineEntry) -> str:
    return entry.when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def full_text(entry: TimelineEntry) -> str:
    head = f"{local_time(entry)} — {entry.who}\n{entry.summary}"
    return f"{head}\n\n{entry.detail}" if entry.detail else head


class HistoryDialog(QDialog):
    def __init__(
        self, events: list[HistoryEvent], title: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(960, 620)
        self.entries = timeline(events)
        lay = QVBoxLayout(self)
        lay.addLayout(self._build_filters())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._build_table())
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.detail.setPlaceholderText("Select a change to read it in full")
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        lay.addWidget(splitter, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._fill()

    # -- building --------------------------------------------------------------------------
    def _build_filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by who, what or detail…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(lambda _text: self._apply_filter())
        row.addWidget(self.filter, 1)
        self.kind = QComboBox()
        self.kind.addItem(f"All ({len(self.entries)})", ALL)
        for kind in KINDS:
            count = sum(1 for e in self.entries if e.kind == kind)
            self.kind.addItem(f"{KIND_LABELS.get(kind, kind)} ({count})", kind)
        self.kind.currentIndexChanged.connect(lambda _index: self._apply_filter())
        row.addWidget(self.kind)
        self.newest_first = QCheckBox("Newest first")
        self.newest_first.toggled.connect(lambda _on: self._fill())
        row.addWidget(self.newest_first)
        self.shown = QLabel()
        row.addWidget(self.shown)
        return row

    def _build_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(list(COLUMNS))
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setWordWrap(False)  # one line a change; the pane below has it in full
        header = table.horizontalHeader()
        for column in (WHEN, WHO, KIND):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(WHAT, QHeaderView.ResizeMode.Stretch)
        table.currentCellChanged.connect(lambda row, *_: self._show(row))
        self.table = table
        return table

    # -- content ---------------------------------------------------------------------------
    def _fill(self) -> None:
        """(Re)build the rows in the chosen order; the selected change stays selected."""
        selected = self.entry_index(self.table.currentRow())
        order = list(range(len(self.entries)))
        if self.newest_first.isChecked():
            order.reverse()
        table = self.table
        table.setCurrentCell(-1, -1)
        table.setRowCount(len(order))
        for row, index in enumerate(order):
            entry = self.entries[index]
            values = (local_time(entry), entry.who, entry.kind, entry.summary)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column == WHAT:
                    item.setToolTip(entry.summary)
                table.setItem(row, column, item)
            table.item(row, WHEN).setData(ENTRY_ROLE, index)
        if selected is not None:
            table.setCurrentCell(order.index(selected), WHAT)
        self._apply_filter()

    def entry_index(self, row: int) -> int | None:
        item = self.table.item(row, WHEN) if row >= 0 else None
        return None if item is None else int(item.data(ENTRY_ROLE))

    def entry_at(self, row: int) -> TimelineEntry | None:
        index = self.entry_index(row)
        return None if index is None else self.entries[index]

    def _matches(self, entry: TimelineEntry, words: list[str], kind: str) -> bool:
        if kind != ALL and entry.kind != kind:
            return False
        text = " ".join((local_time(entry), entry.who, entry.kind, entry.summary, entry.detail))
        folded = text.casefold()
        return all(w in folded for w in words)

    def _apply_filter(self) -> None:
        words = self.filter.text().casefold().split()
        kind = str(self.kind.currentData() or ALL)
        table = self.table
        visible: list[int] = []
        for row in range(table.rowCount()):
            entry = self.entry_at(row)
            hide = entry is None or not self._matches(entry, words, kind)
            table.setRowHidden(row, hide)
            if not hide:
                visible.append(row)
        self.shown.setText(f"{len(visible)} of {len(self.entries)} shown")
        current = table.currentRow()
        if current in visible:
            self._show(current)
        elif visible:
            table.setCurrentCell(visible[0], WHAT)  # the pane follows (currentCellChanged)
        else:
            table.setCurrentCell(-1, -1)
            self._show(-1)

    def _show(self, row: int) -> None:
        entry = self.entry_at(row) if not self.table.isRowHidden(row) else None
        self.detail.setPlainText(full_text(entry) if entry is not None else "")
