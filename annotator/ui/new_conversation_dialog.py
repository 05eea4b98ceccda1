"""New conversation: its focus, how many reasoning rounds to write, and the final segmentation
turn from the project's templates (PRIST's own wordings unless Settings changed them)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from annotator.core.model import SEG_TOKEN
from annotator.core.seg_templates import is_answer, is_request


@dataclass(frozen=True)
class NewConversation:
    focus: str
    rounds: int
    request: str
    answer: str


class NewConversationDialog(QDialog):
    def __init__(
        self,
        image_name: str,
        requests: list[str],
        answers: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New conversation")
        self.resize(640, 260)
        form = QFormLayout(self)
        form.addRow("Image", QLabel(f"<b>{image_name}</b>"))
        self.focus = QLineEdit()
        self.focus.setPlaceholderText("the target the conversation narrows onto, e.g. red mug")
        form.addRow("Focus", self.focus)
        self.rounds = QSpinBox()
        self.rounds.setRange(0, 8)
        self.rounds.setValue(2)
        self.rounds.setToolTip("Question/answer turns before the segmentation turn (PRIST: 2-4)")
        form.addRow("Reasoning rounds", self.rounds)
        self.request = QComboBox()
        self.request.setEditable(True)
        self.request.addItems(requests)
        form.addRow("Final request", self.request)
        self.answer = QComboBox()
        self.answer.setEditable(True)
        self.answer.addItems(answers)
        form.addRow("Final answer", self.answer)
        self.problem = QLabel()
        self.problem.setObjectName("ruleText")
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        for box in (self.request, self.answer):
            box.editTextChanged.connect(lambda _t: self._check())
        self.focus.textChanged.connect(lambda _t: self._check())
        self._check()

    def _check(self) -> None:
        problem = ""
        if not self.focus.text().strip():
            problem = "Give the focus."
        elif not is_answer(self.answer.currentText()):
            problem = f"The final answer holds {SEG_TOKEN} exactly once."
        elif not is_request(self.request.currentText()):
            problem = f"The final request is text without {SEG_TOKEN}."
        self.problem.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)

    def result_value(self) -> NewConversation:
        return NewConversation(
            self.focus.text().strip(),
            self.rounds.value(),
            self.request.currentText().strip(),
            self.answer.currentText().strip(),
        )
