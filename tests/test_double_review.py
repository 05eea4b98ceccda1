"""Double review: a reviewer asks for a second review, the record waits in that queue, a second
reviewer judges it blind to the first, and the agreement of the two (turn verdicts, Cohen's
kappa, IoU of the target masks each judged) reaches the quality report and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures_storage import blob_mask, make_conversation

from annotator.cli import main
from annotator.core.agreement import cohen_kappa, review_pair
from annotator.core.mask import Mask
from annotator.core.metrics import iou
from annotator.core.model import Decision, MaskAnnotation, MaskLayer, MaskSource, Provenance, Review
from annotator.services.quality_report import build_report
from annotator.storage import ListQuery, Store, open_store

A, R = Decision.APPROVE, Decision.REJECT


def test_cohen_kappa_by_hand() -> None:
    # observed 0.75; chance 0.5 x 0.25 + 0.5 x 0.75 = 0.5; kappa (0.75 - 0.5) / 0.5
    assert cohen_kappa([(A, A), (A, R), (R, R), (R, R)]) == pytest.approx(0.5)
    assert cohen_kappa([(A, R), (R, A)]) == pytest.approx(-1.0)
    assert cohen_kappa([(A, A), (A, A)]) is None  # both always agree on one label: undefined
    assert cohen_kappa([]) is None


def _set_final(store: Store, cid: int, mask: Mask) -> None:
    conv = store.get_conversation(cid)
    target = conv.target_turn
    keep = tuple(m for m in target.masks if m.layer != MaskLayer.FINAL)
    ann = MaskAnnotation(mask, MaskLayer.FINAL, Provenance(MaskSource.HUMAN, "x"))
    turns = (*conv.turns[:-1], replace(target, masks=(*keep, ann)))
    store.save_conversation(replace(conv, turns=turns), actor="x")


def test_a_second_review_pairs_two_reviewers(tmp_path: Path) -> None:
    db = tmp_path / "double.sqlite3"
    store = open_store(db)
    try:
        (cid, other) = store.add_conversations(
            [make_conversation(n, final_mask=True) for n in range(2)], actor="imp"
        ).added_ids
        first_mask = store.get_conversation(cid).target_turn.layer(MaskLayer.FINAL)[0].mask
        for turn, decision in ((0, A), (1, A), (2, R)):
            reason = "mask_wrong" if decision == R else None
            store.add_review(cid, Review("ana", decision, turn_index=turn, reason=reason))
        store.add_review(cid, Review("ana", Decision.REQUEST_SECOND, "please check the rim"))
        assert [s.id for s in store.page(ListQuery(queue="second"))] == [cid]
        assert review_pair(cid, store.reviews(cid), 3) is None  # nobody else has judged yet
        # ben redraws the target mask and judges every turn
        second_mask = blob_mask(48, 64, 99)
        _set_final(store, cid, second_mask)
        for turn, decision in ((0, A), (1, R), (2, A)):
            reason = "text_wrong" if decision == R else None
            store.add_review(cid, Review("ben", decision, turn_index=turn, reason=reason))
        assert store.page(ListQuery(queue="second")) == []
        # a request ana answers herself is no pair
        store.add_review(other, Review("ana", Decision.REQUEST_SECOND, "?"))
        store.add_review(other, Review("ana", A, turn_index=0))
        section = build_report(store)["double_review"]
    finally:
        store.close()
    expected_iou = iou(first_mask.to_array(), second_mask.to_array())
    assert 0 < expected_iou < 1
    assert section["pairs"] == 1 and section["turn_verdicts"] == 3
    assert section["verdict_agreement"] == pytest.approx(1 / 3)
    assert section["cohen_kappa"] == pytest.approx(cohen_kappa([(A, A), (A, R), (R, A)]))
    assert section["mask_iou"] == {"n": 1, "mean": pytest.approx(expected_iou)}
    assert section["by_pair"][0]["first"] == "ana" and section["by_pair"][0]["second"] == "ben"


def test_review_command_requests_and_metrics_report_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.sqlite3"
    store = open_store(db)
    (cid,) = store.add_conversations([make_conversation(1, final_mask=True)], actor="imp").added_ids
    store.close()
    base = ["--db", str(db), "review", str(cid)]
    assert main([*base, "--approve", "--turn", "3", "--as", "ana"]) == 0
    assert main([*base, "--request-second", "--as", "ana"]) == 0
    assert main([*base, "--reject", "mask_wrong", "--turn", "3", "--as", "ben"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "metrics", "--json"]) == 0
    double = json.loads(capsys.readouterr().out)["double_review"]
    assert (double["pairs"], double["verdict_agreement"]) == (1, 0.0)
    assert double["mask_iou"]["mean"] == pytest.approx(1.0)  # ben did not change the mask
    assert main(["--db", str(db), "metrics"]) == 0
    assert "double review" in capsys.readouterr().out


def test_review_command_refusals_name_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.sqlite3"
    store = open_store(db)
    (cid,) = store.add_conversations(
        [make_conversation(1, final_mask=True, verified=False)], actor="imp"
    ).added_ids
    store.close()
    base = ["--db", str(db), "review", str(cid), "--as", "rita"]
    capsys.readouterr()
    assert main([*base, "--approve"]) == 2
    err = capsys.readouterr().err
    assert "cannot approve: turn 1's answer is not verified" in err and err.count("\n") == 1
    assert main([*base, "--reject", "blurry"]) == 2
    assert "unknown reason code 'blurry'" in capsys.readouterr().err
    assert main([*base, "--reopen", ""]) == 2
    assert "reopening a record needs a reason" in capsys.readouterr().err
    assert main([*base, "--approve", "--turn", "0"]) == 2
    assert "--turn counts from 1" in capsys.readouterr().err
    assert main([*base, "--comment", "why the cup?", "--turn", "3"]) == 0
    capsys.readouterr()
    assert main([*base, "--thread", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["turn"], entry["author"], entry["comment"]) == (3, "rita", "why the cup?")
    assert main([*base, "--resolve", str(entry["id"])]) == 0
    assert main(["--db", str(db), "reasons", "add", "blurry", "Too blurry"]) == 0
    assert main([*base, "--reject", "blurry"]) == 0
    assert main(["--db", str(db), "reasons", "retire", "blurry"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "reasons", "list", "--all", "--json"]) == 0
    listed = {e["code"]: e["retired"] for e in json.loads(capsys.readouterr().out)}
    assert listed["blurry"] is True and listed["mask_wrong"] is False
    assert main(["--db", str(db), "project", "blind-first", "on"]) == 0
    store = open_store(db)
    try:
        assert store.project_setting("blind_first_required") is True
        assert store.get_conversation(cid).status.value == "rejected"
    finally:
        store.close()
