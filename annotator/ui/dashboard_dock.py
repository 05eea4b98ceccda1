"""View > Quality dashboard: the metrics dashboard (``annotator.ui.dashboard``) in a dock.

The report is computed by ``services.quality_report`` as a job (progress, cancel); the dashboard
and pyqtgraph are imported only when the dock is first opened. Activating a bar or a row filters
the record list to the records behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow

from annotator.core.progress import Task
from annotator.services.catalog import Catalog
from annotator.ui.job_runner import JobRunner


class DashboardDock(QObject):
    def __init__(
        self,
        window: QMainWindow,
        store: Catalog,
        jobs: JobRunner,
        open_records: Callable[[list[int]], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._store = store
        self._jobs = jobs
        self._open_records = open_records
        self.dock = QDockWidget("Quality dashboard", window)
        self.dock.setObjectName("dashboardDock")
        placeholder = QLabel("Computing the quality report…")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.dock.setWidget(placeholder)
        self.dock.setVisible(False)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()
        self.widget: Any = None  # the QualityDashboard, once built

    def show(self) -> None:
        """Show the dock and (re)compute the report."""
        self.dock.show()
        self.dock.raise_()
        self.refresh()

    def refresh(self) -> None:
        store = self._store

        def work(task: Task) -> dict[str, Any]:
            from annotator.services.quality_report import ReportOptions, build_report

            # One worker process: the app stays responsive and the report is small.
            return build_report(store, ReportOptions(turns="all", workers=1), task=task)

        self._jobs.start("Computing the quality report…", work, self._show_report)

    def _show_report(self, report: object) -> None:
        assert isinstance(report, dict)
        if self.widget is None:
            from annotator.ui.dashboard import QualityDashboard  # pyqtgraph: only now

            self.widget = QualityDashboard(report, self._open_records, refresh=self.refresh)
            self.dock.setWidget(self.widget)
        else:
            self.widget.set_report(report)
