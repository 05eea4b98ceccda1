"""An empty database offers the sample project; the first run without --db opens it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from annotator.core.appdirs import default_db_path
from annotator.storage import ListQuery, open_store

pytest_plugins = ["tests.fixtures_ui"]


def test_empty_database_offers_the_sample(tmp_path: Path, make_app: Any, qtbot: Any) -> None:
    db = tmp_path / "team.sqlite3"
    parts = make_app(db, offer_sample=True)
    w = parts.window
    assert "PRIST Annotator" in w.windowTitle()
    assert w.banner.isVisible() and w.model.rowCount() == 0
    assert parts.store.is_empty()  # offered, not imported behind the user's back
    # With no image there is no zoom to show (fitting the empty scene once said 1728 %).
    w.resize(1400, 900)
    w.canvas.fit()
    assert w.status.zoom_label.text() == "" and w.canvas.zoom == 1.0
    with qtbot.waitSignal(w.jobs.ended, timeout=120_000) as ended:
        qtbot.mouseClick(w.banner.sample_button, Qt.MouseButton.LeftButton)
    assert ended.args[0] == "finished"
    assert w.model.rowCount() == 10 and not w.banner.isVisible()
    assert parts.session.document is not None
    assert 0.5 < w.canvas.zoom < 3.0  # the sample photo, fitted
    assert w.status.zoom_label.text() == f"{w.canvas.zoom * 100:.0f}%"
    store = open_store(db)
    try:
        assert store.count(ListQuery()) == 10
    finally:
        store.close()


def test_a_database_with_records_shows_no_banner(sample_db: Path, make_app: Any) -> None:
    parts = make_app(sample_db, offer_sample=True)
    assert not parts.window.banner.isVisible()
    assert parts.window.model.rowCount() == 10


def test_first_run_without_db_opens_the_sample(make_app: Any) -> None:
    path = default_db_path()  # inside the test's private data directory
    assert not path.exists()
    parts = make_app(None, offer_sample=True)
    w = parts.window
    assert path.is_file()
    assert w.model.rowCount() == 10 and not w.banner.isVisible()
    assert str(path) in w.windowTitle()
