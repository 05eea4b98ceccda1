"""The correction (core.correction): which proposal counts, the proposal → final diff, and the
list's correction column, which storage computes with its own SQL, agreeing with it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fixtures_storage import make_conversation

from annotator.core.correction import latest_per_turn, mask_diff, proposed_mask, united
from annotator.core.mask import Mask
from annotator.core.model import MaskAnnotation, MaskLayer, MaskSource, Proposal, Provenance
from annotator.storage import ListQuery, open_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _p(turn: int, *, at: datetime, pid: int | None, masks: tuple[Mask, ...] = ()) -> Proposal:
    return Proposal(turn, "m", "1", "a", masks=masks, created_at=at, id=pid)


def test_latest_per_turn_goes_by_time_then_id() -> None:
    a = _p(0, at=T0, pid=5)
    b = _p(0, at=T0, pid=7)  # same time, greater id
    c = _p(1, at=T0 + timedelta(seconds=1), pid=1)
    d = _p(1, at=T0, pid=9)  # greater id, but older
    assert latest_per_turn([b, a, d, c]) == {0: b, 1: c}
    e = _p(2, at=T0, pid=None)
    f = _p(2, at=T0, pid=None)
    assert latest_per_turn([e, f])[2] is f  # a full tie: the later one in the input


def test_mask_diff_against_set_arithmetic() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = rng.random((23, 31)) < 0.4
        f = rng.random((23, 31)) < 0.4
        d = mask_diff(p, f)
        pix_p = {tuple(x) for x in np.argwhere(p)}
        pix_f = {tuple(x) for x in np.argwhere(f)}
        assert d.added == len(pix_f - pix_p) and d.removed == len(pix_p - pix_f)
        assert d.changed == len(pix_p ^ pix_f)
        assert d.iou == pytest.approx(len(pix_p & pix_f) / len(pix_p | pix_f))
    empty = np.zeros((4, 4), bool)
    assert mask_diff(empty, empty).iou is None
    with pytest.raises(ValueError, match="different sizes"):
        mask_diff(empty, np.zeros((4, 5), bool))


def test_proposed_mask_unites_and_refuses_a_misfit() -> None:
    a = np.zeros((6, 8), bool)
    a[0:2] = True
    b = np.zeros((6, 8), bool)
    b[:, 0:2] = True
    p = _p(0, at=T0, pid=1, masks=(Mask.from_array(a), Mask.from_array(b)))
    got = proposed_mask(p, 6, 8)
    assert got is not None and np.array_equal(got.to_array(), a | b)
    no_mask = proposed_mask(_p(0, at=T0, pid=1), 6, 8)
    assert no_mask is not None and no_mask.is_empty  # proposes the empty mask
    assert proposed_mask(p, 6, 9) is None
    assert united([Mask.from_array(a)], 6, 8) == Mask.from_array(a)


def test_storage_correction_column_matches_core(tmp_path: Path) -> None:
    """The list sorts by a value storage computes in SQL; it must be core's rule exactly."""
    rng = np.random.default_rng(11)
    store = open_store(tmp_path / "c.sqlite3")
    try:
        convs = [make_conversation(n, turns=2, height=30, width=40) for n in range(12)]
        ids = store.add_conversations(convs, actor="t").added_ids
        for cid in ids:
            conv = store.get_conversation(cid)
            target = conv.target_turn
            final = Mask.from_array(rng.random((30, 40)) < 0.3)
            ann = MaskAnnotation(final, MaskLayer.FINAL, Provenance(MaskSource.HUMAN, "r"))
            store.save_conversation(
                replace(conv, turns=(conv.turns[0], replace(target, masks=(ann,)))), actor="r"
            )
            made = []
            for k in range(int(rng.integers(1, 4))):
                masks = tuple(
                    Mask.from_array(rng.random((30, 40)) < 0.2)
                    for _ in range(int(rng.integers(0, 3)))  # 0: a proposal without a mask
                )
                at = T0 + timedelta(seconds=int(rng.integers(0, 2)))  # ties on purpose
                made.append(Proposal(1, "m", f"v{k}", "a", masks=masks, created_at=at))
            store.add_proposals(cid, made)

        expected: dict[int, int | None] = {}
        for cid in ids:
            conv = store.get_conversation(cid)
            latest = latest_per_turn(store.proposals(cid))[1]
            proposal = proposed_mask(latest, 30, 40)
            final = united([a.mask for a in conv.target_turn.layer(MaskLayer.FINAL)], 30, 40)
            assert final is not None
            assert proposal is not None  # storage refuses proposed masks of another size
            expected[cid] = mask_diff(proposal.to_array(), final.to_array()).changed
        rows = store.page(ListQuery(ids=tuple(ids)), 0, 100)
        assert {r.id: r.correction_pixels for r in rows} == expected
        assert len(set(expected.values())) > 6  # the records differ: a real comparison
    finally:
        store.close()
