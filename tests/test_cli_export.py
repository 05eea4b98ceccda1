"""Export end to end: approved records out to COCO/JSONL/LabelMe and back in."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.cli import main
from annotator.core.model import Decision, MaskAnnotation, MaskLayer, MaskSource, Provenance, Review
from annotator.core.status import Status
from annotator.services.sample_project import import_sample, sample_dir
from annotator.storage import ListQuery, Store, open_store


def _approve_all(store: Store) -> list[int]:
    """Verify every sample record: the draft mask becomes the final one and the draft answers
    the verified ones, then approve."""
    ids = []
    for conv in list(store.iter_conversations(ListQuery())):
        target = conv.target_turn
        drafts = target.layer(MaskLayer.DRAFT)
        if not drafts or drafts[0].mask.is_empty:
            continue
        final = MaskAnnotation(drafts[0].mask, MaskLayer.FINAL, Provenance(MaskSource.HUMAN, "ann"))
        turns = (
            *(replace(t, final_answer=t.draft_answer) for t in conv.turns[:-1]),
            replace(target, masks=(*target.masks, final), final_answer="Sure, [SEG]."),
        )
        saved = store.save_conversation(replace(conv, turns=turns), actor="ann")
        assert saved.id is not None
        store.add_review(saved.id, Review(reviewer="qa", decision=Decision.APPROVE, comment="ok"))
        ids.append(saved.id)
    return ids


def _run(*argv: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return json.loads(out.getvalue())


@pytest.fixture
def approved_db(tmp_path: Path) -> tuple[Path, list[int]]:
    db = tmp_path / "s.sqlite3"
    with open_store(db) as store:
        import_sample(store)
        ids = _approve_all(store)
    assert len(ids) == 10
    return db, ids


def test_coco_export_loads_and_evaluates_to_ap_1(
    approved_db: tuple[Path, list[int]], tmp_path: Path
) -> None:
    db, ids = approved_db
    out = tmp_path / "coco.json"
    report = _run("--db", str(db), "export", "coco", str(out), "--json")
    assert report["annotations"] == len(ids)
    gt = COCO(str(out))
    assert len(gt.getImgIds()) == 4
    anns = gt.loadAnns(gt.getAnnIds())
    assert {a["conversation_id"] for a in anns} == set(ids)
    assert all(a["iscrowd"] == 0 and a["turn_index"] >= 2 for a in anns)
    with open_store(db) as store:
        for a in anns:
            conv = store.get_conversation(a["conversation_id"])
            final = conv.target_turn.layer(MaskLayer.FINAL)[0].mask
            assert np.array_equal(gt.annToMask(a).astype(bool), final.to_array())
            assert a["area"] == final.area
    results = [
        {**{k: a[k] for k in ("image_id", "category_id", "segmentation")}, "score": 1.0}
        for a in anns
    ]
    dt = gt.loadRes(results)
    ev = COCOeval(gt, dt, iouType="segm")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_only_approved_are_exported_by_default(tmp_path: Path) -> None:
    db = tmp_path / "d.sqlite3"
    with open_store(db) as store:
        import_sample(store)
    report = _run("--db", str(db), "export", "coco", str(tmp_path / "c.json"), "--json")
    assert report["annotations"] == 0 and report["matched"] == 0
    assert report["summary"] == "0 matched, 0 written"
    every = ("--db", str(db), "export", "jsonl", str(tmp_path / "all.jsonl"), "--status", "all")
    report = _run(*every, "--json")  # the final masks by default: the sample has none yet
    assert report["records"] == 0 and report["skipped"] == {"no_final_mask": 10}
    report = _run(*every, "--mask", "draft", "--json")
    assert report["records"] == report["written"] == report["matched"] == 10


def test_jsonl_round_trip_restores_the_same_records(
    approved_db: tuple[Path, list[int]], tmp_path: Path
) -> None:
    db, _ = approved_db
    out = tmp_path / "p.jsonl"
    _run("--db", str(db), "export", "jsonl", str(out), "--json")
    db2 = tmp_path / "copy.sqlite3"
    summary = _run(
        "--db",
        str(db2),
        "import",
        "jsonl",
        str(out),
        "--images",
        str(sample_dir() / "images"),
        "--json",
    )
    assert summary["added"] == 10
    again = _run("--db", str(db2), "import", "jsonl", str(out), "--json")
    assert again["added"] == 0 and again["skipped"] == 10
    with open_store(db) as a, open_store(db2) as b:
        left = list(a.iter_conversations(ListQuery()))
        right = {c.key: c for c in b.iter_conversations(ListQuery())}
        for conv in left:
            other = right[conv.key]
            assert other.status == Status.APPROVED == conv.status
            assert other.focus == conv.focus
            assert [(t.question, t.draft_answer, t.final_answer) for t in other.turns] == [
                (t.question, t.draft_answer, t.final_answer) for t in conv.turns
            ]
            assert [[(m.layer, m.mask) for m in t.masks] for t in other.turns] == [
                [(m.layer, m.mask) for m in t.masks] for t in conv.turns
            ]
            assert [(r.reviewer, r.decision) for r in b.reviews(other.id)] == [
                (r.reviewer, r.decision) for r in a.reviews(conv.id)
            ]


def test_miras_jsonl_is_training_ready(approved_db: tuple[Path, list[int]], tmp_path: Path) -> None:
    db, _ = approved_db
    out = tmp_path / "m.jsonl"
    _run("--db", str(db), "export", "jsonl", str(out), "--format", "miras", "--json")
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 10
    for rec in lines:
        msgs = rec["conversations"]
        assert msgs[0]["from"] == "human" and msgs[0]["value"].startswith("<image>\n")
        assert sum("<image>" in m["value"] for m in msgs) == 1
        assert "[SEG]" in msgs[-1]["value"]
        assert all("[SEG]" not in m["value"] for m in msgs[:-1])
        assert rec["masks"]


def test_labelme_export_reads_back_through_the_prist_rule(
    approved_db: tuple[Path, list[int]], tmp_path: Path
) -> None:
    db, _ = approved_db
    out_dir = tmp_path / "lm"
    report = _run("--db", str(db), "export", "labelme", str(out_dir), "--json")
    assert report["records"] == 4
    assert all(f["iou"] > 0.97 for f in report["polygon_fidelity"])
    db2 = tmp_path / "lm.sqlite3"
    _run(
        "--db",
        str(db2),
        "import",
        "prist",
        str(sample_dir() / "dialogues.json"),
        "--images",
        str(sample_dir() / "images"),
        "--masks",
        str(out_dir),
        "--json",
    )
    with open_store(db) as a, open_store(db2) as b:
        finals = {
            c.key: c.target_turn.layer(MaskLayer.FINAL)[0].mask
            for c in a.iter_conversations(ListQuery())
        }
        for conv in b.iter_conversations(ListQuery()):
            back = conv.target_turn.layer(MaskLayer.DRAFT)[0].mask.to_array()
            ref = finals[conv.key].to_array()
            iou = (back & ref).sum() / (back | ref).sum()
            assert iou > 0.97, (conv.focus, iou)


def test_rescue_file_restores_unsaved_edits_with_replace(tmp_path: Path) -> None:
    """The app's rescue file (written when a save failed) is our JSONL: `import jsonl --replace`
    brings the unsaved edit back into the database it came from."""
    from annotator.services.unsaved_export import write_unsaved

    db = tmp_path / "r.sqlite3"
    with open_store(db) as store:
        import_sample(store)
        conv = store.get_conversation(1)
    edited_turn = replace(conv.turns[0], final_answer="a verified answer, never saved")
    unsaved = replace(conv, turns=(edited_turn, *conv.turns[1:]))
    rescue = write_unsaved(tmp_path / "rescue.jsonl", [unsaved])

    plain = _run("--db", str(db), "import", "jsonl", str(rescue), "--json")
    assert plain["added"] == 0 and plain["replaced"] == 0 and plain["skipped"] == 1
    with open_store(db) as store:
        assert store.get_conversation(1).turns[0].final_answer is None

    restored = _run("--db", str(db), "import", "jsonl", str(rescue), "--replace", "--json")
    assert restored["replaced"] == 1 and restored["skipped"] == 0
    with open_store(db) as store:
        back = store.get_conversation(1)
        assert back.turns[0].final_answer == "a verified answer, never saved"
        assert back.revision == conv.revision + 1
        assert back.image == conv.image
        assert any(e.action == "restore" for e in store.history(1))
