"""Review controls under the conversation: the record's status, the selected turn's
proposal-vs-final diff with its colour legend, the comment threads of the record and of the
selected turn (with resolve), approve / reject / reopen, a second review, and history."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from annotator.core.correction import MaskDiff
from annotator.core.model import Decision, Review
from annotator.core.status import Status, is_terminal
from annotator.ui.icons import Icons
from annotator.ui.record_list import STATUS_COLOURS

REVIEW_ID_ROLE = Qt.ItemDataRole.UserRole + 1


class ReviewPanel(QFrame):
    decided = Signal(object, str)  # Decision, comment
    commented = Signal(str, bool)  # text, on the selected turn (else on the record)
    resolveRequested = Signal(int)  # review id
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
        self.thread = QListWidget()
        self.thread.setObjectName("commentThread")
        self.thread.setWordWrap(True)
        self.thread.setSpacing(2)
        self.thread.setAlternatingRowColors(True)  # entries of several lines stay apart
        self.thread.setMaximumHeight(110)
        self.thread.setToolTip("Comments on the record and on the selected turn")
        self.thread.currentItemChanged.connect(lambda *_: self._thread_selection())
        lay.addWidget(self.thread)
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment (Enter posts it; also sent with a decision)")
        self.comment.returnPressed.connect(self._comment)
        lay.addWidget(self.comment)
        talk = QHBoxLayout()
        talk.setSpacing(6)
        self.on_turn = QCheckBox("on turn")
        self.on_turn.setToolTip("Comment on the selected turn rather than the record")
        talk.addWidget(self.on_turn)
        self.post = QPushButton(icons.get("mdi6.comment-plus-outline"), "Comment")
        self.post.clicked.connect(self._comment)
        talk.addWidget(self.post)
        self.resolve = QPushButton(icons.get("mdi6.check-all"), "Resolve")
        self.resolve.setToolTip("Mark the selected comment resolved")
        self.resolve.setEnabled(False)
        self.resolve.clicked.connect(self._resolve)
        talk.addWidget(self.resolve)
        talk.addStretch(1)
        lay.addLayout(talk)
        row = QGridLayout()  # two by two: four labels do not fit a narrow dock in one row
        row.setSpacing(6)
        self.approve = QPushButton(icons.get("mdi6.check-bold", "#ffffff"), "Approve")
        self.approve.setObjectName("approveButton")
        self.reject = QPushButton(icons.get("mdi6.close-thick", "#ffffff"), "Reject")
        self.reject.setObjectName("rejectButton")
        self.reject.setToolTip("Reject the record: asks for a reason code")
        self.reopen = QPushButton(icons.get("mdi6.restore"), "Reopen")
        self.reopen.setToolTip("Reopen the record for review: asks why")
        self.second = QPushButton(icons.get("mdi6.account-multiple-check-outline"), "2nd review")
        self.second.setToolTip("Queue the record for a second reviewer, blind to your verdicts")
        for n, (button, decision) in enumerate(
            (
                (self.approve, Decision.APPROVE),
                (self.reject, Decision.REJECT),
                (self.reopen, Decision.REOPEN),
                (self.second, Decision.REQUEST_SECOND),
            )
        ):
            button.setMinimumWidth(60)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, d=decision: self._decide(d))
            row.addWidget(button, n // 2, n % 2)
        lay.addLayout(row)
        self.blocker = QLabel()  # why Approve is off, without hovering it
        self.blocker.setObjectName("ruleText")
        self.blocker.setTextFormat(Qt.TextFormat.PlainText)
        self.blocker.setWordWrap(True)
        self.blocker.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.blocker)

    def _decide(self, decision: Decision) -> None:
        self.decided.emit(decision, self.comment_text())

    def _comment(self) -> None:
        if self.comment_text():
            self.commented.emit(self.comment_text(), self.on_turn.isChecked())

    def _thread_selection(self) -> None:
        item = self.thread.currentItem()
        self.resolve.setEnabled(item is not None and item.data(REVIEW_ID_ROLE) is not None)

    def _resolve(self) -> None:
        item = self.thread.currentItem()
        if item is not None and item.data(REVIEW_ID_ROLE) is not None:
            self.resolveRequested.emit(int(item.data(REVIEW_ID_ROLE)))

    def clear_comment(self) -> None:
        self.comment.clear()

    def reset_for_record(self) -> None:
        """A newly opened record starts with an empty comment box: one record's words are
        never sent with another's decision."""
        self.comment.clear()
        self.on_turn.setChecked(False)

    def set_thread(self, turn: int, record_thread: list[Review], turn_thread: list[Review]) -> None:
        """The comments on the record, then on ``turn`` (0-based), oldest first."""
        self.on_turn.setText(f"on turn {turn + 1}")
        self.thread.clear()
        for where, entries in (("record", record_thread), (f"turn {turn + 1}", turn_thread)):
            for r in entries:
                when = r.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
                what = "" if r.decision == Decision.COMMENT else f" [{r.decision.value}"
                if what:
                    what += f": {r.reason}]" if r.reason else "]"
                text = f"{r.reviewer} · {when} · {where}{what}\n{r.comment}"
                item = QListWidgetItem(text)
                if r.resolved_by:
                    item.setText(f"{text}\n✔ resolved by {r.resolved_by}")
                    item.setForeground(QColor("#8a8f98"))
                else:
                    item.setData(REVIEW_ID_ROLE, r.id)
                item.setToolTip(escape(r.comment))
                self.thread.addItem(item)
        if not self.thread.count():
            empty = QListWidgetItem("No comments yet")
            empty.setForeground(QColor("#8a8f98"))
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.thread.addItem(empty)
        self._thread_selection()

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
            (self.second, True),
        ):
            if not enabled and button.hasFocus():
                # Disabling a focused widget hands focus to the next one in the chain, a turn
                # card's editor, which would select turn 1 after every approval.
                button.clearFocus()
            button.setEnabled(enabled)
        self.approve.setToolTip("Approve the record (Ctrl+Return)" if can_approve else blocker)
        self.blocker.setText(f"⚠ {blocker}" if blocker and not terminal else "")
        self.blocker.setVisible(bool(blocker) and not terminal)

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
