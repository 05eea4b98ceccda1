"""The conversation: a warning when the proposer is a random test model, the record's focus (to
edit), the PRIST rules it breaks, and one card per turn (see ``turn_card``). Selecting a card
shows that turn's masks; text edits are committed when the editor loses focus (one undo step
per edit)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from annotator.core.correction import MaskDiff
from annotator.core.model import SEG_TOKEN, Decision, MaskLayer, Proposal
from annotator.core.review_rules import Verdict
from annotator.services.open_record import OpenRecord
from annotator.services.record_document import RecordDocument
from annotator.ui.icons import Icons
from annotator.ui.turn_card import TurnCard


def diff_html(diff: MaskDiff | None, colours: dict[str, str]) -> str:
    if diff is None:
        return ""
    if diff.iou is None:
        return "<span style='color:#8a8f98'>Mask diff: proposal and final are both empty</span>"
    return (
        f"Mask diff: ΔIoU <b>{1 - diff.iou:.3f}</b> · <b>{diff.changed:,}</b> px changed "
        f"(<span style='color:{colours['diff_added']}'>+{diff.added:,} added</span>, "
        f"<span style='color:{colours['diff_removed']}'>−{diff.removed:,} removed</span>)"
    )


class ConversationPanel(QScrollArea):
    turnSelected = Signal(int)
    textCommitted = Signal(int, str, str)
    useDraft = Signal(int)
    useProposal = Signal(int)
    turnReview = Signal(int, object, object)
    reshape = Signal(int, str)  # turn, what (see TurnCard.reshape)
    focusCommitted = Signal(str)
    typing = Signal(bool)  # typed text waits to be committed (True) or is committed (False)

    def __init__(
        self, icons: Icons, colours: dict[str, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conversationPanel")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._icons = icons
        self._colours = colours
        self._host = QWidget()
        self._host.setObjectName("conversationHost")
        self._host.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._layout = QVBoxLayout(self._host)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self._layout.setSpacing(8)
        self.noise_banner = QLabel()
        self.noise_banner.setObjectName("noiseBanner")
        self.noise_banner.setWordWrap(True)
        self.noise_banner.setVisible(False)
        self._layout.addWidget(self.noise_banner)
        self.focus_edit = QLineEdit()
        self.focus_edit.setObjectName("focusEdit")
        self.focus_edit.setPlaceholderText("Focus: the target the conversation narrows onto")
        self.focus_edit.setToolTip("The focus (Enter or leaving the box saves it)")
        self.focus_edit.editingFinished.connect(
            lambda: self.focusCommitted.emit(self.focus_edit.text())
        )
        self._layout.addWidget(self.focus_edit)
        self.focus_label = QLabel("Open a record from the list")
        self.focus_label.setObjectName("focusLabel")
        self.focus_label.setWordWrap(True)
        self.focus_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._layout.addWidget(self.focus_label)
        self.rules = QLabel()  # the record's own breaches (focus, no turn)
        self.rules.setObjectName("ruleText")
        self.rules.setWordWrap(True)
        self.rules.setVisible(False)
        self._layout.addWidget(self.rules)
        self._layout.addStretch(1)
        self.setWidget(self._host)
        self.setMinimumWidth(280)
        self.cards: list[TurnCard] = []
        self._pool: list[TurnCard] = []
        self.selected = -1

    def commit_pending(self) -> None:
        """Commit the text being typed (a card's editor or the focus) before any other action
        (a review, a shortcut, another record, a turn move): each editor commits to the turn it
        shows now, and gives up focus so it commits nothing later to a turn that moved."""
        for card in self.cards:
            for editor in card.editors:
                editor.commit_pending()
        if self.focus_edit.isModified():
            self.focus_edit.setModified(False)
            self.focusCommitted.emit(self.focus_edit.text())
        widget = QApplication.focusWidget()
        if widget is not None and self.isAncestorOf(widget):
            widget.clearFocus()

    def _typing_changed(self, _typing: bool) -> None:
        self.typing.emit(
            any(e.document().isModified() for card in self.cards for e in card.editors)
        )

    def set_noise_warning(self, text: str) -> None:
        """A banner above the cards ("" hides it)."""
        self.noise_banner.setText(text)
        self.noise_banner.setVisible(bool(text))

    def show_record(self, record: OpenRecord) -> None:
        """Fill the cards for the open record; cards are reused between records (building
        widgets is the slowest part of switching records)."""
        doc = record.document
        assert doc is not None
        conv = doc.conversation
        self.focus_label.setText(
            f"<span style='color:#8a8f98'>#{conv.id} · {escape(conv.image.path)} · "
            f"{conv.image.width}×{conv.image.height}</span>"
        )
        while len(self._pool) < doc.turn_count:
            card = TurnCard(len(self._pool), self._icons)
            card.clicked.connect(self.turnSelected)
            card.textCommitted.connect(self.textCommitted)
            card.useDraft.connect(self.useDraft)
            card.useProposal.connect(self.useProposal)
            card.review.connect(self.turnReview)
            card.reshape.connect(self.reshape)
            for editor in card.editors:
                editor.typing.connect(self._typing_changed)
            self._layout.insertWidget(self._layout.count() - 1, card)
            self._pool.append(card)
        reasons = record.reason_codes()
        for i, card in enumerate(self._pool):
            card.setVisible(i < doc.turn_count)
            if i < doc.turn_count:
                card.reason.set_entries(reasons)
                card.set_reason(None)  # one record's choice never carries to the next
                card.set_position(doc.turn_count)
                card.question.setPlainText("")
                card.draft.setPlainText("")
                card.final.setPlainText("")
        self.cards = self._pool[: doc.turn_count]
        self.refresh(record)

    def refresh(self, record: OpenRecord) -> None:
        doc = record.document
        if doc is None:
            return
        if not self.focus_edit.hasFocus() and self.focus_edit.text() != doc.focus:
            self.focus_edit.setText(doc.focus)
        breaches = record.breaches()
        whole = [b.message for b in breaches if b.turn is None]
        self.rules.setText("<br>".join(f"⚠ {escape(m)}" for m in whole))
        self.rules.setVisible(bool(whole))
        for card in self.cards:
            i = card.index
            turn = doc.turn(i)
            card.question.set_text_quietly(doc.text(i, "question") or "")
            draft = doc.text(i, "draft_answer") or ""
            card.draft.set_text_quietly(draft)
            card.final.set_text_quietly(doc.text(i, "final_answer") or "")
            card.set_notes(
                [b.message for b in breaches if b.turn == i], turn.text_after_verified_mask
            )
            p = record.proposals.get(i)
            blind = record.model_hidden(i)
            card.proposal_caption.setVisible(p is not None)
            card.proposal.setVisible(p is not None)
            card.take_proposal.setEnabled(p is not None and not blind)
            if p is not None:
                noise = record.is_noise(p)
                card.proposal_title.setText(
                    f"Model proposal · {p.proposer} {p.proposer_version}"
                    + ("  ⚠ NOISE: random test model" if noise else "")
                )
                card.proposal.setText(
                    "<i>hidden until you judge this turn (blind-first review)</i>"
                    if blind
                    else escape(p.answer or "—")
                )
            card.badges.setText(self._badges(doc, i, p, draft))
            self._show_diff(card, blind, record.known_diff(i))
            verdict = record.verdict(i)
            card.verdict.setText(self._verdict(verdict))
            card.verdict.setToolTip(self._verdict_tip(verdict))
            card.verdict.setVisible(verdict is not None)

    def _badges(self, doc: RecordDocument, i: int, p: Proposal | None, draft: str) -> str:
        c = self._colours
        out = []
        if doc.has_mask((i, MaskLayer.DRAFT)):
            out.append(f"<span style='color:{c['draft']}'>● draft</span>")
        if p is not None and p.masks:
            out.append(f"<span style='color:{c['proposal']}'>● proposal</span>")
        if doc.has_mask((i, MaskLayer.FINAL)):
            out.append(f"<span style='color:{c['final']}'>● final</span>")
        if SEG_TOKEN in (draft or ""):
            out.append("<span style='color:#c792ea'>[SEG]</span>")
        return "  ".join(out)

    @staticmethod
    def _verdict(v: Verdict | None) -> str:
        if v is None:
            return ""
        who = f"<small>{escape(v.reviewer)}</small>"
        if v.decision == Decision.APPROVE:
            text = f"<span style='color:#2ecc71'>✔ OK</span> {who}"
        else:
            reason = escape(v.reason.replace("_", " ")) if v.reason else "rejected"
            text = f"<span style='color:#e74c3c'>✘ {reason}</span> {who}"
        if v.stale:
            text += " <span style='color:#f5a623'>⚠ stale</span>"
        return text

    @staticmethod
    def _verdict_tip(v: Verdict | None) -> str:
        if v is None or not v.stale:
            return ""
        return (
            f"{v.reviewer}'s verdict was given before this turn changed: judge the turn again "
            "(approving the record is refused until then)"
        )

    def show_diffs(self, record: OpenRecord) -> None:
        """Only the diff rows (they are computed after the record is on screen)."""
        for card in self.cards:
            i = card.index
            self._show_diff(card, record.model_hidden(i), record.known_diff(i))

    def _show_diff(self, card: TurnCard, blind: bool, diff: MaskDiff | None) -> None:
        card.diff.setText("" if blind else diff_html(diff, self._colours))
        card.diff.setVisible(not blind and diff is not None)

    def select(self, index: int) -> None:
        self.selected = index
        for card in self.cards:
            card.set_selected(card.index == index)
        if 0 <= index < len(self.cards):
            # After the cards are laid out for this record (their heights change with the text).
            QTimer.singleShot(0, lambda: self._scroll_to(index))

    def _scroll_to(self, index: int) -> None:
        """Bring the selected card into view, its top first when it is taller than the view."""
        if index != self.selected or not 0 <= index < len(self.cards):
            return
        card = self.cards[index]
        bar = self.verticalScrollBar()
        top, bottom = card.y(), card.y() + card.height()
        view = self.viewport().height()
        if top >= bar.value() and bottom <= bar.value() + view:
            return  # already fully visible
        if card.height() > view or top < bar.value():
            bar.setValue(top - 8)
        else:
            bar.setValue(bottom - view + 8)
