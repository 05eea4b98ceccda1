"""Review controls: status, comment, approve / reject / reopen, and the proposal-vs-final diff."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import Decision
from annotator.core.status import Status
from annotator.ui.record_list import STATUS_COLOURS


class ReviewPanel(QFrame):
    decided = Signal(object, str)  # Decision, comment
    historyRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewPanel")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        top = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("statusBadge")
        top.addWidget(self.status)
        top.addStretch(1)
        hist = QPushButton(qta.icon("mdi6.history", color="#c8ccd4"), "History")
        hist.setToolTip("Who changed what, when (Ctrl+H)")
        hist.clicked.connect(self.historyRequested)
        top.addWidget(hist)
        lay.addLayout(top)
        self.diff = QLabel()
        self.diff.setObjectName("diffLabel")
        self.diff.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.diff)
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment for the review (optional)")
        lay.addWidget(self.comment)
        row = QHBoxLayout()
        self.approve = QPushButton(qta.icon("mdi6.check-bold", color="white"), "Approve")
        self.approve.setObjectName("approveButton")
        self.reject = QPushButton(qta.icon("mdi6.close-thick", color="white"), "Reject")
        self.reject.setObjectName("rejectButton")
        self.reopen = QPushButton(qta.icon("mdi6.restore", color="#c8ccd4"), "Reopen")
        for button, decision in (
            (self.approve, Decision.APPROVE),
            (self.reject, Decision.REJECT),
            (self.reopen, Decision.REOPEN),
        ):
            button.clicked.connect(lambda _=False, d=decision: self._decide(d))
            row.addWidget(button)
        lay.addLayout(row)

    def _decide(self, decision: Decision) -> None:
        self.decided.emit(decision, self.comment.text().strip())

    def clear_comment(self) -> None:
        self.comment.clear()

    def set_status(self, status: Status, can_approve: bool) -> None:
        colour = STATUS_COLOURS.get(status)
        name = status.value.replace("_", " ").upper()
        self.status.setText(
            f"<span style='color:{colour.name() if colour else '#ccc'}'>● {name}</span>"
        )
        terminal = status in (Status.APPROVED, Status.REJECTED)
        self.approve.setEnabled(not terminal and can_approve)
        self.approve.setToolTip(
            "Approve the record (Ctrl+Return)"
            if can_approve
            else "Approving needs a non-empty final mask on the target turn"
        )
        self.reject.setEnabled(not terminal)
        self.reopen.setEnabled(terminal)

    def set_diff(self, stats: tuple[int, float | None, int, int] | None) -> None:
        if stats is None:
            self.diff.setText("<span style='color:#8a8f98'>No proposal for this turn</span>")
            return
        changed, iou, added, removed = stats
        iou_text = "–" if iou is None else f"{iou:.3f}"
        delta = "–" if iou is None else f"{1 - iou:.3f}"
        plus = f"<span style='color:#3498db'>+{added:,}</span>"
        minus = f"<span style='color:#e74c3c'>−{removed:,}</span>"
        self.diff.setText(
            f"Proposal → final: IoU <b>{iou_text}</b> · ΔIoU <b>{delta}</b> · "
            f"changed <b>{changed:,}</b> px ({plus} / {minus})"
        )
