"""File > Import, File > Export and Record > Propose in the real window, offscreen: the same
services as the command line, run as jobs with progress, results read back independently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from annotator.core.export_mask import DRAFT, FINAL, MaskChoice, MaskKind
from annotator.core.model import Decision, MaskLayer, Status
from annotator.services.sample_project import sample_dir
from annotator.services.settings import Settings
from annotator.storage import ListQuery, open_store
from annotator.ui.export_dialog import ExportDialog, ExportRequest
from annotator.ui.import_dialog import ImportDialog, ImportRequest

pytest_plugins = ["tests.fixtures_ui"]

JOB_TIMEOUT_MS = 120_000


def _run_job(qtbot: Any, window: Any, start: Any) -> tuple[str, list[tuple[int, object, str]]]:
    """Start a job and wait for it; returns how it ended and the progress it reported."""
    progress: list[tuple[int, object, str]] = []
    window.jobs.progressed.connect(lambda d, t, m: progress.append((d, t, m)))
    with qtbot.waitSignal(window.jobs.ended, timeout=JOB_TIMEOUT_MS) as ended:
        assert start()
    return ended.args[0], progress


def test_import_dialog_checks_its_fields(tmp_path: Path, qtbot: Any) -> None:
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    assert "Choose" in dialog.request().problem()
    dialog.file.setText(str(sample_dir() / "dialogues.json"))
    assert "images folder" in dialog.request().problem()
    dialog.images.setText(str(tmp_path / "nowhere"))
    assert "not a folder" in dialog.request().problem()
    dialog.images.setText(str(sample_dir() / "images"))
    dialog.masks.setText(str(sample_dir() / "masks"))
    request = dialog.request()
    assert request.problem() == "" and request.kind == "prist" and request.match == "exact"
    dialog.kind.setCurrentIndex(dialog.kind.findData("jsonl"))
    assert dialog.request().masks_dir == "" and not dialog.masks.isEnabled()


def test_import_sample_into_empty_database_with_progress(
    tmp_path: Path, make_app: Any, qtbot: Any
) -> None:
    db = tmp_path / "empty.sqlite3"
    parts = make_app(db)
    w = parts.window
    assert w.model.rowCount() == 0
    root = sample_dir()
    request = ImportRequest(
        "prist",
        str(root / "dialogues.json"),
        images_dir=str(root / "images"),
        masks_dir=str(root / "masks"),
    )
    how, progress = _run_job(qtbot, w, lambda: w.files.run_import(request))
    assert how == "finished"
    assert progress and any(isinstance(t, int) and t > 0 for _, t, _ in progress)
    assert w.model.rowCount() == 10 == parts.store.count(ListQuery())
    assert "10 added" in w.jobs.last_message.text()
    assert parts.session.document is not None  # the first record opened after the import
    assert not w.banner.isVisible()
    # the same file again adds nothing (idempotent), and says so
    how, _ = _run_job(qtbot, w, lambda: w.files.run_import(request))
    assert "0 added, 10 already" in w.jobs.last_message.text()


def test_failed_import_reports_and_stores_nothing(
    tmp_path: Path, make_app: Any, qtbot: Any
) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('[{"img_id": "x.png", "dialogue": [', encoding="utf-8")
    parts = make_app(tmp_path / "db.sqlite3")
    w = parts.window
    request = ImportRequest("prist", str(bad), images_dir=str(sample_dir() / "images"))
    how, _ = _run_job(qtbot, w, lambda: w.files.run_import(request))
    assert how.startswith("failed") and "broken.json" in how
    assert parts.store.count(ListQuery()) == 0


def _approve_first(parts: Any) -> tuple[int, np.ndarray]:
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    for turn in range(doc.turn_count):  # every answer verified, the target's mask from its draft
        w.record.use_draft(turn)
    w.record.select_turn(doc.target_turn)
    w.reviews.decide(Decision.APPROVE, "")
    assert doc.status == Status.APPROVED
    return doc.id, doc.layer_array((doc.target_turn, MaskLayer.FINAL)).copy()


def test_export_coco_is_read_back_by_pycocotools(
    sample_db: Path, tmp_path: Path, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(sample_db)
    w = parts.window
    _, final = _approve_first(parts)
    out = tmp_path / "approved.json"
    how, progress = _run_job(qtbot, w, lambda: w.files.run_export(ExportRequest("coco", str(out))))
    assert how == "finished" and progress
    coco = COCO(str(out))
    assert len(coco.getImgIds()) == 1
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 1
    decoded = mask_utils.decode(anns[0]["segmentation"]).astype(bool)
    assert np.array_equal(decoded, final)
    message = w.jobs.last_message.text()
    assert "1 record(s) with 1 mask(s)" in message and str(out) in message

    polygons = tmp_path / "polygons.json"
    request = ExportRequest("coco", str(polygons), polygons=True)
    how, _ = _run_job(qtbot, w, lambda: w.files.run_export(request))
    assert how == "finished"
    text = w.jobs.last_message.text()
    assert "Polygons:" in text and "lossy" in text
    assert COCO(str(polygons)).loadAnns(COCO(str(polygons)).getAnnIds())[0]["segmentation"]


def test_export_dialog_and_jsonl_of_all_records(
    sample_db: Path, tmp_path: Path, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(sample_db)
    w = parts.window
    dialog = ExportDialog(parent=w)
    qtbot.addWidget(dialog)
    dialog.fmt.setCurrentIndex(dialog.fmt.findData("jsonl"))
    dialog.status.setCurrentIndex(dialog.status.findData(""))
    assert not dialog.polygons.isEnabled()
    dialog.accept()
    assert dialog.result() == 0 and "Choose where" in dialog.problem.text()
    out = tmp_path / "all.jsonl"
    dialog.out.setText(str(out))
    request = dialog.request()
    assert request.fmt == "jsonl" and request.status is None and request.mask == FINAL
    # The default, final: the sample's imported drafts have none, and the summary says so.
    how, _ = _run_job(qtbot, w, lambda: w.files.run_export(request))
    assert how == "finished" and out.read_text(encoding="utf-8") == ""
    message = w.jobs.last_message.text()
    assert "10 matched, 0 written: 10 have no final mask; use Masks: draft" in message
    # The imported ones, chosen in the dialog, are passed on to the export.
    dialog.mask.setCurrentIndex(dialog.mask.findData("draft"))
    request = dialog.request()
    assert request.mask == DRAFT
    how, _ = _run_job(qtbot, w, lambda: w.files.run_export(request))
    assert how == "finished"
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 10 and {rec["mask_source"] for rec in lines} == {"draft"}
    with open_store(sample_db) as store:
        drafts = {c.id: [t.draft_answer for t in c.turns] for c in store.iter_conversations()}
    assert all([m["value"] for m in rec["dialogue"][1::2]] == drafts[rec["id"]] for rec in lines)
    assert "10 matched, 10 written." in w.jobs.last_message.text()


def test_export_dialog_offers_the_mask_sources(qtbot: Any) -> None:
    dialog = ExportDialog()
    qtbot.addWidget(dialog)
    sources = [dialog.mask.itemData(i) for i in range(dialog.mask.count())]
    assert sources == ["final", "draft", "proposal"] and dialog.mask.currentData() == "final"
    assert not dialog.proposer.isEnabled()  # a proposer is named for proposals only
    dialog.out.setText("/tmp/never.json")
    dialog.mask.setCurrentIndex(dialog.mask.findData("proposal"))
    assert dialog.proposer.isEnabled()
    assert dialog.request().mask == MaskChoice(MaskKind.PROPOSAL)
    dialog.proposer.setText("  miras ")
    assert dialog.request().mask == MaskChoice.parse("proposal:miras")
    dialog.mask.setCurrentIndex(dialog.mask.findData("draft"))
    assert not dialog.proposer.isEnabled() and dialog.request().mask == DRAFT
    dialog.fmt.setCurrentIndex(dialog.fmt.findData("corrections"))
    assert not dialog.mask.isEnabled() and not dialog.proposer.isEnabled()


def test_export_of_proposals_chosen_in_the_dialog(
    sample_db: Path, tmp_path: Path, make_app: Any, qtbot: Any
) -> None:
    """proposal:NAME from the dialog reaches the export: only that proposer's masks."""
    from annotator.core.mask import Mask
    from annotator.core.model import Proposal

    with open_store(sample_db) as store:
        conv = store.get_conversation(2)
        last = len(conv.turns) - 1
        arr = np.zeros((conv.image.height, conv.image.width), bool)
        arr[5:25, 5:40] = True
        store.add_proposals(
            2, [Proposal(last, "lisa", "1", "[SEG]", masks=(Mask.from_array(arr),))]
        )
    parts = make_app(sample_db)
    w = parts.window
    dialog = ExportDialog(parent=w)
    qtbot.addWidget(dialog)
    dialog.status.setCurrentIndex(dialog.status.findData(""))
    dialog.mask.setCurrentIndex(dialog.mask.findData("proposal"))
    dialog.proposer.setText("lisa")
    out = tmp_path / "lisa.json"
    dialog.out.setText(str(out))
    how, _ = _run_job(qtbot, w, lambda: w.files.run_export(dialog.request()))
    assert how == "finished"
    (ann,) = COCO(str(out)).dataset["annotations"]
    assert ann["conversation_id"] == 2
    assert np.array_equal(mask_utils.decode(ann["segmentation"]).astype(bool), arr)
    message = w.jobs.last_message.text()
    assert "Masks: proposal:lisa. 10 matched, 1 written: 9 have no proposal from lisa" in message


