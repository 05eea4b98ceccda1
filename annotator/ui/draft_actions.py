"""The window's side of Draft conversations…: which images (those selected in the Images list,
else the open record's), the dialog, and the run in the background with progress and Cancel
(``services.draft_job`` does the work; what is stored stays stored, and running it again
drafts only what is still missing)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from annotator.core.progress import Task
from annotator.services.catalog import Catalog
from annotator.services.draft_job import DraftChoice, DraftSummary, draft_images
from annotator.services.open_record import OpenRecord
from annotator.services.settings import Settings
from annotator.ui.draft_dialog import DraftDialog
from annotator.ui.image_browser import ImageBrowser
from annotator.ui.job_runner import JobRunner
from annotator.ui.modal import run_modal

MAX_NAMED = 3  # images named in the dialog; more are counted


class DraftActions(QObject):
    def __init__(
        self,
        record: OpenRecord,
        store: Catalog,
        settings: Settings,
        jobs: JobRunner,
        images: ImageBrowser,
        *,
        data_changed: Callable[[], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._record = record
        self._store = store
        self._settings = settings
        self._jobs = jobs
        self._images = images
        self._data_changed = data_changed
        self._parent = parent
        self.last_summary: DraftSummary | None = None
        self._running = False
        jobs.ended.connect(self._ended)

    def targets(self) -> list[tuple[int, str]]:
        """(image id, name) of the images to draft on: the Images list's selection, else the
        open record's image."""
        chosen = [(im.id, im.path) for im in self._images.selected_images()]
        if chosen:
            return chosen
        doc = self._record.document
        if doc is None or doc.conversation.image.id is None:
            return []
        image = doc.conversation.image
        return [(image.id, image.path)]

    def draft(self) -> None:
        targets = self.targets()
        if not targets:
            self._jobs.show_message(
                QMessageBox.Icon.Information,
                "Select images in the Images list (or open a record) to draft conversations on.",
            )
            return
        names = ", ".join(name for _, name in targets[:MAX_NAMED])
        if len(targets) > MAX_NAMED:
            names += f" and {len(targets) - MAX_NAMED} more"
        dialog = DraftDialog(f"{len(targets)}: {names}", self._settings, self._parent)
        if run_modal(dialog):
            self.run_draft([i for i, _ in targets], dialog.result_value())

    def run_draft(self, image_ids: list[int], choice: DraftChoice) -> bool:
        """Draft on ``image_ids`` in the background; False when another job is running."""
        store = self._store

        def work(task: Task) -> object:
            return draft_images(store, choice, image_ids, task)

        def done(result: object) -> None:
            assert isinstance(result, DraftSummary)
            self.last_summary = result
            self._data_changed()
            self._images.reload()
            lines = [f"kept out: {k.image} #{k.dialogue} {k.message}" for k in result.kept_out]
            lines += [f"failed: {image}: {error}" for image, error in result.failed]
            icon = QMessageBox.Icon.Warning if result.failed else QMessageBox.Icon.Information
            self._jobs.show_message(icon, result.line(), "\n".join(lines))

        self._running = self._jobs.start("Drafting conversations…", work, done)
        return self._running

    def _ended(self, state: str) -> None:
        """A cancelled or failed run kept what it stored before: show that too."""
        if not self._running:
            return
        self._running = False
        if state != "finished":
            self._data_changed()
            self._images.reload()
