"""Review actions of the main window: approve / reject / reopen the record, approve or reject a
turn with a reason code, the record's history; and the per-turn verdicts the cards show."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from annotator.core.errors import AnnotatorError
from annotator.core.model import Decision, ReasonCode, Review
from annotator.core.review_rules import ReviewState, apply_review
from annotator.core.status import Status
from annotator.ui.conversation_panel import Verdict
from annotator.ui.history_dialog import HistoryDialog
from annotator.ui.modal import run_modal

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow


def verdicts_of(reviews: list[Review], turn_count: int) -> dict[int, Verdict]:
    """Each turn's standing verdict, folded by the same rules that set the record's status
    (a whole-record approve approves every turn, a reopen clears them), with who gave it."""
    state = ReviewState(Status.IN_REVIEW)
    given: dict[int, Review] = {}
    for r in reviews:  # stored order
        try:
            state = apply_review(state, r, turn_count)
        except AnnotatorError:
            continue  # a review of a turn that no longer exists
        if r.turn_index is not None:
            given[r.turn_index] = r
        elif r.decision == Decision.APPROVE:
            given.update(dict.fromkeys(range(turn_count), r))
    return {
        t: Verdict(
            d, given[t].reason if given[t].turn_index is not None else None, given[t].reviewer
        )
        for t, d in state.verdicts.items()
        if t in given
    }


class ReviewActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window

    def _warn(self, text: str) -> None:
        self.w.jobs.show_message(QMessageBox.Icon.Warning, text)

    def _submit(
        self,
        decision: Decision,
        comment: str,
        *,
        turn_index: int | None = None,
        reason: ReasonCode | None = None,
    ) -> bool:
        """Store a review of the open record (or of one turn); True when it was stored, else
        the user has been told why."""
        w = self.w
        if w.session.document is None:
            return False
        try:
            result = w.session.review(decision, comment, turn_index=turn_index, reason=reason)
        except AnnotatorError as exc:
            self._warn(str(exc))
            return False
        w.on_saved(result)
        if not result.ok:
            self._warn(result.message)
            return False
        self.reload_verdicts()
        return True

    def decide(self, decision: Decision, comment: str = "") -> None:
        if self._submit(decision, comment.strip()):
            self.w.review.clear_comment()
            self.w.refresh_status()

    def reload_verdicts(self) -> None:
        w = self.w
        doc = w.session.document
        if doc is None or doc.id is None:
            return
        try:
            reviews = w.store.reviews(doc.id)
        except AnnotatorError:
            return
        w.panel_state.verdicts = verdicts_of(reviews, doc.turn_count)
        w.refresh_cards()

    def reject_selected_turn(self) -> None:
        turn = self.w.editor.turn
        cards = self.w.conversation.cards
        if 0 <= turn < len(cards):
            self.turn_review(turn, Decision.REJECT, cards[turn].reason_code())

    def turn_review(self, turn: int, decision: Decision, reason: ReasonCode | None) -> None:
        w = self.w
        comment = w.review.comment.text().strip()
        if not self._submit(decision, comment, turn_index=turn, reason=reason):
            return
        w.editor.mark_judged(turn)  # blind-first: the model's output may be shown now
        if turn == w.editor.turn:
            w.refresh_turn()
        else:
            w.refresh_cards()
        w.statusBar().showMessage(
            f"Turn {turn + 1}: {decision.value}"
            + (f" ({reason.value.replace('_', ' ')})" if reason else ""),
            4000,
        )

    def show_history(self) -> None:
        w = self.w
        doc = w.session.document
        if doc is None or doc.id is None:
            return
        run_modal(HistoryDialog(w.store.history(doc.id), f"History of #{doc.id}", w))
