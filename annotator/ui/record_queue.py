"""The review queue: the record list as it is shown, which row of it is open, moving through it,
opening the chosen record (from what was read ahead when possible), and reading the next
records ahead (stored rows, decoded images, SAM embeddings)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox

from annotator.core.errors import AnnotatorError
from annotator.core.status import is_terminal
from annotator.services.open_record import OpenRecord
from annotator.services.settings import Settings
from annotator.ui.job_runner import JobRunner
from annotator.ui.record_browser import RecordBrowser
from annotator.ui.record_list import RecordListModel
from annotator.ui.record_prefetch import RecordPrefetcher
from annotator.ui.sam_controller import SamController


class RecordQueue(QObject):
    def __init__(
        self,
        record: OpenRecord,
        browser: RecordBrowser,
        prefetcher: RecordPrefetcher,
        sam: SamController,
        settings: Settings,
        jobs: JobRunner,
        notify: Callable[[str], None],
    ) -> None:
        super().__init__(browser)
        self._record = record
        self._browser = browser
        self._model: RecordListModel = browser.model
        self._prefetcher = prefetcher
        self._sam = sam
        self._settings = settings
        self._jobs = jobs
        self._notify = notify
        self.current_row = -1
        self._syncing = False
        browser.rowActivated.connect(self.open_row)
        browser.queryChanged.connect(self._query_changed)
        prefetcher.ready.connect(lambda _id: self._sam_prefetch())

    def select_row(self, row: int) -> None:
        self._browser.select_row(row)

    def go(self, step: int) -> None:
        self.select_row(max(0, self.current_row + step) if self.current_row >= 0 else 0)

    def next_unreviewed(self) -> None:
        row = self.current_row + 1
        while True:
            self._model.ensure_loaded(row)
            s = self._model.summary(row)
            if s is None:
                self._notify("No unreviewed record after this one")
                return
            if not is_terminal(s.status):
                self.select_row(row)
                return
            row += 1

    def open_row(self, row: int) -> None:
        s = self._model.summary(row)
        if s is None:
            return
        self.current_row = row
        if not self._syncing:
            self.open_record(s.id)

    def open_record(self, conv_id: int) -> None:
        bundle = self._prefetcher.take(conv_id)
        try:
            self._record.open(bundle or self._record.load(conv_id))
        except AnnotatorError as exc:
            self._jobs.show_message(QMessageBox.Icon.Warning, f"Cannot open #{conv_id}: {exc}")

    def open_conversation(self, conv_id: int) -> None:
        """Open ``conv_id`` where the list shows it (the list is read anew first); a record the
        filters hide is opened all the same."""
        self._model.reload()
        row = self._model.row_of(conv_id)
        if row is None:
            self.open_record(conv_id)
        else:
            self.select_row(row)

    def _query_changed(self) -> None:
        """The list was filtered or sorted: keep the open record selected where it now is."""
        self.current_row = -1
        doc = self._record.document
        if doc is not None and doc.id is not None:
            row = self._model.row_of(doc.id)
            if row is not None:
                self._syncing = True  # selecting it again must not reopen it
                try:
                    self._browser.table.selectRow(row)
                finally:
                    self._syncing = False
                self.current_row = row
        QTimer.singleShot(0, self.read_ahead)  # the queue changed: read ahead anew

    def read_ahead(self) -> None:
        """Prefetch the next records of the review queue: the list as it is now shown."""
        n = self._settings.prefetch
        if n > 0 and self.current_row >= 0 and self._record.document is not None:
            queue = self._browser.queue_after(self.current_row, n)
            self._prefetcher.prefetch([s.id for s in queue])
            self._sam_prefetch()

    def _sam_prefetch(self) -> None:
        if self._settings.prefetch > 0 and self._sam.available:
            self._sam.prefetch(
                [(b.key, b.rgb) for b in self._prefetcher.ready_bundles() if b.rgb is not None]
            )
