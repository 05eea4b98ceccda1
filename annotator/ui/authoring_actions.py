"""Writing data from the window: images added from a folder (a job with progress and cancel),
new conversations on an image, variants with another focus, soft delete and restore, and the
turns of the open conversation added, removed and moved (through the open record, each one
undoable step). Asks before a removal takes a verified mask with it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from annotator.core.errors import AnnotatorError
from annotator.core.image_formats import ALLOWED_EXTENSIONS
from annotator.core.listing import ImageSummary, ListQuery
from annotator.core.model import Image
from annotator.core.progress import Task
from annotator.services import authoring
from annotator.services.catalog import Catalog
from annotator.services.open_record import OpenRecord
from annotator.services.settings import Settings
from annotator.ui.image_browser import ImageBrowser
from annotator.ui.job_runner import JobRunner
from annotator.ui.modal import run_modal
from annotator.ui.new_conversation_dialog import NewConversation, NewConversationDialog

IMAGE_FILTER = f"Images ({' '.join('*' + e for e in sorted(ALLOWED_EXTENSIONS))});;All files (*)"


class AuthoringActions(QObject):
    def __init__(
        self,
        record: OpenRecord,
        store: Catalog,
        settings: Settings,
        jobs: JobRunner,
        images: ImageBrowser,
        *,
        open_conversation: Callable[[int], None],
        show_ids: Callable[[list[int]], None],
        data_changed: Callable[[], None],
        commit_pending: Callable[[], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._record = record
        self._store = store
        self._settings = settings
        self._jobs = jobs
        self._images = images
        self._open = open_conversation
        self._show_ids = show_ids
        self._data_changed = data_changed
        self._commit_pending = commit_pending  # typed text goes to its turn before turns move
        self._parent = parent
        images.addRequested.connect(self.add_images)
        images.newConversation.connect(self.new_conversation)
        images.showConversations.connect(self._image_conversations)

    def _warn(self, text: str) -> None:
        self._jobs.show_message(QMessageBox.Icon.Warning, text)

    def _actor(self) -> str:
        return self._settings.reviewer

    # -- images ------------------------------------------------------------------------------
    def refresh_images(self) -> None:
        self._images.reload()

    def add_images(self) -> None:
        """A folder (with the folders inside it, if wanted) or files picked one by one; the
        images are named by their path in the folder."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Add images",
            "Add the images of a folder, or files you pick?",
            QMessageBox.StandardButton.Cancel,
            self._parent,
        )
        folder_button = box.addButton("A folder…", QMessageBox.ButtonRole.AcceptRole)
        files_button = box.addButton("Files…", QMessageBox.ButtonRole.AcceptRole)
        box.exec()
        start = self._settings.images_dir
        if box.clickedButton() is files_button:
            files, _ = QFileDialog.getOpenFileNames(
                self._parent,
                "Add images",
                start,
                IMAGE_FILTER,
            )
            if files:  # named by their path in the folder that holds them all
                root = os.path.commonpath([os.path.dirname(f) for f in files])
                self.run_add_images(root, False, files)
        elif box.clickedButton() is folder_button:
            folder = QFileDialog.getExistingDirectory(self._parent, "Add images", start)
            if folder:
                deep = QMessageBox.question(
                    self._parent,
                    "Add images",
                    "Also add the images in the folders inside it?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                )
                self.run_add_images(folder, deep == QMessageBox.StandardButton.Yes)

    def run_add_images(self, folder: str, recursive: bool, files: list[str] | None = None) -> bool:
        store = self._store

        def work(task: Task) -> object:
            from annotator.services.image_add import add_images  # Pillow: only when used

            return add_images(store, folder, recursive=recursive, only=files, task=task)

        def done(report: Any) -> None:
            self.refresh_images()
            refused = "\n".join(f"{r.path}: {r.reason}" for r in report.refused)
            self._jobs.show_message(
                QMessageBox.Icon.Information, f"{report.folder}:\n{report.summary()}", refused
            )

        return self._jobs.start("Adding images…", work, done)

    def _image_conversations(self, image: ImageSummary) -> None:
        ids = [s.id for s in self._store.page(ListQuery(image_id=image.id), 0, 10_000)]
        if ids:
            self._show_ids(ids)
        else:
            self.new_conversation(image)

    # -- conversations ---------------------------------------------------------------------
    def new_conversation(self, image: ImageSummary | None = None) -> None:
        """A conversation on ``image``: the images list's selection, else the open record's."""
        target = image or self._images.selected()
        if target is None:
            doc = self._record.document
            if doc is None:
                self._warn("Choose an image in the Images list first (or add images).")
                return
            conv_image = doc.conversation.image
        else:
            conv_image = self._store.image(target.id)
        dialog = NewConversationDialog(
            conv_image.path, self._settings.seg_requests, self._settings.seg_answers, self._parent
        )
        if run_modal(dialog):
            self.create_conversation(conv_image, dialog.result_value())

    def create_conversation(self, image: Image, wanted: NewConversation) -> int | None:
        """Store the conversation the dialog describes and open it on its first turn to write."""
        self._commit_pending()
        turns = authoring.rounds_with_final(wanted.rounds, wanted.request, wanted.answer)
        try:
            cid = authoring.create(self._store, image, wanted.focus, turns, actor=self._actor())
        except AnnotatorError as exc:
            self._warn(f"The conversation was not created: {exc}")
            return None
        assert cid is not None  # no key: never a duplicate of a stored one
        self._created(cid)
        if wanted.rounds:
            self._record.select_turn(0)  # the first question to write
        return cid

    def duplicate(self) -> None:
        doc = self._record.document
        if doc is None or doc.id is None:
            return
        focus, ok = QInputDialog.getText(
            self._parent,
            "Duplicate with another focus",
            f"A variant of #{doc.id} on the same image; its questions and draft answers are "
            f"copied.\nFocus now: {doc.focus}\nNew focus:",
        )
        if ok:
            self.duplicate_as(focus)

    def duplicate_as(self, focus: str) -> int | None:
        """A variant of the open conversation with ``focus``, opened."""
        self._commit_pending()
        doc = self._record.document
        if doc is None or doc.id is None:
            return None
        if self._record.session.is_dirty:
            self._record.session.save()
        try:
            cid = authoring.duplicate(self._store, doc.id, focus, actor=self._actor())
        except AnnotatorError as exc:
            self._warn(f"Not duplicated: {exc}")
            return None
        self._created(cid)
        return cid

    def _created(self, cid: int) -> None:
        self._data_changed()
        self.refresh_images()
        self._open(cid)

    def delete(self) -> None:
        doc = self._record.document
        if doc is None or doc.id is None:
            return
        answer = QMessageBox.question(
            self._parent,
            "Delete conversation",
            f"Delete #{doc.id} ({doc.focus})?\n\nIt leaves the lists and exports; the "
            "'deleted' status filter lists it, and Restore brings it back whole.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.set_deleted(True)

    def restore(self) -> None:
        self.set_deleted(False)

    def set_deleted(self, deleted: bool) -> None:
        """Soft-delete (or restore) the open conversation: an undoable step (Ctrl+Z)."""
        self._commit_pending()
        result = self._record.set_deleted(deleted)
        if result is not None and not result.ok:
            self._warn(result.message)
        self._data_changed()

    # -- the open conversation's turns ---------------------------------------------------------
    def reshape(self, turn: int, what: str) -> None:
        self._commit_pending()
        r = self._record
        if what == "up":
            r.move_turn(turn, -1)
        elif what == "down":
            r.move_turn(turn, +1)
        elif what == "add_before":
            r.add_turn(turn)
        elif what == "remove" and self._confirm_removal(turn):
            r.remove_turn(turn)

    def _confirm_removal(self, turn: int) -> bool:
        if not self._record.removal_loses_verified_mask(turn):
            return True
        answer = QMessageBox.question(
            self._parent,
            "Remove turn",
            f"Turn {turn + 1} has a verified mask. Remove the turn with its mask, proposals "
            "and reviews? (Undo brings the turn and its mask back.)",
        )
        return answer == QMessageBox.StandardButton.Yes
