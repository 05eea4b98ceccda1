"""MIRAS outputs made elsewhere come in as proposals; what reviewers changed or threw away goes
out as JSONL preference data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures_miras import EchoProposer, prist_conversation

from annotator.core.errors import InputError
from annotator.core.mask import Mask
from annotator.core.model import (
    Decision,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    ReasonCode,
    Review,
)
from annotator.services.corrections_export import export_corrections
from annotator.services.miras_import import answer_text, import_miras_outputs, read_outputs
from annotator.services.propose_job import propose_conversation
from annotator.storage import open_store

SYSTEM = "A chat between a curious human and an artificial intelligence assistant."


def authors_response(question: str, answer: str) -> str:
    """How the authors' eval script records a turn: the decoded prompt plus the answer."""
    return f"{SYSTEM} USER: <im_start><image><im_end>\n{question} ASSISTANT: {answer}</s>"


@pytest.fixture
def prist_store(tmp_path: Path, prist_records):
    store = open_store(tmp_path / "db.sqlite3")
    # Records 0..5 (two images with three dialogues each) plus a duplicated (img_id, focus) pair.
    picks = list(range(6))
    convs = [prist_conversation(prist_records[i], i, tmp_path / "images") for i in picks]
    # Stored image paths are the PRIST img_id, as the PRIST importer stores them.
    convs = [
        replace(c, image=replace(c.image, path=prist_records[i]["img_id"]), key=f"k{i}")
        for c, i in zip(convs, picks, strict=True)
    ]
    dup = replace(convs[2], key="dup")
    ids = store.add_conversations([*convs, dup], actor="test").added_ids
    yield store, ids, picks
    store.close()


def test_answer_text_strips_the_prompt() -> None:
    assert answer_text(authors_response("What is it?", "A sign [SEG].")) == "A sign [SEG]."
    assert answer_text("plain answer</s>") == "plain answer"


def test_import_authors_outputs_with_masks(tmp_path: Path, prist_store, prist_records) -> None:
    store, ids, picks = prist_store
    masks_dir = tmp_path / "vis"
    masks_dir.mkdir()
    out = []
    expected_masks = {}
    for index, i in enumerate(picks):
        rec = prist_records[i]
        questions = [m["value"] for m in rec["dialogue"][0::2]]
        responses = [authors_response(q, f"answer {t} of {i}") for t, q in enumerate(questions)]
        responses[-1] = authors_response(questions[-1], "Sure, [SEG].")
        out.append({"img_id": rec["img_id"], "focus": rec["focus"], "response": responses})
        arr = np.zeros((48, 64), dtype=bool)
        arr[5 + index : 20 + index, 10 : 30 + index] = True
        expected_masks[index] = arr
        stem = rec["img_id"].rsplit(".", 1)[0]
        # Saved as the authors' script does: mask * 100 as JPEG.
        cv2.imwrite(str(masks_dir / f"{stem}_mask_{index}.jpg"), arr.astype(np.uint8) * 100)
    path = tmp_path / "all_text_outputs_stage2.json"
    path.write_text(json.dumps(out, indent=4))
    summary = import_miras_outputs(store, path, masks_dir=masks_dir, version="stage2")
    assert summary.conversations == len(picks) and not summary.problems
    for index, cid in enumerate(ids[: len(picks)]):
        conv = store.get_conversation(cid)
        props = store.proposals(cid, proposer="miras")
        assert [p.turn_index for p in props] == list(range(len(conv.turns)))
        assert props[0].answer == f"answer 0 of {picks[index]}"
        assert props[-1].answer == "Sure, [SEG]." and len(props[-1].masks) == 1
        assert all(not p.masks for p in props[:-1])
        got = props[-1].masks[0].to_array()
        assert (got != expected_masks[index]).sum() == 0  # JPEG noise removed by the threshold
    # Importing again adds nothing.
    again = import_miras_outputs(store, path, masks_dir=masks_dir, version="stage2")
    assert again.conversations == 0 and len(again.problems) == len(picks)
    assert all(len(store.proposals(c)) == len(store.get_conversation(c).turns) for c in ids[:6])


def test_duplicate_pairs_go_to_conversations_in_order(
    tmp_path: Path, prist_store, prist_records
) -> None:
    store, ids, _ = prist_store
    rec = prist_records[2]
    out = [
        {"img_id": rec["img_id"], "focus": rec["focus"], "response": ["first"]},
        {"img_id": rec["img_id"], "focus": rec["focus"], "response": ["second"]},
        {"img_id": rec["img_id"], "focus": rec["focus"], "response": ["third"]},
        {"img_id": "nowhere.jpg", "focus": "x", "response": ["lost"]},
    ]
    path = tmp_path / "out.json"
    path.write_text(json.dumps(out, indent=2))
    summary = import_miras_outputs(store, path)
    assert summary.conversations == 2
    assert store.proposals(ids[2])[0].answer == "first"
    assert store.proposals(ids[-1])[0].answer == "second"
    assert len(summary.problems) == 2
    assert "record 2" in summary.problems[0] and "no conversation" in summary.problems[0]
    assert f"{path}:" in summary.problems[1] and "nowhere.jpg" in summary.problems[1]


def test_bad_outputs_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n {"img_id": "a.jpg", "focus": "f", "response": ["x"]},\n {"img_id": 3}\n]')
    with pytest.raises(InputError) as err:
        read_outputs(path)
    assert err.value.line == 3 and err.value.record == 1 and "img_id" in str(err.value)


