"""A line edit with a Browse button for a file or folder path."""

from __future__ import annotations

from typing import Literal

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QToolButton, QWidget

PathKind = Literal["open", "save", "folder"]


class PathField(QWidget):
    def __init__(
        self,
        kind: PathKind,
        caption: str,
        *,
        text: str = "",
        filters: str = "All files (*)",
        placeholder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.kind = kind
        self.caption = caption
        self.filters = filters
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.edit = QLineEdit(text)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.setMinimumWidth(260)
        lay.addWidget(self.edit, 1)
        browse = QToolButton()
        browse.setText("Browse…")
        browse.clicked.connect(self.browse)
        lay.addWidget(browse)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:
        self.edit.setText(text)

    def browse(self) -> None:
        start = self.text()
        if self.kind == "folder":
            chosen = QFileDialog.getExistingDirectory(self, self.caption, start)
        elif self.kind == "open":
            chosen, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.filters)
        else:
            chosen, _ = QFileDialog.getSaveFileName(self, self.caption, start, self.filters)
        if chosen:
            self.edit.setText(chosen)
