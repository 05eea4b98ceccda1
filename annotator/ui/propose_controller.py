"""Record > Propose: the configured proposer (MIRAS, a remote server, ...) run in the background
for the open record's turns, with progress and cancel in the status bar.

The proposer is built on the worker thread on first use (MIRAS imports torch) and kept until
the settings name another one. Proposals are computed on the worker and stored on the UI thread
through the open-record model (one transaction per run); a cancelled run stores nothing. The
reviewer may switch records while it runs: results are stored for the record they were made for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal

from annotator.core.errors import AnnotatorError
from annotator.core.model import Conversation, Proposal
from annotator.core.progress import Task
from annotator.services.open_record import OpenRecord
from annotator.services.record_propose import (
    ProposerChoice,
    configured_proposer,
    describe_configured_proposer,
    load_configured_proposer,
    propose_record,
)
from annotator.services.settings import Settings
from annotator.ui.task_runner import TaskRunner


@dataclass(frozen=True)
class _Run:
    conv_id: int
    turns: tuple[int, ...] | None
    proposals: tuple[Proposal, ...]
    noise: bool


class ProposeController(QObject):
    stateChanged = Signal(str)  # a line for the status bar
    noiseChanged = Signal(bool)  # the configured proposer is a random test model
    running = Signal(bool)
    progress = Signal(int, object, str)  # done, total, message
    stored = Signal(int, list)  # conversation id, the proposals stored
    failed = Signal(str)

    def __init__(
        self, record: OpenRecord, settings: Settings, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._record = record
        self._settings = settings
        self._runner = TaskRunner(threads=1, parent=self)
        self._runner.finished.connect(self._finished)
        self._runner.failed.connect(self._failed)
        self._runner.cancelled.connect(self._cancelled)
        self._runner.progress.connect(self._progress)
        self._requests: set[int] = set()
        self._choice: ProposerChoice | None = None
        self._proposer: Any = None  # built and used on the worker thread only
        self._loaded_choice: ProposerChoice | None = None
        self.noise = False
        self.description = ""
        self.configure()

    # -- configuration --------------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return self._choice is not None

    @property
    def choice(self) -> ProposerChoice | None:
        return self._choice

    @property
    def busy(self) -> bool:
        return bool(self._requests)

    def configure(self) -> None:
        """Read the settings again (after the settings dialog)."""
        self._choice = configured_proposer(self._settings)
        if self._choice is None:
            self.description = "no proposer configured"
            self._set_noise(False)
        else:
            preview = describe_configured_proposer(self._choice)
            self.description = preview.description
            self._set_noise(bool(preview.proposes_noise))
        self.stateChanged.emit(self.state_text())

    def state_text(self) -> str:
        if self._choice is None:
            return "Proposer: none"
        return f"Proposer: {self._choice.label}" + (
            " — NOISE (random test model)" if self.noise else ""
        )

    def _set_noise(self, noise: bool) -> None:
        if noise != self.noise:
            self.noise = noise
            self.noiseChanged.emit(noise)

    # -- running --------------------------------------------------------------------------
    def propose(
        self, conv: Conversation, image: NDArray[np.uint8], turns: list[int] | None = None
    ) -> int:
        """Queue proposals for ``turns`` of ``conv`` (all when None); returns the request id,
        0 when no proposer is configured."""
        choice = self._choice
        if choice is None or conv.id is None:
            return 0
        conv_id = conv.id
        pixels = np.ascontiguousarray(image[:, :, :3])
        wanted = None if turns is None else tuple(turns)

        def work(task: Task) -> _Run:
            proposer = self._proposer_for(choice, task)
            info = proposer.info()
            made = propose_record(proposer, conv, pixels, turns=wanted, task=task)
            return _Run(conv_id, wanted, tuple(made), info.proposes_noise)

        request = self._runner.submit(work)
        self._requests.add(request)
        self.running.emit(True)
        what = "all turns" if wanted is None else ", ".join(f"turn {t + 1}" for t in wanted)
        self.stateChanged.emit(f"Proposing #{conv_id} ({what})…")
        return request

    def _proposer_for(self, choice: ProposerChoice, task: Task) -> Any:
        """Runs on the worker thread: (re)build the proposer when the choice changed."""
        if self._proposer is not None and self._loaded_choice == choice:
            return self._proposer
        if self._proposer is not None:
            self._proposer.close()
            self._proposer = None
        task.start(None, f"loading {choice.label}")
        self._proposer = load_configured_proposer(choice)
        self._loaded_choice = choice
        return self._proposer

    def cancel(self) -> None:
        for request in list(self._requests):
            self._runner.cancel(request)

    def shutdown(self) -> None:
        self._runner.cancel_all()
        self._runner.wait(5000)
        proposer, self._proposer = self._proposer, None
        if proposer is not None:
            proposer.close()

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    # -- results (UI thread) ----------------------------------------------------------------
    def _done(self, request: int) -> None:
        self._requests.discard(request)
        if not self._requests:
            self.running.emit(False)

    def _finished(self, request: int, result: object) -> None:
        if request not in self._requests:
            return
        self._done(request)
        assert isinstance(result, _Run)
        if result.noise:
            self._set_noise(True)
        if not result.proposals:
            self.stateChanged.emit("The proposer returned nothing")
            return
        try:
            stored = self._record.add_proposals(
                result.conv_id, result.proposals, noise=result.noise
            )
        except AnnotatorError as exc:
            self.failed.emit(f"proposals not saved: {exc}")
            return
        masks = sum(len(p.masks) for p in result.proposals)
        self.stateChanged.emit(
            f"#{result.conv_id}: {len(result.proposals)} turn(s) proposed, {masks} mask(s)"
            + (" — NOISE (random test model)" if result.noise else "")
        )
        self.stored.emit(result.conv_id, stored)

    def _failed(self, request: int, message: str) -> None:
        if request in self._requests:
            self._done(request)
            self.stateChanged.emit(self.state_text())
            self.failed.emit(message)

    def _cancelled(self, request: int) -> None:
        if request in self._requests:
            self._done(request)
            self.stateChanged.emit("Propose cancelled; nothing stored")

    def _progress(self, request: int, done: int, total: object, message: str) -> None:
        if request in self._requests:
            self.progress.emit(done, total, message)
