"""The record list: a table model that pages through the store on demand (``fetchMore``), so a
database of 100,000 conversations opens as fast as one of ten, with filters and sort orders
applied by the database. A flagged row shows its flag codes in short ("Unreadable +1"); its
tooltip names every flag with its message ("Unreadable image: ..."), read when first asked for:
list rows carry only the codes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPixmap

from annotator.core.errors import AnnotatorError
from annotator.core.listing import ConversationSummary, ListQuery
from annotator.core.model import Flag
from annotator.core.status import Status
from annotator.services.catalog import Catalog
from annotator.ui.flag_labels import IMAGE_FLAGS, flag_marker, flag_rank, flags_text
from annotator.ui.task_runner import TaskRunner

PAGE = 200
THUMB = 48
COLUMNS = ("", "Focus", "Status", "⚑", "Reviewer", "Turns", "Δ px", "ID")
CORRECTION_COLUMN = COLUMNS.index("Δ px")
COLUMN_TIPS = (
    "Image",
    "The conversation's focus (what the final mask shows)",
    "Review status",
    "Import flags: the foremost one's short name, +N other kinds (hover a row for them all)",
    "Last reviewer",
    "Turns in the conversation",
    "Correction: pixels changed between the latest proposal and the final mask",
    "Record id",
)

STATUS_COLOURS = {
    Status.DRAFT: QColor("#8a8f98"),
    Status.PROPOSED: QColor("#4a90e2"),
    Status.IN_REVIEW: QColor("#f5a623"),
    Status.APPROVED: QColor("#2ecc71"),
    Status.REJECTED: QColor("#e74c3c"),
}

# Image flags read like the strip above the canvas (the record cannot be checked at all); the
# others in the status line's warning amber.
IMAGE_FLAG_COLOUR = QColor("#f08a8f")
FLAG_COLOUR = QColor("#ffb454")

Index = QModelIndex | QPersistentModelIndex
FLAG_CODES_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's flag codes, for a narrow flag column


def flag_colour(codes: tuple[str, ...]) -> QColor | None:
    if not codes:
        return None
    return IMAGE_FLAG_COLOUR if min(codes, key=flag_rank) in IMAGE_FLAGS else FLAG_COLOUR


class ThumbnailCache(QObject):
    """Small previews loaded on a worker thread, only for rows that are painted."""

    ready = Signal(str)

    def __init__(
        self, runner: TaskRunner, capacity: int = 600, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._capacity = capacity
        self._cache: OrderedDict[str, QPixmap | None] = OrderedDict()
        self._pending: dict[int, str] = {}
        runner.finished.connect(self._loaded)
        runner.failed.connect(self._failed)

    def get(self, path: str) -> QPixmap | None:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        if path not in self._pending.values():
            request = self._runner.submit(lambda task, p=path: _load_thumbnail(p))
            self._pending[request] = path
        return None

    def _loaded(self, request: int, result: object) -> None:
        path = self._pending.pop(request, None)
        if path is None:
            return
        pix = None
        if isinstance(result, np.ndarray):
            h, w, _ = result.shape
            pix = QPixmap.fromImage(
                QImage(result.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            )
        self._cache[path] = pix
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        self.ready.emit(path)

    def _failed(self, request: int, _message: str) -> None:
        path = self._pending.pop(request, None)
        if path is not None:
            self._cache[path] = None


def _load_thumbnail(path: str) -> np.ndarray | None:
    if not path or not Path(path).is_file():
        return None
    img = cv2.imread(path, cv2.IMREAD_REDUCED_COLOR_4)
    if img is None:
        return None
    h, w = img.shape[:2]
    s = THUMB / max(h, w)
    img = cv2.resize(
        img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
    )
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


class RecordListModel(QAbstractTableModel):
    countChanged = Signal(int)
    loadFailed = Signal(str)  # the database could not be read: the list stays empty

    def __init__(
        self,
        store: Catalog,
        resolve_image: Callable[[ConversationSummary], str],
        thumbnails: ThumbnailCache | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._resolve = resolve_image
        self._thumbs = thumbnails
        self._query = ListQuery()
        self._rows: list[ConversationSummary] = []
        self._total = 0
        self._row_of_id: dict[int, int] = {}
        self._rows_of_path: dict[str, set[int]] = {}  # rows waiting for a thumbnail
        self._flags: dict[int, tuple[Flag, ...]] = {}  # conversation id -> its flags, as read
        self._flag_counts: dict[str, int] = {}
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumb_ready)

    # -- query --------------------------------------------------------------------------
    @property
    def query(self) -> ListQuery:
        return self._query

    @property
    def total(self) -> int:
        return self._total

    @property
    def flag_counts(self) -> dict[str, int]:
        """Every flag code stored -> records carrying it among those the query's other filters
        (status, text, ids) let through: what choosing that code would list."""
        return self._flag_counts

    def set_query(self, query: ListQuery) -> None:
        self.beginResetModel()
        self._query = query
        try:
            self._rows = self._store.page(query, 0, PAGE)
            self._total = self._store.count(query)
            counts = self._store.flag_counts(replace(query, flagged=None, flag_code=None))
        except AnnotatorError as exc:  # a damaged file, a lost server: say so, list nothing
            self._rows, self._total, counts = [], 0, {}
            self.loadFailed.emit(str(exc))
        self._flag_counts = counts
        self._reindex()
        self._rows_of_path.clear()
        self._flags.clear()
        self.endResetModel()
        self.countChanged.emit(self._total)

    def reload(self) -> None:
        self.set_query(self._query)

    def _reindex(self) -> None:
        self._row_of_id = {s.id: i for i, s in enumerate(self._rows)}

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid():
            return
        more = self._store.page(self._query, len(self._rows), PAGE)
        if not more:
            self._total = len(self._rows)
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(more) - 1)
        self._rows.extend(more)
        for i, s in enumerate(more, start=first):
            self._row_of_id[s.id] = i
        self.endInsertRows()

    def ensure_loaded(self, row: int) -> None:
        while row >= len(self._rows) and self.canFetchMore():
            self.fetchMore()

    # -- rows ---------------------------------------------------------------------------
    def summary(self, row: int) -> ConversationSummary | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, conv_id: int) -> int | None:
        return self._row_of_id.get(conv_id)

    def ids_after(self, row: int, n: int) -> list[int]:
        return [s.id for s in self._rows[row + 1 : row + 1 + n]]

    def refresh_row(self, conv_id: int) -> None:
        """Re-read one row after it was saved (status, reviewer, correction changed)."""
        row = self._row_of_id.get(conv_id)
        if row is None:
            return
        fresh = self._store.page(ListQuery(ids=(conv_id,)), 0, 1)
        self._flags.pop(conv_id, None)
        if fresh:
            self._rows[row] = fresh[0]
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TIPS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        s = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, col)
        if role == Qt.ItemDataRole.DecorationRole and col == 0 and self._thumbs is not None:
            path = self._resolve(s)
            pix = self._thumbs.get(path)
            if pix is None:
                self._rows_of_path.setdefault(path, set()).add(index.row())
            return pix
        if role == Qt.ItemDataRole.ForegroundRole and col == 2:
            return STATUS_COLOURS.get(s.status)
        if role == Qt.ItemDataRole.ForegroundRole and col == 3:
            return flag_colour(s.flag_codes)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"#{s.id}  {s.image_path}  ({s.image_width}×{s.image_height})\n{s.focus}"
            if s.stale_verdicts:
                tip += (
                    f"\n⚠ {s.stale_verdicts} turn verdict(s) given before the turn changed: "
                    "judge again"
                )
            flags = self.flags_of(s)
            return f"{tip}\n{flags_text(flags)}" if flags else tip
        if role == Qt.ItemDataRole.UserRole:
            return s.id
        if role == FLAG_CODES_ROLE:
            return s.flag_codes
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (5, 6, 7):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags_of(self, s: ConversationSummary) -> tuple[Flag, ...]:
        """The row's flags, read from the store once (a hover, not a paint, asks for them)."""
        if not s.flag_count:
            return ()
        if s.id not in self._flags:
            try:
                self._flags[s.id] = self._store.get_conversation(s.id).flags
            except AnnotatorError:  # deleted meanwhile: the next reload drops the row
                return ()
        return self._flags[s.id]

    @staticmethod
    def _display(s: ConversationSummary, col: int) -> Any:
        if col == 1:
            return s.focus
        if col == 2:
            status = s.status.value.replace("_", " ")
            return f"⚠{s.stale_verdicts} {status}" if s.stale_verdicts else status
        if col == 3:
            return flag_marker(s.flag_codes)
        if col == 4:
            return s.last_reviewer or ""
        if col == 5:
            return s.turn_count
        if col == 6:
            return "" if s.correction_pixels is None else f"{s.correction_pixels:,}"
        if col == 7:
            return s.id
        return None

    def _thumb_ready(self, path: str) -> None:
        for row in self._rows_of_path.pop(path, ()):
            if row < len(self._rows):
                idx = self.index(row, 0)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
