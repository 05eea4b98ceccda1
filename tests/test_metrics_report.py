"""The quality report and ``annotator metrics`` on a reviewed copy of the sample project.

Every expected figure is recomputed here from the arrays that went into the database, with plain
numpy (and sacrebleu plus a hand-rolled LCS for the text), not with annotator.core.metrics.
"""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from fixtures_metrics import APPROVED, IN_REVIEW_WITH_FINAL, MetricsProject

from annotator.cli import main as cli_main
from annotator.core.errors import Cancelled
from annotator.core.progress import Task
from annotator.services.quality_report import ReportOptions, build_report
from annotator.storage import ListQuery, open_store


def np_iou(pred: np.ndarray | None, ref: np.ndarray) -> float:
    p = np.zeros_like(ref) if pred is None else pred
    union = np.logical_or(p, ref).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, ref).sum() / union)


def np_counts(pred: np.ndarray | None, ref: np.ndarray) -> tuple[int, int]:
    p = np.zeros_like(ref) if pred is None else pred
    return int(np.logical_and(p, ref).sum()), int(np.logical_or(p, ref).sum())


def target_prediction(project: MetricsProject, cid: int, proposer: str | None) -> np.ndarray | None:
    if cid in project.other_target and proposer in (None, "other"):
        return project.other_target[cid]  # the later proposal wins when no proposer is named
    return project.proposed[(cid, project.turn_counts[cid] - 1)]


