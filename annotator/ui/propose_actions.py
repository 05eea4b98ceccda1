"""The main window's side of Propose: starting a run for the open record, the running state in
the status bar, the noise warning, and showing proposals once stored (see
``propose_controller`` for the worker side)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from annotator.core.model import Proposal

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow

NOISE_WARNING = (
    "⚠ The configured proposer has RANDOM weights (a test checkpoint): its answers and masks "
    "are noise, not MIRAS. Do not take them over."
)


class ProposeActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        p = window.proposer
        p.stateChanged.connect(lambda text: window.statusBar().showMessage(text, 8000))
        p.noiseChanged.connect(lambda _noise: self.proposer_changed())
        p.running.connect(self._running)
        p.progress.connect(window.status.show_propose_progress)
        p.stored.connect(self._stored)
        p.failed.connect(
            lambda m: window.jobs.show_message(QMessageBox.Icon.Warning, f"Propose failed:\n{m}")
        )
        window.status.propose_cancel.clicked.connect(p.cancel)

    def propose(self, turns: list[int] | None = None) -> None:
        w = self.w
        doc = w.session.document
        if doc is None:
            return
        if not w.proposer.configured:
            w.jobs.show_message(
                QMessageBox.Icon.Information,
                "No proposer is configured.\n\nChoose one (MIRAS with a checkpoint folder, or "
                "a remote server) in File > Settings > Models.",
            )
            return
        rgb = w.open_pixels()
        if rgb is None:
            w.jobs.show_message(
                QMessageBox.Icon.Warning, "The image of this record cannot be read."
            )
            return
        w.proposer.propose(doc.conversation, rgb, turns)
        w.update_enabled()

    def _running(self, running: bool) -> None:
        self.w.status.show_proposing(running)
        self.w.update_enabled()

    def proposer_changed(self) -> None:
        w = self.w
        p = w.proposer
        w.status.show_proposer(p.state_text(), p.noise)
        w.conversation.set_noise_warning(NOISE_WARNING if p.noise else "")
        if w.session.document is not None:
            w.refresh_cards()
        w.update_enabled()

    def _stored(self, conv_id: int, proposals: list[Proposal]) -> None:
        w = self.w
        w.prefetcher.invalidate(conv_id)
        w.model.refresh_row(conv_id)
        doc = w.session.document
        if doc is None or doc.id != conv_id:
            return
        w.editor.set_proposals(proposals)
        w.status.show_saved(f"#{conv_id} · rev {doc.conversation.revision} · saved", True)
        w.after_open()
        w.refresh_turn()
