"""Settings: reviewer name, models, paths, colours, review options."""

from __future__ import annotations

import dataclasses

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from annotator.services.settings import DEFAULT_COLOURS, Settings


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._colours = dict(settings.colours)
        form = QFormLayout(self)
        self.reviewer = QLineEdit(settings.reviewer)
        form.addRow("Reviewer name", self.reviewer)
        self.sam_model = QLineEdit(settings.sam_model)
        self.sam_model.setToolTip(
            "Name in the weights registry (annotator models list); empty: no SAM"
        )
        form.addRow("SAM model", self.sam_model)
        self.proposer = QLineEdit(settings.proposer)
        self.proposer.setToolTip("Proposer entry point used by Propose (empty: none)")
        form.addRow("Proposer", self.proposer)
        self.images_dir = QLineEdit(settings.images_dir)
        form.addRow("Images folder", self.images_dir)
        self.export_dir = QLineEdit(settings.export_dir)
        form.addRow("Export folder", self.export_dir)
        self.blind = QCheckBox("Hide the model's mask until I have judged the turn")
        self.blind.setChecked(settings.blind_first)
        form.addRow("Blind-first review", self.blind)
        self.prefetch = QSpinBox()
        self.prefetch.setRange(0, 20)
        self.prefetch.setValue(settings.prefetch)
        form.addRow("Prefetch SAM embeddings", self.prefetch)
        self._colour_buttons: dict[str, QPushButton] = {}
        for name in DEFAULT_COLOURS:
            button = QPushButton(name.replace("_", " "))
            button.clicked.connect(lambda _=False, n=name: self._pick(n))
            self._colour_buttons[name] = button
            self._paint(name)
            form.addRow(f"Colour: {name.replace('_', ' ')}", button)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._base = settings

    def _paint(self, name: str) -> None:
        colour = self._colours.get(name, DEFAULT_COLOURS[name])
        self._colour_buttons[name].setStyleSheet(f"background:{colour}; color:black;")

    def _pick(self, name: str) -> None:
        colour = QColorDialog.getColor(QColor(self._colours.get(name, "#ffffff")), self)
        if colour.isValid():
            self._colours[name] = colour.name()
            self._paint(name)

    def result_settings(self) -> Settings:
        return dataclasses.replace(
            self._base,
            reviewer=self.reviewer.text().strip() or self._base.reviewer,
            sam_model=self.sam_model.text().strip(),
            proposer=self.proposer.text().strip(),
            images_dir=self.images_dir.text().strip(),
            export_dir=self.export_dir.text().strip(),
            blind_first=self.blind.isChecked(),
            prefetch=self.prefetch.value(),
            colours=dict(self._colours),
        )
