"""File > Import: a PRIST dialogue file with its images and LabelMe masks, or a JSONL file
written by ``annotator export jsonl``. The dialog only collects the choice; the import runs as a
job (see ``file_jobs``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QWidget,
)

from annotator.ui.form_footer import add_form_footer
from annotator.ui.path_field import PathField

ImportKind = Literal["prist", "jsonl"]


@dataclass(frozen=True)
class ImportRequest:
    kind: ImportKind
    file: str
    images_dir: str = ""
    masks_dir: str = ""
    match: str = "exact"

    def problem(self) -> str:
        """Why the request cannot run, or ""."""
        if not self.file:
            return "Choose the file to import."
        if not Path(self.file).is_file():
            return f"{self.file} is not a file."
        if self.kind == "prist" and not self.images_dir:
            return "A PRIST import needs the images folder."
        for folder in (self.images_dir, self.masks_dir):
            if folder and not Path(folder).is_dir():
                return f"{folder} is not a folder."
        return ""


class ImportDialog(QDialog):
    def __init__(self, start_dir: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import")
        self.setMinimumWidth(560)
        form = QFormLayout(self)
        self.kind = QComboBox()
        self.kind.addItem("PRIST dialogues (JSON) with images and LabelMe masks", "prist")
        self.kind.addItem("PRIST Annotator export (JSONL)", "jsonl")
        form.addRow("Import", self.kind)
        self.file = PathField(
            "open", "File to import", text=start_dir, filters="JSON (*.json *.jsonl)"
        )
        form.addRow("File", self.file)
        self.images = PathField("folder", "Images folder", text=start_dir)
        form.addRow("Images folder", self.images)
        self.masks = PathField(
            "folder", "LabelMe masks folder", placeholder="optional: the images folder"
        )
        form.addRow("Masks folder", self.masks)
        self.match = QComboBox()
        self.match.addItem("label equals the focus", "exact")
        self.match.addItem("label contains the focus (original PRIST loader)", "substring")
        form.addRow("Mask shapes", self.match)
        self.problem, _ = add_form_footer(self, form, "Import")
        self._form = form
        self.kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self._kind_changed()

    def _kind_changed(self) -> None:
        prist = self.kind.currentData() == "prist"
        for field in (self.masks, self.match):
            field.setEnabled(prist)
        self.images.edit.setPlaceholderText(
            "" if prist else "optional: where the exported images are now"
        )

    def request(self) -> ImportRequest:
        prist = self.kind.currentData() == "prist"
        return ImportRequest(
            kind=self.kind.currentData(),
            file=self.file.text(),
            images_dir=self.images.text(),
            masks_dir=self.masks.text() if prist else "",
            match=self.match.currentData() if prist else "exact",
        )

    def accept(self) -> None:
        problem = self.request().problem()
        if problem:
            self.problem.setText(problem)
            return
        super().accept()
