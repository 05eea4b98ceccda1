"""The record's history: who changed what, when (oldest first)."""

from __future__ import annotations

import json

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import HistoryEvent


class HistoryDialog(QDialog):
    def __init__(
        self, events: list[HistoryEvent], title: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(820, 460)
        lay = QVBoxLayout(self)
        table = QTableWidget(len(events), 4)
        table.setHorizontalHeaderLabels(["When", "Who", "What", "Detail"])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for row, ev in enumerate(events):
            detail = {k: v for k, v in ev.detail.items() if k not in ("edits",)}
            values = [
                ev.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                ev.actor,
                ev.action,
                json.dumps(detail, default=str, ensure_ascii=False)[:400],
            ]
            for col, value in enumerate(values):
                table.setItem(row, col, QTableWidgetItem(value))
        table.resizeColumnsToContents()
        self.table = table
        lay.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
