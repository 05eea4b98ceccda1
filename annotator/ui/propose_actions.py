"""The window's side of Propose: starting a run for the open record, the running state and the
proposer in the status bar, and the noise warning above the cards (see ``propose_controller``
for the worker side; stored proposals reach the cards and canvas through the open record)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from annotator.core.listing import ListQuery
from annotator.core.progress import Task
from annotator.services.catalog import Catalog
from annotator.services.open_record import OpenRecord
from annotator.services.record_propose import propose_listed
from annotator.ui.conversation_panel import ConversationPanel
from annotator.ui.job_runner import JobRunner
from annotator.ui.propose_controller import ProposeController
from annotator.ui.status_line import StatusLine

NOISE_WARNING = (
    "⚠ The configured proposer has RANDOM weights (a test checkpoint): its answers and masks "
    "are noise, not MIRAS. Do not take them over."
)

ShowMessage = Callable[[QMessageBox.Icon, str], object]


class ProposeActions(QObject):
    def __init__(
        self,
        record: OpenRecord,
        proposer: ProposeController,
        status: StatusLine,
        conversation: ConversationPanel,
        show_message: ShowMessage,
        notify: Callable[[str], None],
        on_state: Callable[[], None],
    ) -> None:
        super().__init__(proposer)
        self._record = record
        self._proposer = proposer
        self._status = status
        self._conversation = conversation
        self._show_message = show_message
        self._on_state = on_state  # the window enables its actions anew
        proposer.stateChanged.connect(notify)
        proposer.noiseChanged.connect(lambda _noise: self.proposer_changed())
        proposer.running.connect(self._running)
        proposer.progress.connect(status.show_propose_progress)
        proposer.failed.connect(
            lambda m: show_message(QMessageBox.Icon.Warning, f"Propose failed:\n{m}")
        )
        status.propose_cancel.clicked.connect(self.cancel)

    def propose(self, turns: list[int] | None = None) -> None:
        doc = self._record.document
        if doc is None:
            return
        self._record.flush_pending()  # the model sees the texts as typed
        if not self._proposer.configured:
            self._show_message(
                QMessageBox.Icon.Information,
                "No proposer is configured.\n\nChoose one (MIRAS with a checkpoint folder, or "
                "a remote server) in File > Settings > Models.",
            )
            return
        rgb = self._record.rgb
        if rgb is None:
            self._show_message(QMessageBox.Icon.Warning, "The image of this record cannot be read.")
            return
        self._proposer.propose(doc.conversation, rgb, turns)
        self._on_state()

    def cancel(self) -> None:
        self._proposer.cancel()

    def propose_listed(
        self, jobs: JobRunner, catalog: Catalog, query: ListQuery, done: Callable[[], None]
    ) -> None:
        """Every record the list shows, in the background with progress and Cancel (what is
        done stays stored; running it again carries on)."""
        choice = self._proposer.choice
        if choice is None:
            self.propose()  # says how to configure one
            return
        self._record.flush_pending()

        def work(task: Task) -> object:
            return propose_listed(catalog, choice, query, task)  # type: ignore[arg-type]

        def finished(result: object) -> None:
            summary = result if isinstance(result, dict) else {}
            failed = summary.get("failed") or []
            self._status.bar.showMessage(
                f"Proposed {summary.get('turns', 0)} turns of {summary.get('conversations', 0)} "
                f"records" + (f"; {len(failed)} failed" if failed else ""),
                8000,
            )
            done()

        jobs.start("Proposing for the records in the list…", work, finished)

    def _running(self, running: bool) -> None:
        self._status.show_proposing(running)
        self._on_state()

    def proposer_changed(self) -> None:
        p = self._proposer
        self._status.show_proposer(p.state_text(), p.noise)
        self._conversation.set_noise_warning(NOISE_WARNING if p.noise else "")
        self._conversation.refresh(self._record)
        self._on_state()
