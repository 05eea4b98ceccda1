"""Review intents from the window's widgets to the open record: approve / reject / reopen the
record, approve or reject a turn with a reason code, and the record's history. Refusals are
shown in a dialog; the cards and the review panel redraw from the record's notifications."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from annotator.core.errors import AnnotatorError
from annotator.core.model import Decision, ReasonCode
from annotator.services.open_record import OpenRecord
from annotator.ui.conversation_panel import ConversationPanel
from annotator.ui.history_dialog import HistoryDialog
from annotator.ui.modal import run_modal
from annotator.ui.review_panel import ReviewPanel

Warn = Callable[[QMessageBox.Icon, str], object]
Notify = Callable[[str], None]


class ReviewActions(QObject):
    def __init__(
        self,
        record: OpenRecord,
        review: ReviewPanel,
        conversation: ConversationPanel,
        warn: Warn,
        notify: Notify,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._record = record
        self._review = review
        self._conversation = conversation
        self._warn = lambda text: warn(QMessageBox.Icon.Warning, text)
        self._notify = notify
        self._parent = parent

    def _submit(
        self,
        decision: Decision,
        comment: str,
        *,
        turn: int | None = None,
        reason: ReasonCode | None = None,
    ) -> bool:
        """Store a review of the open record (or of one turn); True when it was stored, else
        the user has been told why."""
        if self._record.document is None:
            return False
        try:
            result = self._record.review(decision, comment, turn=turn, reason=reason)
        except AnnotatorError as exc:
            self._warn(str(exc))
            return False
        if not result.ok:
            self._warn(result.message)
        return result.ok

    def decide(self, decision: Decision, comment: str | None = None) -> None:
        """A whole-record decision; the comment box's text unless ``comment`` is given."""
        text = self._review.comment_text() if comment is None else comment.strip()
        if self._submit(decision, text):
            self._review.clear_comment()

    def turn_review(self, turn: int, decision: Decision, reason: ReasonCode | None) -> None:
        if not self._submit(decision, self._review.comment_text(), turn=turn, reason=reason):
            return
        self._notify(
            f"Turn {turn + 1}: {decision.value}"
            + (f" ({reason.value.replace('_', ' ')})" if reason else "")
        )

    def reject_selected_turn(self) -> None:
        turn = self._record.turn
        cards = self._conversation.cards
        if 0 <= turn < len(cards):
            self.turn_review(turn, Decision.REJECT, cards[turn].reason_code())

    def show_history(self) -> None:
        doc = self._record.document
        if doc is None or doc.id is None:
            return
        run_modal(HistoryDialog(self._record.history(), f"History of #{doc.id}", self._parent))
