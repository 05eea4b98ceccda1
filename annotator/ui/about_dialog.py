"""Help > About: the version and everything a bug report needs (the database, where settings,
weights and caches live, the SAM model and runtime in use, compute threads, library versions),
with a button that copies it as plain text."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from typing import Any

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import annotator
from annotator.core.appdirs import cache_dir, config_dir, data_dir, models_dir
from annotator.core.compute_budget import THREADS_ENV, wanted_torch_threads
from annotator.core.errors import ProposerError
from annotator.core.listing import ListQuery
from annotator.services.catalog import Catalog
from annotator.ui.app_icon import app_icon
from annotator.ui.status_line import SAM_STATES


@dataclass(frozen=True)
class AppFacts:
    """What the About box reports, gathered from the running window."""

    database: str
    records: int
    sam_state: str
    sam_model: str  # "" until the engine is built
    sam_weights: str
    sam_runtime: str  # "" until the model is loaded
    proposer: str

    def lines(self) -> list[str]:
        try:
            threads = str(wanted_torch_threads())
        except ProposerError as exc:
            threads = f"invalid setting ({exc})"
        sam = SAM_STATES.get(self.sam_state, self.sam_state).removeprefix("SAM: ")
        return [
            f"PRIST Annotator {annotator.__version__}",
            "",
            f"Database      {self.database} ({self.records:,} records)",
            f"Settings      {config_dir()}",
            f"Data          {data_dir()}",
            f"Model weights {models_dir()}",
            f"Caches        {cache_dir()}",
            "",
            f"SAM           {self.sam_model or '(not built yet)'}: {sam}",
            f"  weights     {self.sam_weights or '–'}",
            f"  runtime     {self.sam_runtime or '(chosen when the model loads)'}",
            f"Proposer      {self.proposer}",
            f"Threads       {threads} per model (cores − 1 unless ${THREADS_ENV} is set)",
            "",
            f"Python {platform.python_version()} · Qt {qVersion()} · PySide6 {PySide6.__version__}",
            f"{platform.platform()} ({sys.byteorder}-endian)",
        ]

    def text(self) -> str:
        return "\n".join(self.lines())


def sam_facts(sam: Any) -> tuple[str, str, str]:
    """(model, weights, runtime) of the app's SAM controller, reading only what is already
    there: asking an engine for its runtime would load the model on the UI thread."""
    engine = sam.engine
    if engine is None:
        return "", "", ""
    model = str(getattr(engine, "model_id", ""))
    weights = getattr(engine, "weights", None)
    if weights is None:
        shown = ""
    elif getattr(weights, "graphs_only", False):  # the desktop bundle: no checkpoint
        shown = f"ONNX graphs only, {weights.path.parent} (of sha256 {weights.sha256[:12]}…)"
    else:
        shown = f"{weights.path} (sha256 {weights.sha256[:12]}…)"
    # Which runtime and why; set when the model has loaded, which a ready image implies.
    runtime = str(getattr(engine, "runtime_note", "")) if sam.ready else ""
    return model, shown, runtime


def facts_of(store: Catalog, sam: Any, proposer: str) -> AppFacts:
    """What the About box says of this app: its database, SAM controller and proposer."""
    model, weights, runtime = sam_facts(sam)
    return AppFacts(
        database=store.url,
        records=store.count(ListQuery()),
        sam_state=sam.state,
        sam_model=model,
        sam_weights=weights,
        sam_runtime=runtime,
        proposer=proposer.removeprefix("Proposer: ") or "none",
    )


class AboutDialog(QDialog):
    def __init__(self, facts: AppFacts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About PRIST Annotator")
        self.resize(860, 440)
        lay = QVBoxLayout(self)
        head = QHBoxLayout()
        self.icon = QLabel()
        self.icon.setPixmap(app_icon().pixmap(64, 64))
        head.addWidget(self.icon)
        head.addWidget(
            QLabel(
                "<b>PRIST Annotator</b> — curation of pixel-level reasoning-segmentation data"
                " (PRIST, arXiv 2502.09447)."
            ),
            1,
        )
        lay.addLayout(head)
        self.report = QPlainTextEdit(facts.text())
        self.report.setReadOnly(True)
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = self.report.font()
        font.setFamily("monospace")
        self.report.setFont(font)
        lay.addWidget(self.report)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy for a bug report")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.report.toPlainText())
        )
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