def lcs_f(hyp: str, ref: str) -> float:
    a, b = re.findall(r"\w+", hyp.lower()), re.findall(r"\w+", ref.lower())
    if not a or not b:
        return 0.0
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
            )
    lcs = table[-1][-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def test_target_turn_against_approved_final_masks(metrics_project: MetricsProject) -> None:
    project = metrics_project
    report = build_report(project.store)
    rows = {r["conversation_id"]: r for r in report["records"]}
    # approved and proposed: 1-6; the second annotations (11, 12) have no proposals
    assert sorted(rows) == list(APPROVED)
    ious, inters, unions = [], 0, 0
    for cid in APPROVED:
        pred = target_prediction(project, cid, None)
        want = np_iou(pred, project.final[cid])
        assert rows[cid]["iou"] == pytest.approx(want), cid
        assert rows[cid]["is_target"]
        i, u = np_counts(pred, project.final[cid])
        inters, unions = inters + i, unions + u
        ious.append(want)
    assert rows[2]["proposer"] == "other@0.1"
    assert rows[5]["pred_area"] == 0 and rows[5]["iou"] == 0.0  # answered without a mask
    overall = report["model_vs_reference"]["overall"]
    assert overall["n"] == len(APPROVED)
    assert overall["giou"] == pytest.approx(np.mean(ious))
    assert overall["ciou"] == pytest.approx(inters / unions)
    assert overall["giou"] != pytest.approx(overall["ciou"])
    assert report["counts"] == {"conversations": 12, "records": 6, "pairs": 6}
    assert report["skipped"]["conversations_without_reference"] == 4  # 7 in review, 8-10 drafts
    assert report["skipped"]["turns_without_proposal"] == 2  # the second annotations
    assert report["proposers"] == {"miras@test": 5, "other@0.1": 1}
    # histogram of target-turn IoU, with the records behind each bar
    hist = report["iou_histogram"]
    assert sum(hist["counts"]) == len(APPROVED)
    for cid in APPROVED:
        b = min(int(rows[cid]["iou"] * 10), 9)
        assert cid in hist["ids"][b]
    assert 5 in hist["ids"][0]
    json.dumps(report)  # JSON-ready as it is


def test_named_proposer_and_every_turn(metrics_project: MetricsProject) -> None:
    project = metrics_project
    report = build_report(project.store, ReportOptions(proposer="miras", turns="all"))
    rows = {(r["conversation_id"], r["turn_index"]): r for r in report["records"]}
    expected: dict[int, list[float]] = {}
    for cid in APPROVED:
        for t in range(project.turn_counts[cid]):
            pred = project.proposed[(cid, t)]
            is_target = t == project.turn_counts[cid] - 1
            if pred is None and not is_target:
                assert (cid, t) not in rows
                continue
            want = np_iou(pred, project.final[cid])  # earlier turns take the target's reference
            assert rows[(cid, t)]["iou"] == pytest.approx(want)
            assert rows[(cid, t)]["reference_turn"] == project.turn_counts[cid] - 1
            assert rows[(cid, t)]["proposer"] == "miras@test"
            expected.setdefault(t, []).append(want)
    by_turn = report["model_vs_reference"]["by_turn"]
    assert sorted(by_turn) == [str(t) for t in sorted(expected)]
    for t, values in expected.items():
        assert by_turn[str(t)]["n"] == len(values)
        assert by_turn[str(t)]["giou"] == pytest.approx(np.mean(values))
    ids = report["model_vs_reference"]["ids_by_turn"]
    assert ids["0"] == list(APPROVED)
    assert ids["3"] == [cid for cid in APPROVED if project.turn_counts[cid] == 4]
    # the proposal narrows onto the target: on the 4-turn records IoU rises turn by turn
    four = [cid for cid in APPROVED if project.turn_counts[cid] == 4]
    for cid in four:
        seq = [rows[(cid, t)]["iou"] for t in range(4)]
        assert all(a < b for a, b in pairwise(seq)), seq


def test_draft_reference_evaluates_every_imported_record(metrics_project: MetricsProject) -> None:
    project = metrics_project
    report = build_report(project.store, ReportOptions(reference="draft", proposer="miras"))
    rows = {r["conversation_id"]: r for r in report["records"]}
    assert sorted(rows) == list(range(1, 11))  # the second annotations have no DRAFT masks
    for cid, row in rows.items():
        want = np_iou(target_prediction(project, cid, "miras"), project.draft[cid])
        assert row["iou"] == pytest.approx(want)


def test_agreement_counts_different_people_only(metrics_project: MetricsProject) -> None:
    project = metrics_project
    agreement = build_report(project.store, ReportOptions(text=False))["agreement"]
    pairs = {tuple(p["conversation_ids"]): p for p in agreement["pairs"]}
    copy_of_1 = next(k for k, v in project.duplicates.items() if v == 1)
    copy_of_2 = next(k for k, v in project.duplicates.items() if v == 2)
    assert set(pairs) == {(4,), (1, copy_of_1), (2, copy_of_2)}
    assert pairs[(4,)]["kind"] == "same_turn"
    assert pairs[(4,)]["authors"] == [["alice"], ["carol"]]
    by_author = project.final_by_author[4]
    want_4 = np_iou(by_author["alice"], by_author["carol"])
    assert pairs[(4,)]["iou"] == pytest.approx(want_4)
    dup = pairs[(1, copy_of_1)]
    assert dup["kind"] == "duplicate_conversation" and dup["authors"] == [["alice"], ["bob"]]
    want_1 = np_iou(project.final[1], project.final[copy_of_1])
    assert dup["iou"] == pytest.approx(want_1)
    assert pairs[(2, copy_of_2)]["same_author"] is True
    assert agreement["same_author_pairs"] == 1
    assert agreement["overall"]["n"] == 2
    assert agreement["overall"]["giou"] == pytest.approx((want_4 + want_1) / 2)


def test_edits_after_the_proposal(metrics_project: MetricsProject) -> None:
    project = metrics_project
    edits = build_report(project.store, ReportOptions(text=False))["edits"]
    rows = {r["conversation_id"]: r for r in edits["records"]}
    # every record with a final mask and a proposal, approved or not
    assert sorted(rows) == [*APPROVED, IN_REVIEW_WITH_FINAL]
    changed = []
    for cid, row in rows.items():
        pred = target_prediction(project, cid, None)
        p = np.zeros_like(project.final[cid]) if pred is None else pred
        want = int(np.logical_xor(p, project.final[cid]).sum())
        assert row["changed_pixels"] == want
        assert row["delta_iou"] == pytest.approx(1 - np_iou(pred, project.final[cid]))
        changed.append(want)
    assert rows[5]["delta_iou"] == 1.0
    summary = edits["summary"]
    assert summary["n"] == 7
    assert summary["changed_pixels"]["total"] == sum(changed)
    assert summary["changed_pixels"]["median"] == float(np.median(changed))
    assert summary["unchanged"] == sum(1 for c in changed if c == 0)
    # the storage layer's correction size (list sorting) agrees with ours
    listed = {s.id: s.correction_pixels for s in project.store.page(ListQuery(), 0, 100)}
    for cid, row in rows.items():
        assert listed[cid] == row["changed_pixels"]


def test_text_agreement_against_sacrebleu_and_lcs(metrics_project: MetricsProject) -> None:
    project = metrics_project
    text = build_report(project.store)["text"]
    bleu, rouge, turns = [], [], set()
    for cid in APPROVED:
        for t in range(project.turn_counts[cid]):  # approval verified every answer
            hyp, ref = project.answers[(cid, t)]
            bleu.append(sacrebleu.sentence_bleu(hyp, [ref]).score / 100)
            rouge.append(lcs_f(hyp, ref))
            turns.add(str(t))
    assert text["overall"]["n"] == len(bleu)
    assert text["overall"]["bleu4"] == pytest.approx(np.mean(bleu))
    assert text["overall"]["rouge_l"] == pytest.approx(np.mean(rouge))
    assert 0 < text["overall"]["bleu4"] < 1
    assert sorted(text["by_turn"]) == sorted(turns)
    assert build_report(project.store, ReportOptions(text=False))["text"] is None


def test_unicode_answers_are_not_scored_zero() -> None:
    from annotator.services.text_metrics import TextScorer, text_agreement

    scorer = TextScorer()
    same = scorer.score("Кошка сидит на ковре", "Кошка сидит на ковре")
    assert same.rouge_l == 1.0 and same.bleu4 == pytest.approx(1.0)
    assert scorer.score("völlig anders", "Кошка сидит").rouge_l == 0.0
    assert text_agreement([("a b", "   ")]) == {"n": 0, "bleu4": None, "rouge_l": None}


def test_options_are_checked_and_cancel_stops(metrics_project: MetricsProject) -> None:
    with pytest.raises(ValueError, match="turns"):
        ReportOptions(turns="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reference"):
        ReportOptions(reference="gold")  # type: ignore[arg-type]
    task = Task()
    task.token.cancel()
    with pytest.raises(Cancelled):
        build_report(metrics_project.store, task=task)


def test_cli_json_and_table(
    metrics_project: MetricsProject, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(metrics_project.db)
    assert cli_main(["--db", db, "metrics", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    direct = build_report(metrics_project.store)
    assert printed["model_vs_reference"] == direct["model_vs_reference"]
    assert printed["agreement"] == direct["agreement"]
    assert printed["records"] == direct["records"]

    assert cli_main(["--db", db, "metrics", "--json", "--no-records", "--turn", "all"]) == 0
    slim = json.loads(capsys.readouterr().out)
    assert "records" not in slim and "records" not in slim["edits"]
    assert slim["options"]["turns"] == "all"
    assert set(slim["model_vs_reference"]["by_turn"]) == {"0", "1", "2", "3"}

    assert cli_main(["--db", db, "metrics", "--proposer", "miras", "--edge"]) == 0
    table = capsys.readouterr().out
    assert "model vs reference" in table and "agreement between reviewers" in table
    giou = build_report(metrics_project.store, ReportOptions(proposer="miras", text=False))
    assert f"{giou['model_vs_reference']['overall']['giou']:.3f}" in table
    assert "edgeIoU*" in table and "MIRAS" in table


def test_cli_on_an_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "empty.sqlite3"
    open_store(db).close()
    assert cli_main(["--db", str(db), "metrics", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model_vs_reference"]["overall"]["n"] == 0
    assert report["model_vs_reference"]["overall"]["giou"] is None
    assert cli_main(["--db", str(db), "metrics"]) == 0
    assert "none (no record has both a proposal and a final mask)" in capsys.readouterr().out
