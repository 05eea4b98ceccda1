"""The record list by flag code: the flag filter lists each stored code with its number of
records, choosing one lists exactly those records (and the review queue follows), and the flag
column names each row's flags in short."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixtures_bad_image import build_bad_image_workspace
from fixtures_io import image_bytes, shape, write_labelme
from fixtures_storage import make_conversation
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyleOptionViewItem

from annotator.core.model import Flag, FlagCode
from annotator.services.import_job import import_prist
from annotator.services.settings import Settings
from annotator.storage import open_store
from annotator.ui.record_list import FLAG_COLOUR, IMAGE_FLAG_COLOUR

pytest_plugins = ["tests.fixtures_ui"]

# The codes each image's record gets on import (see the fixture).
CODES = {
    "good": (),
    "truncated": ("bad_image", "no_match"),
    "text": ("bad_image",),
    "empty": ("bad_image",),
    "missing": ("missing_image",),
    "resized": ("size_mismatch",),
}
FIXED = ["Any flags", "Flagged", "Not flagged"]


@dataclass
class FlaggedDb:
    db: Path
    img_of: dict[str, str]  # role -> image path as listed


@pytest.fixture
def flagged(tmp_path: Path) -> FlaggedDb:
    """The broken-image workspace, plus a truncated image whose LabelMe file has no shape for
    its focus (two codes on one record) and a good image its LabelMe file says is wider."""
    ws = build_bad_image_workspace(tmp_path / "ws")
    img = ws.img_of["truncated"]
    w, h = ws.size_of[img]
    poly = [[4, 4], [w - 6, 5], [w // 2, h - 4]]
    write_labelme(ws.masks_dir / (Path(img).stem + ".json"), w, h, [shape("not it", poly)])
    extra = dict(ws.records[0], img_id="resized0000.jpg")
    (ws.images_dir / extra["img_id"]).write_bytes(image_bytes(64, 48, seed=3))
    write_labelme(ws.masks_dir / "resized0000.json", 80, 48, [shape(extra["focus"], poly)])
    ws.json_path.write_text(json.dumps([*ws.records, extra]), encoding="utf-8")
    db = tmp_path / "flags.sqlite3"
    with open_store(db) as store:
        import_prist(store, ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)
    return FlaggedDb(db, {**ws.img_of, "resized": extra["img_id"]})


def _listed(w: Any) -> set[str]:
    return {w.model.summary(r).image_path for r in range(w.model.rowCount())}


def _entries(w: Any) -> list[str]:
    combo = w.browser.flag_filter
    return [combo.itemText(i) for i in range(combo.count())]


def _marker(w: Any, row: int) -> str:
    return str(w.model.data(w.model.index(row, 3), Qt.ItemDataRole.DisplayRole))


def _choose(w: Any, data: object) -> None:
    combo = w.browser.flag_filter
    i = combo.findData(data)
    assert i >= 0, data
    combo.setCurrentIndex(i)


def test_the_flag_filter_offers_each_code_with_its_count(flagged: FlaggedDb, make_app: Any) -> None:
    w = make_app(flagged.db).window
    assert _entries(w) == [
        *FIXED,
        "Missing image (1)",
        "Unreadable image (3)",
        "Size mismatch (1)",
        "No mask match (1)",
    ]
    combo = w.browser.flag_filter
    i = combo.findData("bad_image")
    assert combo.itemData(i, Qt.ItemDataRole.ForegroundRole) == IMAGE_FLAG_COLOUR
    assert combo.itemData(combo.findData("no_match"), Qt.ItemDataRole.ForegroundRole) == (
        FLAG_COLOUR
    )
    assert "Unreadable image" in combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
    # The popup is wide enough for the longest entry though the combo is narrow.
    view = combo.view()
    assert view.minimumWidth() >= view.fontMetrics().horizontalAdvance("Unreadable image (3)")

    # The counts follow the other filters (the search here), codes left out read 0.
    w.browser.search.setText(flagged.img_of["truncated"])
    w.browser.apply_filters()
    assert _entries(w)[3:] == [
        "Missing image (0)",
        "Unreadable image (1)",
        "Size mismatch (0)",
        "No mask match (1)",
    ]
    w.browser.search.clear()
    w.browser.apply_filters()
    assert _entries(w)[4] == "Unreadable image (3)"


def test_choosing_a_code_lists_exactly_its_records_and_the_queue_follows(
    flagged: FlaggedDb, make_app: Any, qtbot: Any
) -> None:
    w = make_app(flagged.db, settings=Settings(prefetch=3)).window
    roles_of = {
        code: {flagged.img_of[r] for r, codes in CODES.items() if code in codes}
        for code in ("bad_image", "missing_image", "size_mismatch", "no_match")
    }
    assert _listed(w) == set(flagged.img_of.values())
    for code, want in roles_of.items():
        assert w.browser.show_flag(code)
        assert _listed(w) == want, code
        assert w.browser.count_label.text() == f"{len(want)} record" + "s" * (len(want) != 1)
        assert w.browser.query().flag_code == code and w.browser.query().flagged is None
    assert not w.browser.show_flag("empty_mask")  # no record carries it: not offered

    w.browser.show_flag("bad_image")
    assert w.browser.flag_filter.currentText() == "Unreadable image (3)"  # kept while chosen
    w.select_row(0)
    queue = [w.model.summary(r).id for r in (1, 2)]
    assert [s.id for s in w.browser.queue_after(0, 5)] == queue
    qtbot.waitUntil(
        lambda: sorted(b.conversation.id for b in w.prefetcher.ready_bundles()) == sorted(queue),
        timeout=30_000,
    )
    assert all(b.rgb is None and b.image_problem for b in w.prefetcher.ready_bundles())
    w.queue.go(+1)
    assert w.session.document.id == queue[0]
    assert w.session.document.conversation.image.path in roles_of["bad_image"]

    # Other filters narrow the chosen code; where none is left it stays chosen, with 0.
    status = w.browser.status_filter
    status.setCurrentIndex(status.findData("approved"))
    assert _listed(w) == set()
    assert w.browser.flag_filter.currentText() == "Unreadable image (0)"
    assert w.browser.query().flag_code == "bad_image"
    status.setCurrentIndex(0)
    assert _listed(w) == roles_of["bad_image"]
    w.browser.show_flag(None)
    assert _listed(w) == set(flagged.img_of.values())
    _choose(w, False)
    assert _listed(w) == {flagged.img_of["good"]}


def test_the_flag_column_names_the_codes_in_short(
    flagged: FlaggedDb, make_app: Any, qtbot: Any
) -> None:
    w = make_app(flagged.db).window
    model = w.model
    rows = {model.summary(r).image_path: r for r in range(model.rowCount())}
    shown = {
        role: model.data(model.index(rows[img], 3), Qt.ItemDataRole.DisplayRole)
        for role, img in flagged.img_of.items()
    }
    assert shown == {
        "good": "",
        "truncated": "Unreadable +1",  # the image flag first: it hides everything else
        "text": "Unreadable",
        "empty": "Unreadable",
        "missing": "No image",
        "resized": "Size",
    }
    colour = {
        role: model.data(model.index(rows[img], 3), Qt.ItemDataRole.ForegroundRole)
        for role, img in flagged.img_of.items()
    }
    assert colour["good"] is None
    assert colour["truncated"] == colour["missing"] == IMAGE_FLAG_COLOUR
    assert colour["resized"] == FLAG_COLOUR
    tip = model.data(model.index(rows[flagged.img_of["truncated"]], 3), Qt.ItemDataRole.ToolTipRole)
    assert "⚑ Unreadable image: " in tip and "⚑ No mask match: " in tip and "not it" not in tip
    assert "no shape labelled" in tip  # the full messages, not the short names

    # As wide as a short label in the font the table paints with; never a cut word.
    table = w.browser.table
    _dock_width(w, 430, qtbot)
    assert not table.isColumnHidden(3) and not table.isColumnHidden(0)
    width = table.columnWidth(3)
    metrics = table.fontMetrics()
    assert metrics.horizontalAdvance("No LabelMe") < width <= 100
    assert width < table.columnWidth(1)  # the focus keeps the room
    assert _painted(w, rows[flagged.img_of["truncated"]]) == "Unreadable"  # "Unre…e +1" once
    assert _painted(w, rows[flagged.img_of["missing"]]) == "No image"
    assert not table.viewport().grab().isNull()
    table.setColumnWidth(3, width + 30)  # widened by hand: the count too
    assert _painted(w, rows[flagged.img_of["truncated"]]) == "Unreadable +1"
    table.setColumnWidth(3, metrics.horizontalAdvance("Unreadable"))  # too narrow for it
    assert _painted(w, rows[flagged.img_of["truncated"]]) == "⚑2"
    assert _painted(w, rows[flagged.img_of["resized"]]) == "Size"  # still fits whole
    table.setColumnWidth(3, width)

    # A panel too narrow for the label: the column shrinks to the marker rather than going.
    _dock_width(w, 300, qtbot)
    assert not table.isColumnHidden(3) and not table.isColumnHidden(0)
    assert table.columnWidth(3) < width
    painted = {role: _painted(w, rows[img]) for role, img in flagged.img_of.items()}
    assert painted == {
        "good": "",
        "truncated": "⚑2",
        "text": "⚑",
        "empty": "⚑",
        "missing": "⚑",
        "resized": "⚑",
    }
    # Narrower still: the thumbnails go, the flag markers stay.
    _dock_width(w, 230, qtbot)
    assert table.isColumnHidden(0) and not table.isColumnHidden(3)
    assert _painted(w, rows[flagged.img_of["truncated"]]) == "⚑2"
    _dock_width(w, 430, qtbot)
    assert table.columnWidth(3) == width
    assert _painted(w, rows[flagged.img_of["missing"]]) == "No image"


def _dock_width(w: Any, width: int, qtbot: Any) -> None:
    w.resizeDocks([w.list_dock], [width], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: abs(w.list_dock.width() - width) <= 2)


def _painted(w: Any, row: int) -> str:
    """The text the flag column's delegate paints for ``row`` at the column's width."""
    table = w.browser.table
    index = w.model.index(row, 3)
    option = QStyleOptionViewItem()
    option.initFrom(table)
    option.rect = table.visualRect(index)
    table.itemDelegateForColumn(3).initStyleOption(option, index)
    return option.text


def test_new_records_refresh_the_codes_offered(
    flagged: FlaggedDb, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(flagged.db)
    w = parts.window
    w.browser.show_flag("bad_image")
    empty = Flag(FlagCode.EMPTY_MASK, "the mask of turn 2 is empty")
    parts.store.add_conversations(
        [make_conversation(1, flags=(empty,)), make_conversation(2, flags=(empty,))], actor="a"
    )
    w.model.reload()  # what the window does after an import
    assert _entries(w)[-1] == "Empty mask (2)"
    assert w.browser.flag_filter.currentText() == "Unreadable image (3)"  # choice kept
    assert len(_listed(w)) == 3
    assert w.browser.show_flag("empty_mask")
    assert _listed(w) == {"img/00001.jpg", "img/00002.jpg"}
    assert {_marker(w, r) for r in range(w.model.rowCount())} == {"Empty"}
