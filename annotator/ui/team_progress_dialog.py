"""The team's progress per person: records held now, done and reviewed today, and what became of
the records each one edited last (approved, rejected)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.services.team_work import ProgressLike

COLUMNS = (
    ("person", "Person"),
    ("claimed", "Holding"),
    ("done_today", "Edited today"),
    ("reviewed_today", "Judged today"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
)


class TeamProgressDialog(QDialog):
    def __init__(self, rows: Sequence[ProgressLike], me: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Team progress")
        self.resize(640, 360)
        layout = QVBoxLayout(self)
        note = QLabel(
            "Today counts from 00:00 UTC. Approved and rejected: records whose last edit is "
            "theirs." + (f" You are {me}." if me else "")
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        self.table = QTableWidget(len(rows), len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels([title for _key, title in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        for r, row in enumerate(rows):
            for c, (key, _title) in enumerate(COLUMNS):
                value = getattr(row, key)
                item = QTableWidgetItem(str(value))
                if isinstance(value, int):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, c, item)
        if not rows:
            layout.addWidget(QLabel("Nobody has worked on this database yet."))
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
