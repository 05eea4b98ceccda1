"""The vlm proposer set up from the app as a user does: Settings ▸ Models, Test connection,
Propose on the open record, and the model's mask on the canvas (pytest-qt, offscreen; a small
OpenAI-compatible server on 127.0.0.1 stands in for the model, the mask comes from MobileSAM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from annotator.bench.vlm_test_server import BoxScript, VlmTestServer
from annotator.core.model import MaskLayer
from annotator.services.settings import Settings
from annotator.storage import ListQuery
from annotator.ui.settings_dialog import SettingsDialog

pytest_plugins = ["tests.fixtures_ui"]


def test_configure_test_and_propose_with_a_vlm_server(
    sample_db: Path, make_app: Any, qtbot: Any, mobile_sam_registry: Any
) -> None:
    parts = make_app(sample_db, settings=Settings(reviewer="ada"))
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    assert "none" in w.status.proposer_label.text()
    h, width = doc.size
    box = (width * 0.25, h * 0.25, width * 0.6, h * 0.7)
    with VlmTestServer(BoxScript(box, width, h, "norm1000")) as server:
        dialog = SettingsDialog(w.settings, w)
        qtbot.addWidget(dialog)
        dialog.show_tab("Models")
        dialog.proposer.setCurrentText("vlm")
        assert dialog.vlm.model.isVisibleTo(dialog) and not dialog.checkpoint.isVisibleTo(dialog)
        dialog.url.setText(server.url)
        dialog.vlm.model.setText("fake-vl-7b")
        dialog.vlm.box_format.setCurrentText("norm1000")
        qtbot.mouseClick(dialog.vlm.test, Qt.MouseButton.LeftButton)
        assert dialog.vlm.result.text().startswith("✔ fake-vl-7b answered in")
        w.apply_settings(dialog.result_settings())
        assert w.settings.proposer_model == "fake-vl-7b"
        qtbot.waitUntil(lambda: "vlm" in w.status.proposer_label.text(), timeout=10_000)
        w.actions["propose"].trigger()
        qtbot.waitUntil(
            lambda: len(parts.store.proposals(doc.id)) == doc.turn_count, timeout=90_000
        )
        # Every record of the list, in the background.
        w.browser.search.setText("astronaut")
        qtbot.waitUntil(lambda: 0 < w.model.rowCount() < 10, timeout=10_000)
        listed = [w.model.summary(r).id for r in range(w.model.rowCount())]
        with qtbot.waitSignal(w.jobs.ended, timeout=120_000) as ended:
            w.actions["propose_listed"].trigger()
        assert ended.args[0] == "finished"
    assert all(parts.store.proposals(cid) for cid in listed)
    others = [s.id for s in parts.store.page(ListQuery(), 0, 20) if s.id not in listed]
    assert not any(parts.store.proposals(cid) for cid in others)  # only what the list shows
    target = parts.store.proposals(doc.id, turn_index=doc.target_turn)[-1]
    assert target.proposer == "vlm" and target.answer.endswith("[SEG].") and target.masks
    w.record.select_turn(doc.target_turn)
    shown = w.record.proposal_array(doc.target_turn)
    assert shown is not None and shown.sum() > 0
    assert not doc.has_mask((doc.target_turn, MaskLayer.FINAL))  # a proposal, not a verdict