def _export_dialog_state(w: Any, qtbot: Any, choose: dict[str, str]) -> dict[str, object]:
    """Open File > Export as the menu does, pick ``choose`` (combo name -> item data), read
    what the dialog shows, and cancel it."""
    seen: dict[str, object] = {}

    def read() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, ExportDialog)
        for name, data in choose.items():
            combo = getattr(dialog, name)
            combo.setCurrentIndex(combo.findData(data))
        seen["records"] = dialog.status.currentText()
        seen["enabled"] = dialog.export_button.isEnabled()
        seen["problem"] = dialog.problem.text()
        dialog.reject()

    QTimer.singleShot(0, read)
    w.files.export_dialog()
    qtbot.waitUntil(lambda: bool(seen))
    return seen


def test_export_dialog_counts_records_and_refuses_an_empty_choice(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(sample_db)
    w = parts.window
    none = _export_dialog_state(w, qtbot, {})  # the default: approved records, none yet
    assert none == {
        "records": "approved records (0)",
        "enabled": False,
        "problem": "There are no approved records: the export would be empty.",
    }
    every = _export_dialog_state(w, qtbot, {"status": ""})
    assert every == {"records": "all records (10)", "enabled": True, "problem": ""}
    # Corrections take no status choice: nothing to refuse.
    assert _export_dialog_state(w, qtbot, {"fmt": "corrections"})["enabled"] is True
    _approve_first(parts)
    one = _export_dialog_state(w, qtbot, {})
    assert one["records"] == "approved records (1)" and one["enabled"] is True
    qtbot.waitUntil(lambda: not w.findChildren(ExportDialog))  # none outlives its use


# -- Propose with a tiny random MIRAS checkpoint ----------------------------------------------
def _stored_proposals(db: Path, conv_id: int) -> list[Any]:
    store = open_store(db)
    try:
        return store.proposals(conv_id)
    finally:
        store.close()


@pytest.fixture
def miras_settings(tiny_miras_dir: Path) -> Settings:
    return Settings(
        proposer="miras", proposer_checkpoint=str(tiny_miras_dir), proposer_device="cpu"
    )


def test_propose_with_tiny_miras_lands_in_the_panel(
    sample_db: Path, make_app: Any, qtbot: Any, miras_settings: Settings
) -> None:
    parts = make_app(sample_db, settings=miras_settings)
    w = parts.window
    # The checkpoint says it has random weights: the window warns before anything is proposed.
    assert parts.proposer.noise
    assert w.conversation.noise_banner.isVisible()
    assert "RANDOM" in w.conversation.noise_banner.text()
    assert "NOISE" in w.status.proposer_label.text()
    w.select_row(0)
    doc = parts.session.document
    conv_id = doc.id
    assert doc.status == Status.DRAFT and not w.record.proposals
    running: list[bool] = []
    parts.proposer.running.connect(running.append)
    with qtbot.waitSignal(parts.proposer.stored, timeout=600_000) as stored:
        w.proposing.propose(None)
    assert running[:1] == [True]
    assert stored.args[0] == conv_id
    in_db = _stored_proposals(sample_db, conv_id)
    assert sorted(p.turn_index for p in in_db) == list(range(doc.turn_count))
    assert {p.proposer for p in in_db} == {"miras"}
    # shown: every card has the model's answer, flagged as noise; the record became proposed
    for card, p in zip(
        w.conversation.cards, sorted(in_db, key=lambda p: p.turn_index), strict=True
    ):
        assert card.proposal.isVisible()
        assert card.proposal.text() == (p.answer or "—").replace("&", "&amp;").replace(
            "<", "&lt;"
        ).replace(">", "&gt;")
        assert "NOISE" in card.proposal_title.text()
    assert set(w.record.proposals) == set(range(doc.turn_count))
    assert doc.status == Status.PROPOSED
    target = doc.target_turn
    proposal = w.record.proposal_array(target)
    if proposal is not None and proposal.any():
        assert w.editor._arrays["proposal"] is proposal  # the proposal layer shows it
    # the open record follows the stored revision: the next edit saves without a conflict
    w.editor.apply_polygon([(10, 10), (80, 10), (80, 80)], False)
    assert parts.session.history.is_clean
    assert w.status.save_label.text().startswith(f"#{conv_id} · rev")


def test_propose_one_turn_and_cancel(
    sample_db: Path, make_app: Any, qtbot: Any, miras_settings: Settings
) -> None:
    parts = make_app(sample_db, settings=miras_settings)
    w = parts.window
    w.select_row(1)
    doc = parts.session.document
    with qtbot.waitSignal(parts.proposer.running, timeout=600_000, check_params_cb=lambda r: not r):
        w.proposing.propose([0])
        parts.proposer.cancel()
    assert _stored_proposals(sample_db, doc.id) == []
    with qtbot.waitSignal(parts.proposer.stored, timeout=600_000):
        w.record.select_turn(1)
        w.proposing.propose([w.editor.turn])
    stored = _stored_proposals(sample_db, doc.id)
    assert [p.turn_index for p in stored] == [1]
    assert w.conversation.cards[1].proposal.isVisible()
    assert not w.conversation.cards[0].proposal.isVisible()


def test_propose_without_a_proposer_explains(sample_db: Path, make_app: Any) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    assert not w.actions["propose"].isEnabled()
    w.proposing.propose(None)
    assert "No proposer is configured" in w.jobs.last_message.text()
    assert not parts.proposer.busy
