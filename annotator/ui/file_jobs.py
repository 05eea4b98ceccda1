"""File > Import and File > Export: the same services as ``annotator import`` / ``export``,
run as jobs with progress and cancel, followed by a summary. The services (and the readers and
writers behind them) are imported when a job starts, not with the window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox

from annotator.core.export_report import ExportReport
from annotator.core.progress import Task
from annotator.services.catalog import Catalog
from annotator.services.settings import Settings
from annotator.ui.export_dialog import ExportDialog, ExportRequest, export_summary
from annotator.ui.flag_labels import flag_label
from annotator.ui.import_dialog import ImportDialog, ImportRequest
from annotator.ui.job_runner import JobRunner
from annotator.ui.modal import run_modal
from annotator.ui.task_runner import TaskRunner


class FileJobs(QObject):
    imported = Signal(object)  # ImportSummary
    exported = Signal(object)  # ExportReport or CorrectionsSummary

    def __init__(
        self,
        window: QMainWindow,
        store: Catalog,
        settings: Settings,
        jobs: JobRunner,
        on_images_dir: Callable[[str], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._store = store
        self._settings = settings
        self.jobs = jobs
        self._on_images_dir = on_images_dir

    def verify_in_background(self, runner: TaskRunner) -> None:
        """Check the database file is sound on a worker once the window is up: storage checks
        it anyway before the first write, and this keeps the first edit from waiting for it
        (0.9 s on a 100,000-conversation file). A damaged file is reported at once."""
        store = self._store
        request = runner.submit(lambda _task: store.verify())

        def failed(req: int, message: str) -> None:
            if req == request:
                self.jobs.show_message(QMessageBox.Icon.Critical, message)

        runner.failed.connect(failed)

    # -- import ---------------------------------------------------------------------------
    def add_sample(self) -> None:
        """The bundled sample project, as an import (the list follows through ``imported``)."""
        from annotator.services.sample_project import import_sample

        store = self._store

        def work(task: Task) -> object:
            return import_sample(store, task=task)  # type: ignore[arg-type]

        def done(summary: object) -> None:
            self.imported.emit(summary)
            self._window.statusBar().showMessage("Sample project added", 4000)

        self.jobs.start("Adding the sample project…", work, done)

    def import_dialog(self) -> None:
        dialog = ImportDialog(self._settings.images_dir, self._window)
        if run_modal(dialog):
            self.run_import(dialog.request())

    def run_import(self, request: ImportRequest) -> bool:
        store = self._store

        def work(task: Task) -> object:
            from annotator.services import import_job

            if request.kind == "jsonl":
                return import_job.import_jsonl(
                    store, request.file, images_dir=request.images_dir or None, task=task
                )
            return import_job.import_prist(
                store,
                request.file,
                images_dir=request.images_dir,
                masks_dir=request.masks_dir or None,
                match=request.match,
                task=task,
            )

        def done(result: object) -> None:
            from annotator.services.import_job import ImportSummary

            assert isinstance(result, ImportSummary)
            if request.images_dir:
                self._on_images_dir(request.images_dir)
                self._settings.images_dir = str(Path(request.file).parent)
            text = (
                f"Read {result.records:,} conversation(s) from {Path(result.file).name}: "
                f"{result.added:,} added, {result.skipped:,} already in the database, "
                f"{result.flagged:,} flagged."
            )
            detail = "\n".join(
                f"{flag_label(code)}: {n}" for code, n in sorted(result.flags_by_code().items())
            )
            self.jobs.show_message(QMessageBox.Icon.Information, text, detail)
            self.imported.emit(result)

        return self.jobs.start(f"Importing {Path(request.file).name}…", work, done)

    # -- export ---------------------------------------------------------------------------
    def export_dialog(self) -> None:
        by_status = self._store.status_counts()
        counts = {**by_status, "": sum(by_status.values())}
        dialog = ExportDialog(self._settings.export_dir, self._window, counts)
        if run_modal(dialog):
            self.run_export(dialog.request())

    def run_export(self, request: ExportRequest) -> bool:
        store = self._store

        def work(task: Task) -> object:
            from annotator.services import export_job

            if request.fmt == "coco":
                return export_job.export_coco(
                    store,
                    request.out,
                    status=request.status,
                    mask=request.mask,
                    categories=request.categories,
                    polygons=request.polygons,
                    task=task,
                )
            if request.fmt in ("jsonl", "jsonl-miras"):
                return export_job.export_jsonl(
                    store,
                    request.out,
                    fmt="miras" if request.fmt == "jsonl-miras" else "prist",
                    status=request.status,
                    mask=request.mask,
                    task=task,
                )
            if request.fmt == "labelme":
                return export_job.export_labelme(
                    store, request.out, status=request.status, mask=request.mask, task=task
                )
            from annotator.services.corrections_export import export_corrections

            return export_corrections(store, request.out, task=task)

        def done(result: object) -> None:
            if isinstance(result, ExportReport):
                text, detail = export_summary(result)
            else:
                text, detail = f"Wrote {result} to\n{request.out}", ""
            self._settings.export_dir = str(Path(request.out).parent)
            self.jobs.show_message(QMessageBox.Icon.Information, text, detail)
            self.exported.emit(result)

        return self.jobs.start(f"Exporting to {Path(request.out).name}…", work, done)
