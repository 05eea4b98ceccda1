"""A pyqtgraph bar chart whose bars are clickable and know the records behind them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QWidget

BACKGROUND = "#202225"
FOREGROUND = "#9aa4b2"
BAR_COLOUR = "#5b8def"
BAR_HOVER = "#8fb3ff"
LINE_COLOUR = "#f0a35e"


class _Bars(pg.BarGraphItem):
    """Bars that report which one was clicked (by its x extent) and highlight under the mouse."""

    def __init__(self, chart: BarChart, **opts: Any) -> None:
        super().__init__(**opts)
        self._chart = chart
        self.setAcceptHoverEvents(True)

    def index_at(self, x: float, y: float) -> int | None:
        xs, heights, width = self.opts["x"], self.opts["height"], self.opts["width"]
        for i, (cx, h) in enumerate(zip(xs, heights, strict=True)):
            if cx - width / 2 <= x <= cx + width / 2 and 0 <= y <= max(h, 0):
                return i
        return None

    def mouseClickEvent(self, ev: Any) -> None:
        index = self.index_at(ev.pos().x(), ev.pos().y())
        if index is None:
            ev.ignore()
            return
        ev.accept()
        self._chart.click_bar(index)

    def hoverEvent(self, ev: Any) -> None:
        index = None if ev.isExit() else self.index_at(ev.pos().x(), ev.pos().y())
        brushes = [BAR_HOVER if i == index else BAR_COLOUR for i in range(len(self.opts["x"]))]
        self.setOpts(brushes=brushes)
        self._chart.setToolTip(self._chart.tooltip(index) if index is not None else "")


class BarChart(pg.PlotWidget):
    """Bars with an optional line over them; ``barClicked(index, ids)`` on a click."""

    barClicked = Signal(int, list)

    def __init__(
        self, title: str, x_label: str, y_label: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent=parent, background=BACKGROUND)
        self.setTitle(title, color=FOREGROUND, size="10pt")
        self.setLabel("bottom", x_label, color=FOREGROUND)
        self.setLabel("left", y_label, color=FOREGROUND)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMinimumHeight(220)
        self._bars: _Bars | None = None
        self._ids: list[list[int]] = []
        self._labels: list[str] = []
        self._texts: list[pg.TextItem] = []
        self._line: pg.PlotDataItem | None = None

    def set_bars(
        self,
        xs: Sequence[float],
        heights: Sequence[float],
        ids: Sequence[Sequence[int]],
        *,
        width: float,
        labels: Sequence[str] | None = None,
        ticks: Sequence[tuple[float, str]] | None = None,
        annotations: Sequence[str] | None = None,
        y_max: float | None = None,
        counts: bool = False,
    ) -> None:
        """Replace the bars. ``ids[i]`` are the records behind bar ``i``; ``labels[i]`` its
        tooltip; ``annotations[i]`` a short text drawn above it; ``counts`` says the heights
        are whole numbers of records."""
        plot = self.getPlotItem()
        if self._bars is not None:
            plot.removeItem(self._bars)
        for t in self._texts:
            plot.removeItem(t)
        self._texts = []
        self._ids = [list(i) for i in ids]
        self._labels = list(labels) if labels is not None else [f"{len(i)} records" for i in ids]
        self._bars = _Bars(
            self,
            x=list(xs),
            height=list(heights),
            width=width,
            brushes=[BAR_COLOUR] * len(xs),
            pen=pg.mkPen(BACKGROUND),
        )
        plot.addItem(self._bars)
        for x, h, text in zip(xs, heights, annotations or (), strict=False):
            item = pg.TextItem(text, color=FOREGROUND, anchor=(0.5, 1.0))
            item.setPos(QPointF(x, h))
            plot.addItem(item)
            self._texts.append(item)
        if ticks is not None:
            plot.getAxis("bottom").setTicks([list(ticks)])
        top = y_max if y_max is not None else max([*heights, 1]) * 1.15
        plot.setYRange(0, top, padding=0)
        left = plot.getAxis("left")
        if counts and top <= 12:
            left.setTickSpacing(1, 1)  # no "2.5 records"
        else:
            left.setTickSpacing()
        if len(xs):
            plot.setXRange(min(xs) - width, max(xs) + width, padding=0.02)

    def set_line(self, xs: Sequence[float], ys: Sequence[float], name: str) -> None:
        plot = self.getPlotItem()
        if self._line is not None:
            plot.removeItem(self._line)
        if plot.legend is None:
            plot.addLegend(offset=(-10, 10), labelTextColor=FOREGROUND)
        self._line = plot.plot(
            list(xs),
            list(ys),
            pen=pg.mkPen(LINE_COLOUR, width=2),
            symbol="o",
            symbolBrush=LINE_COLOUR,
            symbolPen=LINE_COLOUR,
            name=name,
        )

    def bar_count(self) -> int:
        return len(self._ids)

    def bar_scene_centre(self, index: int) -> QPointF:
        """Where bar ``index`` is in scene coordinates (its middle), for tests and tooltips."""
        assert self._bars is not None
        x = self._bars.opts["x"][index]
        h = self._bars.opts["height"][index]
        return self._bars.mapToScene(QPointF(x, h / 2))

    def tooltip(self, index: int) -> str:
        return f"{self._labels[index]} — click to open these records"

    def click_bar(self, index: int) -> None:
        self.barClicked.emit(index, list(self._ids[index]))
