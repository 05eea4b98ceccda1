"""The record list panel: search, status and flag filters, sort order, the lazily paged table,
and a chip for an id filter set from elsewhere (the quality dashboard's "open records")."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.status import Status
from annotator.storage import ConversationSummary, ListQuery
from annotator.ui.icons import Icons
from annotator.ui.record_list import COLUMN_TIPS, COLUMNS, RecordListModel

SORTS = (
    ("ID", "id"),
    ("Newest first", "-id"),
    ("Recently changed", "-updated"),
    ("Status", "status"),
    ("Focus", "focus"),
    ("Largest correction", "correction"),
)
# Column widths; the focus column (1) takes the rest but keeps at least FOCUS_MIN.
_WIDTHS = {0: 52, 2: 76, 3: 30, 4: 72, 5: 44, 6: 62, 7: 46}
_SHOWN_BY_DEFAULT = {0, 1, 2, 3, 6}  # reviewer, turns and id: header menu and tooltip
# When the panel is narrow, wanted columns are dropped in this order until the focus fits.
_DROP_ORDER = (7, 5, 4, 6, 3, 0)
FOCUS_MIN = 120


class RecordBrowser(QWidget):
    rowActivated = Signal(int)  # the current row changed (keyboard or mouse)
    queryChanged = Signal()

    def __init__(self, model: RecordListModel, icons: Icons, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._ids: tuple[int, ...] | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 4)
        lay.setSpacing(6)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search focus or image…")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(
            icons.get("mdi6.magnify", "#9aa4b2"), QLineEdit.ActionPosition.LeadingPosition
        )
        lay.addWidget(self.search)
        grid = QGridLayout()
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(4)
        self.status_filter = QComboBox()
        self.status_filter.addItem("All statuses", None)
        for s in Status:
            self.status_filter.addItem(s.value.replace("_", " "), s.value)
        self.flag_filter = QComboBox()
        self.flag_filter.addItem("Any flags", None)
        self.flag_filter.addItem("Flagged", True)
        self.flag_filter.addItem("Not flagged", False)
        self.sort = QComboBox()
        self.sort.setToolTip("Sort order (also the review queue order)")
        for label, key in SORTS:
            self.sort.addItem(label, key)
        for combo in (self.status_filter, self.flag_filter, self.sort):
            combo.setMinimumContentsLength(6)
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
        grid.addWidget(self.status_filter, 0, 0)
        grid.addWidget(self.flag_filter, 0, 1)
        sort_label = QLabel("Sort")
        sort_label.setObjectName("caption")
        grid.addWidget(sort_label, 1, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.sort, 1, 1)
        lay.addLayout(grid)

        self.ids_chip = QWidget()
        self.ids_chip.setObjectName("idsChip")
        chip = QHBoxLayout(self.ids_chip)
        chip.setContentsMargins(8, 2, 2, 2)
        self.ids_label = QLabel()
        chip.addWidget(self.ids_label, 1)
        clear = QToolButton()
        clear.setIcon(icons.get("mdi6.close", "#c8ccd4"))
        clear.setToolTip("Show all records again")
        clear.clicked.connect(self.clear_ids)
        chip.addWidget(clear)
        self.ids_chip.setVisible(False)
        lay.addWidget(self.ids_chip)

        self.table = QTableView()
        self.table.setModel(model)
        self.table.setObjectName("recordTable")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(40)
        self.table.setIconSize(QSize(48, 36))
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(30)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for col, width in _WIDTHS.items():
            self.table.setColumnWidth(col, width)
        self.wanted_columns = set(_SHOWN_BY_DEFAULT)
        for col in range(len(COLUMNS)):
            if col == 1:
                continue  # the focus is always shown
            act = header.addAction(COLUMN_TIPS[col])  # right click on the header: show/hide
            act.setCheckable(True)
            act.setChecked(col in self.wanted_columns)
            act.toggled.connect(lambda on, c=col: self._want_column(c, on))
        self.table.installEventFilter(self)
        lay.addWidget(self.table, 1)
        self.count_label = QLabel()
        self.count_label.setObjectName("caption")
        lay.addWidget(self.count_label)
        self.setMinimumWidth(220)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        for combo in (self.status_filter, self.flag_filter, self.sort):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filters())
        model.countChanged.connect(self._count_changed)
        self.table.selectionModel().currentRowChanged.connect(
            lambda cur, _prev: self.rowActivated.emit(cur.row())
        )

    # -- columns --------------------------------------------------------------------------
    def _want_column(self, col: int, on: bool) -> None:
        if on:
            self.wanted_columns.add(col)
        else:
            self.wanted_columns.discard(col)
        self.fit_columns()

    def fit_columns(self) -> None:
        """Show the wanted columns that fit beside a readable focus column."""
        room = self.table.viewport().width()
        shown = set(self.wanted_columns) | {1}
        for col in _DROP_ORDER:
            if room - sum(_WIDTHS.get(c, 0) for c in shown if c != 1) >= FOCUS_MIN:
                break
            shown.discard(col)
        for col in range(len(COLUMNS)):
            self.table.setColumnHidden(col, col not in shown)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return False

    # -- query ----------------------------------------------------------------------------
    def query(self) -> ListQuery:
        status = self.status_filter.currentData()  # Qt gives enum data back as plain text
        return ListQuery(
            status=Status(status) if status else None,
            flagged=self.flag_filter.currentData(),
            text=self.search.text().strip() or None,
            ids=self._ids,
            sort=self.sort.currentData() or "id",
        )

    def apply_filters(self) -> None:
        self._search_timer.stop()
        self.model.set_query(self.query())
        self.queryChanged.emit()

    def show_ids(self, ids: list[int], label: str = "from the dashboard") -> None:
        """Filter the list to these records (other filters still apply)."""
        self._ids = tuple(sorted(set(ids)))
        self.ids_label.setText(f"{len(self._ids):,} record(s) {label}")
        self.ids_chip.setVisible(True)
        self.apply_filters()

    def clear_ids(self) -> None:
        self._ids = None
        self.ids_chip.setVisible(False)
        self.apply_filters()

    def _count_changed(self, n: int) -> None:
        total = f"{n:,} record" + ("" if n == 1 else "s")
        self.count_label.setText(total)

    # -- rows -----------------------------------------------------------------------------
    def current_row(self) -> int:
        index = self.table.currentIndex()
        return index.row() if index.isValid() else -1

    def select_row(self, row: int) -> bool:
        self.model.ensure_loaded(row)
        if not 0 <= row < self.model.rowCount():
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def summary(self, row: int) -> ConversationSummary | None:
        return self.model.summary(row)

    def queue_after(self, row: int, n: int) -> list[ConversationSummary]:
        """The next ``n`` records of the review queue (list order, filters applied)."""
        out = []
        for r in range(row + 1, row + 1 + n):
            self.model.ensure_loaded(r)
            s = self.model.summary(r)
            if s is None:
                break
            out.append(s)
        return out
