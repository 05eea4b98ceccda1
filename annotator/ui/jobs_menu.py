"""File > Import / Export and Record > Propose: the same services as the command line, run on a
worker thread with a progress dialog that can cancel."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QProgressDialog

from annotator.core.progress import Task
from annotator.services.settings import Settings
from annotator.storage import Store
from annotator.ui.task_runner import TaskRunner


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


class JobRunner:
    """Runs one job at a time behind a modal progress dialog."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.runner = TaskRunner(threads=1, parent=window)
        self.runner.progress.connect(self._progress)
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        self.runner.cancelled.connect(self._cancelled)
        self.request = 0
        self.dialog: QProgressDialog | None = None
        self.on_done: Callable[[object], None] | None = None

    def start(
        self, title: str, fn: Callable[[Task], object], on_done: Callable[[object], None]
    ) -> None:
        self.dialog = QProgressDialog(title, "Cancel", 0, 0, self.window)
        self.dialog.setWindowTitle(title)
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(200)
        self.on_done = on_done
        self.request = self.runner.submit(fn)
        self.dialog.canceled.connect(lambda: self.runner.cancel(self.request))

    def _progress(self, request: int, done: int, total: object, message: str) -> None:
        if request != self.request or self.dialog is None:
            return
        if isinstance(total, int) and total > 0:
            self.dialog.setMaximum(total)
            self.dialog.setValue(min(done, total))
        if message:
            self.dialog.setLabelText(message)

    def _close(self) -> None:
        if self.dialog is not None:
            self.dialog.reset()
            self.dialog = None

    def _finished(self, request: int, result: object) -> None:
        if request != self.request:
            return
        self._close()
        if self.on_done is not None:
            self.on_done(result)

    def _failed(self, request: int, message: str) -> None:
        if request == self.request:
            self._close()
            QMessageBox.warning(self.window, "PRIST Annotator", message)

    def _cancelled(self, request: int) -> None:
        if request == self.request:
            self._close()
            self.window.statusBar().showMessage("Cancelled", 4000)


def install_jobs(window: Any, store: Store, settings: Settings) -> None:
    jobs = JobRunner(window)
    window.jobs = jobs
    import_job = _optional("annotator.services.import_job")
    export_job = _optional("annotator.services.export_job")
    propose_job = _optional("annotator.services.propose_job")

    def do_import() -> None:
        if import_job is None:
            window.statusBar().showMessage("Import is not available in this build", 5000)
            return
        json_path, _ = QFileDialog.getOpenFileName(
            window, "PRIST dialogue file", settings.images_dir, "JSON (*.json)"
        )
        if not json_path:
            return
        images = QFileDialog.getExistingDirectory(
            window, "Images folder", str(Path(json_path).parent)
        )
        if not images:
            return
        masks = QFileDialog.getExistingDirectory(
            window, "LabelMe masks folder (Cancel: none)", images
        )

        def work(task: Task) -> object:
            return import_job.import_prist(
                store, json_path, images_dir=images, masks_dir=masks or None, task=task
            )

        def done(summary: object) -> None:
            window.resolver.add_root(images)
            window.model.reload()
            added = getattr(summary, "added", "?")
            skipped = getattr(summary, "skipped", "?")
            flagged = getattr(summary, "flagged", "?")
            QMessageBox.information(
                window, "Import", f"Added {added}, skipped {skipped}, flagged {flagged}."
            )

        jobs.start("Importing…", work, done)

    def do_export() -> None:
        if export_job is None:
            window.statusBar().showMessage("Export is not available in this build", 5000)
            return
        kinds = list(getattr(export_job, "KINDS", ("coco", "jsonl")))
        kind, ok = QInputDialog.getItem(window, "Export", "Format", kinds, 0, False)
        if not ok:
            return
        out, _ = QFileDialog.getSaveFileName(
            window, "Export to", settings.export_dir or "", "All files (*)"
        )
        if not out:
            return

        def work(task: Task) -> object:
            return export_job.export(store, kind, out, None, task)

        jobs.start(
            "Exporting…",
            work,
            lambda r: QMessageBox.information(window, "Export", f"Exported to {out}"),
        )

    def do_propose() -> None:
        doc = window.session.document
        if doc is None:
            return
        if propose_job is None or not settings.proposer:
            window.statusBar().showMessage("No proposer configured (Settings > Proposer)", 5000)
            return
        conv_id = doc.id
        run = getattr(propose_job, "propose_conversation", None) or getattr(
            propose_job, "run_conversation", None
        )
        if run is None:
            window.statusBar().showMessage(
                "The propose service does not offer per-record runs", 5000
            )
            return

        def work(task: Task) -> object:
            return run(store, conv_id, settings.proposer, task=task)

        def done(_result: object) -> None:
            window.open_record(conv_id)

        jobs.start("Proposing…", work, done)

    window.import_dialog = do_import
    window.export_dialog = do_export
    window.propose = do_propose
