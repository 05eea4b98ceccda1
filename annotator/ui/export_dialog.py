"""File > Export: which format, which records (with how many there are: a choice that takes
none is refused before anything is written), whose masks and answers (final by default, draft,
or a model's proposals; no source fills in for another), where to; and the summary shown
afterwards (records, masks, how many were left out and why, and how many polygon masks are
lossy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from annotator.core.export_mask import FINAL, MaskChoice, MaskKind
from annotator.core.export_report import ExportReport
from annotator.core.status import Status
from annotator.ui.form_footer import add_form_footer
from annotator.ui.path_field import PathField

ExportFormat = Literal["coco", "jsonl", "jsonl-miras", "labelme", "corrections"]

FORMATS: tuple[tuple[ExportFormat, str, str], ...] = (
    ("coco", "COCO (RLE masks, or polygons)", "JSON (*.json)"),
    ("jsonl", "JSONL, full records (re-importable)", "JSON lines (*.jsonl)"),
    ("jsonl-miras", "JSONL in the MIRAS training form", "JSON lines (*.jsonl)"),
    ("labelme", "LabelMe files (one per image, into a folder)", ""),
    ("corrections", "Corrections and rejections (JSONL, for training)", "JSON lines (*.jsonl)"),
)


# The mask sources offered, as the Masks choice names them.
MASK_SOURCES: tuple[tuple[MaskKind, str], ...] = (
    (MaskKind.FINAL, "final (verified masks and answers)"),
    (MaskKind.DRAFT, "draft (imported masks and answers)"),
    (MaskKind.PROPOSAL, "proposal (each turn's latest)"),
)


def _mask_option(kind: str) -> str:
    """How the summary's hint names another source: as this dialog offers it."""
    label = next((text for k, text in MASK_SOURCES if k == kind), kind)
    return f"Masks: {label.split(' (')[0]}"


@dataclass(frozen=True)
class ExportRequest:
    fmt: ExportFormat
    out: str
    status: Status | None = Status.APPROVED
    categories: Literal["focus", "single"] = "focus"
    polygons: bool = False
    mask: MaskChoice = FINAL


class ExportDialog(QDialog):
    """``counts`` maps a status value to its number of records, and "" to all of them; without
    it the records are not counted."""

    def __init__(
        self,
        start_dir: str = "",
        parent: QWidget | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(parent)
        self._counts = counts
        self.setWindowTitle("Export")
        self.setMinimumWidth(560)
        form = QFormLayout(self)
        self.fmt = QComboBox()
        for key, label, _ in FORMATS:
            self.fmt.addItem(label, key)
        form.addRow("Format", self.fmt)
        self.status = QComboBox()
        choices = [("approved records", Status.APPROVED.value), ("all records", "")]
        others = [s.value for s in Status if s != Status.APPROVED]
        choices += [(f"{value.replace('_', ' ')} records", value) for value in others]
        for label, value in choices:
            count = "" if counts is None else f" ({counts.get(value, 0):,})"
            self.status.addItem(label + count, value)
        form.addRow("Records", self.status)
        self.mask = QComboBox()
        for kind, label in MASK_SOURCES:
            self.mask.addItem(label, str(kind))
        self.mask.setToolTip(
            "Whose masks and answers are written. A record without them is left out and "
            "counted with the reason; no other source fills in."
        )
        form.addRow("Masks", self.mask)
        self.proposer = QLineEdit()
        self.proposer.setPlaceholderText("any proposer")
        self.proposer.setToolTip("Take only this proposer's proposals (e.g. miras)")
        form.addRow("Proposer", self.proposer)
        self.categories = QComboBox()
        self.categories.addItem("one category per focus", "focus")
        self.categories.addItem("a single category", "single")
        form.addRow("COCO categories", self.categories)
        self.polygons = QCheckBox("Write polygons instead of RLE (reports lossy masks)")
        form.addRow("COCO masks", self.polygons)
        self.out = PathField("save", "Export to", text=start_dir)
        form.addRow("Output", self.out)
        self.problem, self.export_button = add_form_footer(self, form, "Export")
        self.fmt.currentIndexChanged.connect(lambda _i: self._format_changed())
        self.status.currentIndexChanged.connect(lambda _i: self._check_records())
        self.mask.currentIndexChanged.connect(lambda _i: self._mask_changed())
        self._format_changed()

    def _check_records(self) -> None:
        """Refuse, before anything is written, a choice of records that takes none."""
        empty = (
            self._counts is not None
            and self.status.isEnabled()
            and not self._counts.get(self.status.currentData(), 0)
        )
        self.export_button.setEnabled(not empty)
        if empty:
            label = self.status.currentText().rsplit(" (", 1)[0]
            self.problem.setText(f"There are no {label}: the export would be empty.")
        elif self.problem.text().startswith("There are no "):
            self.problem.clear()

    def _format_changed(self) -> None:
        key = self.fmt.currentData()
        coco = key == "coco"
        self.categories.setEnabled(coco)
        self.polygons.setEnabled(coco)
        self.status.setEnabled(key != "corrections")
        self.mask.setEnabled(key != "corrections")  # corrections pair proposals with finals
        self._mask_changed()
        self.out.kind = "folder" if key == "labelme" else "save"
        self.out.filters = next(f for k, _, f in FORMATS if k == key) or "All files (*)"
        self._check_records()

    def _mask_changed(self) -> None:
        self.proposer.setEnabled(
            self.mask.isEnabled() and self.mask.currentData() == MaskKind.PROPOSAL
        )

    def mask_choice(self) -> MaskChoice:
        kind = MaskKind(self.mask.currentData())
        name = self.proposer.text().strip() if kind == MaskKind.PROPOSAL else ""
        return MaskChoice(kind, name or None)

    def request(self) -> ExportRequest:
        return ExportRequest(
            fmt=self.fmt.currentData(),
            out=self.out.text(),
            status=Status(self.status.currentData()) if self.status.currentData() else None,
            categories=self.categories.currentData(),
            polygons=self.polygons.isChecked(),
            mask=self.mask_choice(),
        )

    def accept(self) -> None:
        if not self.request().out:
            self.problem.setText("Choose where to write the export.")
            return
        super().accept()


def export_summary(report: ExportReport) -> tuple[str, str]:
    """(message, detail) for the box shown after an export: the same one-line summary as the
    command line's (how many matched, were written, and why the others were not)."""
    lines = [
        f"Wrote {report.records:,} record(s) with {report.annotations:,} mask(s) to",
        report.path,
        f"Masks: {report.mask}. {report.summary(_mask_option)}.",
    ]
    if report.fidelity:
        lossy = report.lossy
        worst = min((f.iou for f in report.fidelity), default=1.0)
        lines.append(
            f"Polygons: {len(lossy):,} of {len(report.fidelity):,} mask(s) lossy"
            f" (lowest IoU with the mask {worst:.4f})."
        )
    detail = [
        f"conversation {i.conversation_id}"
        + (f", turn {i.turn_index + 1}" if i.turn_index is not None else "")
        + f": left out ({i.reason}): {i.message}"
        for i in report.skipped
    ]
    detail += [
        f"conversation {i.conversation_id}"
        + (f", turn {i.turn_index + 1}" if i.turn_index is not None else "")
        + f": {i.message}"
        for i in report.notes
    ]
    detail += [
        f"conversation {f.conversation_id}, turn {f.turn_index + 1}: polygon IoU {f.iou:.4f}"
        + (f", {f.parts_dropped} part(s) dropped" if f.parts_dropped else "")
        for f in report.lossy
    ]
    return "\n".join(lines), "\n".join(detail)
