"""The record list panel: search, status and flag filters, sort order, the lazily paged table,
and a chip for an id filter set from elsewhere (the quality dashboard's "open records").

The flag filter offers, besides any / flagged / not flagged, one entry per flag code stored,
with the number of records the other filters let through that carry it ("Unreadable image (3)").
"""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.listing import ConversationSummary, ListQuery
from annotator.core.status import Status
from annotator.ui.flag_labels import FLAG_SHORT, flag_compact, flag_label, flag_marker, flag_rank
from annotator.ui.icons import Icons
from annotator.ui.record_list import (
    COLUMN_TIPS,
    COLUMNS,
    FLAG_CODES_ROLE,
    RecordListModel,
    flag_colour,
)

SORTS = (
    ("ID", "id"),
    ("Newest first", "-id"),
    ("Recently changed", "-updated"),
    ("Status", "status"),
    ("Focus", "focus"),
    ("Largest correction", "correction"),
)
# Column widths; the focus column (1) takes the rest but keeps at least FOCUS_MIN. The flag
# column's is measured: as wide as its longest short label in the font the table paints with;
# where that does not fit it narrows to FLAG_NARROW (a coloured "⚑2") before it is dropped.
_WIDTHS = {0: 52, 2: 76, 4: 72, 5: 44, 6: 62, 7: 46}
FLAG_COLUMN = 3
FLAG_NARROW = 32
_CELL_PADDING = 14
# The flag filter's fixed entries; the flag codes follow them.
FLAG_CHOICES = (("Any flags", None), ("Flagged", True), ("Not flagged", False))
_SHOWN_BY_DEFAULT = {0, 1, 2, 3, 6}  # reviewer, turns and id: header menu and tooltip
# When the panel is narrow, wanted columns are dropped in this order until the focus fits; the
# flag column's first turn narrows it to its marker, its second drops it (the flags are what a
# reviewer must not miss, so they outlast the thumbnails).
_DROP_ORDER = (7, 5, 4, 6, FLAG_COLUMN, 0, FLAG_COLUMN)
FOCUS_MIN = 100
DELETED = "deleted"  # the status filter's entry for soft-deleted records
QUEUE_PREFIX = "queue:"  # the status filter's entries for review queues (ListQuery.queue)


