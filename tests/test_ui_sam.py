"""SAM clicks in the real window with the real MobileSAM weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures_ui import stored_final_masks
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from annotator.core.appdirs import models_dir
from annotator.core.model import MaskLayer, MaskSource
from annotator.services.settings import Settings

pytest_plugins = ["tests.fixtures_ui"]


@pytest.mark.skipif(
    not (models_dir() / "mobile_sam.pt").is_file(),
    reason="MobileSAM weights not installed (annotator models install mobile-sam)",
)
def test_sam_click_accept_is_saved_with_provenance(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    from annotator.app import segmenter_factory

    parts = make_app(sample_db, segmenter=segmenter_factory(Settings()))
    w = parts.window
    w.select_row(0)
    qtbot.waitUntil(lambda: w.sam.ready or w.sam.state.startswith("error"), timeout=120_000)
    assert w.sam.ready, w.sam.state
    doc = parts.session.document
    key = (doc.target_turn, MaskLayer.FINAL)
    assert not doc.has_mask(key)
    w.set_tool("sam")
    received: list[Any] = []
    w.editor.sam.candidatesReady.connect(received.append)
    vp = w.canvas.viewport()
    QTest.mouseClick(
        vp,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        w.canvas.mapFromScene(QPointF(170, 385)),
    )
    qtbot.waitUntil(lambda: bool(received), timeout=60_000)
    assert len(received[0].masks) >= 1
    QTest.keyClick(vp, Qt.Key.Key_Tab)  # cycle candidates
    QTest.keyClick(vp, Qt.Key.Key_Return)
    arr = doc.layer_array(key)
    assert arr.any() and arr[385, 170]
    stored = stored_final_masks(sample_db, doc.id, doc.target_turn)
    assert stored and stored[0].provenance.source == MaskSource.SAM
    assert (
        stored[0].provenance.detail["edits"][-1]["points"] == [[170.0, 385.0]]
        or stored[0].provenance.detail["edits"][-1]["tool"] == "sam"
    )
