"""The main window: record list (left), canvas (centre), conversation and review (right)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSlider,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from annotator.core.commands import SetText
from annotator.core.errors import AnnotatorError
from annotator.core.model import Decision, MaskLayer
from annotator.core.status import Status
from annotator.services.session import EditSession, SaveResult
from annotator.services.settings import Settings, save_settings
from annotator.storage import ListQuery, Store
from annotator.ui.canvas.tools import BrushTool, PolygonTool, SamTool
from annotator.ui.canvas.view import CanvasView
from annotator.ui.conversation_panel import ConversationPanel
from annotator.ui.editor_controller import EditorController
from annotator.ui.history_dialog import HistoryDialog
from annotator.ui.image_source import ImageResolver, load_rgb
from annotator.ui.record_list import RecordListModel, ThumbnailCache
from annotator.ui.review_panel import ReviewPanel
from annotator.ui.sam_controller import SamController
from annotator.ui.settings_dialog import SettingsDialog
from annotator.ui.shortcuts import SHORTCUTS, ShortcutsDialog, by_action
from annotator.ui.task_runner import TaskRunner

TITLE = "PRIST Annotator"
SORTS = (
    ("ID", "id"),
    ("Recently changed", "-updated"),
    ("Status", "status"),
    ("Focus", "focus"),
    ("Largest correction", "correction"),
)


class MainWindow(QMainWindow):
    def __init__(
        self,
        store: Store,
        session: EditSession,
        settings: Settings,
        sam: SamController,
        layout_store: QSettings,
        *,
        settings_path: Path | None = None,
        extra_menus: Callable[[MainWindow], None] | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.session = session
        self.settings = settings
        self.sam = sam
        self._layout = layout_store
        self._settings_path = settings_path
        self.resolver = ImageResolver([settings.images_dir])
        self.setWindowTitle(f"{TITLE} — {store.url}")
        self.setWindowIcon(qta.icon("mdi6.vector-selection", color="#5b8def"))
        self._runner = TaskRunner(threads=1, parent=self)
        self.thumbnails = ThumbnailCache(self._runner, parent=self)
        self.model = RecordListModel(store, self.resolver.summary_path, self.thumbnails, self)
        self.current_row = -1
        self.actions: dict[str, QAction] = {}

        self.canvas = CanvasView()
        self.editor = EditorController(
            self.canvas, session, settings, sam, lambda: self.settings.reviewer, self
        )
        self.conversation = ConversationPanel()
        self.review = ReviewPanel()
        self._tools = {
            "brush": BrushTool(self.editor),
            "eraser": BrushTool(self.editor, erase=True),
            "polygon": PolygonTool(self.editor, self.canvas.scene()),
            "sam": SamTool(self.editor, self.canvas.scene()),
        }
        self._build_central()
        self._build_list_dock()
        self._build_right_dock()
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        if extra_menus is not None:
            extra_menus(self)
        self._restore_layout()
        self.model.set_query(ListQuery())
        self._learn_image_root()
        self.set_tool("brush")
        self._update_enabled()

    # -- construction -------------------------------------------------------------------
    def _build_central(self) -> None:
        host = QWidget()
        lay = QVBoxLayout(host)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.toolbar = QToolBar("Tools")
        self.toolbar.setObjectName("toolsBar")
        self.toolbar.setIconSize(QSize(20, 20))
        lay.addWidget(self.toolbar)
        lay.addWidget(self.canvas, 1)
        self.setCentralWidget(host)

    def _build_list_dock(self) -> None:
        panel = QWidget()
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(6, 6, 6, 6)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search focus or image…")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(
            qta.icon("mdi6.magnify", color="#9aa4b2"), QLineEdit.ActionPosition.LeadingPosition
        )
        lay.addWidget(self.search)
        row = QHBoxLayout()
        self.status_filter = QComboBox()
        self.status_filter.addItem("All statuses", None)
        for s in Status:
            self.status_filter.addItem(s.value.replace("_", " "), s)
        self.flag_filter = QComboBox()
        self.flag_filter.addItem("Any flags", None)
        self.flag_filter.addItem("Flagged", True)
        self.flag_filter.addItem("Not flagged", False)
        self.sort = QComboBox()
        for label, key in SORTS:
            self.sort.addItem(label, key)
        row.addWidget(self.status_filter)
        row.addWidget(self.flag_filter)
        row.addWidget(self.sort)
        lay.addLayout(row)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setObjectName("recordTable")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(40)
        self.table.setIconSize(QSize(48, 36))
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        for col, width in enumerate((58, 170, 76, 40, 76, 42, 64, 44)):
            self.table.setColumnWidth(col, width)
        lay.addWidget(self.table, 1)
        self.count_label = QLabel()
        self.count_label.setObjectName("caption")
        lay.addWidget(self.count_label)
        dock = QDockWidget("Records", self)
        dock.setObjectName("recordsDock")
        dock.setWidget(panel)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.list_dock = dock

    def _build_right_dock(self) -> None:
        panel = QWidget()
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.conversation, 1)
        lay.addWidget(self.review)
        dock = QDockWidget("Conversation", self)
        dock.setObjectName("conversationDock")
        dock.setWidget(panel)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.conversation_dock = dock

    def _action(
        self, name: str, handler: Callable[[], object], *, checkable: bool = False
    ) -> QAction:
        sc = by_action()[name]
        act = QAction(sc.label, self)
        if sc.icon:
            act.setIcon(qta.icon(sc.icon, color="#c8ccd4", color_active="#ffffff"))
        act.setShortcut(QKeySequence(sc.keys))
        act.setToolTip(f"{sc.label} ({sc.keys})")
        act.setCheckable(checkable)
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if checkable:
            act.toggled.connect(lambda _checked: handler())
        else:
            act.triggered.connect(lambda _checked=False: handler())
        self.addAction(act)
        self.actions[name] = act
        return act

    def _build_actions(self) -> None:
        tool_group = QActionGroup(self)
        for name in ("brush", "eraser", "polygon", "sam"):
            act = self._action(name, lambda n=name: self.set_tool(n))
            act.setCheckable(True)
            tool_group.addAction(act)
        pan = self._action("pan", lambda: self.set_tool(None))
        pan.setCheckable(True)
        tool_group.addAction(pan)
        self._action(
            "bigger", lambda: self.editor.set_brush_radius(self.editor.brush_radius * 1.25)
        )
        self._action(
            "smaller", lambda: self.editor.set_brush_radius(self.editor.brush_radius / 1.25)
        )
        self._action("fill_holes", self.editor.fill_holes)
        self._action("keep_largest", self.editor.keep_largest)
        self._action("clear", self.editor.clear_mask)
        self._action("take_draft", self.editor.take_draft_mask)
        self._action("take_proposal", lambda: self.use_proposal(self.editor.turn))
        self._action("undo", self.undo)
        self._action("redo", self.redo)
        self._action("next", lambda: self.go(+1))
        self._action("prev", lambda: self.go(-1))
        self._action("next_unreviewed", self.next_unreviewed)
        self._action("next_turn", lambda: self.select_turn(self.editor.turn + 1))
        self._action("prev_turn", lambda: self.select_turn(self.editor.turn - 1))
        self._action("approve", lambda: self.decide(Decision.APPROVE, self.review.comment.text()))
        self._action("reject", lambda: self.decide(Decision.REJECT, self.review.comment.text()))
        self._action("reopen", lambda: self.decide(Decision.REOPEN, self.review.comment.text()))
        self._action("history", self.show_history)
        self._action("propose", self.propose)
        for key in ("draft", "proposal", "final", "diff"):
            act = self._action(f"toggle_{key}", lambda k=key: self._toggle_layer(k), checkable=True)
            act.blockSignals(True)
            act.setChecked(self.editor.layer_visible(key))
            act.blockSignals(False)
        self._action("fit", self.canvas.fit)
        self._action("actual", self.canvas.actual_size)
        self._action("save", self.save_now)
        self._action("import", self.import_dialog)
        self._action("export", self.export_dialog)
        self._action("settings", self.settings_dialog)
        self._action("help", lambda: ShortcutsDialog(self).exec())

        tb = self.toolbar
        for name in ("brush", "eraser", "polygon", "sam", "pan"):
            tb.addAction(self.actions[name])
        tb.addSeparator()
        self.size_label = QLabel()
        tb.addWidget(self.size_label)
        tb.addSeparator()
        for name in ("fill_holes", "keep_largest", "clear", "take_draft", "take_proposal"):
            tb.addAction(self.actions[name])
        tb.addSeparator()
        tb.addAction(self.actions["undo"])
        tb.addAction(self.actions["redo"])
        tb.addSeparator()
        self.layer_boxes: dict[str, QCheckBox] = {}
        for key, colour in (
            ("draft", "draft"),
            ("proposal", "proposal"),
            ("final", "final"),
            ("diff", "diff_added"),
        ):
            box = QCheckBox(key.capitalize())
            box.setChecked(self.editor.layer_visible(key))
            box.setStyleSheet(f"QCheckBox {{ color: {self.settings.colour(colour)}; }}")
            box.toggled.connect(lambda on, k=key: self._set_layer(k, on))
            tb.addWidget(box)
            self.layer_boxes[key] = box
        tb.addSeparator()
        tb.addWidget(QLabel(" Opacity "))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(5, 100)
        self.opacity.setValue(int(self.settings.overlay_opacity * 100))
        self.opacity.setFixedWidth(110)
        self.opacity.valueChanged.connect(lambda v: self.editor.set_opacity(v / 100))
        self.editor.set_opacity(self.settings.overlay_opacity)
        tb.addWidget(self.opacity)
        tb.addSeparator()
        tb.addAction(self.actions["fit"])
        tb.addAction(self.actions["actual"])
        self.candidate_label = QLabel()
        tb.addWidget(self.candidate_label)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        groups: dict[str, list[str]] = {}
        for sc in SHORTCUTS:
            groups.setdefault(sc.group, []).append(sc.action)
        for title in ("File", "Edit", "View", "Navigate", "Tools", "Mask", "Review", "Help"):
            menu = mb.addMenu(f"&{title}")
            for name in groups.get(title, []):
                menu.addAction(self.actions[name])
            if title == "File":
                menu.addSeparator()
                quit_act = menu.addAction(qta.icon("mdi6.exit-to-app", color="#c8ccd4"), "Quit")
                quit_act.setShortcut(QKeySequence.StandardKey.Quit)
                quit_act.triggered.connect(self.close)
            if title == "View":
                menu.addSeparator()
                menu.addAction(self.list_dock.toggleViewAction())
                menu.addAction(self.conversation_dock.toggleViewAction())
        self.file_menu = mb.actions()[0].menu()

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.model_label = QLabel()
        self.encode_bar = QProgressBar()
        self.encode_bar.setFixedWidth(120)
        self.encode_bar.setVisible(False)
        self.save_label = QLabel("No record open")
        self.zoom_label = QLabel()
        self.pos_label = QLabel()
        sb.addWidget(self.save_label, 1)
        sb.addPermanentWidget(self.pos_label)
        sb.addPermanentWidget(self.zoom_label)
        sb.addPermanentWidget(self.model_label)
        sb.addPermanentWidget(self.encode_bar)
        self._sam_state(self.sam.state)

    def _connect(self) -> None:
        self.table.selectionModel().currentRowChanged.connect(
            lambda cur, _prev: self.open_row(cur.row())
        )
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        for combo in (self.status_filter, self.flag_filter, self.sort):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.model.countChanged.connect(lambda n: self.count_label.setText(f"{n:,} records"))
        self.conversation.turnSelected.connect(self.select_turn)
        self.conversation.textCommitted.connect(self.commit_text)
        self.conversation.useDraft.connect(self.use_draft)
        self.conversation.useProposal.connect(self.use_proposal)
        self.conversation.turnReview.connect(self.turn_review)
        self.review.decided.connect(self.decide)
        self.review.historyRequested.connect(self.show_history)
        self.editor.saved.connect(self._saved)
        self.editor.message.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.editor.maskChanged.connect(self._mask_changed)
        self.editor.candidatesChanged.connect(self._candidates_changed)
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.canvas.cursorMoved.connect(
            lambda x, y: self.pos_label.setText(f"x {x:.0f}  y {y:.0f}")
        )
        self.sam.stateChanged.connect(self._sam_state)
        self.sam.progress.connect(self._sam_progress)
        self.sam.failed.connect(lambda m: self.statusBar().showMessage(f"SAM: {m}", 8000))

    # -- layout -------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = self._layout.value("geometry")
        state = self._layout.value("state")
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            self.resize(1600, 960)
        if self.width() < 900 or self.height() < 600:  # a layout saved from a tiny or headless run
            self.resize(1600, 960)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:
            self.resizeDocks(
                [self.list_dock, self.conversation_dock], [430, 430], Qt.Orientation.Horizontal
            )

    def _save_layout(self) -> None:
        self._layout.setValue("geometry", self.saveGeometry())
        self._layout.setValue("state", self.saveState())
        self._layout.sync()

    # -- records ------------------------------------------------------------------------
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

    def apply_filters(self) -> None:
        query = ListQuery(
            status=self.status_filter.currentData(),
            flagged=self.flag_filter.currentData(),
            text=self.search.text().strip() or None,
            sort=self.sort.currentData(),
        )
        self.model.set_query(query)
        self.current_row = -1

    def select_row(self, row: int) -> None:
        self.model.ensure_loaded(row)
        if 0 <= row < self.model.rowCount():
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))

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
        self.open_record(s.id)
        self.current_row = row

    def open_record(self, conv_id: int) -> None:
        previous = self.session.document
        if previous is not None and self.session.is_dirty:
            self.session.save()
        doc = self.session.open(conv_id)
        conv = doc.conversation
        path = self.resolver.image_path(conv.image)
        rgb = load_rgb(path)
        try:
            proposals = list(self.store.proposals(conv_id))
        except (AttributeError, AnnotatorError):
            proposals = []
        self.editor.show_record(doc, rgb, proposals)
        self.conversation.show_record(doc, self.editor.proposals)
        doc.text_listeners.append(lambda _i, _f: self._refresh_texts())
        doc.status_listeners.append(lambda _s: self._refresh_status())
        self.select_turn(doc.target_turn)
        self._refresh_status()
        if rgb is not None:
            self.sam.open_image(conv_id, rgb)
            self._prefetch()
        self.save_label.setText(f"#{conv_id} · rev {conv.revision} · saved")
        self._update_enabled()

    def _prefetch(self) -> None:
        n = self.settings.prefetch
        if n <= 0 or not self.sam.available:
            return
        self.sam.cancel_prefetch()
        ids = self.model.ids_after(self.current_row if self.current_row >= 0 else 0, n)

        def load(conv_id: int) -> object:
            s = self.model.summary(self.model.row_of(conv_id) or 0)
            return load_rgb(self.resolver.summary_path(s)) if s is not None else None

        self.sam.prefetch(ids, load)  # type: ignore[arg-type]

    def select_turn(self, turn: int) -> None:
        doc = self.session.document
        if doc is None:
            return
        turn = max(0, min(turn, doc.turn_count - 1))
        self.editor.select_turn(turn)
        self.conversation.select(turn)
        self._refresh_texts()
        self._mask_changed()

    def _refresh_texts(self) -> None:
        doc = self.session.document
        if doc is None:
            return
        hidden = {
            i for i in range(doc.turn_count) if self.editor.blind and i not in self.editor._judged
        }
        self.conversation.refresh(doc, self.editor.proposals, hidden)

    def _refresh_status(self) -> None:
        doc = self.session.document
        if doc is None:
            return
        can = doc.has_mask((doc.target_turn, MaskLayer.FINAL))
        self.review.set_status(doc.status, can)

    def _mask_changed(self) -> None:
        self.review.set_diff(self.editor.diff_stats())
        self._refresh_status()
        self._refresh_texts()

    # -- editing ------------------------------------------------------------------------
    def set_tool(self, name: str | None) -> None:
        tool = self._tools.get(name) if name else None
        self.canvas.set_tool(tool)
        act = self.actions.get(name or "pan")
        if act is not None and not act.isChecked():
            act.setChecked(True)
        self.size_label.setText(
            f"  size {self.editor.brush_radius:.0f} px  " if name in ("brush", "eraser") else ""
        )
        self.canvas.setFocus()

    def commit_text(self, turn: int, field: str, text: str) -> None:
        doc = self.session.document
        if doc is None:
            return
        before = doc.text(turn, field)
        after: str | None = text
        if field == "final_answer" and not text and before is None:
            return
        if (before or "") == text:
            return
        label = "Edit question" if field == "question" else "Edit answer"
        self._saved(self.session.execute(SetText(turn, field, before, after, label=label)))

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
        self.select_turn(turn)
        self.commit_text(turn, "final_answer", p.answer)
        if p.masks:
            self.editor.take_proposal_mask()

    def undo(self) -> None:
        if self.session.history is None:
            return
        try:
            self._saved(self.session.undo())
        except AnnotatorError as exc:
            self.statusBar().showMessage(str(exc), 6000)

    def redo(self) -> None:
        if self.session.history is None:
            return
        try:
            self._saved(self.session.redo())
        except AnnotatorError as exc:
            self.statusBar().showMessage(str(exc), 6000)

    def save_now(self) -> None:
        if self.session.document is not None:
            self._saved(self.session.save())

    def _saved(self, result: SaveResult) -> None:
        doc = self.session.document
        if doc is None:
            return
        if result.ok:
            self.save_label.setText(
                f"#{doc.id} · rev {doc.conversation.revision} · {result.message}"
            )
            self.save_label.setStyleSheet("")
        else:
            self.save_label.setText(f"#{doc.id} · UNSAVED · {result.message}")
            self.save_label.setStyleSheet("color: #e74c3c; font-weight: 600;")
        self.setWindowModified(self.session.is_dirty)
        if doc.id is not None and result.ok:
            self.model.refresh_row(doc.id)
        self._refresh_status()
        self._update_enabled()

    def _update_enabled(self) -> None:
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
            "history",
            "fill_holes",
            "keep_largest",
            "clear",
            "take_draft",
            "take_proposal",
        ):
            self.actions[name].setEnabled(has_doc)
        self.review.setEnabled(has_doc)

    # -- layers -------------------------------------------------------------------------
    def _toggle_layer(self, key: str) -> None:
        self.layer_boxes[key].setChecked(self.actions[f"toggle_{key}"].isChecked())

    def _set_layer(self, key: str, on: bool) -> None:
        self.editor.set_layer_visible(key, on)
        act = self.actions[f"toggle_{key}"]
        if act.isChecked() != on:
            act.blockSignals(True)
            act.setChecked(on)
            act.blockSignals(False)

    def _candidates_changed(self, index: int, count: int, score: float) -> None:
        self.candidate_label.setText(
            f"  SAM candidate {index + 1}/{count} · score {score:.2f}  (Tab, Enter)"
            if count
            else ""
        )

    # -- review -------------------------------------------------------------------------
    def decide(self, decision: Decision, comment: str = "") -> None:
        if self.session.document is None:
            return
        try:
            result = self.session.review(decision, comment.strip())
        except AnnotatorError as exc:
            QMessageBox.warning(self, TITLE, str(exc))
            return
        self._saved(result)
        if result.ok:
            self.review.clear_comment()
            self._refresh_status()
        else:
            QMessageBox.warning(self, TITLE, result.message)

    def turn_review(self, turn: int, decision: Decision, reason: object) -> None:
        if self.session.document is None:
            return
        try:
            result = self.session.review(
                decision, self.review.comment.text().strip(), turn_index=turn, reason=reason
            )  # type: ignore[arg-type]
        except AnnotatorError as exc:
            QMessageBox.warning(self, TITLE, str(exc))
            return
        self.editor.mark_judged(turn)
        self._saved(result)
        self._refresh_texts()
        self._refresh_status()

    def show_history(self) -> None:
        doc = self.session.document
        if doc is None or doc.id is None:
            return
        HistoryDialog(self.store.history(doc.id), f"History of #{doc.id}", self).exec()

    # -- jobs (wired by the composition root when the services exist) ----------------------
    def propose(self) -> None:
        self.statusBar().showMessage("No proposer configured (Settings > Proposer)", 5000)

    def import_dialog(self) -> None:
        self.statusBar().showMessage("Import is not available in this build", 5000)

    def export_dialog(self) -> None:
        self.statusBar().showMessage("Export is not available in this build", 5000)

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            new = dialog.result_settings()
            for field in dataclasses.fields(Settings):
                setattr(self.settings, field.name, getattr(new, field.name))
            save_settings(self.settings, self._settings_path)
            self.editor.blind = self.settings.blind_first
            self.resolver.add_root(self.settings.images_dir)
            self.statusBar().showMessage("Settings saved", 3000)

    # -- status bar -----------------------------------------------------------------------
    def _sam_state(self, state: str) -> None:
        text = {
            "off": "SAM: off",
            "idle": "SAM: not loaded",
            "loading": "SAM: loading model…",
            "encoding": "SAM: encoding image…",
            "ready": "SAM: ready",
        }.get(state, f"SAM: {state}")
        self.model_label.setText(text)
        self.encode_bar.setVisible(state in ("loading", "encoding"))
        if state in ("loading", "encoding"):
            self.encode_bar.setRange(0, 0)

    def _sam_progress(self, done: int, total: object, _message: str) -> None:
        if isinstance(total, int) and total > 0:
            self.encode_bar.setRange(0, total)
            self.encode_bar.setValue(done)

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
        self._save_layout()
        save_settings(self.settings, self._settings_path)
        self.sam.shutdown()
        self._runner.cancel_all()
        self._runner.wait(2000)
        event.accept()
