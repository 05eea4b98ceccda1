"""The conversation: one card per turn with the question, the draft answer, the model's proposed
answer and the verified answer. Selecting a card shows that turn's masks; text edits are
committed when the editor loses focus (one undo step per edit)."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import SEG_TOKEN, Decision, MaskLayer, Proposal, ReasonCode
from annotator.services.record_document import RecordDocument


class CommitTextEdit(QPlainTextEdit):
    """Emits ``committed`` with the text when focus leaves or Ctrl+Enter is pressed."""

    committed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.document().contentsChanged.connect(self._fit)

    def _fit(self) -> None:
        doc = self.document()
        doc.setTextWidth(max(50, self.viewport().width()))
        height = int(doc.documentLayout().documentSize().height())
        self.setFixedHeight(max(34, min(180, height + 12)))

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._fit()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self.committed.emit(self.toPlainText())
        super().focusOutEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.committed.emit(self.toPlainText())
            return
        super().keyPressEvent(event)

    def set_text_quietly(self, text: str) -> None:
        if self.toPlainText() != text and not self.hasFocus():
            self.setPlainText(text)


def _caption(text: str, icon: str, colour: str) -> QWidget:
    """A small icon and a label above a text block."""
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 4, 0, 0)
    lay.setSpacing(4)
    ic = QLabel()
    ic.setPixmap(qta.icon(icon, color=colour).pixmap(QSize(13, 13)))
    lay.addWidget(ic)
    lab = QLabel(text)
    lab.setObjectName("caption")
    lay.addWidget(lab)
    lay.addStretch(1)
    return w


class TurnCard(QFrame):
    clicked = Signal(int)
    textCommitted = Signal(int, str, str)
    useDraft = Signal(int)
    useProposal = Signal(int)
    review = Signal(int, object, object)  # turn, Decision, ReasonCode | None

    def __init__(self, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setObjectName("turnCard")
        self.setProperty("selected", False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 10)
        lay.setSpacing(3)
        head = QHBoxLayout()
        self.title = QLabel(f"Turn {index + 1}")
        self.title.setObjectName("turnTitle")
        head.addWidget(self.title)
        self.badges = QLabel()
        self.badges.setObjectName("badges")
        head.addWidget(self.badges)
        head.addStretch(1)
        self.reason = QComboBox()
        self.reason.addItem("reason…", None)
        for code in ReasonCode:
            self.reason.addItem(code.value.replace("_", " "), code)
        self.reason.setToolTip("Reason for rejecting this turn")
        head.addWidget(self.reason)
        ok = QToolButton()
        ok.setIcon(qta.icon("mdi6.check-circle-outline", color="#2ecc71"))
        ok.setToolTip("Approve this turn")
        ok.clicked.connect(lambda: self.review.emit(self.index, Decision.APPROVE, None))
        bad = QToolButton()
        bad.setIcon(qta.icon("mdi6.close-circle-outline", color="#e74c3c"))
        bad.setToolTip("Reject this turn with the chosen reason")
        bad.clicked.connect(
            lambda: self.review.emit(self.index, Decision.REJECT, self.reason.currentData())
        )
        head.addWidget(ok)
        head.addWidget(bad)
        lay.addLayout(head)

        lay.addWidget(_caption("Question", "mdi6.account-question-outline", "#9aa4b2"))
        self.question = CommitTextEdit()
        self.question.committed.connect(
            lambda t: self.textCommitted.emit(self.index, "question", t)
        )
        lay.addWidget(self.question)

        lay.addWidget(_caption("Draft answer", "mdi6.file-document-edit-outline", "#f5a623"))
        self.draft = QLabel()
        self.draft.setWordWrap(True)
        self.draft.setObjectName("draftText")
        self.draft.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.draft)

        self.proposal_caption = _caption("MIRAS proposal", "mdi6.robot-outline", "#4a90e2")
        lay.addWidget(self.proposal_caption)
        self.proposal = QLabel()
        self.proposal.setWordWrap(True)
        self.proposal.setObjectName("proposalText")
        self.proposal.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.proposal)

        row = QHBoxLayout()
        row.addWidget(_caption("Verified answer", "mdi6.check-decagram-outline", "#2ecc71"))
        take_draft = QToolButton()
        take_draft.setText("From draft")
        take_draft.setIcon(qta.icon("mdi6.arrow-down-bold-outline", color="#f5a623"))
        take_draft.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        take_draft.setToolTip("Take the draft answer (and draft mask when the final one is empty)")
        take_draft.clicked.connect(lambda: self.useDraft.emit(self.index))
        self.take_proposal = QToolButton()
        self.take_proposal.setText("From proposal")
        self.take_proposal.setIcon(qta.icon("mdi6.arrow-down-bold-outline", color="#4a90e2"))
        self.take_proposal.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.take_proposal.setToolTip("Take MIRAS's answer and mask")
        self.take_proposal.clicked.connect(lambda: self.useProposal.emit(self.index))
        row.addWidget(take_draft)
        row.addWidget(self.take_proposal)
        lay.addLayout(row)
        self.final = CommitTextEdit()
        self.final.setPlaceholderText("not verified yet")
        self.final.committed.connect(
            lambda t: self.textCommitted.emit(self.index, "final_answer", t)
        )
        lay.addWidget(self.final)

    def set_target(self, is_target: bool) -> None:
        self.title.setText(f"Turn {self.index + 1}" + ("  ·  target" if is_target else ""))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit(self.index)
        super().mousePressEvent(event)

    def set_selected(self, selected: bool) -> None:
        self.setProperty("selected", selected)
        self.style().unpolish(self)
        self.style().polish(self)


class ConversationPanel(QScrollArea):
    turnSelected = Signal(int)
    textCommitted = Signal(int, str, str)
    useDraft = Signal(int)
    useProposal = Signal(int)
    turnReview = Signal(int, object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationPanel")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._host = QWidget()
        self._layout = QVBoxLayout(self._host)
        self._layout.setContentsMargins(6, 6, 6, 6)
        self._layout.setSpacing(8)
        self.focus_label = QLabel()
        self.focus_label.setObjectName("focusLabel")
        self.focus_label.setWordWrap(True)
        self._layout.addWidget(self.focus_label)
        self._layout.addStretch(1)
        self.setWidget(self._host)
        self.cards: list[TurnCard] = []
        self._pool: list[TurnCard] = []
        self.selected = -1
        self._hide_model = False

    def show_record(self, doc: RecordDocument, proposals: dict[int, Proposal]) -> None:
        """Fill the cards for ``doc``; cards are reused between records (building widgets is
        the slowest part of switching records)."""
        conv = doc.conversation
        self.focus_label.setText(
            f"<b>Focus:</b> {conv.focus}   "
            f"<span style='color:#8a8f98'>#{conv.id} · {conv.image.path}</span>"
        )
        while len(self._pool) < doc.turn_count:
            card = TurnCard(len(self._pool))
            card.clicked.connect(self.turnSelected)
            card.textCommitted.connect(self.textCommitted)
            card.useDraft.connect(self.useDraft)
            card.useProposal.connect(self.useProposal)
            card.review.connect(self.turnReview)
            self._layout.insertWidget(self._layout.count() - 1, card)
            self._pool.append(card)
        for i, card in enumerate(self._pool):
            card.setVisible(i < doc.turn_count)
            if i < doc.turn_count:
                card.set_target(i == doc.target_turn)
                card.question.setPlainText("")
                card.final.setPlainText("")
        self.cards = self._pool[: doc.turn_count]
        self.refresh(doc, proposals)

    def refresh(
        self,
        doc: RecordDocument,
        proposals: dict[int, Proposal],
        hidden_turns: set[int] | None = None,
    ) -> None:
        hidden_turns = hidden_turns or set()
        for card in self.cards:
            i = card.index
            turn = doc.turn(i)
            card.question.set_text_quietly(doc.text(i, "question") or "")
            card.draft.setText(turn.draft_answer or "—")
            final = doc.text(i, "final_answer")
            card.final.set_text_quietly(final or "")
            p = proposals.get(i)
            blind = i in hidden_turns
            card.proposal_caption.setVisible(p is not None)
            card.proposal.setVisible(p is not None)
            card.take_proposal.setEnabled(p is not None and not blind)
            if p is not None:
                card.proposal.setText(
                    "hidden until you judge this turn (blind-first)" if blind else (p.answer or "—")
                )
            badges = []
            if doc.has_mask((i, MaskLayer.DRAFT)):
                badges.append("<span style='color:#f5a623'>● draft</span>")
            if p is not None and p.masks:
                badges.append("<span style='color:#4a90e2'>● proposal</span>")
            if doc.has_mask((i, MaskLayer.FINAL)):
                badges.append("<span style='color:#2ecc71'>● final</span>")
            if SEG_TOKEN in (turn.draft_answer or ""):
                badges.append("<span style='color:#c792ea'>[SEG]</span>")
            card.badges.setText("  ".join(badges))

    def select(self, index: int) -> None:
        self.selected = index
        for card in self.cards:
            card.set_selected(card.index == index)
        if 0 <= index < len(self.cards):
            self.ensureWidgetVisible(self.cards[index], 0, 40)
