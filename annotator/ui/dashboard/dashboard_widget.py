"""The quality dashboard: the report's numbers, the IoU histogram, IoU by turn index, and the
records behind every bar. Shows a report dict made by ``services.quality_report.build_report``;
computing it (on a worker) is the embedding window's job, which passes new ones to
:meth:`QualityDashboard.set_report`."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.atomic_file import atomic_open, replacing
from annotator.ui.dashboard.bar_chart import BarChart
from annotator.ui.dashboard.reasoning_table import ReasoningTable
from annotator.ui.dashboard.report_tables import (
    footnotes,
    format_value,
    record_columns,
    record_csv_rows,
    summary_columns,
    summary_csv_rows,
    summary_rows,
)

OpenRecords = Callable[[list[int]], None]
_IDS_ROLE = Qt.ItemDataRole.UserRole + 1


class _NumberItem(QTableWidgetItem):
    """Sorts by the number it shows (text order would put 10 before 9)."""

    def __init__(self, value: Any) -> None:
        super().__init__(format_value(value))
        self._key = value if isinstance(value, int | float) else float("-inf")
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return bool(self._key < other._key)
        return super().__lt__(other)


class QualityDashboard(QWidget):
    """``QualityDashboard(report, open_records)``; ``open_records(ids)`` is called when a bar, a
    summary row or a record row is activated. ``refresh`` (optional) adds a Refresh button."""

    recordsRequested = Signal(list)

    def __init__(
        self,
        report: dict[str, Any],
        open_records: OpenRecords,
        parent: QWidget | None = None,
        *,
        refresh: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("qualityDashboard")
        self._open_records = open_records
        self._report: dict[str, Any] = {}
        self._build(refresh)
        self.set_report(report)

    # -- building --------------------------------------------------------------------------
    def _build(self, refresh: Callable[[], None] | None) -> None:
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        export = QToolButton()
        export.setText("Export")
        export.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(export)
        menu.addAction("Dashboard as PNG…", lambda: self._ask_path("png", self.save_png))
        menu.addAction("Histogram as PNG…", lambda: self._ask_path("png", self.histogram.save_png))
        menu.addAction("IoU by turn as PNG…", lambda: self._ask_path("png", self.by_turn.save_png))
        menu.addAction(
            "Summary table as CSV…", lambda: self._ask_path("csv", self.save_summary_csv)
        )
        menu.addAction("Records as CSV…", lambda: self._ask_path("csv", self.save_records_csv))
        export.setMenu(menu)
        self.export_button = export
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        if refresh is not None:
            again = QPushButton("Refresh")
            again.clicked.connect(refresh)
            top.addWidget(again)
        top.addWidget(export)

        self.summary = QTableWidget()
        self.summary.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.summary.verticalHeader().setVisible(False)
        self.summary.cellDoubleClicked.connect(self._summary_activated)
        self.summary.setToolTip("Double-click a row to open its records")
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.reasoning = ReasoningTable(self._request)  # the LLM judge's, by the mask metrics

        self.histogram = _Chart("Per-record IoU (target turn)", "IoU", "records")
        self.by_turn = _Chart("IoU by turn index", "turn index", "IoU")
        self.histogram.chart.barClicked.connect(self._bar_clicked)
        self.by_turn.chart.barClicked.connect(self._bar_clicked)
        plots = QHBoxLayout()
        plots.addWidget(self.histogram.chart)
        plots.addWidget(self.by_turn.chart)
        plots_box = QWidget()
        plots_box.setLayout(plots)

        self.records = QTableWidget()
        self.records.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.records.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.records.setSortingEnabled(True)
        self.records.setAlternatingRowColors(True)
        self.records.verticalHeader().setVisible(False)
        self.records.cellDoubleClicked.connect(self._record_activated)

        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addWidget(self.summary)
        upper_layout.addWidget(self.notes)
        upper_layout.addWidget(self.reasoning)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(plots_box)
        split.addWidget(self.records)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    # -- content ---------------------------------------------------------------------------
    @property
    def report(self) -> dict[str, Any]:
        return self._report

    def set_report(self, report: dict[str, Any]) -> None:
        self._report = report
        opts = report["options"]
        counts = report["counts"]
        reference = (
            "FINAL masks of approved records"
            if opts["reference"] == "final"
            else "imported (DRAFT) masks"
        )
        turns = "target turn" if opts["turns"] == "final" else "every turn"
        self.heading.setText(
            f"<b>{counts['records']}</b> records ({counts['pairs']} turn pairs) of "
            f"{counts['conversations']} · reference: {reference} · {turns} · proposer: "
            f"{opts['proposer'] or 'latest of any'} · {report['generated_at']}"
        )
        self._fill_summary()
        self.notes.setText("\n".join(footnotes(report)))
        self.reasoning.set_report(report)
        self._fill_histogram()
        self._fill_by_turn()
        self._fill_records()

    def _fill_summary(self) -> None:
        cols = summary_columns(self._report)
        rows = summary_rows(self._report)
        table = self.summary
        table.clear()
        table.setColumnCount(len(cols) + 1)
        table.setRowCount(len(rows))
        table.setHorizontalHeaderLabels(["", *(h for _, h in cols)])
        for r, row in enumerate(rows):
            label = QTableWidgetItem(row.label)
            label.setData(_IDS_ROLE, list(row.ids))
            table.setItem(r, 0, label)
            for c, (key, _) in enumerate(cols, start=1):
                table.setItem(r, c, _NumberItem(row.values.get(key)))
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.resizeRowsToContents()
        # every row visible without scrolling: the table is the dashboard's headline
        rows_height = sum(table.rowHeight(r) for r in range(table.rowCount()))
        scroll = table.horizontalScrollBar().sizeHint().height()
        table.setMinimumHeight(header.sizeHint().height() + rows_height + scroll + 4)

    def _fill_histogram(self) -> None:
        hist = self._report["iou_histogram"]
        edges = hist["edges"]
        centres = [(a + b) / 2 for a, b in pairwise(edges)]
        labels = [
            f"IoU {a:.1f}–{b:.1f}: {n} records"
            for a, b, n in zip(edges[:-1], edges[1:], hist["counts"], strict=True)
        ]
        self.histogram.chart.set_bars(
            centres,
            hist["counts"],
            hist["ids"],
            width=(edges[1] - edges[0]) * 0.9,
            labels=labels,
            ticks=[(e, f"{e:.1f}") for e in edges],
            annotations=[str(n) if n else "" for n in hist["counts"]],
            counts=True,
        )

    def _fill_by_turn(self) -> None:
        mvr = self._report["model_vs_reference"]
        turns = sorted(int(t) for t in mvr["by_turn"])
        giou = [mvr["by_turn"][str(t)]["giou"] or 0.0 for t in turns]
        ciou = [mvr["by_turn"][str(t)]["ciou"] or 0.0 for t in turns]
        ns = [mvr["by_turn"][str(t)]["n"] for t in turns]
        ids = [mvr["ids_by_turn"].get(str(t), []) for t in turns]
        self.by_turn.chart.set_bars(
            turns,
            giou,
            ids,
            width=0.6,
            labels=[
                f"turn {t}: gIoU {g:.3f}, cIoU {c:.3f}, {n} records"
                for t, g, c, n in zip(turns, giou, ciou, ns, strict=True)
            ],
            ticks=[(t, str(t)) for t in turns],
            annotations=[f"n={n}" for n in ns],
            y_max=1.1,
        )
        self.by_turn.chart.set_line(turns, ciou, "cIoU (bars: gIoU)")

    def _fill_records(self) -> None:
        cols = record_columns(self._report)
        table = self.records
        table.setSortingEnabled(False)
        table.clear()
        table.setColumnCount(len(cols))
        table.setRowCount(len(self._report["records"]))
        table.setHorizontalHeaderLabels([h for _, h in cols])
        for r, rec in enumerate(self._report["records"]):
            for c, (key, _) in enumerate(cols):
                value = rec.get(key)
                item = (
                    _NumberItem(value)
                    if isinstance(value, int | float) and not isinstance(value, bool)
                    else QTableWidgetItem(format_value(value))
                )
                item.setData(_IDS_ROLE, [rec["conversation_id"]])
                table.setItem(r, c, item)
        table.setSortingEnabled(True)
        iou_column = [k for k, _ in cols].index("iou")
        table.sortItems(iou_column, Qt.SortOrder.AscendingOrder)  # worst first
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    # -- opening records -------------------------------------------------------------------
    def _request(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        wanted = sorted(set(ids))
        self._select_records(wanted)
        self.recordsRequested.emit(wanted)
        self._open_records(wanted)

    def _bar_clicked(self, _index: int, ids: list[int]) -> None:
        self._request(ids)

    def _summary_activated(self, row: int, _column: int) -> None:
        item = self.summary.item(row, 0)
        self._request(item.data(_IDS_ROLE) if item is not None else [])

    def _record_activated(self, row: int, column: int) -> None:
        item = self.records.item(row, column)
        self._request(item.data(_IDS_ROLE) if item is not None else [])

    def _select_records(self, ids: Sequence[int]) -> None:
        wanted = set(ids)
        self.records.clearSelection()
        mode = self.records.selectionMode()
        self.records.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for r in range(self.records.rowCount()):
            item = self.records.item(r, 0)
            if item is not None and item.data(_IDS_ROLE)[0] in wanted:
                self.records.selectRow(r)
        self.records.setSelectionMode(mode)

    def selected_record_ids(self) -> list[int]:
        rows = {i.row() for i in self.records.selectedIndexes()}
        return sorted({self.records.item(r, 0).data(_IDS_ROLE)[0] for r in rows})

    # -- export ----------------------------------------------------------------------------
    def save_png(self, path: str | Path) -> None:
        with replacing(path) as tmp:
            if not self.grab().save(str(tmp), "PNG"):
                raise OSError(f"could not write {path}")

    def save_summary_csv(self, path: str | Path) -> None:
        _write_csv(path, summary_csv_rows(self._report))

    def save_records_csv(self, path: str | Path) -> None:
        _write_csv(path, record_csv_rows(self._report))

    def _ask_path(self, suffix: str, save: Callable[[str], None]) -> None:
        kind = "PNG image (*.png)" if suffix == "png" else "CSV file (*.csv)"
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"quality.{suffix}", kind)
        if path:
            save(path if path.lower().endswith(f".{suffix}") else f"{path}.{suffix}")


class _Chart:
    """A bar chart and its PNG export."""

    def __init__(self, title: str, x_label: str, y_label: str) -> None:
        self.chart = BarChart(title, x_label, y_label)

    def save_png(self, path: str | Path) -> None:
        exporter = ImageExporter(self.chart.getPlotItem())
        exporter.parameters()["width"] = max(800, self.chart.width())
        with replacing(path) as tmp:
            exporter.export(str(tmp))


def _write_csv(path: str | Path, rows: Sequence[Sequence[str]]) -> None:
    with atomic_open(path) as fh:
        csv.writer(fh).writerows(rows)
