"""The dashboard's reasoning table: the LLM judge's scores next to the mask metrics.

One row per proposer and judge (all turns), then one per turn index; one column per criterion
showing the mean and its 95 % interval. Pairwise win rates are listed under the table. Reads
the report's ``reasoning`` section (``services.reasoning_report``); a report without one, or
without verdicts, shows how to get them. Double-clicking a row opens the records behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

_IDS_ROLE = Qt.ItemDataRole.UserRole + 1
EMPTY_TEXT = (
    "Reasoning: no judge verdicts yet. Score the answers with "
    "`annotator judge --url URL --model MODEL`."
)


@dataclass(frozen=True)
class ReasoningRow:
    proposer: str
    judge: str  # "model (prompt version, against reference)"
    scope: str  # "all turns" or "turn k"
    n: int
    failed: int | None  # counted for the whole group only
    cells: tuple[str, ...]  # per criterion: "mean [low, high]"
    tips: tuple[str, ...]  # per criterion: n and standard deviation
    ids: tuple[int, ...]


def interval_text(stat: dict[str, Any]) -> str:
    if stat["mean"] is None:
        return "–"
    if stat["low"] is None:
        return f"{stat['mean']:.2f}"
    return f"{stat['mean']:.2f} [{stat['low']:.2f}, {stat['high']:.2f}]"


def _tip(stat: dict[str, Any]) -> str:
    sd = "–" if stat["sd"] is None else f"{stat['sd']:.3f}"
    return f"n = {stat['n']}, standard deviation {sd}"


def reasoning_rows(reasoning: dict[str, Any]) -> list[ReasoningRow]:
    keys = [c["key"] for c in reasoning["criteria"]]
    rows = []
    for group in reasoning["scores"]:
        judge = f"{group['judge']} ({group['prompt_version']}, vs {group['reference']})"
        scopes = [("all turns", group["overall"], group["ids"], group["failed"])]
        scopes += [
            (f"turn {t}", stats, group["ids_by_turn"].get(t, []), None)
            for t, stats in group["by_turn"].items()
        ]
        for scope, stats, ids, failed in scopes:
            rows.append(
                ReasoningRow(
                    proposer=group["proposer"],
                    judge=judge,
                    scope=scope,
                    n=max((stats[k]["n"] for k in keys), default=0),
                    failed=failed,
                    cells=tuple(interval_text(stats[k]) for k in keys),
                    tips=tuple(_tip(stats[k]) for k in keys),
                    ids=tuple(ids),
                )
            )
    return rows


def pairwise_lines(reasoning: dict[str, Any]) -> list[str]:
    out = []
    for p in reasoning["pairwise"]:
        if not p["n"]:
            out.append(f"{p['a']} vs {p['b']} ({p['judge']}): {p['failed']} failed, none decided")
            continue
        out.append(
            f"{p['a']} vs {p['b']} ({p['judge']}, {p['prompt_version']}): {p['n']} turns, "
            f"A wins {p['win_rate']:.0%}, ties {p['tie_rate']:.0%}, B wins {p['loss_rate']:.0%}"
            + (f"; {p['failed']} failed" if p["failed"] else "")
        )
    return out


class ReasoningTable(QWidget):
    """``ReasoningTable(open_records)``; ``open_records(ids)`` on a row's double-click."""

    def __init__(
        self, open_records: Callable[[Sequence[int]], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("reasoningTable")
        self._open_records = open_records
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setToolTip("Double-click a row to open its records")
        self.table.cellDoubleClicked.connect(self._activated)
        self.pairwise = QLabel()
        self.pairwise.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.table)
        layout.addWidget(self.pairwise)

    def set_report(self, report: dict[str, Any]) -> None:
        reasoning = report.get("reasoning")
        if not reasoning or not (reasoning["scores"] or reasoning["pairwise"]):
            self.heading.setText(EMPTY_TEXT)
            self.table.setRowCount(0)
            self.table.setVisible(False)
            self.pairwise.setText("")
            return
        scale = reasoning["scale"]
        self.heading.setText(
            f"<b>Reasoning (LLM judge)</b> · {reasoning['judged']} answers scored "
            f"{scale['min']}–{scale['max']}, judge replies not used: {reasoning['failed']} · "
            f"mean [{reasoning['interval']}]"
        )
        self._fill(reasoning)
        self.pairwise.setText("\n".join(pairwise_lines(reasoning)))

    def _fill(self, reasoning: dict[str, Any]) -> None:
        rows = reasoning_rows(reasoning)
        names = [c["name"] for c in reasoning["criteria"]]
        table = self.table
        table.clear()
        table.setVisible(bool(rows))
        table.setColumnCount(5 + len(names))
        table.setRowCount(len(rows))
        table.setHorizontalHeaderLabels(["Proposer", "Judge", "Turns", "n", "Failed", *names])
        for r, row in enumerate(rows):
            fixed = [row.proposer, row.judge, row.scope, str(row.n)]
            fixed.append("" if row.failed is None else str(row.failed))
            for c, text in enumerate(fixed):
                item = QTableWidgetItem(text)
                item.setData(_IDS_ROLE, list(row.ids))
                table.setItem(r, c, item)
            for c, (text, tip) in enumerate(zip(row.cells, row.tips, strict=True), start=5):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setData(_IDS_ROLE, list(row.ids))
                table.setItem(r, c, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.resizeRowsToContents()
        shown = min(len(rows), 8)  # the first rows without scrolling; the rest scroll
        rows_height = sum(table.rowHeight(r) for r in range(shown))
        scroll = table.horizontalScrollBar().sizeHint().height()
        table.setMinimumHeight(header.sizeHint().height() + rows_height + scroll + 4)

    def _activated(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        ids = item.data(_IDS_ROLE) if item is not None else []
        if ids:
            self._open_records(list(ids))
