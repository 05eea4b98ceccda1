"""What the window does when a save meets a newer revision: open the conflict dialog once the
save has returned, save the merge the user applies, and, after Cancel, keep a "Resolve
conflict…" button in the status bar that opens it again."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QPushButton, QStatusBar, QWidget

from annotator.core.errors import AnnotatorError
from annotator.services.open_record import OpenRecord
from annotator.services.session import SaveResult
from annotator.ui.conflict_dialog import ConflictDialog
from annotator.ui.modal import run_modal


class ConflictActions(QObject):
    def __init__(
        self,
        record: OpenRecord,
        bar: QStatusBar,
        notify: Callable[[str], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.record = record
        self.session = record.session
        self._window = parent
        self._notify = notify
        self.button = QPushButton("Resolve conflict…")
        self.button.setToolTip("Compare your unsaved changes with the version saved meanwhile")
        self.button.setStyleSheet(
            "QPushButton { border: 1px solid #ff9f43; color: #ffcf9e; padding: 2px 10px; }"
        )
        self.button.setVisible(False)
        self.button.clicked.connect(self.resolve)
        # Permanent, first on the right: a passing status message hides the others, and this
        # is the one way back to the dialog after Cancel.
        bar.insertPermanentWidget(0, self.button)
        # Another record opened: the button follows whether *it* is in conflict.
        record.opened.connect(lambda _doc: self.button.setVisible(self.session.has_conflict))
        self._scheduled = False
        self._open = False
        # (record, their revision) the user cancelled: asked again only for a newer revision.
        self._declined: tuple[int | None, int | None] | None = None
        self._problem = ""  # why the last merge was refused, said when the dialog reopens

    def saved(self, result: SaveResult) -> None:
        """Every save of the session: a conflict opens the dialog (once per revision of theirs)
        after the save that met it has returned, never inside it."""
        doc = self.session.document
        conflict = doc is not None and self.session.has_conflict
        self.button.setVisible(conflict)
        if not result.conflict or doc is None:
            return
        if self._declined == (doc.id, result.revision) or self._scheduled or self._open:
            return
        self._scheduled = True
        QTimer.singleShot(0, self._resolve_scheduled)

    def _resolve_scheduled(self) -> None:
        self._scheduled = False
        if self._window.isVisible():
            self.resolve()

    def resolve(self) -> None:
        """Show the conflict of the open record and save what the user applies."""
        if self._open or self.session.document is None:
            return
        try:
            view = self.session.save_conflict()
        except AnnotatorError as exc:
            self._notify(f"Could not read the saved version: {exc}")
            return
        if view is None:
            self.button.setVisible(False)
            return
        dialog = ConflictDialog(view, self.record.rgb, self._window, problem=self._problem)
        self._problem = ""
        self._open = True
        try:
            applied = run_modal(dialog)
            choice = dialog.choices() if applied else None
        finally:
            self._open = False
        if choice is None:
            self._declined = (view.conv_id, view.theirs_revision)
            self.button.setVisible(True)
            self._notify("Not saved: use Resolve conflict… in the status bar to compare again")
            return
        self._declined = None
        result = self.session.resolve_conflict(choice)  # also reaches saved() and the window
        if result.conflict and result.revision is not None:
            self._problem = f"Revision {result.revision} was saved while you chose: compare again."
        elif not result.ok:
            self._problem = result.message
