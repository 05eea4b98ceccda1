"""The app with records whose image is broken or absent: the list names the flag, opening the
record shows why the image is not shown (the canvas gets a placeholder), nothing raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures_bad_image import BROKEN, BadImageWorkspace, build_bad_image_workspace
from PySide6.QtCore import Qt

from annotator.services.import_job import import_prist
from annotator.storage import open_store

pytest_plugins = ["tests.fixtures_ui"]

LABELS = {"truncated": "Unreadable image", "text": "Unreadable image", "empty": "Unreadable image"}
LABELS["missing"] = "Missing image"
REASONS = {
    "truncated": "JPEG data is truncated or corrupt",
    "text": "not a readable JPEG/PNG/BMP/TIFF/WebP image",
    "empty": "empty file (0 bytes)",
    "missing": "image not found",
}


@pytest.fixture
def ws(tmp_path: Path) -> BadImageWorkspace:
    ws = build_bad_image_workspace(tmp_path / "ws")
    # Without its LabelMe file the empty image's record has no size at all (0 x 0).
    (ws.masks_dir / (Path(ws.img_of["empty"]).stem + ".json")).unlink()
    return ws


def _import(ws: BadImageWorkspace, db: Path) -> None:
    with open_store(db) as store:
        import_prist(store, ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)


def _rows(window: Any) -> dict[str, int]:
    model = window.model
    return {model.summary(r).image_path: r for r in range(model.rowCount())}


def test_list_names_the_flag_and_opening_says_why(
    ws: BadImageWorkspace, tmp_path: Path, make_app: Any
) -> None:
    db = tmp_path / "bad.sqlite3"
    _import(ws, db)
    w = make_app(db).window
    rows = _rows(w)
    assert len(rows) == 5
    tip = Qt.ItemDataRole.ToolTipRole
    good_tip = w.model.data(w.model.index(rows[ws.img_of["good"]], 3), tip)
    assert "⚑" not in good_tip
    for role, label in LABELS.items():
        row = rows[ws.img_of[role]]
        short = {"Unreadable image": "Unreadable", "Missing image": "No image"}[label]
        assert w.model.data(w.model.index(row, 3), Qt.ItemDataRole.DisplayRole).startswith(short)
        text = w.model.data(w.model.index(row, 3), tip)
        assert f"⚑ {label}: " in text and REASONS[role] in text
        other = "Missing image" if label == "Unreadable image" else "Unreadable image"
        assert other not in text

    for role in (*BROKEN, "missing"):
        w.select_row(rows[ws.img_of[role]])
        doc = w.session.document
        assert doc is not None and doc.conversation.image.path == ws.img_of[role]
        notes = w.record_flags
        assert notes.isVisibleTo(w)
        html = notes.text()
        assert f"⚑ {LABELS[role]}</b>" in html and REASONS[role] in html
        assert ws.img_of[role] in html
        # The loader says now what the import said: the flag's line stands for both.
        assert "Image not shown" not in html and "reads now" not in html
        assert w.record.rgb is None  # the canvas shows the placeholder
        assert not w.canvas.viewport().grab().isNull()  # and paints (the empty one has 0 x 0)
    w.select_row(rows[ws.img_of["good"]])
    assert not w.record_flags.isVisibleTo(w)
    assert w.record.rgb is not None
    assert w.status.zoom_label.isVisibleTo(w) and w.status.zoom_label.text().endswith("%")

    # A record of unknown size has nothing to zoom: no zoom shown (fitting its empty scene
    # once said 1728 %), and zooming does nothing.
    w.select_row(rows[ws.img_of["empty"]])
    assert w.session.document is not None and w.session.document.size == (0, 0)
    assert not w.status.zoom_label.isVisibleTo(w) and w.status.zoom_label.text() == ""
    w.canvas.zoom_by(2.0)
    w.canvas.fit()
    assert w.canvas.zoom == 1.0 and w.status.zoom_label.text() == ""
    w.select_row(rows[ws.img_of["good"]])
    assert w.status.zoom_label.text() == f"{w.canvas.zoom * 100:.0f}%" != "100%"


def test_the_panel_tells_what_changed_since_the_import(
    ws: BadImageWorkspace, tmp_path: Path, make_app: Any
) -> None:
    db = tmp_path / "bad.sqlite3"
    _import(ws, db)
    ws.write_good("truncated")  # re-downloaded after the import
    ws.path("text").unlink()  # and this one deleted
    w = make_app(db).window
    rows = _rows(w)
    w.select_row(rows[ws.img_of["truncated"]])
    html = w.record_flags.text()
    assert "⚑ Unreadable image</b>" in html and "the file reads now" in html
    assert "Image not shown" not in html
    rgb = w.record.rgb
    assert rgb is not None and rgb.shape[:2][::-1] == ws.size_of[ws.img_of["truncated"]]
    w.select_row(rows[ws.img_of["text"]])
    html = w.record_flags.text()
    assert "⚑ Unreadable image</b>" in html and REASONS["text"] in html  # what the import saw
    assert "<b>Image not shown</b> — image not found: " in html  # and what is wrong now
    assert w.record.rgb is None


def test_the_flagged_filter_keeps_broken_and_missing_apart_from_good(
    ws: BadImageWorkspace, tmp_path: Path, make_app: Any
) -> None:
    db = tmp_path / "bad.sqlite3"
    _import(ws, db)
    w = make_app(db).window
    w.browser.flag_filter.setCurrentIndex(w.browser.flag_filter.findData(True))
    assert set(_rows(w)) == {ws.img_of[r] for r in (*BROKEN, "missing")}
    w.browser.flag_filter.setCurrentIndex(w.browser.flag_filter.findData(False))
    assert set(_rows(w)) == {ws.img_of["good"]}
