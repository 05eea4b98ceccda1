"""The editing session: which record is open, its undo history, and saving after every action.

Every completed action (a brush stroke, a SAM result, a text edit, a review) is one call here
and one database transaction; it is acknowledged (``SaveResult.ok``) only after the commit. A
failed save leaves the record dirty, keeps its working copy and history in memory, and is
retried by the next action or an explicit :meth:`EditSession.save`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from annotator.core.commands import Command, SetStatus, UndoHistory
from annotator.core.errors import AnnotatorError, WorkflowError
from annotator.core.model import (
    Conversation,
    Decision,
    HistoryEvent,
    MaskLayer,
    Review,
)
from annotator.core.status import ALLOWED, Status
from annotator.services.catalog import RecordStore
from annotator.services.record_document import RecordDocument
from annotator.services.save_conflict import MergeChoice, SaveConflict, compare
from annotator.storage.api_types import ConflictError


@dataclass(frozen=True)
class SaveResult:
    ok: bool
    message: str = ""
    revision: int | None = None
    # Someone else saved the record since it was read: ``revision`` is theirs, and
    # :meth:`EditSession.save_conflict` shows both sides (the working copy is kept).
    conflict: bool = False


SAVED_NOTHING = SaveResult(True, "nothing to save")
KEPT_APPROVED = SaveResult(True, "not changed: the record stays approved")


@dataclass
class _OpenRecord:
    document: RecordDocument
    history: UndoHistory
    # History events of actions whose save failed: written with the save that succeeds.
    unsaved_events: list[HistoryEvent] = field(default_factory=list)
    # The last save met a newer stored revision (until a merge is saved).
    conflicted: bool = False
    conflict: SaveConflict | None = None  # the view last shown, which a merge is made from


class EditSession:
    """Holds the open record and the histories of recently edited ones (undo survives switching)."""

    def __init__(
        self,
        store: RecordStore,
        actor: Callable[[], str],
        *,
        history_limit: int = 500,
        keep_records: int = 20,
    ) -> None:
        self.store = store
        self._actor = actor
        self.history_limit = history_limit
        self.keep_records = keep_records
        self._records: OrderedDict[int, _OpenRecord] = OrderedDict()
        self._current: _OpenRecord | None = None
        self.save_listeners: list[Callable[[SaveResult], None]] = []
        # Asked before an edit of an approved record (an edit sends it back to review); False
        # leaves the record as it was. None lets edits through (scripts), storage still
        # moves the record back to review.
        self.confirm_edit_approved: Callable[[RecordDocument], bool] | None = None
        # Why the open record may not be edited (team mode: someone else holds it); "" when
        # it may. Edits are turned away here, before the database would refuse them.
        self.read_only = ""

    # -- opening ------------------------------------------------------------------------
    @property
    def document(self) -> RecordDocument | None:
        return self._current.document if self._current else None

    @property
    def history(self) -> UndoHistory | None:
        return self._current.history if self._current else None

    @property
    def is_dirty(self) -> bool:
        return self._current is not None and not self._current.history.is_clean

    def dirty_records(self) -> list[RecordDocument]:
        return [r.document for r in self._records.values() if not r.history.is_clean]

    def open(self, conv_id: int, stored: Conversation | None = None) -> RecordDocument:
        """Open a record; a recently edited one comes back with its working copy and history.
        ``stored``: the record as just read from the store (prefetched), saving a read."""
        if stored is not None and stored.id != conv_id:
            raise WorkflowError(f"record {stored.id} given for {conv_id}")
        cached = self._records.get(conv_id)
        if cached is not None:
            if not cached.history.is_clean:
                self._records.move_to_end(conv_id)
                self._current = cached
                return cached.document  # unsaved work wins over the stored version
            stored = stored or self.store.get_conversation(conv_id)
            if stored.revision == cached.document.conversation.revision:
                self._records.move_to_end(conv_id)
                self._current = cached
                return cached.document
            del self._records[conv_id]  # changed elsewhere: its history no longer applies
        stored = stored or self.store.get_conversation(conv_id)
        record = _OpenRecord(RecordDocument(stored), UndoHistory(self.history_limit))
        self._records[conv_id] = record
        self._current = record
        self._evict()
        return record.document

    def _evict(self) -> None:
        while len(self._records) > self.keep_records:
            for cid, rec in self._records.items():
                if rec is not self._current and rec.history.is_clean:
                    del self._records[cid]
                    break
            else:
                return  # all dirty: keep them rather than lose work

    def close(self) -> None:
        self._current = None

    def adopt_stored(self, conv_id: int) -> bool:
        """Another writer changed a record (proposals added, status moved on): a clean working
        copy follows the stored version and keeps its undo history. A dirty one is left alone
        (its next save reports the conflict rather than overwrite either side)."""
        rec = self._records.get(conv_id)
        if rec is None or not rec.history.is_clean:
            return False
        stored = self.store.get_conversation(conv_id)
        before = rec.document.status
        rec.document.rebase(stored)
        if stored.status != before:
            rec.document.set_status(stored.status)  # notify listeners
        return True

    # -- editing ------------------------------------------------------------------------
    def execute(self, command: Command) -> SaveResult:
        """Run ``command``, record it, save."""
        rec = self._require()
        if self.read_only:
            return self._emit(SaveResult(True, f"not changed: {self.read_only}"))
        if not self._may_edit(rec.document):
            return self._emit(KEPT_APPROVED)
        rec.history.push(command, rec.document)
        return self.save(events=[self._event(command)])

    def record(self, command: Command) -> SaveResult:
        """Record a command already applied live (a brush stroke drawn as the mouse moved)."""
        rec = self._require()
        if self.read_only:
            command.undo(rec.document)
            return self._emit(SaveResult(True, f"not changed: {self.read_only}"))
        if not self._may_edit(rec.document):
            command.undo(rec.document)
            return self._emit(KEPT_APPROVED)
        rec.history.push(command, rec.document, applied=True)
        return self.save(events=[self._event(command)])

    def _may_edit(self, doc: RecordDocument) -> bool:
        ask = self.confirm_edit_approved
        return doc.status != Status.APPROVED or ask is None or ask(doc)

    def undo(self) -> SaveResult:
        rec = self._require()
        if not rec.history.can_undo:
            return SAVED_NOTHING
        command = rec.history.next_undo()
        if isinstance(command, SetStatus):
            self._check_status(rec.document, command.before)
        done = rec.history.undo(rec.document)
        assert done is not None
        return self.save(events=[self._event(done, undo=True)])

    def redo(self) -> SaveResult:
        rec = self._require()
        if not rec.history.can_redo:
            return SAVED_NOTHING
        command = rec.history.next_redo()
        if isinstance(command, SetStatus):
            self._check_status(rec.document, command.after)
        done = rec.history.redo(rec.document)
        assert done is not None
        return self.save(events=[self._event(done, redo=True)])

    def _check_status(self, doc: RecordDocument, new: Status) -> None:
        if new == Status.APPROVED and not doc.has_mask((doc.target_turn, MaskLayer.FINAL)):
            raise WorkflowError("approving needs a non-empty final mask on the target turn")

    # -- saving -------------------------------------------------------------------------
    def save(self, events: list[HistoryEvent] | None = None) -> SaveResult:
        rec = self._require()
        if rec.history.is_clean:
            return self._emit(SAVED_NOTHING)
        doc = rec.document
        pending = [*rec.unsaved_events, *(events or ())]
        try:
            stored = self.store.save_conversation(
                doc.to_conversation(), actor=self._actor(), events=pending
            )
        except ConflictError as exc:
            # Neither side is overwritten: the working copy and its events wait for a merge.
            rec.unsaved_events = pending
            rec.conflicted = True
            return self._emit(_conflict_result(exc))
        except AnnotatorError as exc:
            rec.unsaved_events = pending
            return self._emit(SaveResult(False, f"not saved: {exc}"))
        rec.unsaved_events = []
        rec.conflicted = False
        before = doc.status
        doc.rebase(stored)
        if stored.status != before:  # e.g. an approved record edited goes back to review
            doc.set_status(stored.status)
        rec.history.set_clean()
        message = "saved" if stored.status == before else f"saved; now {stored.status.value}"
        return self._emit(SaveResult(True, message, stored.revision))

    # -- save conflicts -------------------------------------------------------------------
    @property
    def has_conflict(self) -> bool:
        """The open record's last save met a newer stored revision."""
        return self._current is not None and self._current.conflicted

    def save_conflict(self) -> SaveConflict | None:
        """Mine beside theirs (read fresh from the store) for the open record; None when its
        last save did not conflict or the store no longer holds a newer revision."""
        rec = self._require()
        doc = rec.document
        if not rec.conflicted or doc.id is None:
            return None
        theirs = self.store.get_conversation(doc.id)
        if theirs.revision == doc.conversation.revision:
            rec.conflicted = False  # nothing newer any more: the next save goes through
            return None
        events = self.store.history(doc.id)
        by = events[-1].actor if events else ""
        rec.conflict = compare(doc.conversation, doc.to_conversation(), theirs, theirs_by=by)
        return rec.conflict

    def resolve_conflict(self, choice: MergeChoice) -> SaveResult:
        """Save the merge ``choice`` makes of the view last returned by :meth:`save_conflict`,
        in one transaction with the user's pending edit events and ONE merge event, and rebase
        the open record on it. A revision saved meanwhile is reported as a new conflict."""
        rec = self._require()
        view = rec.conflict or self.save_conflict()
        if view is None:
            return self.save()
        doc = rec.document
        merged = view.merge(choice, actor=self._actor())
        pending = [*rec.unsaved_events, merged.event]
        try:
            stored = self.store.save_conversation(
                merged.conversation, actor=self._actor(), events=pending
            )
        except ConflictError as exc:  # a third save got in: compare anew
            rec.conflict = None
            return self._emit(_conflict_result(exc))
        except AnnotatorError as exc:  # e.g. a status the workflow refuses: choose again
            return self._emit(SaveResult(False, f"merge not saved: {exc}", conflict=True))
        rec.unsaved_events = []
        rec.conflicted = False
        rec.conflict = None
        # The merged texts and masks replace the working copy whatever it held. The undo
        # history starts clean: its commands are deltas against the working copy as it was
        # (mask crops, texts before and after), and undoing one on top of turns the merge took
        # from theirs would write a stale crop or text over their work.
        doc.rebase(stored, replace=True)
        doc.set_status(stored.status)  # notify listeners
        rec.history = UndoHistory(self.history_limit)
        kept = view.summary(choice)
        said = f"kept {kept}" if kept else "the two sides were the same"
        message = f"merged with revision {view.theirs_revision}: {said}"
        return self._emit(SaveResult(True, message, stored.revision))

    def _emit(self, result: SaveResult) -> SaveResult:
        for listener in list(self.save_listeners):
            listener(result)
        return result

    def _event(self, command: Command, *, undo: bool = False, redo: bool = False) -> HistoryEvent:
        detail = dict(command.detail())
        if undo:
            detail["undo"] = True
        if redo:
            detail["redo"] = True
        return HistoryEvent(actor=self._actor(), action=command.action, detail=detail)

    # -- review -------------------------------------------------------------------------
    def review(
        self,
        decision: Decision,
        comment: str = "",
        *,
        turn_index: int | None = None,
        reason: str | None = None,
    ) -> SaveResult:
        """Record a review (pending edits are saved first). A whole-record decision that changes
        the status goes on the undo history as a status change."""
        rec = self._require()
        doc = rec.document
        if decision == Decision.APPROVE and turn_index is None:
            self._check_status(doc, Status.APPROVED)
        pending = self.save()
        if not pending.ok:
            return pending
        before = doc.status
        assert doc.id is not None
        try:
            stored = self.store.add_review(
                doc.id,
                Review(self._actor(), decision, comment, turn_index=turn_index, reason=reason),
            )
        except AnnotatorError as exc:
            return self._emit(SaveResult(False, f"review not saved: {exc}"))
        doc.rebase(stored)
        if stored.status != before:
            back = before if before in ALLOWED[stored.status] else Status.IN_REVIEW
            rec.history.push(
                SetStatus(back, stored.status, label=f"{decision.value.capitalize()}"),
                doc,
                applied=True,
            )
            doc.set_status(stored.status)  # notify listeners
        rec.history.set_clean()
        return self._emit(SaveResult(True, f"{decision.value} saved", stored.revision))

    def _require(self) -> _OpenRecord:
        if self._current is None:
            raise WorkflowError("no record is open")
        return self._current


def _conflict_result(exc: ConflictError) -> SaveResult:
    message = (
        f"not saved: record {exc.conv_id} was saved elsewhere (revision {exc.stored}, "
        f"yours {exc.expected}); compare the two and choose what to keep"
    )
    return SaveResult(False, message, exc.stored, conflict=True)
