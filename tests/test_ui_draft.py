"""Draft conversations… in the real window, offscreen (pytest-qt), against a small
OpenAI-compatible server on 127.0.0.1: the dialog starts from the vlm settings; the drafts land
on the images selected in the Images list (else the open record's image) in the background,
flagged and with their audit event; Cancel keeps what was stored and stores nothing after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures_draft import DraftScript, asked_count, same_foci
from PySide6.QtCore import Qt

from annotator.bench.vlm_test_server import VlmTestServer
from annotator.core.model import FlagCode
from annotator.core.seg_templates import SEG_ANSWERS, SEG_REQUESTS
from annotator.services.draft_job import DraftChoice
from annotator.services.history_timeline import timeline
from annotator.services.settings import Settings
from annotator.storage import ListQuery
from annotator.ui import draft_actions
from annotator.ui.draft_dialog import DraftDialog
from annotator.ui.flag_labels import flag_label
from annotator.ui.record_flags_bar import flags_html

pytest_plugins = ["tests.fixtures_ui"]

JOB_MS = 60_000
MODEL = "fake-vl-7b"


def test_the_dialog_starts_from_the_vlm_settings_and_checks_its_fields(qtbot: Any) -> None:
    settings = Settings(
        proposer_url="http://gpu:8000",
        proposer_model="qwen-vl",
        proposer_key_env="MY_VLM_KEY",
        seg_requests=[SEG_REQUESTS[2]],
        seg_answers=[SEG_ANSWERS[3]],
    )
    dialog = DraftDialog("2: a.jpg, b.jpg", settings)
    qtbot.addWidget(dialog)
    assert (dialog.url.text(), dialog.model.text()) == ("http://gpu:8000", "qwen-vl")
    assert dialog.ok.isEnabled() and dialog.targets.text() == "2: a.jpg, b.jpg"
    dialog.model.clear()
    assert not dialog.ok.isEnabled() and "model" in dialog.problem.text()
    dialog.model.setText("other-vl")
    dialog.rounds_lo.setValue(5)
    assert not dialog.ok.isEnabled() and "rounds" in dialog.problem.text()
    dialog.rounds_lo.setValue(3)
    dialog.per_image.setValue(4)
    assert dialog.ok.isEnabled() and dialog.problem.text() == ""
    assert dialog.result_value() == DraftChoice(
        "http://gpu:8000",
        "other-vl",
        per_image=4,
        rounds=(3, 4),
        key_env="MY_VLM_KEY",
        requests=(SEG_REQUESTS[2],),
        answers=(SEG_ANSWERS[3],),
    )


def _accept_with(per_image: int, seen: list[DraftDialog]) -> Any:
    """Stands in for showing the dialog modally: the user sets the count and presses Draft."""

    def run(dialog: DraftDialog) -> bool:
        seen.append(dialog)
        dialog.per_image.setValue(per_image)
        return dialog.ok.isEnabled()

    return run


def _show_images(w: Any, qtbot: Any) -> dict[str, Any]:
    w.images_dock.raise_()
    qtbot.waitUntil(lambda: w.images.list.count() == 4, timeout=10_000)
    items = [w.images.list.item(r) for r in range(w.images.list.count())]
    return {item.data(Qt.ItemDataRole.UserRole).path: item for item in items}


def test_drafting_on_the_selected_images(
    sample_db: Path, make_app: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with VlmTestServer(DraftScript(same_foci(["whisker", "launch tower", "sky"]))) as server:
        settings = Settings(reviewer="ada", proposer_url=server.url, proposer_model=MODEL)
        parts = make_app(sample_db, settings=settings)
        w = parts.window
        store = parts.store
        assert w.model.rowCount() == 10
        items = _show_images(w, qtbot)
        items["chelsea.png"].setSelected(True)  # Ctrl-click: two of the four images
        items["rocket.jpg"].setSelected(True)
        seen: list[DraftDialog] = []
        monkeypatch.setattr(draft_actions, "run_modal", _accept_with(3, seen))
        with qtbot.waitSignal(w.jobs.ended, timeout=JOB_MS) as ended:
            w.actions["draft_conversations"].trigger()
        assert ended.args[0] == "finished"
        requests = list(server.requests)
    (dialog,) = seen
    assert dialog.targets.text() == "2: chelsea.png, rocket.jpg"
    assert [asked_count(r) for r in requests] == [1, 1]  # each had 2 of the 3 wanted
    summary = w.drafting.last_summary
    assert summary is not None and len(summary.drafted) == 2 and summary.kept_out == []
    assert "2 conversations drafted on 2 images" in w.jobs.last_message.text()

    # Both are in the list and the image counts; the other images were left alone.
    qtbot.waitUntil(lambda: w.model.rowCount() == 12, timeout=10_000)
    counts = {
        w.images.list.item(r).data(Qt.ItemDataRole.UserRole).path: w.images.list.item(r)
        .data(Qt.ItemDataRole.UserRole)
        .conversations
        for r in range(w.images.list.count())
    }
    assert counts == {"astronaut.png": 3, "chelsea.png": 3, "coffee.png": 3, "rocket.jpg": 3}
    drafted = list(store.iter_conversations(ListQuery(flag_code=FlagCode.MODEL_DRAFTED.value)))
    assert sorted((c.image.path, c.focus) for c in drafted) == [
        ("chelsea.png", "whisker"),
        ("rocket.jpg", "whisker"),
    ]
    conv = drafted[0]
    assert conv.source == f"draft:{MODEL}" and conv.turns[-1].draft_answer.count("[SEG]") == 1
    # A reviewer sees who wrote it: the flag above the canvas and the history's first entry.
    assert flag_label(FlagCode.MODEL_DRAFTED) in flags_html(conv, "")
    (entry,) = timeline(store.history(conv.id))
    assert entry.summary == f"Record drafted by the model {MODEL}" and entry.who == MODEL
    assert "prompt version: draft-1" in entry.detail


def test_without_a_selection_the_open_records_image_and_cancel_keeps_what_is_stored(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    script = DraftScript(same_foci(["whisker", "launch tower"]), hold_at=1)
    with VlmTestServer(script) as server:
        settings = Settings(reviewer="ada", proposer_url=server.url, proposer_model=MODEL)
        parts = make_app(sample_db, settings=settings)
        w = parts.window
        w.select_row(0)
        doc = parts.session.document
        image = doc.conversation.image
        assert w.drafting.targets() == [(image.id, image.path)]
        items = _show_images(w, qtbot)
        assert w.images.selected_images() == []
        ids = [item.data(Qt.ItemDataRole.UserRole).id for item in items.values()]
        choice = DraftChoice(server.url, MODEL, per_image=4, rounds=(2, 2))
        try:
            with qtbot.waitSignal(w.jobs.ended, timeout=JOB_MS) as ended:
                assert w.drafting.run_draft(ids, choice)
                assert script.arrived.wait(30)  # the second image's request is in flight
                w.jobs.cancel()
                script.release.set()
        finally:
            script.release.set()
        assert ended.args[0] == "cancelled"
    drafted = list(parts.store.iter_conversations(ListQuery(flag_code="model_drafted")))
    # The first image (astronaut, 3 of 4) got its one; nothing after the cancel.
    assert [(c.image.path, c.focus) for c in drafted] == [("astronaut.png", "whisker")]
    # The list and the image counts show it although the run was cancelled.
    qtbot.waitUntil(lambda: w.model.rowCount() == 11, timeout=10_000)
    astronaut = w.images.list.item(0).data(Qt.ItemDataRole.UserRole)
    assert (astronaut.path, astronaut.conversations) == ("astronaut.png", 4)
