"""One turn of the conversation as a card: question, draft answer (both written here), the
model's proposed answer, the verified answer, the proposal-vs-final mask diff, the PRIST rules
the turn breaks, and the per-turn review; buttons move, add and remove turns. Every row wraps or
shrinks, so a card never needs more width than the dock gives it."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QMouseEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import Decision, ReasonEntry
from annotator.ui.icons import Icons

MAX_EDIT_HEIGHT = 200


class CommitTextEdit(QPlainTextEdit):
    """Grows with its text; emits ``committed`` when focus leaves or on Ctrl+Enter."""

    committed = Signal(str)
    typing = Signal(bool)  # True: typed text not committed yet

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document().modificationChanged.connect(self.typing)
        self.setTabChangesFocus(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(60)
        self.document().contentsChanged.connect(self._fit)

    def _fit(self) -> None:
        """Height for the wrapped text (QPlainTextEdit's document size counts lines, not
        pixels, so the text is measured with the font instead)."""
        width = max(40, self.viewport().width() - 2 * int(self.document().documentMargin()))
        text = self.toPlainText() or self.placeholderText() or " "
        rect = self.fontMetrics().boundingRect(
            QRect(0, 0, width, 100_000), int(Qt.TextFlag.TextWordWrap), text
        )
        frame = 2 * self.frameWidth() + 2 * int(self.document().documentMargin())
        height = rect.height() + frame + 6
        self.setFixedHeight(
            max(self.fontMetrics().lineSpacing() + frame + 6, min(MAX_EDIT_HEIGHT, height))
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self._commit()
        super().focusOutEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self._commit()
            return
        super().keyPressEvent(event)

    def _commit(self) -> None:
        self.document().setModified(False)
        self.committed.emit(self.toPlainText())

    def set_text_quietly(self, text: str) -> None:
        if self.toPlainText() != text and not self.hasFocus():
            self.setPlainText(text)
            self.document().setModified(False)

    def commit_pending(self) -> None:
        """Commit what is typed before another action runs."""
        if self.document().isModified():
            self._commit()


class ReasonBox(QComboBox):
    """The project's reason codes, starting unchosen; the mouse wheel scrolls the page past it
    instead of changing the reason unless the box has been clicked into."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.set_entries([])

    def set_entries(self, entries: list[ReasonEntry]) -> None:
        chosen = self.currentData()
        self.blockSignals(True)
        self.clear()
        self.addItem("reason…", None)
        for e in entries:
            self.addItem(e.label, e.code)
        self.setCurrentIndex(max(0, self.findData(chosen)) if chosen else 0)
        self.blockSignals(False)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


def _wrapping_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


