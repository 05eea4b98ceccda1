"""Composition root of the desktop app: builds the store, settings, icons, editing session, the
open-record model, SAM controller, proposer controller and main window. Nothing here is a
module-level singleton; ``build_app`` returns everything it made.

Start-up stays light: torch, the SAM engine, pyqtgraph and qtawesome are imported only when
they are first needed (icons come from a rendered cache), so the window is interactive quickly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.core.appdirs import cache_dir, config_dir
from annotator.services.image_resolver import ImageResolver
from annotator.services.open_record import OpenRecord
from annotator.services.session import EditSession
from annotator.services.settings import Settings, load_settings, settings_path
from annotator.services.team_work import TeamWork
from annotator.storage import Store, open_store


@dataclass
class AppParts:
    qapp: Any
    store: Store
    settings: Settings
    session: EditSession
    record: OpenRecord
    window: Any
    sam: Any
    proposer: Any


def segmenter_factory(settings: Settings) -> Any:
    """A callable that builds the SAM engine on the worker thread (the engine loads torch on
    first use, never at start-up), or ``None`` when no SAM model is configured."""
    if not settings.sam_model:
        return None
    model = settings.sam_model

    def build() -> Any:
        from annotator.proposers.sam import open_segmenter

        return open_segmenter(model)

    return build


def build_app(
    db: str | Path | None,
    *,
    argv: list[str] | None = None,
    offer_sample: bool = True,
    segmenter: Any = "auto",
    settings: Settings | None = None,
) -> AppParts:
    """Build the app on ``db``. ``offer_sample``: an empty database shows the banner offering
    the sample project; with ``db=None`` (the user's default database) it is imported at once,
    so the first run opens on something to look at."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from annotator.ui.app_icon import DESKTOP_ID, app_icon
    from annotator.ui.icons import Icons
    from annotator.ui.main_window import MainWindow
    from annotator.ui.propose_controller import ProposeController
    from annotator.ui.sam_controller import SamController
    from annotator.ui.theme import apply_theme

    qapp = QApplication.instance() or QApplication(argv or ["annotator"])
    qapp.setApplicationName("PRIST Annotator")
    qapp.setDesktopFileName(DESKTOP_ID)  # the desktop entry (and Wayland app id) it belongs to
    qapp.setWindowIcon(app_icon())
    apply_theme(qapp)
    settings = settings or load_settings()
    store = open_store(db)
    if offer_sample and db is None and store.is_empty():
        from annotator.services.sample_project import ensure_sample

        ensure_sample(store)
    # On PostgreSQL the login role (the database records it anyway), else the Settings name,
    # read at each action (settings change).
    team = TeamWork(store.team, lambda: settings.reviewer)
    actor = lambda: team.me  # noqa: E731
    session = EditSession(store, actor)
    record = OpenRecord(
        store, session, ImageResolver([settings.images_dir]), actor, blind=settings.blind_first
    )
    factory = segmenter_factory(settings) if segmenter == "auto" else segmenter
    sam = SamController(factory)
    proposer = ProposeController(record, settings)
    layout = QSettings(str(config_dir() / "layout.ini"), QSettings.Format.IniFormat)
    icons = Icons(cache_dir() / "icons")
    window = MainWindow(
        store,
        record,
        settings,
        sam,
        proposer,
        layout,
        icons,
        settings_path=settings_path(),
        team=team,
    )
    if not offer_sample:
        window.banner.setVisible(False)
    proposer.setParent(window)
    return AppParts(qapp, store, settings, session, record, window, sam, proposer)


def run(db: str | Path | None) -> int:
    started = time.perf_counter()
    parts = build_app(db)
    parts.window.show()
    parts.window.statusBar().showMessage(f"Ready in {time.perf_counter() - started:.2f} s", 4000)
    if parts.window.model.rowCount() > 0:
        parts.window.select_row(0)
    code = int(parts.qapp.exec())
    parts.store.close()
    return code
