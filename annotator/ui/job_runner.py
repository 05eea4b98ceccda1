"""Long jobs started from the menus (import, export, quality report) run on a worker thread
behind a window-modal progress dialog that can cancel them. One job at a time."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from annotator.core.progress import Task
from annotator.ui.task_runner import TaskRunner

TITLE = "PRIST Annotator"


class JobRunner(QObject):
    started = Signal(str)
    progressed = Signal(int, object, str)  # done, total, message
    ended = Signal(str)  # "finished", "failed: <message>" or "cancelled"

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._runner = TaskRunner(threads=1, parent=self)
        self._runner.progress.connect(self._progress)
        self._runner.finished.connect(self._finished)
        self._runner.failed.connect(self._failed)
        self._runner.cancelled.connect(self._cancelled)
        self._request = 0
        self.dialog: QProgressDialog | None = None
        self._on_done: Callable[[object], None] | None = None
        self.last_message: QMessageBox | None = None  # the latest result or error box

    @property
    def busy(self) -> bool:
        return self._request != 0

    def start(
        self, title: str, fn: Callable[[Task], object], on_done: Callable[[object], None]
    ) -> bool:
        """Run ``fn(task)`` on the worker; ``on_done(result)`` runs on the UI thread."""
        if self.busy:
            self.show_message(QMessageBox.Icon.Information, f"{title} waits: another job runs.")
            return False
        dialog = QProgressDialog(title, "Cancel", 0, 0, self._window)
        dialog.setWindowTitle(title.rstrip("…"))
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        self.dialog = dialog
        self._on_done = on_done
        self._request = self._runner.submit(fn)
        request = self._request
        dialog.canceled.connect(lambda: self._runner.cancel(request))
        self.started.emit(title)
        return True

    def cancel(self) -> None:
        if self._request:
            self._runner.cancel(self._request)

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    def show_message(self, icon: QMessageBox.Icon, text: str, detail: str = "") -> QMessageBox:
        """A non-blocking message box (``open``), kept in ``last_message``."""
        box = QMessageBox(icon, TITLE, text, QMessageBox.StandardButton.Ok, self._window)
        if detail:
            box.setDetailedText(detail)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_message = box
        return box

    # -- worker signals -------------------------------------------------------------------
    def _progress(self, request: int, done: int, total: object, message: str) -> None:
        dialog = self.dialog
        if request != self._request or dialog is None:
            return
        self.progressed.emit(done, total, message)
        if message:
            dialog.setLabelText(message)
        if isinstance(total, int) and total > 0:
            dialog.setMaximum(total)
            dialog.setValue(min(done, total))  # a modal dialog processes events here

    def _close(self) -> None:
        self._request = 0
        if self.dialog is not None:
            self.dialog.reset()
            self.dialog.deleteLater()
            self.dialog = None

    def _finished(self, request: int, result: object) -> None:
        if request != self._request:
            return
        self._close()
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(result)
        self.ended.emit("finished")

    def _failed(self, request: int, message: str) -> None:
        if request != self._request:
            return
        self._close()
        self.show_message(QMessageBox.Icon.Warning, message)
        self.ended.emit(f"failed: {message}")

    def _cancelled(self, request: int) -> None:
        if request != self._request:
            return
        self._close()
        self.ended.emit("cancelled")
