"""``annotator export ... --mask final|draft|proposal[:NAME]`` on the real PRIST test split,
imported through the command line: every export writes the masks and answers of the chosen
source only (none fills in for another), and its report counts what was left out, and why."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fixtures_io import ap_against_itself, build_prist_workspace, quiet_coco

from annotator.cli import main
from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Decision,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Proposal,
    Provenance,
    Review,
)
from annotator.core.review_rules import stale_turns
from annotator.io.labelme import match_focus, read_labelme
from annotator.storage import ListQuery, Store, open_store

RECORDS = 508  # the PRIST test split


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def _export(db: Path, fmt: str, out: Path, *extra: str) -> dict:
    """``export FMT OUT --status all --json``, with ``extra`` options; the report."""
    kind, *form = fmt.split("-")
    argv = ["--db", str(db), "export", kind, str(out), "--status", "all", "--json", *extra]
    if form:
        argv += ["--format", form[0]]
    rc, stdout, _ = _cli(*argv)
    assert rc == 0
    return json.loads(stdout)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The split imported as drafts (read only: tests that change records use ``db``)."""
    root = tmp_path_factory.mktemp("prist-export")
    ws = build_prist_workspace(root / "ws")
    db = root / "drafts.sqlite3"
    rc, _, _ = _cli(
        "--db",
        str(db),
        "import",
        "prist",
        str(ws.json_path),
        "--images",
        str(ws.images_dir),
        "--masks",
        str(ws.masks_dir),
        "--json",
    )
    assert rc == 0
    return db


@pytest.fixture
def db(imported: Path, tmp_path: Path) -> Path:
    """A copy of the imported database to change."""
    copy = tmp_path / "copy.sqlite3"
    with sqlite3.connect(imported) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return copy


def _convs(db: Path) -> list[Conversation]:
    with open_store(db) as store:
        return list(store.iter_conversations(ListQuery()))


def _target(conv: Conversation, layer: MaskLayer) -> Mask | None:
    size = (conv.image.height, conv.image.width)
    masks = [
        a.mask for a in conv.target_turn.layer(layer) if not a.mask.is_empty and a.mask.size == size
    ]
    return masks[0] if masks else None


def _drafts(db: Path) -> dict[int, Mask]:
    """Each conversation's imported target mask (where it has one), read from the database."""
    out = {}
    for c in _convs(db):
        mask = _target(c, MaskLayer.DRAFT)
        if mask is not None:
            assert c.id is not None
            out[c.id] = mask
    return out


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _answers(rec: dict) -> list[str | None]:
    return [m["value"] for m in rec["dialogue"][1::2]]


def _inverse(mask: Mask) -> Mask:
    """A mask surely other than ``mask`` (and not empty: no draft fills its image)."""
    return Mask.from_array(~mask.to_array())


def _verify(
    store: Store, conv: Conversation, final: Mask, *, answers: str = "all", suffix: str = " ✓"
) -> Conversation:
    """Give the target turn ``final`` as its verified mask; verify every answer (``all``), or
    the target's only (``target``), as the draft plus ``suffix``."""
    last = len(conv.turns) - 1
    ann = MaskAnnotation(final, MaskLayer.FINAL, Provenance(MaskSource.HUMAN, "ann"))
    turns = []
    for t in conv.turns:
        if answers == "all" or t.index == last:
            t = replace(t, final_answer=t.draft_answer + suffix)
        if t.index == last:
            t = replace(t, masks=(*t.masks, ann))
        turns.append(t)
    return store.save_conversation(replace(conv, turns=tuple(turns)), actor="ann")


# -- freshly imported drafts ------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["coco", "jsonl", "jsonl-miras", "labelme"])
def test_final_of_fresh_drafts_writes_nothing_and_says_why(
    imported: Path, tmp_path: Path, fmt: str
) -> None:
    """The issue: COCO said "0 records" without a reason while JSONL (and MIRAS, LabelMe)
    silently wrote the 508 draft masks."""
    out = tmp_path / ("lm" if fmt == "labelme" else "out")
    report = _export(imported, fmt, out)  # --mask final is the default
    assert report["mask"] == "final"
    assert (report["matched"], report["written"], report["annotations"]) == (RECORDS, 0, 0)
    assert report["skipped"] == {"no_final_mask": RECORDS}
    assert {i["reason"] for i in report["left_out"]} == {"no_final_mask"}
    assert report["summary"] == (
        f"{RECORDS} matched, 0 written: {RECORDS} have no final mask; "
        "use --mask draft for the imported masks"
    )
    if fmt == "coco":
        assert quiet_coco(out).dataset["annotations"] == []
    elif fmt == "labelme":
        assert not list(out.rglob("*.json"))
    else:
        assert out.read_text(encoding="utf-8") == ""


