"""Draft conversations…: which vision-language server and model (the vlm settings to start
from), how many conversations each image should have, and how many reasoning rounds each."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from annotator.services.draft_job import DraftChoice
from annotator.services.settings import VLM_KEY_ENV, Settings

MAX_PER_IMAGE = 20
MAX_ROUNDS = 8


class DraftDialog(QDialog):
    def __init__(self, targets: str, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.setWindowTitle("Draft conversations")
        self.resize(560, 280)
        form = QFormLayout(self)
        self.targets = QLabel(targets)
        self.targets.setWordWrap(True)
        form.addRow("Images", self.targets)
        self.url = QLineEdit(settings.proposer_url)
        self.url.setPlaceholderText("the OpenAI-compatible server, e.g. http://gpu:8000")
        form.addRow("Server", self.url)
        self.model = QLineEdit(settings.proposer_model)
        self.model.setPlaceholderText("the model it serves, e.g. Qwen/Qwen2.5-VL-7B-Instruct")
        form.addRow("Model", self.model)
        self.per_image = QSpinBox()
        self.per_image.setRange(1, MAX_PER_IMAGE)
        self.per_image.setValue(3)
        self.per_image.setToolTip(
            "Conversations each image should have, those it has already included: an image "
            "with enough gets no request"
        )
        form.addRow("Conversations per image", self.per_image)
        rounds = QHBoxLayout()
        self.rounds_lo = QSpinBox()
        self.rounds_hi = QSpinBox()
        for box, value in ((self.rounds_lo, 2), (self.rounds_hi, 4)):
            box.setRange(1, MAX_ROUNDS)
            box.setValue(value)
            box.valueChanged.connect(lambda _v: self._check())
        rounds.addWidget(self.rounds_lo)
        rounds.addWidget(QLabel("to"))
        rounds.addWidget(self.rounds_hi)
        rounds.addStretch(1)
        form.addRow("Reasoning rounds", rounds)
        note = QLabel(
            "Each draft ends with a segmentation turn from the wordings of Settings ▸ Templates, "
            "is flagged as drafted by the model, and keeps the model's reply in its history. "
            "Drafts that break a PRIST rule are listed, not stored."
        )
        note.setWordWrap(True)
        form.addRow(note)
        self.problem = QLabel()
        self.problem.setObjectName("ruleText")
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Draft")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        for edit in (self.url, self.model):
            edit.textChanged.connect(lambda _t: self._check())
        self._check()

    def _check(self) -> None:
        problem = ""
        if not self.url.text().strip():
            problem = "Give the server's address."
        elif not self.model.text().strip():
            problem = "Give the model the server serves."
        elif self.rounds_lo.value() > self.rounds_hi.value():
            problem = "The fewest rounds is more than the most."
        self.problem.setText(problem)
        self.ok.setEnabled(not problem)

    def result_value(self) -> DraftChoice:
        s = self._settings
        return DraftChoice(
            url=self.url.text().strip(),
            model=self.model.text().strip(),
            per_image=self.per_image.value(),
            rounds=(self.rounds_lo.value(), self.rounds_hi.value()),
            key_env=s.proposer_key_env.strip() or VLM_KEY_ENV,
            requests=tuple(s.seg_requests),
            answers=tuple(s.seg_answers),
        )
