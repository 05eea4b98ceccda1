"""The main window: record list (left), canvas (centre), conversation and review (right), tool
bars on top, status bar below. It wires the widgets to the editing session, the SAM controller,
the proposer and the file jobs; each of those lives in its own module."""

from __future__ import annotations

import dataclasses
import weakref
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from annotator.core.commands import SetText
from annotator.core.errors import AnnotatorError
from annotator.core.model import Decision, MaskLayer, ReasonCode
from annotator.core.progress import Task
from annotator.core.status import Status
from annotator.services.session import EditSession, SaveResult
from annotator.services.settings import DEFAULT_COLOURS, Settings, save_settings
from annotator.storage import Store
from annotator.ui.canvas.tools import BrushTool, PolygonTool, SamTool
from annotator.ui.canvas.view import CanvasView
from annotator.ui.conversation_panel import ConversationPanel, PanelState
from annotator.ui.dashboard_dock import DashboardDock
from annotator.ui.editor_controller import EditorController
from annotator.ui.empty_banner import EmptyDatabaseBanner
from annotator.ui.file_jobs import FileJobs
from annotator.ui.icons import Icons
from annotator.ui.image_source import ImageResolver
from annotator.ui.job_runner import JobRunner
from annotator.ui.modal import run_modal
from annotator.ui.propose_actions import ProposeActions
from annotator.ui.propose_controller import ProposeController
from annotator.ui.record_browser import RecordBrowser
from annotator.ui.record_flags_bar import RecordFlagsBar
from annotator.ui.record_list import RecordListModel, ThumbnailCache
from annotator.ui.record_prefetch import RecordBundle, RecordPrefetcher, load_bundle
from annotator.ui.review_actions import ReviewActions, verdicts_of
from annotator.ui.review_panel import ReviewPanel
from annotator.ui.sam_controller import SamController
from annotator.ui.settings_dialog import SettingsDialog
from annotator.ui.status_line import StatusLine
from annotator.ui.task_runner import TaskRunner
from annotator.ui.toolbars import Toolbars
from annotator.ui.window_actions import build_actions, build_menus, window_handlers
from annotator.ui.window_layout import make_dock, restore_layout, save_layout

TITLE = "PRIST Annotator"