class FlagMarkerDelegate(QStyledItemDelegate):
    """The flag column shows the most it can say whole: the short label with the number of
    other flags ("No image +1"), the label alone ("No image"; the tooltip lists them all), or
    the bare marker ("⚑2"). Never a cut word: "No i…e +1" reads as nothing."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        room = option.rect.width() - _CELL_PADDING
        codes = index.data(FLAG_CODES_ROLE) or ()
        for text in (option.text, flag_marker(codes, count=False)):
            if option.fontMetrics.horizontalAdvance(text) <= room:
                option.text = text
                return
        option.text = flag_compact(codes)
        option.displayAlignment = Qt.AlignmentFlag.AlignCenter


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
        self.status_filter.addItem("stale verdicts", QUEUE_PREFIX + "stale")
        self.status_filter.addItem("awaiting 2nd review", QUEUE_PREFIX + "second")
        self.status_filter.addItem("deleted (to restore)", DELETED)
        self.flag_filter = QComboBox()
        self.flag_filter.setToolTip("Which records by their import flags")
        for label, value in FLAG_CHOICES:
            self.flag_filter.addItem(label, value)
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
        self.table.setItemDelegateForColumn(FLAG_COLUMN, FlagMarkerDelegate(self.table))
        self._flag_width = self._flag_label_width()
        for col, width in {**_WIDTHS, FLAG_COLUMN: self._flag_width}.items():
            self.table.setColumnWidth(col, width)
        self.wanted_columns = set(_SHOWN_BY_DEFAULT)
        self._withheld: set[int] = set()
        for col in range(len(COLUMNS)):
            if col == 1:
                continue  # the focus is always shown
            act = header.addAction(COLUMN_TIPS[col])  # right click on the header: show/hide
            act.setCheckable(True)
            act.setChecked(col in self.wanted_columns)
            act.toggled.connect(lambda on, c=col: self._want_column(c, on))
        # The viewport, not the table: when the table hears of a resize its viewport still has
        # the old size, and the columns would be fitted to the width before.
        self.table.viewport().installEventFilter(self)
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

    def withhold_column(self, col: int, withheld: bool) -> None:
        """Keep a column off whatever the user wants shown (blind-first review withholds the
        correction column), or give it back."""
        if withheld:
            self._withheld.add(col)
        else:
            self._withheld.discard(col)
        self.fit_columns()

    def fit_columns(self) -> None:
        """Show the wanted columns that fit beside a readable focus column; the flag column
        narrows to its marker before it goes."""
        room = self.table.viewport().width()
        shown = (set(self.wanted_columns) - self._withheld) | {1}
        widths = {**_WIDTHS, FLAG_COLUMN: self._flag_label_width()}

        def fits() -> bool:
            return room - sum(widths.get(c, 0) for c in shown if c != 1) >= FOCUS_MIN

        for col in _DROP_ORDER:
            if fits():
                break
            if col == FLAG_COLUMN and col in shown and widths.get(col, 0) > FLAG_NARROW:
                widths[col] = FLAG_NARROW
            else:
                shown.discard(col)
        for col in range(len(COLUMNS)):
            self.table.setColumnHidden(col, col not in shown)
        if widths[FLAG_COLUMN] != self._flag_width:  # a width the user dragged stays otherwise
            self._flag_width = widths[FLAG_COLUMN]
            self.table.setColumnWidth(FLAG_COLUMN, self._flag_width)

    def _flag_label_width(self) -> int:
        """The flag column's width in the font the table paints with now (the application's
        style may change it after the table is built)."""
        metrics = self.table.fontMetrics()
        words = max(metrics.horizontalAdvance(label) for label in FLAG_SHORT.values())
        return words + _CELL_PADDING

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return False

    # -- query ----------------------------------------------------------------------------
    def query(self) -> ListQuery:
        status = self.status_filter.currentData()  # Qt gives enum data back as plain text
        flag = self.flag_filter.currentData()  # None, True / False (flagged or not), or a code
        deleted = status == DELETED
        queue = status[len(QUEUE_PREFIX) :] if status and status.startswith(QUEUE_PREFIX) else None
        return ListQuery(
            status=Status(status) if status and not deleted and not queue else None,
            deleted=deleted,
            queue=queue,
            flagged=flag if isinstance(flag, bool) else None,
            flag_code=flag if isinstance(flag, str) else None,
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

    def show_flag(self, code: str | None) -> bool:
        """List the records carrying this flag code (None: any flags); False when no record in
        the database carries it."""
        i = 0 if code is None else self.flag_filter.findData(code)
        if i < 0:
            return False
        self.flag_filter.setCurrentIndex(i)
        return True

    def _count_changed(self, n: int) -> None:
        total = f"{n:,} record" + ("" if n == 1 else "s")
        self.count_label.setText(total)
        self._update_flag_choices(self.model.flag_counts)

    def _update_flag_choices(self, counts: dict[str, int]) -> None:
        """One entry per stored code with its count; the chosen code stays while no record
        carries it any more (with 0), so the list and the filter shown agree."""
        combo = self.flag_filter
        chosen = combo.currentData()
        codes = sorted(counts, key=flag_rank)
        if isinstance(chosen, str) and chosen not in counts:
            codes.append(chosen)
        fixed = len(FLAG_CHOICES)
        combo.blockSignals(True)  # the list is already filtered by the entry chosen
        try:
            if [combo.itemData(i) for i in range(fixed, combo.count())] != codes:
                while combo.count() > fixed:
                    combo.removeItem(fixed)
                for code in codes:
                    combo.addItem("", code)
                    combo.setItemData(
                        combo.count() - 1, flag_colour((code,)), Qt.ItemDataRole.ForegroundRole
                    )
                combo.setCurrentIndex(max(combo.findData(chosen), 0))
            for i, code in enumerate(codes, start=fixed):
                n = counts.get(code, 0)
                combo.setItemText(i, f"{flag_label(code)} ({n:,})")
                combo.setItemData(
                    i,
                    f"Records with at least one “{flag_label(code)}” flag "
                    f"({n:,} among those the other filters show)",
                    Qt.ItemDataRole.ToolTipRole,
                )
        finally:
            combo.blockSignals(False)
        # The popup lists full labels even though the combo itself is narrow.
        view = combo.view()
        metrics = view.fontMetrics()
        widest = max(metrics.horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
        view.setMinimumWidth(widest + 2 * view.frameWidth() + 24)  # item padding, scroll bar

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
