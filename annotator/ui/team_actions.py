"""Team mode in the window: who I am (status bar), the claim on the open record with its
heartbeat, a read-only banner when someone else holds it, Take next record (Ctrl+N), release,
and the team's progress. The rules themselves live in the database; see
:mod:`annotator.services.team_work`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QInputDialog, QLabel, QStatusBar, QWidget

from annotator.core.errors import AnnotatorError
from annotator.services.open_record import OpenRecord
from annotator.services.record_document import RecordDocument
from annotator.services.team_work import HEARTBEAT_S, Hold, TeamWork
from annotator.ui.modal import run_modal
from annotator.ui.team_progress_dialog import TeamProgressDialog

Notify = Callable[[str], None]


class TeamActions(QObject):
    def __init__(
        self,
        work: TeamWork,
        record: OpenRecord,
        bar: QStatusBar,
        banner: QLabel,
        show_record: Callable[[int], None],
        notify: Notify,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.work = work
        self._record = record
        self._banner = banner
        self._show_record = show_record
        self._notify = notify
        self._parent = parent
        self.who = QLabel(work.describe())
        self.who.setToolTip("Your login role: the database records it as the author of every edit")
        self.who.setVisible(work.enabled)
        bar.addPermanentWidget(self.who)
        banner.setVisible(False)
        record.opened.connect(self._opened)
        self._timer = QTimer(self)
        self._timer.setInterval(HEARTBEAT_S * 1000)
        self._timer.timeout.connect(self.heartbeat)
        if work.enabled:
            self._timer.start()

    # -- the open record ----------------------------------------------------------------
    def _opened(self, doc: RecordDocument) -> None:
        if doc.id is None:
            return
        try:
            hold = self.work.open(doc.id, doc.status)
        except AnnotatorError as exc:  # the database could not be asked: say so, edit on
            self._notify(f"could not claim record {doc.id}: {exc}")
            return
        self._show(hold)

    def heartbeat(self) -> None:
        try:
            hold = self.work.heartbeat()
        except AnnotatorError as exc:
            self._notify(f"claim not renewed: {exc}")
            return
        if hold is not None:
            self._show(hold)

    def _show(self, hold: Hold) -> None:
        self._record.session.read_only = hold.read_only
        self._banner.setText(f"Read-only: {hold.read_only}" if hold.read_only else "")
        self._banner.setVisible(bool(hold.read_only))

    # -- intents --------------------------------------------------------------------------
    def take_next(self) -> None:
        """Release the open record and claim the next one of my role."""
        self._record.flush_pending()
        session = self._record.session
        if session.is_dirty and not session.save().ok:
            self._notify("the open record is not saved: save it first (Ctrl+S)")
            return
        try:
            found = self.work.next_record()
        except AnnotatorError as exc:
            self._notify(str(exc))
            return
        if found is None:
            self._notify(f"nothing left to do as {self.work.work_role}")
            return
        self._show_record(found)

    def release(self) -> None:
        if not self.work.enabled:
            self._notify("a single-user database has no claims to release")
            return
        try:
            self.work.release()
        except AnnotatorError as exc:
            self._notify(str(exc))
            return
        self._notify("claim released: others may take this record now")

    def assign(self) -> None:
        """Hand the open record to a team member, or to anyone again (admins)."""
        doc = self._record.document
        if doc is None or doc.id is None:
            return
        if not self.work.enabled:
            self._notify("records are handed out on a team (PostgreSQL) database only")
            return
        try:
            people = self.work.people()
        except AnnotatorError as exc:
            self._notify(str(exc))
            return
        anyone = "(anyone)"
        person, ok = QInputDialog.getItem(
            self._parent, "Assign record", f"Hand record {doc.id} to:", [anyone, *people], 0, False
        )
        if not ok:
            return
        try:
            self.work.assign(doc.id, None if person == anyone else person)
        except AnnotatorError as exc:
            self._notify(str(exc))
            return
        self._notify(f"record {doc.id} is now for {person}")

    def show_progress(self) -> None:
        try:
            rows = list(self.work.progress())
        except AnnotatorError as exc:
            self._notify(str(exc))
            return
        run_modal(TeamProgressDialog(rows, self.work.describe(), self._parent))

    def close(self) -> None:
        """The app is closing: give the record back at once rather than when the claim lapses."""
        self._timer.stop()
        with contextlib.suppress(AnnotatorError):  # else the claim lapses by itself
            self.work.release()
