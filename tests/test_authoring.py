"""Authoring without a window, on a real SQLite database: images added by content, conversations
written, their turns added, removed and moved as undoable steps whose proposals and reviews
follow them, the PRIST rules, soft delete and restore."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from fixtures_io import write_image

from annotator.core.errors import AnnotatorError, InputError, WorkflowError
from annotator.core.listing import ListQuery
from annotator.core.mask import Mask
from annotator.core.model import Decision, MaskLayer, Proposal, ReasonCode, Review
from annotator.core.prist_rules import check_texts
from annotator.core.seg_templates import SEG_ANSWERS, SEG_REQUESTS
from annotator.services import authoring
from annotator.services.export_job import export_jsonl
from annotator.services.image_add import add_images
from annotator.services.image_resolver import ImageResolver
from annotator.services.open_record import OpenRecord
from annotator.services.session import EditSession
from annotator.storage import Store


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    write_image(root / "a.jpg", 64, 48, seed=1)
    write_image(root / "b.png", 40, 30, "PNG", seed=2)
    write_image(root / "deep" / "c.jpg", 32, 32, seed=3)
    (root / "deep" / "again.jpg").write_bytes((root / "a.jpg").read_bytes())  # the same picture
    (root / "cut.jpg").write_bytes((root / "a.jpg").read_bytes()[:400])  # truncated
    (root / "notes.json").write_text("{}", encoding="utf-8")  # not an image: passed over
    return root


def test_images_are_added_by_content_and_named_by_path(store: Store, folder: Path) -> None:
    flat = add_images(store, folder)
    assert [im.path for im in flat.added] == ["a.jpg", "b.png"]
    assert [r.path for r in flat.refused] == ["cut.jpg"]
    assert "truncat" in flat.refused[0].reason.lower()
    assert flat.ignored == 1
    deep = add_images(store, folder, recursive=True, batch=2)
    assert [im.path for im in deep.added] == ["deep/c.jpg"]
    assert sorted(name for name, _ in deep.present) == ["a.jpg", "b.png", "deep/again.jpg"]
    report = deep.to_json()
    assert report["added"] == 1 and report["already_present"] == 3
    assert report["same_picture"] == [{"path": "deep/again.jpg", "same_as": "a.jpg"}]
    assert report["refused"] == [{"path": "cut.jpg", "reason": flat.refused[0].reason}]
    rows = store.images()
    assert [(r.path, r.width, r.height, r.conversations) for r in rows] == [
        ("a.jpg", 64, 48, 0),
        ("b.png", 40, 30, 0),
        ("deep/c.jpg", 32, 32, 0),
    ]
    assert store.image_named("deep/c.jpg").root == str(folder.resolve())
    with pytest.raises(AnnotatorError, match=re.escape("no image named 'z.jpg'")):
        store.image_named("z.jpg")


def _dialogue(tmp_path: Path, messages: list[tuple[str, str]]) -> Path:
    path = tmp_path / "dialogue.json"
    path.write_text(json.dumps([{"from": f, "value": v} for f, v in messages]), "utf-8")
    return path


GOOD = [
    ("human", "What is on the table?"),
    ("gpt", "A mug and a plate."),
    ("human", "Which one holds a drink?"),
    ("gpt", "The mug."),
    ("human", SEG_REQUESTS[0]),
    ("gpt", SEG_ANSWERS[0]),
]


def test_a_conversation_from_a_dialogue_file_is_stored_once(
    store: Store, folder: Path, tmp_path: Path
) -> None:
    add_images(store, folder)
    made = authoring.create_from_dialogue(
        store, "a.jpg", "red mug", _dialogue(tmp_path, GOOD), actor="ada"
    )
    assert made.conversation_id is not None and made.turns == 3
    conv = store.get_conversation(made.conversation_id)
    assert [t.question for t in conv.turns] == [GOOD[0][1], GOOD[2][1], GOOD[4][1]]
    assert conv.focus == "red mug" and conv.image.path == "a.jpg"
    assert [e.action for e in store.history(conv.id)] == ["create"]
    again = authoring.create_from_dialogue(
        store, "a.jpg", "red mug", _dialogue(tmp_path, GOOD), actor="ada"
    )
    assert again.conversation_id is None  # the same image, focus and dialogue: stored already
    assert store.images()[0].conversations == 1


@pytest.mark.parametrize(
    ("messages", "wanted"),
    [
        ([("human", "q"), ("human", "a [SEG]")], "message 1 is from 'human', expected 'gpt'"),
        ([("human", "q"), ("gpt", "a [SEG]"), ("human", "q2"), ("gpt", "b [SEG]")], "message 1"),
        ([("human", "q"), ("gpt", "done")], "exactly once, found 0 (message 1)"),
        ([("human", " "), ("gpt", "a [SEG]")], "message 0 is empty"),
        ([("human", "q")], "question/answer pairs, got 1 message"),
    ],
)
def test_a_bad_dialogue_names_the_message_and_stores_nothing(
    store: Store, folder: Path, tmp_path: Path, messages: list[tuple[str, str]], wanted: str
) -> None:
    add_images(store, folder)
    path = _dialogue(tmp_path, messages)
    with pytest.raises(InputError, match=re.escape(wanted)) as err:
        authoring.create_from_dialogue(store, "a.jpg", "mug", path, actor="ada")
    assert str(err.value).startswith(f"{path}:") and "\n" not in str(err.value)
    assert store.count(ListQuery()) == 0


def _open(store: Store, conv_id: int) -> OpenRecord:
    record = OpenRecord(store, EditSession(store, lambda: "ada"), ImageResolver(), lambda: "ada")
    record.open(record.load(conv_id))
    return record


def _verify(record: OpenRecord) -> None:
    """The reviewer takes every written answer as verified (approval needs it explicitly)."""
    doc = record.document
    assert doc is not None
    for turn in range(doc.turn_count):
        record.use_draft(turn)


def _written(store: Store, folder: Path) -> int:
    add_images(store, folder)
    cid = authoring.create(
        store,
        store.image_named("a.jpg"),
        "red mug",
        authoring.turns_of([(q, a) for (_, q), (_, a) in zip(GOOD[::2], GOOD[1::2], strict=True)]),
        actor="ada",
    )
    assert cid is not None
    return cid


def test_turns_move_with_their_masks_proposals_and_reviews(store: Store, folder: Path) -> None:
    cid = _written(store, folder)
    h, w = 48, 64
    first = np.zeros((h, w), bool)
    first[2:10, 3:20] = True
    store.add_proposals(cid, [Proposal(0, "m", "1", "proposed 0", (Mask.from_array(first),))])
    store.add_review(
        cid, Review("rita", Decision.REJECT, turn_index=0, reason=ReasonCode.TEXT_WRONG)
    )
    record = _open(store, cid)
    record.select_turn(0)
    record.edit_final(lambda a: _paint(a, first), "Paint", info={"tool": "test"})

    assert record.move_turn(0, +1).ok  # turn 1 goes second, with everything it has
    conv = store.get_conversation(cid)
    assert [t.question for t in conv.turns] == [GOOD[2][1], GOOD[0][1], GOOD[4][1]]
    assert np.array_equal(conv.turns[1].layer(MaskLayer.FINAL)[0].mask.to_array(), first)
    assert [(p.turn_index, p.answer) for p in store.proposals(cid)] == [(1, "proposed 0")]
    assert [r.turn_index for r in store.reviews(cid)] == [1]
    assert record.turn == 1 and set(record.proposals) == {1} and set(record.verdicts) == {1}
    assert record.diff(1) is not None and record.diff(1).changed == 0

    session = record.session
    assert session.undo().ok  # back where it was
    conv = store.get_conversation(cid)
    assert conv.turns[0].question == GOOD[0][1] and conv.turns[0].layer(MaskLayer.FINAL)
    assert [p.turn_index for p in store.proposals(cid)] == [0]

    assert record.add_turn(1).ok  # an empty turn to write, before the second
    conv = store.get_conversation(cid)
    assert [t.question for t in conv.turns] == [GOOD[0][1], "", GOOD[2][1], GOOD[4][1]]
    assert [r.turn_index for r in store.reviews(cid)] == [0]
    assert [b.rule for b in record.breaches()] == ["question", "answer"]

    assert record.removal_loses_verified_mask(0)
    assert record.remove_turn(0).ok  # the mask, proposal and review go with it
    conv = store.get_conversation(cid)
    assert len(conv.turns) == 3 and not any(t.layer(MaskLayer.FINAL) for t in conv.turns)
    assert store.proposals(cid) == [] and store.reviews(cid) == []
    assert session.undo().ok  # the turn comes back with its texts and mask
    conv = store.get_conversation(cid)
    assert conv.turns[0].question == GOOD[0][1]
    assert np.array_equal(conv.turns[0].layer(MaskLayer.FINAL)[0].mask.to_array(), first)
    actions = [e.action for e in store.history(cid)]
    assert actions.count("turn_move") == 2 and "turn_add" in actions
    assert actions.count("turn_remove") == 2  # the removal and its undo


def _paint(array: np.ndarray, mask: np.ndarray) -> object:
    from annotator.core import mask_edit

    return mask_edit.replace(array, mask)


def test_text_after_a_verified_mask_is_remembered(store: Store, folder: Path) -> None:
    cid = _written(store, folder)
    record = _open(store, cid)
    mask = np.zeros((48, 64), bool)
    mask[5:20, 5:30] = True
    record.edit_final(lambda a: _paint(a, mask), "Paint")
    assert not store.get_conversation(cid).target_turn.text_after_verified_mask
    record.commit_text(2, "question", "Please segment the mug on the left.")
    assert store.get_conversation(cid).target_turn.text_after_verified_mask
    record.select_turn(2)
    record.edit_final(lambda a: _paint(a, ~mask), "Paint again")  # verified anew
    assert not store.get_conversation(cid).target_turn.text_after_verified_mask
    record.set_focus("blue mug")  # the target's mask was drawn for the old focus
    conv = store.get_conversation(cid)
    assert conv.focus == "blue mug" and conv.target_turn.text_after_verified_mask


def test_rules_block_approval_and_export_but_not_a_draft(
    store: Store, folder: Path, tmp_path: Path
) -> None:
    cid = _written(store, folder)
    record = _open(store, cid)
    record.commit_text(1, "draft_answer", "The mug [SEG].")  # [SEG] before the final turn
    assert [str(b) for b in record.breaches()] == [
        "rule seg_early: turn 2's answer holds [SEG] before the final turn"
    ]
    mask = np.zeros((48, 64), bool)
    mask[1:9, 1:9] = True
    record.edit_final(lambda a: _paint(a, mask), "Paint")
    assert "rule" in record.approve_blocker()
    with pytest.raises(WorkflowError, match="cannot approve: rule seg_early"):
        store.add_review(cid, Review("rita", Decision.APPROVE))
    report = export_jsonl(store, tmp_path / "out.jsonl", status=None)
    assert report.records == 0 and [i.conversation_id for i in report.skipped] == [cid]
    # An export writes the verified answers (its --mask source), and these are not verified yet:
    # the draft's broken rule is not what would be exported.
    assert report.skipped[0].reason == "no_final_answer"
    record.commit_text(1, "draft_answer", "The mug.")
    assert record.breaches() == []
    assert "answer is not verified" in record.approve_blocker()
    _verify(record)
    assert record.approve_blocker() == ""
    assert record.review(Decision.APPROVE).ok
    assert export_jsonl(store, tmp_path / "out.jsonl").records == 1


def test_the_rules_on_texts() -> None:
    ok = [("q1", "a1"), ("q2", "Sure, [SEG].")]
    assert check_texts("mug", ok) == []
    found = check_texts(" ", [("", "a [SEG]"), ("q", "[SEG] [SEG]")])
    assert [(b.rule, b.turn) for b in found] == [
        ("focus", None),
        ("question", 0),
        ("seg_early", 0),
        ("seg_final", 1),
    ]
    assert [b.rule for b in check_texts("mug", [])] == ["turns"]


def test_soft_delete_hides_everywhere_until_restored(
    store: Store, folder: Path, tmp_path: Path
) -> None:
    cid = _written(store, folder)
    variant = authoring.duplicate(store, cid, "white plate", actor="ada")
    copy = store.get_conversation(variant)
    assert copy.focus == "white plate" and [t.question for t in copy.turns] == [
        t.question for t in store.get_conversation(cid).turns
    ]
    assert not any(t.masks for t in copy.turns) and copy.source == f"duplicate of #{cid}"
    with pytest.raises(InputError, match="has that focus already"):
        authoring.duplicate(store, cid, "red mug", actor="ada")
    authoring.delete(store, cid, actor="ada")
    assert [s.id for s in store.page(ListQuery(), 0, 10)] == [variant]
    assert [s.id for s in store.page(ListQuery(deleted=True), 0, 10)] == [cid]
    stats = store.stats()
    assert stats["conversations"] == 1 and stats["deleted"] == 1
    assert store.images()[0].conversations == 1
    assert export_jsonl(store, tmp_path / "x.jsonl", status=None).matched == 1  # not the deleted
    with pytest.raises(AnnotatorError, match="is deleted already"):
        authoring.delete(store, cid, actor="ada")
    authoring.restore(store, cid, actor="ada")
    assert store.count(ListQuery()) == 2 and store.images()[0].conversations == 2
    assert [e.action for e in store.history(cid)][-2:] == ["delete", "undelete"]


def test_an_authored_conversation_exports_like_an_imported_one(
    store: Store, folder: Path, tmp_path: Path
) -> None:
    """COCO read back by pycocotools, LabelMe, and both JSON-lines forms."""
    from pycocotools.coco import COCO

    from annotator.io.labelme import read_labelme
    from annotator.services.export_job import export_coco, export_labelme

    cid = _written(store, folder)
    record = _open(store, cid)
    mask = np.zeros((48, 64), bool)
    mask[10:30, 12:40] = True
    record.edit_final(lambda a: _paint(a, mask), "Paint")
    _verify(record)
    assert record.review(Decision.APPROVE).ok

    coco_path = tmp_path / "authored.coco.json"
    assert export_coco(store, coco_path).records == 1
    coco = COCO(str(coco_path))
    (ann,) = coco.loadAnns(coco.getAnnIds())
    assert np.array_equal(coco.annToMask(ann).astype(bool), mask)
    assert coco.loadImgs(ann["image_id"])[0]["file_name"] == "a.jpg"

    report = export_labelme(store, tmp_path / "lm")
    assert report.records == 1
    (shape,) = read_labelme(tmp_path / "lm" / "a.json").shapes
    assert shape.label == "red mug"

    miras = tmp_path / "authored.miras.jsonl"
    assert export_jsonl(store, miras, fmt="miras").records == 1
    (line,) = miras.read_text(encoding="utf-8").splitlines()
    messages = json.loads(line)["conversations"]
    assert messages[0]["value"].startswith("<image>\n")
    assert [m["value"].count("[SEG]") for m in messages[1::2]] == [0, 0, 1]


def test_files_picked_one_by_one_are_named_in_their_folder(store: Store, folder: Path) -> None:
    picked = [folder / "deep" / "c.jpg", folder / "b.png", folder.parent / "elsewhere.jpg"]
    write_image(picked[2], 10, 10, seed=9)
    report = add_images(store, folder, only=picked)
    assert [im.path for im in report.added] == ["deep/c.jpg", "b.png"]
    assert [(r.path, r.reason) for r in report.refused] == [
        (str(picked[2]), f"not in the folder {folder.resolve()}")
    ]
