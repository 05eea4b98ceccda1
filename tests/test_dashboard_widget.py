"""The quality dashboard on a real report: tables, clickable bars, PNG/CSV export, screenshot."""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fixtures_metrics import MetricsProject
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from annotator.services.quality_report import ReportOptions, build_report
from annotator.storage import open_store
from annotator.ui.dashboard import QualityDashboard
from annotator.ui.dashboard.report_tables import format_value

SCREENSHOT = Path(tempfile.gettempdir()) / "prist-annotator-dashboard.png"


@pytest.fixture
def report(metrics_project: MetricsProject) -> dict[str, Any]:
    return build_report(metrics_project.store, ReportOptions(turns="all", edge=True))


@pytest.fixture
def dashboard(qtbot: Any, report: dict[str, Any]) -> tuple[QualityDashboard, list[list[int]]]:
    from PySide6.QtWidgets import QApplication

    from annotator.ui.theme import apply_theme

    apply_theme(QApplication.instance())  # type: ignore[arg-type]
    opened: list[list[int]] = []
    widget = QualityDashboard(report, opened.append)
    qtbot.addWidget(widget)
    widget.resize(1400, 1000)
    widget.show()
    qtbot.waitExposed(widget)
    return widget, opened


def _click_bar(qtbot: Any, chart: Any, index: int) -> None:
    pos = chart.mapFromScene(chart.bar_scene_centre(index))
    qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))


def test_summary_table_shows_the_report(
    dashboard: tuple[QualityDashboard, list[list[int]]], report: dict[str, Any]
) -> None:
    widget, _ = dashboard
    table = widget.summary
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[1:4] == ["n", "gIoU", "cIoU"]
    assert headers[-1] == "Edge IoU (MIRAS code)"
    by_turn = report["model_vs_reference"]["by_turn"]
    assert table.rowCount() == 1 + len(by_turn) + 1
    overall = report["model_vs_reference"]["overall"]
    assert table.item(0, 0).text() == "Model vs reference: all"
    assert table.item(0, headers.index("gIoU")).text() == format_value(overall["giou"])
    assert table.item(0, headers.index("cIoU")).text() == format_value(overall["ciou"])
    assert table.item(0, headers.index("P@0.9")).text() == format_value(
        overall["precision_at"]["0.9"]
    )
    last = table.rowCount() - 1
    assert table.item(last, 0).text() == "Agreement between reviewers"
    assert table.item(last, headers.index("n")).text() == "2"
    assert "Edits after the proposal: 7 records" in widget.notes.text()
    assert "BLEU-4" in widget.notes.text()
    assert widget.records.rowCount() == len(report["records"])


def test_clicking_bars_opens_their_records(
    qtbot: Any, dashboard: tuple[QualityDashboard, list[list[int]]], report: dict[str, Any]
) -> None:
    widget, opened = dashboard
    hist = report["iou_histogram"]
    chart = widget.histogram.chart
    assert chart.bar_count() == 10
    full = [i for i, n in enumerate(hist["counts"]) if n]
    for index in full:
        _click_bar(qtbot, chart, index)
        assert opened[-1] == hist["ids"][index]
    clicks = len(opened)
    empty = next(i for i, n in enumerate(hist["counts"]) if n == 0)
    _click_bar(qtbot, chart, empty)  # a zero-height bar has nothing behind it
    assert len(opened) == clicks

    turns = widget.by_turn.chart
    ids_by_turn = report["model_vs_reference"]["ids_by_turn"]
    assert turns.bar_count() == len(ids_by_turn)
    _click_bar(qtbot, turns, 0)
    assert opened[-1] == ids_by_turn["0"]
    # the records behind the click are selected in the records table too
    assert widget.selected_record_ids() == ids_by_turn["0"]


def test_rows_open_records(
    qtbot: Any, dashboard: tuple[QualityDashboard, list[list[int]]], report: dict[str, Any]
) -> None:
    widget, opened = dashboard
    agreement_row = widget.summary.rowCount() - 1
    widget.summary.cellDoubleClicked.emit(agreement_row, 2)
    pairs = [p for p in report["agreement"]["pairs"] if not p["same_author"]]
    assert opened[-1] == sorted({i for p in pairs for i in p["conversation_ids"]})
    # the records table is sorted worst IoU first; double-click opens that one record
    worst = min(report["records"], key=lambda r: r["iou"])
    widget.records.cellDoubleClicked.emit(0, 3)
    assert opened[-1] == [worst["conversation_id"]]


def test_png_and_csv_export(
    tmp_path: Path, dashboard: tuple[QualityDashboard, list[list[int]]], report: dict[str, Any]
) -> None:
    widget, _ = dashboard
    shot = tmp_path / "dashboard.png"
    widget.save_png(shot)
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (widget.width(), widget.height())
    shutil.copyfile(shot, SCREENSHOT)  # for a person to look at
    hist_png = tmp_path / "histogram.png"
    widget.histogram.save_png(hist_png)
    assert QImage(str(hist_png)).width() >= 800

    summary_csv = tmp_path / "summary.csv"
    widget.save_summary_csv(summary_csv)
    rows = list(csv.reader(summary_csv.open(encoding="utf-8")))
    assert rows[0][1:3] == ["n", "gIoU"]
    assert rows[1][0] == "Model vs reference: all"
    assert float(rows[1][2]) == pytest.approx(report["model_vs_reference"]["overall"]["giou"], 1e-4)

    records_csv = tmp_path / "records.csv"
    widget.save_records_csv(records_csv)
    rows = list(csv.reader(records_csv.open(encoding="utf-8")))
    assert len(rows) == len(report["records"]) + 1
    iou_col = rows[0].index("IoU")
    assert [float(r[iou_col]) for r in rows[1:]] == pytest.approx(
        [r["iou"] for r in report["records"]], abs=1e-4
    )
    assert not list(tmp_path.glob("*.part"))


def test_an_empty_report_draws(qtbot: Any, tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite3"
    with open_store(db) as store:
        empty = build_report(store)
    opened: list[list[int]] = []
    widget = QualityDashboard(empty, opened.append)
    qtbot.addWidget(widget)
    widget.show()
    assert widget.records.rowCount() == 0
    assert widget.by_turn.chart.bar_count() == 0
    assert widget.summary.item(0, 2).text() == ""  # gIoU of nothing is blank, not 0
    _click_bar(qtbot, widget.histogram.chart, 5)
    assert opened == []
