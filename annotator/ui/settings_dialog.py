"""Settings: reviewer and review options, models (SAM, proposer), folders, colours."""

from __future__ import annotations

import dataclasses

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from annotator.core.seg_templates import usable_answers, usable_requests
from annotator.services.record_propose import available_proposers
from annotator.services.settings import DEFAULT_COLOURS, VLM_KEY_ENV, Settings
from annotator.ui.path_field import PathField
from annotator.ui.vlm_settings import VlmFields


def _form(tabs: QTabWidget, title: str) -> QFormLayout:
    page = QWidget()
    form = QFormLayout(page)
    tabs.addTab(page, title)
    return form


class SettingsDialog(QDialog):
    def __init__(
        self, settings: Settings, parent: QWidget | None = None, *, blind_required: bool = False
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(620)
        self._base = settings
        self._colours = dict(settings.colours)
        outer = QVBoxLayout(self)
        tabs = QTabWidget()
        outer.addWidget(tabs)

        general = _form(tabs, "Review")
        self.reviewer = QLineEdit(settings.reviewer)
        general.addRow("Reviewer name", self.reviewer)
        self.blind = QCheckBox("Hide the model's answer and mask until I have judged the turn")
        self.blind.setChecked(settings.blind_first or blind_required)
        if blind_required:
            self.blind.setEnabled(False)
            self.blind.setToolTip("This project requires blind-first review of everyone")
        general.addRow("Blind-first review", self.blind)
        self.images_dir = PathField("folder", "Images folder", text=settings.images_dir)
        general.addRow("Images folder", self.images_dir)
        self.export_dir = PathField("folder", "Export folder", text=settings.export_dir)
        general.addRow("Export folder", self.export_dir)

        models = _form(tabs, "Models")
        self.sam_model = QLineEdit(settings.sam_model)
        self.sam_model.setToolTip(
            "Name in the weights registry (annotator models list); empty: no SAM"
        )
        models.addRow("SAM model", self.sam_model)
        self.prefetch = QSpinBox()
        self.prefetch.setRange(0, 20)
        self.prefetch.setValue(settings.prefetch)
        self.prefetch.setToolTip("Records of the review queue read and encoded ahead")
        models.addRow("Prefetch ahead", self.prefetch)
        self.proposer = QComboBox()
        self.proposer.setEditable(True)
        self.proposer.addItem("")
        for name in available_proposers():
            self.proposer.addItem(name)
        self.proposer.setCurrentText(settings.proposer)
        self.proposer.setToolTip(
            "Proposer for Propose: miras (a MIRAS or converted LISA checkpoint folder), vlm (an "
            "OpenAI-compatible vision-language server) or remote (annotator serve)"
        )
        models.addRow("Proposer", self.proposer)
        self.checkpoint = PathField(
            "folder",
            "MIRAS checkpoint folder",
            text=settings.proposer_checkpoint,
            placeholder="MIRAS checkpoint folder",
        )
        models.addRow("Checkpoint", self.checkpoint)
        self.device = QLineEdit(settings.proposer_device)
        self.device.setPlaceholderText("auto (GPU when there is one), cpu, cuda, cuda:1 …")
        models.addRow("Device", self.device)
        self.url = QLineEdit(settings.proposer_url)
        self.url.setPlaceholderText("remote or vlm server, e.g. http://gpu-box:8000")
        models.addRow("Server", self.url)
        self.vlm = VlmFields(settings, lambda: self.url.text().strip(), models)
        self.proposer.currentTextChanged.connect(self._proposer_changed)
        self._proposer_changed(self.proposer.currentText())
        self.tabs = tabs

        writing = _form(tabs, "Templates")
        self.seg_requests = QPlainTextEdit("\n".join(settings.seg_requests))
        self.seg_requests.setToolTip("The final request of a new conversation: one per line")
        writing.addRow("Final requests", self.seg_requests)
        self.seg_answers = QPlainTextEdit("\n".join(settings.seg_answers))
        self.seg_answers.setToolTip("Its answer, one per line, each holding [SEG] exactly once")
        writing.addRow("Final answers", self.seg_answers)

        colours = _form(tabs, "Colours")
        self._colour_buttons: dict[str, QPushButton] = {}
        for name in DEFAULT_COLOURS:
            button = QPushButton(name.replace("_", " "))
            button.clicked.connect(lambda _=False, n=name: self._pick(n))
            self._colour_buttons[name] = button
            self._paint(name)
            colours.addRow(name.replace("_", " ").capitalize(), button)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)

    def _paint(self, name: str) -> None:
        colour = self._colours.get(name, DEFAULT_COLOURS[name])
        self._colour_buttons[name].setStyleSheet(f"background:{colour}; color:black;")

    def _pick(self, name: str) -> None:
        colour = QColorDialog.getColor(QColor(self._colours.get(name, "#ffffff")), self)
        if colour.isValid():
            self._colours[name] = colour.name()
            self._paint(name)

    def _proposer_changed(self, name: str) -> None:
        """Only the fields the chosen proposer takes are shown."""
        name = name.strip()
        form = self.checkpoint.parentWidget().layout()
        assert isinstance(form, QFormLayout)
        rows = [
            (self.checkpoint, name in ("", "miras")),
            (self.device, name in ("", "miras")),
            (self.url, name in ("remote", "vlm")),
            *((widget, name == "vlm") for widget in self.vlm.widgets),
        ]
        for widget, shown in rows:
            form.setRowVisible(widget, shown)

    def show_tab(self, title: str) -> None:
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                self.tabs.setCurrentIndex(i)

    def result_settings(self) -> Settings:
        return dataclasses.replace(
            self._base,
            reviewer=self.reviewer.text().strip() or self._base.reviewer,
            sam_model=self.sam_model.text().strip(),
            proposer=self.proposer.currentText().strip(),
            proposer_checkpoint=self.checkpoint.text(),
            proposer_device=self.device.text().strip(),
            proposer_url=self.url.text().strip(),
            proposer_model=self.vlm.model.text().strip(),
            proposer_box_format=self.vlm.box_format.currentText(),
            proposer_key_env=self.vlm.key_env.text().strip() or VLM_KEY_ENV,
            images_dir=self.images_dir.text(),
            export_dir=self.export_dir.text(),
            blind_first=self.blind.isChecked(),
            prefetch=self.prefetch.value(),
            colours=dict(self._colours),
            # Lines that cannot stand as a final turn are dropped; an empty list keeps the old.
            seg_requests=usable_requests(self.seg_requests.toPlainText().splitlines())
            or self._base.seg_requests,
            seg_answers=usable_answers(self.seg_answers.toPlainText().splitlines())
            or self._base.seg_answers,
        )
