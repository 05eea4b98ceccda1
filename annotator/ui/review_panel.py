"""Review controls under the conversation: the record's status, the selected turn's
proposal-vs-final diff with its colour legend, a comment, approve / reject / reopen, history."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from annotator.core.correction import MaskDiff
from annotator.core.model import Decision
from annotator.core.status import Status, is_terminal
from annotator.ui.icons import Icons
from annotator.ui.record_list import STATUS_COLOURS


class ReviewPanel(QFrame):
    decided = Signal(object, str)  # Decision, comment
    historyRequested = Signal()

    def __init__(
        self, icons: Icons, colours: dict[str, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("reviewPanel")
        self._colours = colours
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 10)
        lay.setSpacing(6)
        top = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("statusBadge")
        top.addWidget(self.status)
        top.addStretch(1)
        hist = QPushButton(icons.get("mdi6.history"), "History")
        hist.setToolTip("Who changed what, when (Ctrl+H)")
        hist.clicked.connect(self.historyRequested)
        top.addWidget(hist)
        lay.addLayout(top)
        self.diff = QLabel()
        self.diff.setObjectName("diffLabel")
        self.diff.setTextFormat(Qt.TextFormat.RichText)
        self.diff.setWordWrap(True)
        self.diff.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.diff)
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment for the review (optional)")
        lay.addWidget(self.comment)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.approve = QPushButton(icons.get("mdi6.check-bold", "#ffffff"), "Approve")
        self.approve.setObjectName("approveButton")
        self.reject = QPushButton(icons.get("mdi6.close-thick", "#ffffff"), "Reject")
        self.reject.setObjectName("rejectButton")
        self.reopen = QPushButton(icons.get("mdi6.restore"), "Reopen")
        for button, decision in (
            (self.approve, Decision.APPROVE),
            (self.reject, Decision.REJECT),
            (self.reopen, Decision.REOPEN),
        ):
            button.setMinimumWidth(60)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, d=decision: self._decide(d))
            row.addWidget(button)
        lay.addLayout(row)

    def _decide(self, decision: Decision) -> None:
        self.decided.emit(decision, self.comment_text())

    def clear_comment(self) -> None:
        self.comment.clear()

    def set_status(self, status: Status, blocker: str) -> None:
        """``blocker``: why approving is refused now ("" when it is not)."""
        can_approve = not blocker
        colour = STATUS_COLOURS.get(status)
        name = status.value.replace("_", " ").upper()
        self.status.setText(
            f"<span style='color:{colour.name() if colour else '#ccc'}'>● {name}</span>"
        )
        terminal = is_terminal(status)
        for button, enabled in (
            (self.approve, not terminal and can_approve),
            (self.reject, not terminal),
            (self.reopen, terminal),
        ):
            if not enabled and button.hasFocus():
                # Disabling a focused widget hands focus to the next one in the chain, a turn
                # card's editor, which would select turn 1 after every approval.
                button.clearFocus()
            button.setEnabled(enabled)
        self.approve.setToolTip("Approve the record (Ctrl+Return)" if can_approve else blocker)

    def comment_text(self) -> str:
        return self.comment.text().strip()

    def set_diff(self, turn: int, diff: MaskDiff | None, hidden: bool = False) -> None:
        c = self._colours
        if hidden:
            self.diff.setText(
                f"<span style='color:#8a8f98'>Turn {turn + 1}: the model's mask is hidden until "
                "you judge the turn (blind-first)</span>"
            )
            return
        if diff is None:
            self.diff.setText(
                f"<span style='color:#8a8f98'>Turn {turn + 1}: nothing to compare yet (the diff"
                " needs both a model proposal and a final mask)</span>"
            )
            return
        iou = diff.iou
        iou_text = "–" if iou is None else f"{iou:.3f}"
        delta = "–" if iou is None else f"{1 - iou:.3f}"
        self.diff.setText(
            f"Turn {turn + 1}, proposal → final: IoU <b>{iou_text}</b> · ΔIoU <b>{delta}</b> · "
            f"<b>{diff.changed:,}</b> px changed<br>"
            f"<span style='color:{c['diff_kept']}'>■ kept</span>  "
            f"<span style='color:{c['diff_added']}'>■ added +{diff.added:,}</span>  "
            f"<span style='color:{c['diff_removed']}'>■ removed −{diff.removed:,}</span>"
        )
        self.diff.setToolTip("Show the diff on the canvas with View > Show diff (key 4)")
