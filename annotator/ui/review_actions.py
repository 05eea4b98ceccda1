"""Review intents from the window's widgets to the open record: approve / reject / reopen the
record, approve or reject a turn with a reason code, comment and resolve, ask for a second
review, and the record's history. A reject asks for its reason and a reopen for its why when
none was given; refusals are shown in a dialog; the cards and the review panel redraw from the
record's notifications."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from annotator.core.errors import AnnotatorError
from annotator.core.model import Decision
from annotator.services.open_record import OpenRecord
from annotator.services.record_document import RecordDocument
from annotator.ui.conversation_panel import ConversationPanel
from annotator.ui.history_dialog import HistoryDialog
from annotator.ui.modal import run_modal
from annotator.ui.reason_dialog import ReasonDialog
from annotator.ui.review_panel import ReviewPanel
from annotator.ui.status_line import StatusLine

Warn = Callable[[QMessageBox.Icon, str], object]
Notify = Callable[[str], None]


class ReviewActions(QObject):
    def __init__(
        self,
        record: OpenRecord,
        review: ReviewPanel,
        conversation: ConversationPanel,
        status: StatusLine,
        warn: Warn,
        notify: Notify,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._record = record
        self._review = review
        self._conversation = conversation
        self._status = status
        self._warn = lambda text: warn(QMessageBox.Icon.Warning, text)
        self._notify = notify
        self._parent = parent
        conversation.turnReview.connect(self.turn_review)
        conversation.typing.connect(self._typing)
        review.decided.connect(self.decide)
        review.commented.connect(self.comment)
        review.resolveRequested.connect(self.resolve)
        review.historyRequested.connect(self.show_history)
        # No action runs ahead of the text being typed, and an approved record is not
        # edited without a warning.
        record.before_action.append(conversation.commit_pending)
        record.session.confirm_edit_approved = self.confirm_edit_approved

    def _typing(self, typing: bool) -> None:
        """Typed text is not saved until it is committed: the status line says so."""
        doc = self._record.document
        if doc is None:
            return
        if typing:
            self._status.show_saved(
                f"#{doc.id} · UNSAVED · typing (saved on leaving the box)", False
            )
        else:
            self._status.show_saved(f"#{doc.id} · rev {doc.conversation.revision} · saved", True)

    def _submit(
        self,
        decision: Decision,
        comment: str,
        *,
        turn: int | None = None,
        reason: str | None = None,
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

    def _ask(
        self, title: str, prompt: str, comment: str, *, code: bool
    ) -> tuple[str | None, str] | None:
        """(reason code, comment) from the user, or None when they cancelled."""
        entries = self._record.reason_codes() if code else []
        dialog = ReasonDialog(title, prompt, entries, comment, self._parent)
        if not run_modal(dialog):
            return None
        return dialog.code(), dialog.comment_text()

    def decide(self, decision: Decision, comment: str | None = None) -> None:
        """A whole-record decision; the comment box's text unless ``comment`` is given. A
        reject asks for its reason code, a reopen for why."""
        text = self._review.comment_text() if comment is None else comment.strip()
        reason = None
        if decision == Decision.REJECT:
            asked = self._ask("Reject the record", "Why is the record rejected?", text, code=True)
            if asked is None:
                return
            reason, text = asked
        elif decision == Decision.REOPEN:
            asked = self._ask("Reopen the record", "Why is it reopened?", text, code=False)
            if asked is None:
                return
            text = asked[1]
        if self._submit(decision, text, reason=reason):
            self._review.clear_comment()
            if decision == Decision.REQUEST_SECOND:
                self._notify("Queued for a second, blind review")

    def turn_review(self, turn: int, decision: Decision, reason: str | None) -> None:
        text = self._review.comment_text() if self._review.on_turn.isChecked() else ""
        if decision == Decision.REJECT and reason is None:
            asked = self._ask(
                f"Reject turn {turn + 1}", f"Why is turn {turn + 1} rejected?", text, code=True
            )
            if asked is None:
                return
            reason, text = asked
        if not self._submit(decision, text, turn=turn, reason=reason):
            return
        if text:
            self._review.clear_comment()
        self._notify(
            f"Turn {turn + 1}: {decision.value}"
            + (f" ({reason.replace('_', ' ')})" if reason else "")
        )

    def reject_selected_turn(self) -> None:
        turn = self._record.turn
        if 0 <= turn < len(self._conversation.cards):
            self.turn_review(turn, Decision.REJECT, self._conversation.cards[turn].reason_code())

    def comment(self, text: str, on_turn: bool) -> None:
        turn = self._record.turn if on_turn else None
        if self._submit(Decision.COMMENT, text, turn=turn):
            self._review.clear_comment()

    def resolve(self, review_id: int) -> None:
        try:
            self._record.resolve(review_id)
        except AnnotatorError as exc:
            self._warn(str(exc))

    def confirm_edit_approved(self, doc: RecordDocument) -> bool:
        """Asked before the first edit of an approved record: the edit sends it back to
        review."""
        answer = QMessageBox.question(
            self._parent,
            "Edit an approved record?",
            f"Record #{doc.id} is approved. Editing it sends it back to review, and it will "
            "have to be approved again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def show_history(self) -> None:
        doc = self._record.document
        if doc is None or doc.id is None:
            return
        run_modal(HistoryDialog(self._record.history(), f"History of #{doc.id}", self._parent))
