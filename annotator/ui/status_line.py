"""The status bar: save state of the open record, cursor position and zoom, SAM state with the
encode progress, the proposer (with its noise warning) and a running Propose with Cancel."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

from annotator.ui.icons import Icons

SAM_STATES = {
    "off": "SAM: off",
    "idle": "SAM: not loaded",
    "loading": "SAM: loading model…",
    "encoding": "SAM: encoding image…",
    "ready": "SAM: ready",
}


class StatusLine(QObject):
    proposerClicked = Signal()  # the proposer's label: its settings page

    def __init__(self, bar: QStatusBar, icons: Icons) -> None:
        super().__init__(bar)
        self.bar = bar
        self.save_label = QLabel("No record open")
        self.save_label.setObjectName("saveLabel")
        self.candidate_label = QLabel()
        self.pos_label = QLabel()
        self.zoom_label = QLabel()
        self.sam_label = QLabel()
        self.encode_bar = QProgressBar()
        self.encode_bar.setFixedWidth(110)
        self.encode_bar.setVisible(False)
        self.proposer_label = QLabel()
        self.proposer_label.setTextFormat(Qt.TextFormat.RichText)
        self.proposer_label.setToolTip("Choose and configure the proposer")
        self.proposer_label.linkActivated.connect(lambda _link: self.proposerClicked.emit())
        self.propose_bar = QProgressBar()
        self.propose_bar.setFixedWidth(110)
        self.propose_bar.setVisible(False)
        self.propose_cancel = QToolButton()
        self.propose_cancel.setIcon(icons.get("mdi6.close-circle-outline", "#e74c3c"))
        self.propose_cancel.setToolTip("Cancel Propose (nothing is stored)")
        self.propose_cancel.setAutoRaise(True)
        self.propose_cancel.setVisible(False)
        for label in (self.candidate_label, self.pos_label, self.zoom_label):
            label.setVisible(False)  # shown when they have something to say
        bar.addWidget(self.save_label, 1)
        bar.addPermanentWidget(self.candidate_label)
        bar.addPermanentWidget(self.pos_label)
        bar.addPermanentWidget(self.zoom_label)
        bar.addPermanentWidget(self.proposer_label)
        bar.addPermanentWidget(self.propose_bar)
        bar.addPermanentWidget(self.propose_cancel)
        bar.addPermanentWidget(self.sam_label)
        bar.addPermanentWidget(self.encode_bar)

    def show_zoom(self, zoom: float) -> None:
        """The canvas's zoom; 0 (nothing to zoom) hides it rather than show an empty box."""
        self.zoom_label.setText(f"{zoom * 100:.0f}%" if zoom > 0 else "")
        self.zoom_label.setVisible(zoom > 0)

    # -- saving ---------------------------------------------------------------------------
    def show_saved(self, text: str, ok: bool) -> None:
        self.save_label.setText(text)
        self.save_label.setProperty("failed", not ok)
        self.save_label.style().unpolish(self.save_label)
        self.save_label.style().polish(self.save_label)

    # -- SAM ------------------------------------------------------------------------------
    def show_sam_state(self, state: str) -> None:
        self.sam_label.setText(SAM_STATES.get(state, f"SAM: {state}"))
        busy = state in ("loading", "encoding")
        self.encode_bar.setVisible(busy)
        if busy:
            self.encode_bar.setRange(0, 0)

    def show_sam_progress(self, done: int, total: object, _message: str) -> None:
        if isinstance(total, int) and total > 0:
            self.encode_bar.setRange(0, total)
            self.encode_bar.setValue(done)

    def show_candidates(self, index: int, count: int, score: float) -> None:
        self.candidate_label.setText(
            f"SAM {index + 1}/{count} · score {score:.2f} · Tab: next, Enter: add,"
            " Backspace: undo click"
            if count
            else ""
        )
        self.candidate_label.setVisible(bool(count))

    def show_position(self, x: float, y: float) -> None:
        self.pos_label.setText(f"x {x:.0f}  y {y:.0f}")
        self.pos_label.setVisible(True)

    # -- proposer -------------------------------------------------------------------------
    def show_proposer(self, text: str, noise: bool) -> None:
        """The proposer's state, as a link to its settings (where "none" is changed)."""
        self.proposer_label.setText(f"<a href='settings' style='color: inherit'>{escape(text)}</a>")
        self.proposer_label.setProperty("noise", noise)
        self.proposer_label.style().unpolish(self.proposer_label)
        self.proposer_label.style().polish(self.proposer_label)

    def show_proposing(self, running: bool) -> None:
        self.propose_bar.setVisible(running)
        self.propose_cancel.setVisible(running)
        if running:
            self.propose_bar.setRange(0, 0)

    def show_propose_progress(self, done: int, total: object, message: str) -> None:
        if isinstance(total, int) and total > 0:
            self.propose_bar.setRange(0, total)
            self.propose_bar.setValue(done)
        if message:
            self.propose_bar.setToolTip(message)
