"""The main window: record list (left), canvas (centre), conversation and review (right), tool
bars on top, status bar below. It lays the widgets out and connects them to the open-record
model (``services.open_record``), which holds the state of the record on screen; the editor,
the SAM and propose controllers and the file jobs live in their own modules."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from annotator.core.errors import AnnotatorError
from annotator.services.catalog import Catalog
from annotator.services.open_record import OpenRecord
from annotator.services.record_document import RecordDocument
from annotator.services.session import SaveResult
from annotator.services.settings import DEFAULT_COLOURS, Settings, save_settings
from annotator.services.team_work import TeamWork
from annotator.ui.app_icon import app_icon
from annotator.ui.authoring_actions import AuthoringActions
from annotator.ui.canvas.tools import BrushTool, PolygonTool, SamTool
from annotator.ui.canvas.view import CanvasView
from annotator.ui.conflict_actions import ConflictActions
from annotator.ui.conversation_panel import ConversationPanel
from annotator.ui.dashboard_dock import DashboardDock
from annotator.ui.draft_actions import DraftActions
from annotator.ui.editor_controller import EditorController
from annotator.ui.empty_banner import EmptyDatabaseBanner
from annotator.ui.file_jobs import FileJobs
from annotator.ui.icons import Icons
from annotator.ui.image_browser import ImageBrowser
from annotator.ui.job_runner import JobRunner
from annotator.ui.modal import run_modal
from annotator.ui.propose_actions import ProposeActions
from annotator.ui.propose_controller import ProposeController
from annotator.ui.record_browser import RecordBrowser
from annotator.ui.record_flags_bar import RecordFlagsBar
from annotator.ui.record_list import CORRECTION_COLUMN, RecordListModel, ThumbnailCache
from annotator.ui.record_prefetch import RecordPrefetcher
from annotator.ui.record_queue import RecordQueue
from annotator.ui.review_actions import ReviewActions
from annotator.ui.review_panel import ReviewPanel
from annotator.ui.sam_controller import SamController
from annotator.ui.settings_dialog import SettingsDialog
from annotator.ui.status_line import StatusLine
from annotator.ui.task_runner import TaskRunner
from annotator.ui.team_actions import TeamActions
from annotator.ui.toolbars import Toolbars
from annotator.ui.unsaved_on_close import offer_unsaved_export
from annotator.ui.window_actions import build_actions, build_menus, window_handlers
from annotator.ui.window_layout import make_dock, restore_layout, save_layout

TITLE = "PRIST Annotator"
# Actions that need an open record.
RECORD_ACTIONS = ("approve", "reject", "reopen", "approve_turn", "reject_turn", "history")
RECORD_ACTIONS += ("fill_holes", "keep_largest", "clear", "take_draft", "take_proposal")
RECORD_ACTIONS += ("duplicate_conversation", "add_turn", "remove_turn", "move_turn_up")
RECORD_ACTIONS += ("move_turn_down", "assign", "release_claim")


class MainWindow(QMainWindow):
    def __init__(
        self,
        store: Catalog,
        record: OpenRecord,
        settings: Settings,
        sam: SamController,
        proposer: ProposeController,
        layout_store: QSettings,
        icons: Icons,
        *,
        team: TeamWork,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.record = record
        self.session = record.session
        self.settings = settings
        self.sam = sam
        self.proposer = proposer
        self.icons = icons
        self._layout = layout_store
        self._settings_path = settings_path
        self.resolver = record.resolver
        self.setWindowTitle(f"{TITLE} — {store.url}[*]")
        self.setWindowIcon(app_icon())
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        self._runner = TaskRunner(threads=1, parent=self)
        self.thumbnails = ThumbnailCache(self._runner, parent=self)
        self.model = RecordListModel(store, self.resolver.summary_path, self.thumbnails, self)
        self.prefetcher = RecordPrefetcher(store, self.resolver.locate, parent=self)
        colours = {name: settings.colour(name) for name in DEFAULT_COLOURS}

        self.canvas = CanvasView()
        self.team_work = team
        self.editor = EditorController(
            self.canvas, record, settings, sam, lambda: self.team_work.me, self
        )
        self.conversation = ConversationPanel(icons, colours)
        self.review = ReviewPanel(icons, colours)
        self.browser = RecordBrowser(self.model, icons)
        self.jobs = JobRunner(self)
        self.files = FileJobs(self, store, settings, self.jobs, self.resolver.add_root)
        self.dashboard = DashboardDock(self, store, self.jobs, self.show_records)
        self.status = StatusLine(self.statusBar(), icons)
        self.model.loadFailed.connect(lambda text: self.statusBar().showMessage(text, 0))
        self.read_only_banner = QLabel()
        self.read_only_banner.setObjectName("readOnlyBanner")
        self.read_only_banner.setWordWrap(True)
        self.team = TeamActions(
            self.team_work,
            record,
            self.statusBar(),
            self.read_only_banner,
            self.open_id,
            self._notify,
            self,
        )
        self.conflicts = ConflictActions(record, self.statusBar(), self._notify, self)
        self.reviews = ReviewActions(
            record,
            self.review,
            self.conversation,
            self.status,
            self.jobs.show_message,
            self._notify,
            self,
        )
        self.proposing = ProposeActions(
            record,
            proposer,
            self.status,
            self.conversation,
            self.jobs.show_message,
            lambda text: self.statusBar().showMessage(text, 8000),
            self.update_enabled,
        )
        self.queue = RecordQueue(
            record, self.browser, self.prefetcher, sam, settings, self.jobs, self._notify
        )
        self.images = ImageBrowser(
            self.thumbnails,
            store.images,
            lambda s: self.resolver.find(s.path, s.root),
            icons,
        )
        self.authoring = AuthoringActions(
            record,
            store,
            settings,
            self.jobs,
            self.images,
            open_conversation=self.queue.open_conversation,
            show_ids=self.show_records,
            data_changed=self._data_changed,
            commit_pending=self.conversation.commit_pending,
            parent=self,
        )
        self.drafting = DraftActions(
            record,
            store,
            settings,
            self.jobs,
            self.images,
            data_changed=self._data_changed,
            parent=self,
        )
        self._tools = {
            "brush": BrushTool(self.editor),
            "eraser": BrushTool(self.editor, erase=True),
            "polygon": PolygonTool(self.editor, self.canvas.scene()),
            "sam": SamTool(self.editor, self.canvas.scene()),
        }
        handlers = window_handlers(
            self,
            record,
            self.editor,
            self.reviews,
            self.proposing,
            self.files,
            self.dashboard,
            self.authoring,
        )
        self.actions = build_actions(self, icons, handlers)
        for key in ("draft", "proposal", "final", "diff"):
            act = self.actions[f"toggle_{key}"]
            act.blockSignals(True)
            act.setChecked(self.editor.layer_visible(key))
            act.blockSignals(False)
        self.toolbars = Toolbars(self, self.actions, settings.colour, settings.overlay_opacity)
        self.editor.set_opacity(settings.overlay_opacity)
        self._build_central()
        self._build_docks()
        quit_action = self.addAction("Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setIcon(icons.get("mdi6.exit-to-app"))
        quit_action.triggered.connect(self.close)
        self.menus = build_menus(
            self,
            self.actions,
            {
                "File": [quit_action],
                "View": [
                    self.list_dock.toggleViewAction(),
                    self.images_dock.toggleViewAction(),
                    self.conversation_dock.toggleViewAction(),
                ],
            },
        )
        QTimer.singleShot(0, lambda: self.files.verify_in_background(self._runner))
        self._connect()
        self._show_blindness()
        restore_layout(self, self._layout, self.list_dock, self.conversation_dock)
        self.browser.apply_filters()
        self._learn_image_root()
        self._update_banner()
        self.set_tool("brush")
        self.status.show_sam_state(sam.state)
        self.proposing.proposer_changed()
        self.update_enabled()

    # -- construction -------------------------------------------------------------------
    def _build_central(self) -> None:
        host = QWidget()
        lay = QVBoxLayout(host)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.banner = EmptyDatabaseBanner(self.store.url, self.icons)
        self.banner.sampleRequested.connect(self.files.add_sample)
        self.banner.importRequested.connect(self.files.import_dialog)
        self.banner.setVisible(False)
        lay.addWidget(self.banner)
        lay.addWidget(self.read_only_banner)
        self.record_flags = RecordFlagsBar()
        lay.addWidget(self.record_flags)
        lay.addWidget(self.canvas, 1)
        self.canvas.setMinimumWidth(220)
        self.setCentralWidget(host)

    def _build_docks(self) -> None:
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        self.list_dock = make_dock(self, "Records", "recordsDock", self.browser, left)
        self.images_dock = make_dock(self, "Images", "imagesDock", self.images, left)
        self.tabifyDockWidget(self.list_dock, self.images_dock)
        self.images_dock.visibilityChanged.connect(self.images.set_on_screen)
        self.list_dock.raise_()
        panel = QWidget()
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.conversation, 1)
        lay.addWidget(self.review)
        self.conversation_dock = make_dock(
            self, "Conversation", "conversationDock", panel, Qt.DockWidgetArea.RightDockWidgetArea
        )

    def _connect(self) -> None:
        r = self.record
        c = self.conversation
        c.turnSelected.connect(r.select_turn)
        c.textCommitted.connect(r.commit_text)
        c.useDraft.connect(r.use_draft)
        c.useProposal.connect(r.use_proposal)
        c.reshape.connect(self.authoring.reshape)
        c.focusCommitted.connect(r.set_focus)
        r.opened.connect(self._opened)
        r.reshaped.connect(lambda _none: self._show_record())
        r.turn_changed.connect(self._turn_changed)
        r.text_changed.connect(lambda _turn: self.refresh_turn())  # rules, Approve's state
        r.status_changed.connect(lambda _status: self.refresh_status())
        r.verdicts_changed.connect(lambda _none: self.refresh_turn())
        r.proposals_changed.connect(self._proposals_changed)
        r.diffs_changed.connect(lambda _none: self.conversation.show_diffs(r))
        r.message.connect(self._notify)
        self.session.save_listeners.append(self.on_saved)
        self.editor.message.connect(self._notify)
        self.editor.maskChanged.connect(self.refresh_turn)
        self.editor.candidatesChanged.connect(self.status.show_candidates)
        self.canvas.zoomChanged.connect(self.status.show_zoom)
        self.canvas.cursorMoved.connect(self.status.show_position)
        self.toolbars.opacity.valueChanged.connect(self._opacity_changed)
        self.sam.stateChanged.connect(self.status.show_sam_state)
        self.sam.progress.connect(self.status.show_sam_progress)
        self.sam.failed.connect(lambda m: self.statusBar().showMessage(f"SAM: {m}", 8000))
        self.proposer.stored.connect(self._proposals_stored)
        self.status.proposerClicked.connect(lambda: self.settings_dialog("Models"))
        self.files.imported.connect(lambda _summary: self._data_changed())

    def _notify(self, text: str) -> None:
        self.statusBar().showMessage(text, 4000)

    def _show_blindness(self) -> None:
        """A blind reviewer does not see the correction column (it measures the proposal)."""
        self.browser.withhold_column(CORRECTION_COLUMN, self.record.blind)

    # -- the list -------------------------------------------------------------------------
    @property
    def save_label(self) -> object:
        return self.status.save_label

    def _learn_image_root(self) -> None:
        """List rows carry relative image paths; the first record tells where they live."""
        first = self.model.summary(0)
        if first is None or self.resolver.summary_path(first):
            return
        try:
            conv = self.store.get_conversation(first.id)
        except AnnotatorError:
            return
        self.resolver.add_root(conv.image.root)
        self.model.reload()

    def _update_banner(self) -> None:
        self.banner.setVisible(self.store.is_empty())

    def _data_changed(self) -> None:
        """Records were added (import, sample, written) or deleted: list them anew (opening
        the first when none is open)."""
        self.prefetcher.invalidate()
        self.model.reload()
        self._learn_image_root()
        self._update_banner()
        self.authoring.refresh_images()
        if self.session.document is None:
            self.select_row(0)
        self.update_enabled()

    def show_records(self, ids: list[int]) -> None:
        """Filter the list to these records and open the first (the dashboard's bars)."""
        self.list_dock.show()
        self.browser.show_ids(ids)
        self.select_row(0)

    def select_row(self, row: int) -> None:
        self.queue.select_row(row)

    def open_id(self, conv_id: int) -> None:
        """Open one record: in the list as it is filtered when it is there, else listed alone."""
        row = self.model.row_of(conv_id)
        if row is None:
            self.show_records([conv_id])
        else:
            self.select_row(row)

    # -- the open record ------------------------------------------------------------------
    def _show_record(self) -> None:
        """Draw the open record whole (opened, or its turns added, removed or moved)."""
        doc, bundle = self.record.document, self.record.bundle
        assert doc is not None and bundle is not None
        self.editor.show_record(doc, bundle.rgb)
        self.conversation.show_record(self.record)
        self.conversation.select(self.record.turn)
        self.refresh_turn()

    def _opened(self, doc: RecordDocument) -> None:
        bundle = self.record.bundle
        assert bundle is not None and doc.id is not None
        self.review.reset_for_record()
        self._show_record()
        self.record_flags.show_record(bundle.conversation, bundle.image_problem)
        if bundle.rgb is not None:
            self.sam.open_image(doc.id, bundle.rgb, bundle.key)
        self.status.show_saved(f"#{doc.id} · rev {doc.conversation.revision} · saved", True)
        self.setWindowModified(self.session.is_dirty)
        self.update_enabled()
        QTimer.singleShot(0, self.after_open)

    def after_open(self) -> None:
        """Work that can wait until the record is on screen: the queue's prefetch and the
        mask diffs of the turns not shown."""
        if self.session.document is None:
            return
        self.queue.read_ahead()
        self.record.refresh_diffs()

    def _turn_changed(self, turn: int) -> None:
        self.editor.show_turn()
        self.conversation.select(turn)
        self.refresh_turn()

    def _proposals_changed(self, conv_id: int) -> None:
        doc = self.session.document
        assert doc is not None
        self.status.show_saved(f"#{conv_id} · rev {doc.conversation.revision} · saved", True)
        self.after_open()
        self.refresh_turn()

    def _proposals_stored(self, conv_id: int, _stored: list[object]) -> None:
        self.prefetcher.invalidate(conv_id)
        self.model.refresh_row(conv_id)

    def refresh_status(self) -> None:
        doc = self.session.document
        if doc is not None:
            self.review.set_status(doc.status, self.record.approve_blocker())
            turn = self.record.turn
            self.review.set_thread(turn, self.record.thread(None), self.record.thread(turn))

    def refresh_turn(self) -> None:
        """The selected turn's diff, the status and the cards, after a change."""
        if self.session.document is None:
            return
        turn = self.record.turn
        self.review.set_diff(turn, self.record.diff(turn), self.record.model_hidden(turn))
        self.refresh_status()
        self.conversation.refresh(self.record)

    # -- editing ------------------------------------------------------------------------
    def set_tool(self, name: str | None) -> None:
        tool = self._tools.get(name) if name else None
        self.canvas.set_tool(tool)
        act = self.actions.get(name or "pan")
        if act is not None and not act.isChecked():
            act.setChecked(True)
        self.toolbars.size_label.setText(
            f" {self.editor.brush_radius:.0f} px " if name in ("brush", "eraser") else ""
        )
        self.canvas.setFocus()

    def undo(self) -> None:
        self._history_step(self.session.undo)

    def redo(self) -> None:
        self._history_step(self.session.redo)

    def _history_step(self, step: object) -> None:
        doc = self.session.document
        if doc is None or self.session.history is None:
            return
        listed = not doc.deleted
        try:
            step()  # type: ignore[operator]
        except AnnotatorError as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return
        self.record.refresh_diffs()  # an undo may change another turn than the one shown
        if doc.deleted == listed:  # a delete or restore undone or redone: the lists change
            self._data_changed()

    def save_now(self) -> None:
        if self.session.document is not None:
            self.session.save()

    def on_saved(self, result: SaveResult) -> None:
        """Every save of the session (edits, undo, reviews): the status bar and the list."""
        doc = self.session.document
        if doc is None:
            return
        if result.ok:
            self.status.show_saved(
                f"#{doc.id} · rev {doc.conversation.revision} · {result.message}", True
            )
        else:
            self.status.show_saved(f"#{doc.id} · UNSAVED · {result.message}", False)
        self.setWindowModified(self.session.is_dirty)
        if doc.id is not None and result.ok:
            self.prefetcher.invalidate(doc.id)
            self.model.refresh_row(doc.id)
        self.refresh_status()
        self.update_enabled()
        self.conflicts.saved(result)  # a conflict opens the dialog once this save returns

    def update_enabled(self) -> None:
        hist = self.session.history
        undo, redo = self.actions["undo"], self.actions["redo"]
        undo.setEnabled(bool(hist and hist.can_undo))
        redo.setEnabled(bool(hist and hist.can_redo))
        undo.setText(f"Undo {hist.undo_label}" if hist and hist.can_undo else "Undo")
        redo.setText(f"Redo {hist.redo_label}" if hist and hist.can_redo else "Redo")
        has_doc = self.session.document is not None
        for name in RECORD_ACTIONS:
            self.actions[name].setEnabled(has_doc)
        deleted = has_doc and self.record.document.deleted
        self.actions["delete_conversation"].setEnabled(has_doc and not deleted)
        self.actions["restore_conversation"].setEnabled(deleted)
        for name in ("propose", "propose_turn"):
            self.actions[name].setEnabled(has_doc and self.proposer.configured)
        self.actions["propose_listed"].setEnabled(self.proposer.configured)
        self.actions["cancel_propose"].setEnabled(self.proposer.busy)
        self.review.setEnabled(has_doc)

    # -- layers -------------------------------------------------------------------------
    def set_layer(self, key: str) -> None:
        self.editor.set_layer_visible(key, self.actions[f"toggle_{key}"].isChecked())

    def _opacity_changed(self, value: int) -> None:
        self.settings.overlay_opacity = value / 100
        self.editor.set_opacity(value / 100)

    # -- settings -----------------------------------------------------------------
    def settings_dialog(self, tab: str = "") -> None:
        dialog = SettingsDialog(self.settings, self, blind_required=self.record.blind_required)
        dialog.show_tab(tab)
        if run_modal(dialog):
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: Settings) -> None:
        for field in dataclasses.fields(Settings):
            setattr(self.settings, field.name, getattr(new, field.name))
        save_settings(self.settings, self._settings_path)
        self.resolver.add_root(self.settings.images_dir)
        self.proposer.configure()
        self.proposing.proposer_changed()
        self.record.set_blind(self.settings.blind_first)
        self._show_blindness()
        self.statusBar().showMessage("Settings saved", 3000)

    # -- closing ------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.session.is_dirty:
            self.session.save()
        if not offer_unsaved_export(self, TITLE, self.session.dirty_records()):
            event.ignore()
            return
        self.team.close()
        save_layout(self, self._layout)
        save_settings(self.settings, self._settings_path)
        self.jobs.cancel()
        self.jobs.wait(3000)
        self.proposer.shutdown()
        self.prefetcher.shutdown()
        self.sam.shutdown()
        self._runner.cancel_all()
        self._runner.wait(2000)
        event.accept()
