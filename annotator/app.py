"""Composition root of the desktop app: builds the store, settings, session, SAM controller and
main window, and wires the import/export/propose services into the menus. Nothing here is a
module-level singleton; ``build_app`` returns everything it made."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.core.appdirs import config_dir
from annotator.services.session import EditSession
from annotator.services.settings import Settings, load_settings, settings_path
from annotator.storage import Store, open_store


@dataclass
class AppParts:
    qapp: Any
    store: Store
    settings: Settings
    session: EditSession
    window: Any
    sam: Any


def segmenter_factory(settings: Settings) -> Any:
    """A callable that builds the SAM engine on the worker thread (torch is imported there,
    never at start-up), or ``None`` when no SAM model is configured."""
    if not settings.sam_model:
        return None

    def build() -> Any:
        sam = importlib.import_module("annotator.proposers.sam")
        for name in ("open_segmenter", "load_segmenter", "create_segmenter"):
            fn = getattr(sam, name, None)
            if fn is not None:
                return fn(settings.sam_model)
        raise RuntimeError("the SAM engine is not available in this installation")

    return build


def build_app(
    db: str | Path | None,
    *,
    argv: list[str] | None = None,
    offer_sample: bool = True,
    segmenter: Any = "auto",
    settings: Settings | None = None,
) -> AppParts:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    from annotator.ui.main_window import MainWindow
    from annotator.ui.sam_controller import SamController
    from annotator.ui.theme import apply_theme

    qapp = QApplication.instance() or QApplication(argv or ["annotator"])
    qapp.setApplicationName("PRIST Annotator")
    apply_theme(qapp)
    settings = settings or load_settings()
    store = open_store(db)
    if offer_sample and store.is_empty():
        answer = QMessageBox.question(
            None,
            "PRIST Annotator",
            "This database is empty.\n\nOpen the sample project (ten conversations on four "
            "photographs) to try the tool?",
        )
        if answer == QMessageBox.StandardButton.Yes:
            from annotator.services.sample_project import ensure_sample

            ensure_sample(store)
    session = EditSession(store, lambda: settings.reviewer)
    factory = segmenter_factory(settings) if segmenter == "auto" else segmenter
    sam = SamController(factory)
    layout = QSettings(str(config_dir() / "layout.ini"), QSettings.Format.IniFormat)
    window = MainWindow(store, session, settings, sam, layout, settings_path=settings_path())
    from annotator.ui.jobs_menu import install_jobs

    install_jobs(window, store, settings)
    return AppParts(qapp, store, settings, session, window, sam)


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