class MainWindow(QMainWindow):
    def __init__(
        self,
        store: Store,
        session: EditSession,
        settings: Settings,
        sam: SamController,
        proposer: ProposeController,
        layout_store: QSettings,
        icons: Icons,
        *,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.session = session
        self.settings = settings
        self.sam = sam
        self.proposer = proposer
        self.icons = icons
        self._layout = layout_store
        self._settings_path = settings_path
        self.resolver = ImageResolver([settings.images_dir])
        self.setWindowTitle(f"{TITLE} — {store.url}[*]")
        self.setWindowIcon(icons.get("mdi6.vector-selection", "#5b8def"))
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        self._runner = TaskRunner(threads=1, parent=self)
        self.thumbnails = ThumbnailCache(self._runner, parent=self)
        self.model = RecordListModel(store, self.resolver.summary_path, self.thumbnails, self)
        self.prefetcher = RecordPrefetcher(store, self.resolver.locate, parent=self)
        self.current_row = -1
        self._syncing = False
        self._bundle: RecordBundle | None = None  # what the open record was read with
        self._listening: weakref.WeakSet[object] = weakref.WeakSet()
        self.panel_state = PanelState(noise_versions=proposer.noise_versions)
        colours = {name: settings.colour(name) for name in DEFAULT_COLOURS}

        self.canvas = CanvasView()
        self.editor = EditorController(
            self.canvas, session, settings, sam, lambda: self.settings.reviewer, self
        )
        self.conversation = ConversationPanel(icons, colours)
        self.review = ReviewPanel(icons, colours)
        self.browser = RecordBrowser(self.model, icons)
        self.jobs = JobRunner(self)
        self.files = FileJobs(self, store, settings, self.jobs, self.resolver.add_root)
        self.dashboard = DashboardDock(self, store, self.jobs, self.show_records)
        self.reviews = ReviewActions(self)
        self._tools = {
            "brush": BrushTool(self.editor),
            "eraser": BrushTool(self.editor, erase=True),
            "polygon": PolygonTool(self.editor, self.canvas.scene()),
            "sam": SamTool(self.editor, self.canvas.scene()),
        }
        self.actions = build_actions(self, icons, window_handlers(self))
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
                    self.conversation_dock.toggleViewAction(),
                ],
            },
        )
        self.status = StatusLine(self.statusBar(), icons)
        self.proposing = ProposeActions(self)
        self._connect()
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
        self.banner.sampleRequested.connect(self.add_sample)
        self.banner.importRequested.connect(self.files.import_dialog)
        self.banner.setVisible(False)
        lay.addWidget(self.banner)
        self.record_flags = RecordFlagsBar()
        lay.addWidget(self.record_flags)
        lay.addWidget(self.canvas, 1)
        self.canvas.setMinimumWidth(220)
        self.setCentralWidget(host)

    def _build_docks(self) -> None:
        self.list_dock = make_dock(
            self, "Records", "recordsDock", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea
        )
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
        self.browser.rowActivated.connect(self.open_row)
        self.browser.queryChanged.connect(self._query_changed)
        c = self.conversation
        c.turnSelected.connect(self.select_turn)
        c.textCommitted.connect(self.commit_text)
        c.useDraft.connect(self.use_draft)
        c.useProposal.connect(self.use_proposal)
        c.turnReview.connect(self.turn_review)
        self.review.decided.connect(self.decide)
        self.review.historyRequested.connect(self.reviews.show_history)
        self.editor.saved.connect(self.on_saved)
        self.editor.message.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.editor.maskChanged.connect(self.refresh_turn)
        self.editor.candidatesChanged.connect(self.status.show_candidates)
        self.canvas.zoomChanged.connect(self.status.show_zoom)
        self.canvas.cursorMoved.connect(self.status.show_position)
        self.toolbars.opacity.valueChanged.connect(self._opacity_changed)
        self.sam.stateChanged.connect(self.status.show_sam_state)
        self.sam.progress.connect(self.status.show_sam_progress)
        self.sam.failed.connect(lambda m: self.statusBar().showMessage(f"SAM: {m}", 8000))
        self.prefetcher.ready.connect(lambda _id: self._sam_prefetch())
        self.files.imported.connect(lambda _summary: self._data_changed())
        self.session.save_listeners.append(self._session_saved)

    # -- records ------------------------------------------------------------------------
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
        """Records were added (import, sample): list them and open the first."""
        self.prefetcher.invalidate()
        self.model.reload()
        self._learn_image_root()
        self._update_banner()
        if self.session.document is None:
            self.select_row(0)

    def _query_changed(self) -> None:
        """The list was filtered or sorted: keep the open record selected where it now is."""
        self.current_row = -1
        doc = self.session.document
        if doc is not None and doc.id is not None:
            row = self.model.row_of(doc.id)
            if row is not None:
                self._syncing = True  # selecting it again must not reopen it
                try:
                    self.browser.table.selectRow(row)
                finally:
                    self._syncing = False
                self.current_row = row
        QTimer.singleShot(0, self.read_ahead)  # the queue changed: read ahead anew

    def show_records(self, ids: list[int]) -> None:
        """Filter the list to these records and open the first (the dashboard's bars)."""
        self.list_dock.show()
        self.browser.show_ids(ids)
        self.select_row(0)

    def select_row(self, row: int) -> None:
        self.browser.select_row(row)

    def go(self, step: int) -> None:
        self.select_row(max(0, self.current_row + step) if self.current_row >= 0 else 0)

    def next_unreviewed(self) -> None:
        row = self.current_row + 1
        while True:
            self.model.ensure_loaded(row)
            s = self.model.summary(row)
            if s is None:
                self.statusBar().showMessage("No unreviewed record after this one", 4000)
                return
            if s.status not in (Status.APPROVED, Status.REJECTED):
                self.select_row(row)
                return
            row += 1

    def open_row(self, row: int) -> None:
        s = self.model.summary(row)
        if s is None:
            return
        self.current_row = row
        if not self._syncing:
            self.open_record(s.id)

    def open_record(self, conv_id: int) -> None:
        if self.session.document is not None and self.session.is_dirty:
            self.session.save()
        bundle = self.prefetcher.take(conv_id)
        if bundle is None:
            try:
                bundle = load_bundle(self.store, conv_id, self.resolver.locate)
            except AnnotatorError as exc:
                self.jobs.show_message(QMessageBox.Icon.Warning, f"Cannot open #{conv_id}: {exc}")
                return
        self._bundle = bundle
        self.resolver.add_root(bundle.conversation.image.root)
        doc = self.session.open(conv_id, stored=bundle.conversation)
        self.editor.show_record(doc, bundle.rgb, bundle.proposals)
        verdicts = verdicts_of(bundle.reviews, doc.turn_count)
        self.editor.set_judged(set(verdicts))
        self.panel_state = PanelState(
            proposals=self.editor.proposals,
            verdicts=verdicts,
            noise_versions=self.proposer.noise_versions,
        )
        self.conversation.show_record(doc, self.panel_state)
        self.record_flags.show_record(bundle.conversation, bundle.image_problem)
        if doc not in self._listening:
            doc.text_listeners.append(lambda _i, _f: self.refresh_cards())
            doc.status_listeners.append(lambda _s: self.refresh_status())
            self._listening.add(doc)
        self.select_turn(doc.target_turn)
        if bundle.rgb is not None:
            self.sam.open_image(conv_id, bundle.rgb, bundle.key)
        self.status.show_saved(f"#{conv_id} · rev {doc.conversation.revision} · saved", True)
        self.setWindowModified(self.session.is_dirty)
        self.update_enabled()
        QTimer.singleShot(0, self.after_open)

    def after_open(self) -> None:
        """Work that can wait until the record is on screen: the queue's prefetch and the
        mask diffs of the turns not shown."""
        doc = self.session.document
        if doc is None:
            return
        self.read_ahead()
        for t in range(doc.turn_count):
            if t != self.editor.turn and t in self.editor.proposals:
                self.conversation.set_diff(doc, t, self.editor.diff_stats(t))

    def read_ahead(self) -> None:
        """Prefetch the next records of the review queue: the list as it is now shown."""
        n = self.settings.prefetch
        if n > 0 and self.current_row >= 0 and self.session.document is not None:
            self.prefetcher.prefetch([s.id for s in self.browser.queue_after(self.current_row, n)])
            self._sam_prefetch()

    def _sam_prefetch(self) -> None:
        if self.settings.prefetch > 0 and self.sam.available:
            self.sam.prefetch(
                [(b.key, b.rgb) for b in self.prefetcher.ready_bundles() if b.rgb is not None]
            )

    def select_turn(self, turn: int) -> None:
        doc = self.session.document
        if doc is None:
            return
        turn = max(0, min(turn, doc.turn_count - 1))
        self.editor.select_turn(turn)
        self.conversation.select(turn)
        self.refresh_turn()

    def hidden_turns(self) -> set[int]:
        doc = self.session.document
        if doc is None or not self.editor.blind:
            return set()
        judged = self.editor.judged()
        return {i for i in range(doc.turn_count) if i not in judged}

    def refresh_cards(self) -> None:
        doc = self.session.document
        if doc is None:
            return
        self.panel_state.proposals = self.editor.proposals
        self.panel_state.hidden = self.hidden_turns()
        self.conversation.refresh(doc, self.panel_state)

    def refresh_status(self) -> None:
        doc = self.session.document
        if doc is None:
            return
        can = doc.has_mask((doc.target_turn, MaskLayer.FINAL))
        self.review.set_status(doc.status, can)

    def refresh_turn(self) -> None:
        doc = self.session.document
        if doc is None:
            return
        turn = self.editor.turn
        stats = self.editor.diff_stats()
        self.panel_state.diffs[turn] = stats
        self.review.set_diff(turn, stats, hidden=self.editor.model_hidden())
        self.refresh_status()
        self.refresh_cards()

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

    def commit_text(self, turn: int, field: str, text: str) -> None:
        doc = self.session.document
        if doc is None:
            return
        before = doc.text(turn, field)
        if field == "final_answer" and not text and before is None:
            return
        if (before or "") == text:
            return
        label = "Edit question" if field == "question" else "Edit answer"
        self.on_saved(self.session.execute(SetText(turn, field, before, text, label=label)))

    def use_draft(self, turn: int) -> None:
        doc = self.session.document
        if doc is None:
            return
        self.select_turn(turn)
        self.commit_text(turn, "final_answer", doc.turn(turn).draft_answer)
        if not doc.has_mask((turn, MaskLayer.FINAL)) and doc.has_mask((turn, MaskLayer.DRAFT)):
            self.editor.take_draft_mask()

    def use_proposal(self, turn: int) -> None:
        p = self.editor.proposals.get(turn)
        if p is None:
            self.statusBar().showMessage("No proposal for this turn — run Propose first", 4000)
            return
        if turn in self.hidden_turns():
            self.statusBar().showMessage("Judge the turn first (blind-first review)", 4000)
            return
        self.select_turn(turn)
        self.commit_text(turn, "final_answer", p.answer)
        if p.masks:
            self.editor.take_proposal_mask()

    def undo(self) -> None:
        self._history_step(self.session.undo)

    def redo(self) -> None:
        self._history_step(self.session.redo)

    def _history_step(self, step: object) -> None:
        if self.session.history is None:
            return
        try:
            self.on_saved(step())  # type: ignore[operator]
        except AnnotatorError as exc:
            self.statusBar().showMessage(str(exc), 6000)

    def save_now(self) -> None:
        if self.session.document is not None:
            self.on_saved(self.session.save())

    def _session_saved(self, result: SaveResult) -> None:
        doc = self.session.document
        if result.ok and doc is not None and doc.id is not None:
            self.prefetcher.invalidate(doc.id)

    def on_saved(self, result: SaveResult) -> None:
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
            self.model.refresh_row(doc.id)
        self.refresh_status()
        self.update_enabled()

    def update_enabled(self) -> None:
        hist = self.session.history
        undo, redo = self.actions["undo"], self.actions["redo"]
        undo.setEnabled(bool(hist and hist.can_undo))
        redo.setEnabled(bool(hist and hist.can_redo))
        undo.setText(f"Undo {hist.undo_label}" if hist and hist.can_undo else "Undo")
        redo.setText(f"Redo {hist.redo_label}" if hist and hist.can_redo else "Redo")
        has_doc = self.session.document is not None
        for name in (
            "approve",
            "reject",
            "reopen",
            "approve_turn",
            "reject_turn",
            "history",
            "fill_holes",
            "keep_largest",
            "clear",
            "take_draft",
            "take_proposal",
        ):
            self.actions[name].setEnabled(has_doc)
        for name in ("propose", "propose_turn"):
            self.actions[name].setEnabled(has_doc and self.proposer.configured)
        self.actions["cancel_propose"].setEnabled(self.proposer.busy)
        self.review.setEnabled(has_doc)

    # -- layers -------------------------------------------------------------------------
    def set_layer(self, key: str) -> None:
        self.editor.set_layer_visible(key, self.actions[f"toggle_{key}"].isChecked())

    def _opacity_changed(self, value: int) -> None:
        self.settings.overlay_opacity = value / 100
        self.editor.set_opacity(value / 100)

    # -- review (see review_actions) ------------------------------------------------------
    def decide(self, decision: Decision, comment: str = "") -> None:
        self.reviews.decide(decision, comment)

    def turn_review(self, turn: int, decision: Decision, reason: ReasonCode | None) -> None:
        self.reviews.turn_review(turn, decision, reason)

    # -- propose (see propose_actions) ----------------------------------------------------
    def propose(self, turns: list[int] | None = None) -> None:
        self.proposing.propose(turns)

    def open_pixels(self) -> NDArray[np.uint8] | None:
        """The open record's image (RGB array), or None when it could not be read."""
        return self._bundle.rgb if self._bundle is not None else None

    def open_bundle(self) -> RecordBundle | None:
        """What the open record was read with (prefetched or read when opened)."""
        return self._bundle

    # -- sample, settings -----------------------------------------------------------------
    def add_sample(self) -> None:
        from annotator.services.sample_project import import_sample

        store = self.store

        def work(task: Task) -> object:
            return import_sample(store, task=task)

        def done(_summary: object) -> None:
            self._data_changed()
            self.statusBar().showMessage("Sample project added", 5000)

        self.jobs.start("Adding the sample project…", work, done)

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if run_modal(dialog):
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: Settings) -> None:
        for field in dataclasses.fields(Settings):
            setattr(self.settings, field.name, getattr(new, field.name))
        save_settings(self.settings, self._settings_path)
        self.editor.blind = self.settings.blind_first
        self.resolver.add_root(self.settings.images_dir)
        self.proposer.configure()
        self.proposing.proposer_changed()
        if self.session.document is not None:
            self.refresh_turn()
            self.editor.set_judged(self.editor.judged())
        self.statusBar().showMessage("Settings saved", 3000)

    # -- closing ------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.session.is_dirty:
            self.session.save()
        dirty = self.session.dirty_records()
        if dirty:
            answer = QMessageBox.question(
                self,
                TITLE,
                f"{len(dirty)} record(s) could not be saved to the database.\n"
                "Export them to a file before quitting?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Save:
                path, _ = QFileDialog.getSaveFileName(
                    self, "Export unsaved records", "unsaved-records.jsonl", "JSON lines (*.jsonl)"
                )
                if not path:
                    event.ignore()
                    return
                from annotator.services.unsaved_export import write_unsaved

                write_unsaved(Path(path), [d.to_conversation() for d in dirty])
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
