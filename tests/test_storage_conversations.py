"""Conversations round-trip through a real SQLite file: add, get, save, page, count, iterate."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures_storage import blob_mask, make_conversation, missing_image_flag

from annotator.core.errors import Cancelled, MaskError, NotFoundError, WorkflowError
from annotator.core.model import HistoryEvent, MaskAnnotation, MaskLayer, MaskSource, Provenance
from annotator.core.progress import CancelToken, Task
from annotator.core.status import Status
from annotator.storage import ConflictError, ListQuery, Store, open_store


def test_add_and_get_round_trip(store: Store) -> None:
    convs = [
        make_conversation(i, flags=(missing_image_flag(),) if i == 1 else ()) for i in range(3)
    ]
    result = store.add_conversations(convs, actor="alice")
    assert len(result.added_ids) == 3 and result.skipped == 0
    for conv, cid in zip(convs, result.added_ids, strict=True):
        got = store.get_conversation(cid)
        assert got.id == cid and got.revision == 0
        assert got.focus == conv.focus and got.key == conv.key and got.source == conv.source
        assert replace(got.image, id=None) == conv.image
        assert got.flags == conv.flags
        assert [(tn.index, tn.question, tn.draft_answer, tn.final_answer) for tn in got.turns] == [
            (tn.index, tn.question, tn.draft_answer, tn.final_answer) for tn in conv.turns
        ]
        for got_turn, turn in zip(got.turns, conv.turns, strict=True):
            assert [m.mask for m in got_turn.masks] == [m.mask for m in turn.masks]
            assert [replace(m, id=None) for m in got_turn.masks] == list(turn.masks)
            assert all(m.id is not None for m in got_turn.masks)


def test_reimport_is_idempotent_and_shares_images(store: Store, tmp_path: Path) -> None:
    convs = [make_conversation(i, image_path="img/shared.jpg") for i in range(4)]
    convs = [replace(c, image=replace(c.image, sha256="ab" * 32)) for c in convs]
    first = store.add_conversations(convs[:2], actor="a")
    second = store.add_conversations(convs, actor="a")
    assert first.skipped == 0 and len(first.added_ids) == 2
    assert second.skipped == 2 and len(second.added_ids) == 2
    assert store.count(ListQuery()) == 4
    image_ids = {store.get_conversation(i).image.id for i in first.added_ids + second.added_ids}
    assert len(image_ids) == 1
    # A duplicate key inside one batch is skipped as well.
    third = store.add_conversations([make_conversation(9), make_conversation(9)], actor="a")
    assert len(third.added_ids) == 1 and third.skipped == 1


def test_add_is_all_or_nothing(store: Store) -> None:
    good = make_conversation(1)
    bad = make_conversation(2)
    wrong = MaskAnnotation(
        mask=blob_mask(10, 10, 0),
        layer=MaskLayer.DRAFT,
        provenance=Provenance(source=MaskSource.HUMAN, author="x"),
    )
    bad = replace(bad, turns=(*bad.turns[:-1], replace(bad.turns[-1], masks=(wrong,))))
    with pytest.raises(MaskError, match="does not fit"):
        store.add_conversations([good, bad], actor="a")
    assert store.is_empty()


def test_cancelled_import_stores_nothing(store: Store) -> None:
    token = CancelToken()
    seen: list[int] = []

    def progress(done: int, total: int | None, _msg: str) -> None:
        seen.append(done)
        if done > 0:
            token.cancel()

    convs = [make_conversation(i, turns=2) for i in range(1200)]
    with pytest.raises(Cancelled):
        store.add_conversations(convs, actor="a", task=Task(on_progress=progress, token=token))
    assert seen and seen[0] == 0
    assert store.is_empty()


def test_get_unknown_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_conversation(12345)
    with pytest.raises(NotFoundError):
        store.history(12345)


def test_save_replaces_mutable_parts_and_keeps_mask_ids(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1)], actor="a").added_ids
    conv = store.get_conversation(cid)
    target = conv.target_turn
    kept = target.masks[0]
    new_final = MaskAnnotation(
        mask=blob_mask(48, 64, 777),
        layer=MaskLayer.FINAL,
        provenance=Provenance(source=MaskSource.HUMAN, author="bob", detail={"strokes": 3}),
    )
    edited = replace(
        conv,
        focus="a new focus",
        status=Status.IN_REVIEW,
        flags=(),
        turns=(
            replace(conv.turns[0], final_answer="verified answer"),
            *conv.turns[1:-1],
            replace(target, masks=(kept, new_final)),
        ),
    )
    saved = store.save_conversation(
        edited, actor="bob", events=(HistoryEvent(actor="bob", action="mask", detail={"turn": 2}),)
    )
    assert saved.revision == 1 and saved.status == Status.IN_REVIEW
    assert saved.focus == "a new focus"
    assert saved.turns[0].final_answer == "verified answer"
    masks = saved.target_turn.masks
    assert masks[0].id == kept.id and masks[0].mask == kept.mask
    assert masks[1].mask == new_final.mask and masks[1].provenance.detail == {"strokes": 3}
    assert [t.id for t in saved.turns] == [t.id for t in conv.turns]
    assert saved == store.get_conversation(cid)
    actions = [(e.action, e.detail) for e in store.history(cid)]
    assert actions[0][0] == "import"
    assert ("mask", {"turn": 2}) in actions
    assert ("status", {"from": "draft", "to": "in_review"}) in actions


def test_save_can_drop_masks_and_turns(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1, turns=4)], actor="a").added_ids
    conv = store.get_conversation(cid)
    shorter = replace(conv, turns=(conv.turns[0], replace(conv.turns[1], masks=())))
    saved = store.save_conversation(shorter, actor="a")
    assert len(saved.turns) == 2 and saved.target_turn.masks == ()
    assert store.page(ListQuery())[0].turn_count == 2


def test_stale_revision_conflicts_and_changes_nothing(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1)], actor="a").added_ids
    conv = store.get_conversation(cid)
    store.save_conversation(replace(conv, focus="first"), actor="a")
    with pytest.raises(ConflictError) as info:
        store.save_conversation(replace(conv, focus="second"), actor="b")
    assert info.value.stored == 1 and info.value.expected == 0
    assert store.get_conversation(cid).focus == "first"


def test_save_checks_the_workflow(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1, verified=True)], actor="a").added_ids
    conv = store.get_conversation(cid)
    with pytest.raises(WorkflowError):
        store.save_conversation(replace(conv, status=Status.APPROVED), actor="a")
    review = store.save_conversation(replace(conv, status=Status.IN_REVIEW), actor="a")
    with pytest.raises(WorkflowError, match="final mask"):
        store.save_conversation(replace(review, status=Status.APPROVED), actor="a")
    assert store.get_conversation(cid).status == Status.IN_REVIEW
    assert store.get_conversation(cid).revision == 1


def test_page_count_filters_and_sorts(store: Store) -> None:
    convs = [
        make_conversation(i, flags=(missing_image_flag(),) if i % 3 == 0 else ()) for i in range(10)
    ]
    ids = store.add_conversations(convs, actor="a").added_ids
    moved = store.get_conversation(ids[4])
    store.save_conversation(replace(moved, status=Status.IN_REVIEW), actor="a")
    assert store.count(ListQuery()) == 10
    assert [s.id for s in store.page(ListQuery(), 0, 3)] == ids[:3]
    assert [s.id for s in store.page(ListQuery(), 3, 3)] == ids[3:6]
    assert [s.id for s in store.page(ListQuery(sort="-id"), 0, 2)] == ids[::-1][:2]
    assert store.count(ListQuery(flagged=True)) == 4
    assert store.count(ListQuery(flagged=False)) == 6
    assert store.count(ListQuery(status=Status.IN_REVIEW)) == 1
    assert store.page(ListQuery(sort="-updated"), 0, 1)[0].id == ids[4]
    assert store.page(ListQuery(sort="status"), 0, 10)[-1].id == ids[4]
    assert store.count(ListQuery(text="NUMBER 7")) == 1
    assert store.count(ListQuery(text="img/0000")) == 10
    assert [s.id for s in store.page(ListQuery(text="img/00003"))] == [ids[3]]
    assert [s.id for s in store.page(ListQuery(text="Number 5", sort="focus"))] == [ids[5]]
    assert store.count(ListQuery(text="50%")) == 0  # wildcards are literal
    assert store.count(ListQuery(ids=(ids[1], ids[2], 99999))) == 2
    row = store.page(ListQuery(ids=(ids[0],)))[0]
    assert row.flag_count == 1 and row.turn_count == 3 and row.image_path == "img/00000.jpg"
    assert (row.image_width, row.image_height) == (64, 48) and row.correction_pixels is None
    keyset = store.page_after(ListQuery(), ids[2], 3)
    assert [s.id for s in keyset] == ids[3:6]


def test_iter_streams_in_id_order(store: Store) -> None:
    ids = store.add_conversations([make_conversation(i) for i in range(25)], actor="a").added_ids
    got = list(store.iter_conversations(batch_size=7))
    assert [c.id for c in got] == ids
    assert [c.focus for c in got] == [f"focus number {i}" for i in range(25)]
    flagged = list(store.iter_conversations(ListQuery(ids=tuple(ids[5:9])), batch_size=2))
    assert [c.id for c in flagged] == ids[5:9]
    texted = list(store.iter_conversations(ListQuery(text="img/0001"), batch_size=3))
    assert [c.id for c in texted] == ids[10:20]


def test_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.sqlite3"
    store = open_store(path)
    try:
        store.add_conversations([make_conversation(1)], actor="a")
        assert store.url.endswith("x.sqlite3")
    finally:
        store.close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        blob = con.execute("SELECT rle FROM masks").fetchone()[0]
        assert isinstance(blob, bytes) and blob[:1] == b"\x78"  # zlib stream, not the counts text
    finally:
        con.close()


def test_default_database_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from annotator.core.appdirs import default_db_path

    store = open_store(None)
    try:
        assert store.url == f"sqlite:///{default_db_path().resolve()}"
    finally:
        store.close()
    monkeypatch.setenv("ANNOTATOR_DB", str(tmp_path / "env.sqlite3"))
    store = open_store(None)
    try:
        assert store.url.endswith("env.sqlite3")
        assert store.is_empty()
    finally:
        store.close()