def test_missing_or_misfit_mask_is_reported_not_stored(
    tmp_path: Path, prist_store, prist_records
) -> None:
    store, ids, _ = prist_store
    masks_dir = tmp_path / "vis"
    masks_dir.mkdir()
    recs = [prist_records[0], prist_records[1]]
    out = [{"img_id": r["img_id"], "focus": r["focus"], "response": ["a", "b"]} for r in recs]
    stem = recs[1]["img_id"].rsplit(".", 1)[0]
    cv2.imwrite(str(masks_dir / f"{stem}_mask_1.png"), np.zeros((10, 10), np.uint8))
    path = tmp_path / "out.json"
    path.write_text(json.dumps(out))
    summary = import_miras_outputs(store, path, masks_dir=masks_dir)
    assert summary.conversations == 0
    assert "no mask file" in summary.problems[0]
    assert "mask is 10x10, the image 64x48" in summary.problems[1]
    assert store.proposals(ids[0]) == [] and store.proposals(ids[1]) == []


# -- corrections export ---------------------------------------------------------------------
def test_corrections_export(tmp_path: Path, prist_store) -> None:
    store, ids, _ = prist_store
    proposer = EchoProposer()
    for cid in ids[:3]:
        conv = store.get_conversation(cid)
        blank = np.zeros((conv.image.height, conv.image.width, 3), dtype=np.uint8)
        store.add_proposals(cid, propose_conversation(proposer, conv, blank))
    # Conversation A: reviewer redraws the target mask from the proposal and fixes turn 0's text.
    a = store.get_conversation(ids[0])
    last = a.target_turn
    proposal = store.proposals(ids[0], turn_index=last.index)[-1]
    fixed = np.zeros((48, 64), dtype=bool)
    fixed[10:30, 5:40] = True
    final = MaskAnnotation(
        Mask.from_array(fixed),
        MaskLayer.FINAL,
        Provenance(MaskSource.HUMAN, "ana", proposal_id=proposal.id),
    )
    turns = list(a.turns)
    turns[0] = replace(turns[0], final_answer="A corrected first answer.")
    turns[-1] = replace(last, masks=(*last.masks, final))
    store.save_conversation(replace(a, turns=tuple(turns)), actor="ana")
    store.add_review(
        ids[0],
        Review(
            "ana", Decision.COMMENT, "mask missed the handle", last.index, ReasonCode.MASK_WRONG
        ),
    )
    # Conversation B: proposal taken over unchanged.
    b = store.get_conversation(ids[1])
    prop_b = store.proposals(ids[1], turn_index=b.target_turn.index)[-1]
    same = MaskAnnotation(
        prop_b.masks[0],
        MaskLayer.FINAL,
        Provenance(MaskSource.PROPOSER, "bo", proposal_id=prop_b.id),
    )
    tb = list(b.turns)
    tb[-1] = replace(b.target_turn, masks=(*b.target_turn.masks, same))
    store.save_conversation(replace(b, turns=tuple(tb)), actor="bo")
    # Conversation C: rejected as ungroundable.
    store.add_review(
        ids[2],
        Review("cy", Decision.REJECT, "object not in the image", None, ReasonCode.UNGROUNDABLE),
    )

    out = tmp_path / "corrections.jsonl"
    summary = export_corrections(store, out)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert summary.corrections == 2 and summary.rejected == 1 and summary.accepted == 0
    kinds = sorted((x["conversation_id"], x["turn_index"], x["kind"]) for x in lines)
    assert kinds == sorted(
        [
            (ids[0], 0, "correction"),
            (ids[0], last.index, "correction"),
            (ids[2], len(store.get_conversation(ids[2]).turns) - 1, "rejected"),
        ]
    )
    mask_line = next(
        x for x in lines if x["turn_index"] == last.index and x["kind"] == "correction"
    )
    proposed = proposal.masks[0].to_array()
    assert mask_line["changes"]["changed_pixels"] == int((proposed ^ fixed).sum())
    assert mask_line["changes"]["mask_iou"] == pytest.approx(
        (proposed & fixed).sum() / (proposed | fixed).sum()
    )
    assert Mask.from_rle(mask_line["corrected"]["mask"]).to_array().tolist() == fixed.tolist()
    assert mask_line["proposal"]["id"] == proposal.id
    assert (
        mask_line["reason"]["code"] == "mask_wrong"
        and mask_line["reason"]["comment"] == "mask missed the handle"
    )
    assert mask_line["corrected"]["answer"] is None  # the text was not verified: no draft
    assert len(mask_line["history"]) == last.index
    assert mask_line["history"][0]["answer"] == "A corrected first answer."
    text_line = next(x for x in lines if x["turn_index"] == 0)
    assert text_line["changes"]["text_changed"] and not text_line["changes"]["mask_changed"]
    assert text_line["corrected"]["answer"] == "A corrected first answer."
    rejected = next(x for x in lines if x["kind"] == "rejected")
    assert rejected["whole_conversation"] and rejected["reason"]["code"] == "ungroundable"
    assert rejected["proposal"]["answer"].endswith(rejected["question"])
    # With accepted ones: conversation B's unchanged proposal appears too.
    out2 = tmp_path / "all.jsonl"
    s2 = export_corrections(store, out2, include_accepted=True)
    assert s2.accepted == 1
    acc = [json.loads(x) for x in out2.read_text().splitlines() if '"accepted"' in x]
    assert acc[0]["conversation_id"] == ids[1] and acc[0]["changes"]["changed_pixels"] == 0