class TurnCard(QFrame):
    clicked = Signal(int)
    textCommitted = Signal(int, str, str)
    useDraft = Signal(int)
    useProposal = Signal(int)
    review = Signal(int, object, object)  # turn, Decision, reason code (str) | None
    reshape = Signal(int, str)  # turn, "up" | "down" | "add_before" | "remove"

    def __init__(self, index: int, icons: Icons, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setObjectName("turnCard")
        self.setProperty("selected", False)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(3)

        head = QHBoxLayout()
        head.setSpacing(6)
        self.title = QLabel(f"Turn {index + 1}")
        self.title.setObjectName("turnTitle")
        head.addWidget(self.title)
        self.badges = QLabel()
        self.badges.setObjectName("badges")
        self.badges.setWordWrap(True)  # narrow dock: the badges take a second line
        self.badges.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.addWidget(self.badges, 1)
        self.shape_buttons: dict[str, QToolButton] = {}
        for what, icon, tip in (
            ("up", "mdi6.arrow-up", "Move this turn up (Alt+Up)"),
            ("down", "mdi6.arrow-down", "Move this turn down (Alt+Down)"),
            ("add_before", "mdi6.table-row-plus-before", "Add a turn before this one"),
            ("remove", "mdi6.trash-can-outline", "Remove this turn"),
        ):
            button = QToolButton()
            button.setObjectName("shapeButton")
            button.setIcon(icons.get(icon, "#9aa4b2", active="#ffffff"))
            button.setToolTip(tip)
            button.setAutoRaise(True)
            button.clicked.connect(lambda _=False, w=what: self.reshape.emit(self.index, w))
            head.addWidget(button)
            self.shape_buttons[what] = button
        lay.addLayout(head)
        self.verdict = _wrapping_label("verdict")  # its own row: the head has no room to spare
        lay.addWidget(self.verdict)
        self.rules = _wrapping_label("ruleText")  # the PRIST rules this turn breaks
        self.rules.setVisible(False)
        lay.addWidget(self.rules)

        lay.addWidget(self._caption("Question", "mdi6.account-question-outline", "#9aa4b2", icons))
        self.question = CommitTextEdit()
        self.question.committed.connect(
            lambda t: self.textCommitted.emit(self.index, "question", t)
        )
        lay.addWidget(self.question)

        lay.addWidget(
            self._caption("Draft answer", "mdi6.file-document-edit-outline", "#f5a623", icons)
        )
        self.draft = CommitTextEdit()
        self.draft.setObjectName("draftEdit")
        self.draft.setPlaceholderText("the answer in the dialogue")
        self.draft.committed.connect(
            lambda t: self.textCommitted.emit(self.index, "draft_answer", t)
        )
        lay.addWidget(self.draft)

        self.proposal_caption = self._caption(
            "Model proposal", "mdi6.robot-outline", "#4a90e2", icons
        )
        self.proposal_title: QLabel = self.proposal_caption.findChild(QLabel, "caption")
        lay.addWidget(self.proposal_caption)
        self.proposal = _wrapping_label("proposalText")
        lay.addWidget(self.proposal)

        lay.addWidget(
            self._caption("Verified answer", "mdi6.check-decagram-outline", "#2ecc71", icons)
        )
        self.final = CommitTextEdit()
        self.final.setPlaceholderText("not verified yet")
        self.final.committed.connect(
            lambda t: self.textCommitted.emit(self.index, "final_answer", t)
        )
        lay.addWidget(self.final)
        take = QHBoxLayout()
        take.setSpacing(4)
        self.take_draft = self._button(
            "Use draft", "mdi6.arrow-down-bold-outline", "#f5a623", icons
        )
        self.take_draft.setToolTip(
            "Take the draft answer (and the draft mask when there is no final one)"
        )
        self.take_draft.clicked.connect(lambda: self.useDraft.emit(self.index))
        self.take_proposal = self._button(
            "Use proposal", "mdi6.arrow-down-bold-outline", "#4a90e2", icons
        )
        self.take_proposal.setToolTip("Take the model's answer and mask")
        self.take_proposal.clicked.connect(lambda: self.useProposal.emit(self.index))
        take.addWidget(self.take_draft)
        take.addWidget(self.take_proposal)
        take.addStretch(1)
        lay.addLayout(take)

        self.diff = QLabel()
        self.diff.setObjectName("diffLine")
        self.diff.setWordWrap(True)
        self.diff.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.diff)

        judge = QHBoxLayout()
        judge.setSpacing(4)
        self.accept_button = self._button("Turn OK", "mdi6.check-circle-outline", "#2ecc71", icons)
        self.accept_button.setToolTip("Approve this turn (answer and mask are right)")
        self.accept_button.clicked.connect(
            lambda: self.review.emit(self.index, Decision.APPROVE, None)
        )
        self.reject_button = self._button("Reject", "mdi6.close-circle-outline", "#e74c3c", icons)
        self.reject_button.setToolTip("Reject this turn for the chosen reason")
        self.reject_button.clicked.connect(
            lambda: self.review.emit(self.index, Decision.REJECT, self.reason_code())
        )
        self.reason = ReasonBox()
        self.reason.setToolTip("Why the turn is rejected (asked for when none is chosen)")
        self.reason.setMinimumContentsLength(6)
        self.reason.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.reason.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        judge.addWidget(self.accept_button)
        judge.addWidget(self.reject_button)
        judge.addWidget(self.reason, 1)
        lay.addLayout(judge)
        self.editors = (self.question, self.draft, self.final)
        for child in (self.question, self.final, self.draft, self.proposal):
            child.installEventFilter(self)

    @staticmethod
    def _caption(text: str, icon: str, colour: str, icons: Icons) -> QWidget:
        w = QWidget()
        w.setObjectName("captionRow")
        lay = QHBoxLayout(w)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.setSpacing(4)
        ic = QLabel()
        ic.setPixmap(icons.pixmap(icon, colour, 13))
        lay.addWidget(ic)
        lab = QLabel(text)
        lab.setObjectName("caption")
        lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(lab, 1)
        return w

    @staticmethod
    def _button(text: str, icon: str, colour: str, icons: Icons) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setIcon(icons.get(icon, colour))
        button.setIconSize(QSize(16, 16))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setObjectName("cardButton")
        return button

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.FocusIn, QEvent.Type.MouseButtonPress):
            self.clicked.emit(self.index)
        return False

    def reason_code(self) -> str | None:
        """The chosen reason code; None until one is chosen."""
        data = self.reason.currentData()
        return str(data) if data else None

    def set_reason(self, code: str | None) -> None:
        self.reason.setCurrentIndex(max(0, self.reason.findData(code)) if code else 0)

    def set_position(self, count: int) -> None:
        """Turn ``index`` of ``count``: the last is the target; the ends cannot move further."""
        last = self.index == count - 1
        self.title.setText(f"Turn {self.index + 1}" + ("  ·  target" if last else ""))
        self.shape_buttons["up"].setEnabled(self.index > 0)
        self.shape_buttons["down"].setEnabled(not last)
        self.shape_buttons["add_before"].setToolTip(
            "Add a reasoning turn before the segmentation turn"
            if last
            else "Add a turn before this one"
        )
        self.shape_buttons["remove"].setEnabled(count > 1)

    def set_notes(self, breaches: list[str], stale: bool) -> None:
        """The rules the turn breaks, and whether its text changed after its mask was
        verified (the mask may no longer match the words)."""
        lines = list(breaches)
        if stale:
            lines.append("text changed after the mask was verified: check the mask")
        self.rules.setText("<br>".join(f"⚠ {escape(line)}" for line in lines))
        self.rules.setVisible(bool(lines))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit(self.index)
        super().mousePressEvent(event)

    def set_selected(self, selected: bool) -> None:
        if self.property("selected") == selected:
            return
        self.setProperty("selected", selected)
        self.style().unpolish(self)
        self.style().polish(self)
