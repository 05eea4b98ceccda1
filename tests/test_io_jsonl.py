"""JSONL export (prist and miras forms) and reading the prist form back."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fixtures_io import build_prist_workspace, finalize

from annotator.core.errors import Cancelled, InputError
from annotator.core.export_mask import DRAFT, FINAL, content_of
from annotator.core.mask import Mask
from annotator.core.model import (
    SEG_TOKEN,
    Decision,
    MaskLayer,
    Proposal,
    ReasonCode,
    Review,
)
from annotator.core.progress import Task
from annotator.io.jsonl_reader import read_jsonl
from annotator.io.jsonl_writer import write_jsonl
from annotator.io.prist_reader import read_prist


def target_mask(conv, source=DRAFT):
    return content_of(conv, source).target_mask


@pytest.fixture(scope="module")
def conversations(tmp_path_factory: pytest.TempPathFactory) -> list:
    ws = build_prist_workspace(tmp_path_factory.mktemp("prist"))
    imported = read_prist(ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)
    return finalize(imported.conversations)


def extras(convs: list) -> tuple[dict, dict]:
    t0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    reviews, proposals = {}, {}
    for c in convs[::7]:
        reviews[c.id] = [
            Review(
                "ann",
                Decision.REJECT,
                "mask misses the rim",
                turn_index=len(c.turns) - 1,
                reason=ReasonCode.MASK_WRONG,
                created_at=t0,
            ),
            Review("bob", Decision.APPROVE, "ok ✓", created_at=t0),
        ]
        m = target_mask(c)
        proposals[c.id] = [
            Proposal(
                len(c.turns) - 1,
                "miras",
                "1.0",
                "Sure, [SEG].",
                masks=(m,) if m else (),
                scores=(0.75,),
                elapsed_s=1.5,
                created_at=t0,
            )
        ]
    return reviews, proposals


def normalised(conv, root: str):
    return replace(conv, id=None, revision=0, image=replace(conv.image, id=None, root=root))


def test_prist_round_trip(tmp_path: Path, conversations: list) -> None:
    reviews, proposals = extras(conversations)
    path = tmp_path / "out.jsonl"
    report = write_jsonl(path, conversations, reviews=reviews, proposals=proposals)
    assert report.records == len(conversations) == 508
    back = read_jsonl(path, images_dir=tmp_path)
    by_id = {c.id: c for c in conversations}
    assert [e.exported_id for e in back.entries] == sorted(by_id)
    root = str(tmp_path.resolve())
    for entry in back.entries:
        original = by_id[entry.exported_id]
        assert entry.conversation == normalised(original, root)
        assert list(entry.reviews) == reviews.get(original.id, [])
        assert list(entry.proposals) == proposals.get(original.id, [])


@pytest.mark.parametrize("source", [FINAL, DRAFT], ids=str)
def test_prist_lines_carry_the_prist_keys(tmp_path: Path, conversations: list, source) -> None:
    """``dialogue`` and ``mask`` come from the chosen source only: no draft stands in for a
    missing final (an unverified answer is null, a missing final mask is null)."""
    path = tmp_path / "out.jsonl"
    write_jsonl(path, conversations, mask=source)
    text = path.read_text(encoding="utf-8")
    assert "СССР" in text and "Caçadores" in text  # not \\u-escaped
    by_id = {c.id: c for c in conversations}
    lines = text.splitlines()
    assert len(lines) == 508
    layer = MaskLayer.FINAL if source == FINAL else MaskLayer.DRAFT
    nulls = 0
    for line in lines:
        rec = json.loads(line)
        conv = by_id[rec["id"]]
        assert rec["img_id"] == conv.image.path and rec["focus"] == conv.focus
        assert rec["status"] == str(conv.status) and rec["mask_source"] == str(source)
        for k, t in enumerate(conv.turns):
            assert rec["dialogue"][2 * k] == {"from": "human", "value": t.question}
            want = t.final_answer if source == FINAL else t.draft_answer
            assert rec["dialogue"][2 * k + 1] == {"from": "gpt", "value": want}
            nulls += want is None
        masks = [a.mask for a in conv.target_turn.layer(layer) if not a.mask.is_empty]
        if masks:
            assert Mask.from_rle(rec["mask"]) == masks[0]
        else:
            assert rec["mask"] is None
        assert [f["code"] for f in rec["flags"]] == [str(f.code) for f in conv.flags]
    assert (nulls > 0) == (source == FINAL)  # the fixture leaves many answers unverified


def test_miras_form(tmp_path: Path, conversations: list) -> None:
    bad_seg = replace(
        conversations[0],
        id=100_001,
        turns=(
            replace(conversations[0].turns[0], draft_answer="It is here [SEG]."),
            *conversations[0].turns[1:],
        ),
    )
    with_image_token = replace(
        conversations[1],
        id=100_002,
        turns=(
            replace(conversations[1].turns[0], question="<image>\nWhat?"),
            *conversations[1].turns[1:],
        ),
    )
    path = tmp_path / "miras.jsonl"
    report = write_jsonl(path, [*conversations, bad_seg, with_image_token], fmt="miras", mask=DRAFT)
    skipped = {i.conversation_id: i.message for i in report.skipped}
    assert "outside the final answer" in skipped[100_001]
    assert "<image>" in skipped[100_002]
    no_mask = {c.id for c in conversations if target_mask(c) is None}
    assert no_mask and no_mask <= set(skipped)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == report.records == len(conversations) - len(no_mask)
    by_id = {str(c.id): c for c in conversations}
    for line in lines:
        rec = json.loads(line)
        assert set(rec) == {"id", "image", "conversations", "masks"}
        conv = by_id[rec["id"]]
        msgs = rec["conversations"]
        assert [m["from"] for m in msgs] == ["human", "gpt"] * len(conv.turns)
        assert msgs[0]["value"] == "<image>\n" + conv.turns[0].question
        assert sum(m["value"].count("<image>") for m in msgs) == 1
        assert [m["value"].count(SEG_TOKEN) for m in msgs] == [0] * (len(msgs) - 1) + [1]
        assert [m["value"] for m in msgs[1::2]] == [t.draft_answer for t in conv.turns]
        (rle,) = rec["masks"]
        np.testing.assert_array_equal(Mask.from_rle(rle).to_array(), target_mask(conv).to_array())


def test_miras_form_of_final_takes_verified_answers_only(
    tmp_path: Path, conversations: list
) -> None:
    """A record whose answers are not all verified is left out, not filled with drafts."""
    verified = [
        replace(
            c,
            turns=tuple(
                replace(t, final_answer=t.final_answer or t.draft_answer + " ✓") for t in c.turns
            ),
        )
        if c.id % 5 == 0
        else c
        for c in conversations
    ]
    conversations = verified
    path = tmp_path / "final.jsonl"
    report = write_jsonl(path, conversations, fmt="miras", mask=FINAL)
    complete = {
        c.id
        for c in conversations
        if target_mask(c, FINAL) is not None and all(t.final_answer for t in c.turns)
    }
    reasons = {i.conversation_id: i.reason for i in report.skipped}
    assert complete and set(reasons) == {c.id for c in conversations} - complete
    assert set(reasons.values()) == {"no_final_mask", "no_final_answer"}
    by_id = {str(c.id): c for c in conversations}
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert {int(r["id"]) for r in lines} == complete == set(range(1, 509)) - set(reasons)
    assert report.written == len(lines) and report.matched == len(conversations)
    for rec in lines:
        conv = by_id[rec["id"]]
        assert [m["value"] for m in rec["conversations"][1::2]] == [
            t.final_answer for t in conv.turns
        ]
        assert Mask.from_rle(rec["masks"][0]) == target_mask(conv, FINAL)


def test_cancel_leaves_no_file(tmp_path: Path, conversations: list) -> None:
    task = Task()
    task.on_progress = lambda done, _t, _m: task.token.cancel() if done == 100 else None
    with pytest.raises(Cancelled):
        write_jsonl(tmp_path / "x.jsonl", conversations, task=task)
    assert list(tmp_path.iterdir()) == []


def _one_line(tmp_path: Path, conversations: list) -> dict:
    path = tmp_path / "one.jsonl"
    write_jsonl(path, [c for c in conversations if c.id == 4])
    return json.loads(path.read_text(encoding="utf-8"))


def _refuse(tmp_path: Path, lines: list[str]) -> InputError:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_jsonl(path)
    assert err.value.file == str(path)
    return err.value


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r.__setitem__("status", "done"), "unknown value 'done'"),
        (lambda r: r.pop("turns"), "missing 'turns'"),
        (lambda r: r.__setitem__("turns", []), "at least one turn"),
        (lambda r: r["turns"][-1]["masks"][0]["rle"].__setitem__("counts", "0"), "bad mask"),
        (lambda r: r["turns"][-1]["masks"][0]["rle"].__setitem__("size", [3, 3]), "bad mask"),
        (lambda r: r["turns"][-1]["masks"][0].__setitem__("layer", "x"), "unknown value 'x'"),
        (lambda r: r["turns"][0].__setitem__("index", 5), "says it is turn 5"),
        (lambda r: r["turns"][0].__setitem__("question", None), "question must be str"),
        (lambda r: r["image"].__setitem__("path", "../../etc/passwd"), "'..'"),
        (lambda r: r["image"].__setitem__("width", True), "wrong type"),
        (lambda r: r.__setitem__("updated_at", "yesterday"), "ISO 8601"),
        (lambda r: r.__setitem__("updated_at", "2025-01-01T00:00:00"), "time zone"),
        (lambda r: r["flags"].append({"code": "nope", "message": ""}), "unknown value 'nope'"),
        (lambda r: r.__setitem__("format", 99), "format 99"),
        (lambda r: r["reviews"].append({"reviewer": "a"}), "missing '"),
    ],
)
def test_malformed_records_name_their_line(
    tmp_path: Path, conversations: list, change, words: str
) -> None:
    good = _one_line(tmp_path, conversations)
    bad = json.loads(json.dumps(good))
    change(bad)
    err = _refuse(tmp_path, [json.dumps(good), "", json.dumps(bad)])
    assert err.line == 3 and err.record == 1
    assert words in err.reason


def test_syntax_errors_name_their_line(tmp_path: Path, conversations: list) -> None:
    good = json.dumps(_one_line(tmp_path, conversations))
    err = _refuse(tmp_path, [good, good.replace('"status"', '"status": 1, "status"')])
    assert (err.line, "duplicate key 'status'" in err.reason) == (2, True)
    assert _refuse(tmp_path, [good[:-20]]).line == 1
    assert _refuse(tmp_path, ["{}", good]).line == 1
    err = _refuse(tmp_path, [good, good])
    assert err.line == 2 and "already on line 1" in err.reason
