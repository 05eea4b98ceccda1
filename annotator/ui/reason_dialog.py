"""Asked before a reject (a reason code from the project's list, and a comment) or a reopen
(why): a decision without them is not stored."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import ReasonEntry


class ReasonDialog(QDialog):
    """``entries`` empty: only the comment is asked for, and it is required (a reopen)."""

    def __init__(
        self,
        title: str,
        prompt: str,
        entries: list[ReasonEntry],
        comment: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("reasonDialog")
        self.setMinimumWidth(420)
        lay = QVBoxLayout(self)
        label = QLabel(prompt)
        label.setWordWrap(True)
        lay.addWidget(label)
        form = QFormLayout()
        self.reason = QComboBox()
        self.reason.addItem("choose a reason…", None)
        for e in entries:
            self.reason.addItem(e.label, e.code)
        self.reason.currentIndexChanged.connect(lambda _i: self._update())
        if entries:
            form.addRow("Reason", self.reason)
        self.comment = QLineEdit(comment)
        self.comment.setPlaceholderText("optional" if entries else "required: say why")
        self.comment.textChanged.connect(lambda _t: self._update())
        form.addRow("Comment", self.comment)
        lay.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._needs_code = bool(entries)
        self._update()

    def _update(self) -> None:
        ok = bool(self.code()) if self._needs_code else bool(self.comment_text())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def code(self) -> str | None:
        data = self.reason.currentData()
        return str(data) if data else None

    def comment_text(self) -> str:
        return self.comment.text().strip()