def test_the_text_summary_says_why_and_exits_0(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    rc, stdout, _ = _cli("--db", str(imported), "export", "coco", str(out), "--status", "all")
    assert rc == 0  # everything left out is not a crash: the line says why
    lines = stdout.splitlines()
    assert lines[0] == (
        f"wrote {out} (--mask final, 0 masks): {RECORDS} matched, 0 written: "
        f"{RECORDS} have no final mask; use --mask draft for the imported masks"
    )
    assert lines[1].startswith("  left out conversation 1 turn ")
    assert lines[1].endswith("no_final_mask: the target turn has no final mask")
    assert lines[-1] == f"  ... {RECORDS - 20} more (use --json for all)"


def test_draft_coco_is_read_back_by_pycocotools_and_scores_ap_1(
    imported: Path, tmp_path: Path
) -> None:
    drafts = _drafts(imported)
    out = tmp_path / "drafts.json"
    report = _export(imported, "coco", out, "--mask", "draft")
    assert report["mask"] == "draft"
    assert report["written"] == report["annotations"] == len(drafts) > 490
    missing = RECORDS - len(drafts)
    assert report["skipped"] == ({"no_draft_mask": missing} if missing else {})
    assert "use --mask" not in report["summary"]  # no other source has masks for them
    gt = quiet_coco(out)
    assert gt.dataset["info"]["mask_source"] == "draft"
    last = {c.id: len(c.turns) - 1 for c in _convs(imported)}
    anns = gt.dataset["annotations"]
    assert {a["conversation_id"] for a in anns} == set(drafts)
    for a in anns:
        assert a["turn_index"] == last[a["conversation_id"]]
        want = drafts[a["conversation_id"]]
        np.testing.assert_array_equal(gt.annToMask(a).astype(bool), want.to_array())
        assert a["area"] == want.area
    assert ap_against_itself(gt) == pytest.approx(1.0)


def test_draft_jsonl_miras_and_labelme_write_the_imported_masks_and_answers(
    imported: Path, tmp_path: Path
) -> None:
    convs = {c.id: c for c in _convs(imported)}
    drafts = _drafts(imported)
    out = tmp_path / "drafts.jsonl"
    report = _export(imported, "jsonl", out, "--mask", "draft")
    assert report["written"] == len(drafts)
    for rec in _lines(out):
        conv = convs[rec["id"]]
        assert rec["mask_source"] == "draft"
        assert _answers(rec) == [t.draft_answer for t in conv.turns]
        assert Mask.from_rle(rec["mask"]) == drafts[conv.id]

    miras = tmp_path / "miras.jsonl"
    report = _export(imported, "jsonl-miras", miras, "--mask", "draft")
    lines = _lines(miras)
    assert report["written"] == len(lines) > 490
    for rec in lines:
        conv = convs[int(rec["id"])]
        assert [m["value"] for m in rec["conversations"][1::2]] == [
            t.draft_answer for t in conv.turns
        ]
        assert Mask.from_rle(rec["masks"][0]) == drafts[conv.id]

    lm = tmp_path / "lm"
    report = _export(imported, "labelme", lm, "--mask", "draft")
    assert report["written"] == len(drafts)
    assert report["records"] == len({convs[i].image.path for i in drafts})


# -- verified records -------------------------------------------------------------------------
def test_final_writes_verified_masks_and_answers_never_drafts(db: Path, tmp_path: Path) -> None:
    convs = _convs(db)
    drafts = _drafts(db)
    with_draft = [c for c in convs if c.id in drafts]
    a = with_draft[0]
    b = next(c for c in with_draft if c.image.path != a.image.path)  # a LabelMe file each
    with open_store(db) as store:
        a = _verify(store, a, _inverse(drafts[a.id]))  # every answer verified
        b = _verify(store, b, _inverse(drafts[b.id]), answers="target")  # the target's only
    finals = {a.id: _inverse(drafts[a.id]), b.id: _inverse(drafts[b.id])}

    # COCO writes no text: both verified masks go, and no draft mask at all.
    coco = tmp_path / "final.json"
    report = _export(db, "coco", coco)
    assert report["written"] == 2 and report["skipped"] == {"no_final_mask": RECORDS - 2}
    gt = quiet_coco(coco)
    for ann in gt.dataset["annotations"]:
        got = gt.annToMask(ann).astype(bool)
        np.testing.assert_array_equal(got, finals[ann["conversation_id"]].to_array())
    assert ap_against_itself(gt) == pytest.approx(1.0)

    # JSONL writes answers: the record with draft answers left is out, not filled with them.
    out = tmp_path / "final.jsonl"
    report = _export(db, "jsonl", out)
    assert report["written"] == 1
    assert report["skipped"] == {"no_final_mask": RECORDS - 2, "no_final_answer": 1}
    assert "1 has an answer that is not verified" in report["summary"]
    (rec,) = _lines(out)
    assert rec["id"] == a.id and rec["mask_source"] == "final"
    assert _answers(rec) == [t.final_answer for t in a.turns]
    assert not set(_answers(rec)) & {t.draft_answer for t in a.turns}
    assert Mask.from_rle(rec["mask"]) == finals[a.id] != drafts[a.id]

    miras = tmp_path / "final.miras.jsonl"
    report = _export(db, "jsonl-miras", miras)
    (line,) = _lines(miras)
    assert report["written"] == 1 and line["id"] == str(a.id)
    assert [m["value"] for m in line["conversations"][1::2]] == [t.final_answer for t in a.turns]
    assert Mask.from_rle(line["masks"][0]) == finals[a.id]

    # LabelMe: the verified masks only, read back through the PRIST loader's rule.
    lm = tmp_path / "lm"
    report = _export(db, "labelme", lm)
    assert report["written"] == 2 and report["skipped"] == {"no_final_mask": RECORDS - 2}
    for conv in (a, b):
        doc = read_labelme(lm / Path(conv.image.path).with_suffix(".json"))
        assert {s.label for s in doc.shapes} == {conv.focus}  # no other record's draft
        h, w = finals[conv.id].size
        got = match_focus(doc, conv.focus, match="substring", height=h, width=w).mask
        assert got is not None and got == finals[conv.id]


def test_a_stale_verdict_keeps_a_record_out_of_final(db: Path, tmp_path: Path) -> None:
    drafts = _drafts(db)
    a, b = [c for c in _convs(db) if c.id in drafts][:2]
    with open_store(db) as store:
        for conv in (a, b):
            conv = _verify(store, conv, _inverse(drafts[conv.id]))
            last = len(conv.turns) - 1
            store.add_review(conv.id, Review("qa", Decision.APPROVE, turn_index=last))
        # A's verified mask changes after it was judged: the verdict no longer stands for it.
        now = store.get_conversation(a.id)
        turns = list(now.turns)
        other = MaskAnnotation(drafts[a.id], MaskLayer.FINAL, Provenance(MaskSource.HUMAN, "ann"))
        turns[-1] = replace(turns[-1], masks=(*turns[-1].layer(MaskLayer.DRAFT), other))
        store.save_conversation(replace(now, turns=tuple(turns)), actor="ann")
        assert stale_turns(store.get_conversation(a.id), store.reviews(a.id)) == {last}
        assert stale_turns(store.get_conversation(b.id), store.reviews(b.id)) == set()
    report = _export(db, "coco", tmp_path / "c.json")
    assert report["written"] == 1
    assert report["skipped"] == {"no_final_mask": RECORDS - 2, "stale_verdict": 1}
    assert [i["conversation_id"] for i in report["left_out"] if i["reason"] == "stale_verdict"] == [
        a.id
    ]
    assert "1 has a stale verdict" in report["summary"]
    # The draft source has no verdict to go stale: both records go.
    drafts_report = _export(db, "coco", tmp_path / "d.json", "--mask", "draft")
    assert "stale_verdict" not in drafts_report["skipped"]


def test_rules_are_checked_on_the_texts_exported(db: Path, tmp_path: Path) -> None:
    """A verified answer that breaks a rule keeps the record out of ``final`` but not out of
    ``draft``; a draft answer that breaks one, the other way round."""
    drafts = _drafts(db)
    a, b = [c for c in _convs(db) if c.id in drafts and len(c.turns) > 1][:2]
    with open_store(db) as store:
        a = _verify(store, a, _inverse(drafts[a.id]))
        turns = list(a.turns)
        turns[-1] = replace(turns[-1], final_answer="It is right there.")  # no [SEG]
        a = store.save_conversation(replace(a, turns=tuple(turns)), actor="ann")
        b = _verify(store, b, _inverse(drafts[b.id]))
        turns = list(b.turns)
        turns[0] = replace(turns[0], draft_answer="Already here [SEG].")  # [SEG] too early
        b = store.save_conversation(replace(b, turns=tuple(turns)), actor="ann")

    final = _export(db, "jsonl", tmp_path / "f.jsonl")
    assert final["skipped"] == {"no_final_mask": RECORDS - 2, "rule:seg_final": 1}
    assert [r["id"] for r in _lines(tmp_path / "f.jsonl")] == [b.id]
    assert "1 breaks the PRIST rule seg_final" in final["summary"]

    draft = _export(db, "jsonl", tmp_path / "d.jsonl", "--mask", "draft")
    assert draft["skipped"].get("rule:seg_early") == 1
    kept = {r["id"] for r in _lines(tmp_path / "d.jsonl")}
    assert a.id in kept and b.id not in kept


# -- proposals --------------------------------------------------------------------------------
def test_proposal_sources_take_the_latest_proposal_of_the_named_proposer(
    db: Path, tmp_path: Path
) -> None:
    drafts = _drafts(db)
    a, b, c = [conv for conv in _convs(db) if conv.id in drafts][:3]
    h, w = a.image.height, a.image.width
    quarter = np.zeros((h, w), bool)
    quarter[: h // 2, : w // 2] = True
    m_lisa, m_miras = _inverse(drafts[a.id]), Mask.from_array(quarter)
    assert m_lisa != m_miras
    t0 = datetime(2025, 5, 1, tzinfo=UTC)
    last_a = len(a.turns) - 1
    lisa = [
        Proposal(
            t.index,
            "lisa",
            "1",
            "It is here [SEG]." if t.index == last_a else f"lisa answers {t.index}",
            masks=(m_lisa,) if t.index == last_a else (),
            created_at=t0,
        )
        for t in a.turns
    ]
    later = Proposal(
        last_a, "miras", "2", "There [SEG].", masks=(m_miras,), created_at=t0 + timedelta(minutes=1)
    )
    with open_store(db) as store:
        store.add_proposals(a.id, [*lisa, later])
        store.add_proposals(
            b.id,
            [
                Proposal(
                    len(b.turns) - 1, "miras", "2", "[SEG]", masks=(drafts[b.id],), created_at=t0
                )
            ],
        )
        store.add_proposals(
            c.id, [Proposal(len(c.turns) - 1, "miras", "2", "[SEG]", created_at=t0)]
        )

    def coco(source: str) -> tuple[dict, dict[int, np.ndarray]]:
        out = tmp_path / f"{source.replace(':', '-')}.json"
        report = _export(db, "coco", out, "--mask", source)
        gt = quiet_coco(out)
        return report, {
            ann["conversation_id"]: gt.annToMask(ann).astype(bool)
            for ann in gt.dataset["annotations"]
        }

    # Any proposer: each turn's latest proposal, so miras's later mask for A.
    report, got = coco("proposal")
    assert report["mask"] == "proposal" and set(got) == {a.id, b.id}
    np.testing.assert_array_equal(got[a.id], m_miras.to_array())
    np.testing.assert_array_equal(got[b.id], drafts[b.id].to_array())
    assert report["skipped"] == {"no_proposal": RECORDS - 3, "no_proposal_mask": 1}
    # One proposer: its own latest, never another's.
    report, got = coco("proposal:lisa")
    assert set(got) == {a.id} and report["skipped"] == {"no_proposal": RECORDS - 1}
    np.testing.assert_array_equal(got[a.id], m_lisa.to_array())
    # A proposer with no proposal: nothing, and the line says so.
    report, got = coco("proposal:nobody")
    assert got == {} and report["skipped"] == {"no_proposal": RECORDS}
    assert report["summary"].startswith(
        f"{RECORDS} matched, 0 written: {RECORDS} have no proposal from nobody; use --mask draft"
    )

    # JSONL writes the proposals' answers: only A has one for every turn from lisa.
    out = tmp_path / "lisa.jsonl"
    report = _export(db, "jsonl", out, "--mask", "proposal:lisa")
    (rec,) = _lines(out)
    assert rec["id"] == a.id and rec["mask_source"] == "proposal:lisa"
    assert _answers(rec) == [p.answer for p in lisa]
    assert Mask.from_rle(rec["mask"]) == m_lisa
    # Any proposer: A's turns mix lisa's earlier answers with miras's later target answer; B
    # has no proposal for its earlier turns and is left out.
    out = tmp_path / "any.jsonl"
    report = _export(db, "jsonl", out, "--mask", "proposal")
    (rec,) = _lines(out)
    assert _answers(rec) == [p.answer for p in lisa[:-1]] + [later.answer]
    assert report["skipped"] == {"no_proposal": RECORDS - 2, "no_proposal_mask": 1}


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bogus", "error: --mask must be final, draft, proposal or proposal:NAME, not 'bogus'"),
        ("proposal:", "error: --mask proposal:NAME needs a proposer name after 'proposal:'"),
        ("draft:x", "error: --mask must be final, draft, proposal or proposal:NAME, not 'draft:x'"),
    ],
)
@pytest.mark.parametrize("fmt", ["coco", "jsonl", "labelme"])
def test_a_bad_mask_source_is_refused_in_one_line(
    imported: Path, tmp_path: Path, value: str, message: str, fmt: str
) -> None:
    out = tmp_path / "never"
    rc, stdout, stderr = _cli("--db", str(imported), "export", fmt, str(out), "--mask", value)
    assert rc == 2 and stdout == ""
    assert stderr.strip().splitlines() == [message]
    assert not out.exists()
