"""Listing by flag code on every backend: the ``flag_code`` filter, the codes each list row
carries, and the number of records per code under the other filters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from fixtures_storage import make_conversation

from annotator.core.model import Flag, FlagCode
from annotator.core.status import Status
from annotator.storage import ListQuery, Store

BAD = Flag(FlagCode.BAD_IMAGE, "JPEG data is truncated or corrupt")
MISSING = Flag(FlagCode.MISSING_IMAGE, "image not found")
SIZE = Flag(FlagCode.SIZE_MISMATCH, "LabelMe says 640x480, the image is 320x240")
NO_MATCH = Flag(FlagCode.NO_MATCH, "no shape labelled 'cat'")

# Record n carries these flags (a code may repeat: one flag per turn without a mask).
FLAGS_OF: dict[int, tuple[Flag, ...]] = {
    0: (),
    1: (BAD,),
    2: (MISSING,),
    3: (NO_MATCH, SIZE, NO_MATCH),
    4: (BAD, NO_MATCH),
    5: (),
    6: (SIZE,),
    7: (BAD,),
}


@pytest.fixture
def ids(store: Store) -> list[int]:
    convs = [make_conversation(n, flags=flags) for n, flags in FLAGS_OF.items()]
    added = store.add_conversations(convs, actor="importer").added_ids
    for cid in (added[3], added[4], added[5]):  # a status to filter on besides the flag
        conv = store.get_conversation(cid)
        store.save_conversation(replace(conv, status=Status.IN_REVIEW), actor="a")
    return added


def _with(code: FlagCode, ids: list[int], among: set[int] | None = None) -> list[int]:
    """The ids of the records carrying ``code`` (the expectation, from FLAGS_OF)."""
    return [
        cid
        for n, cid in enumerate(ids)
        if any(f.code == code for f in FLAGS_OF[n]) and (among is None or n in among)
    ]


@pytest.mark.parametrize("code", [FlagCode.BAD_IMAGE, FlagCode.NO_MATCH, FlagCode.SIZE_MISMATCH])
def test_flag_code_filter_lists_exactly_the_records_with_that_code(
    store: Store, ids: list[int], code: FlagCode
) -> None:
    want = _with(code, ids)
    assert len(want) >= 2
    query = ListQuery(flag_code=code)
    assert [s.id for s in store.page(query, 0, 100)] == want  # each once, a repeated code too
    assert store.count(query) == len(want)
    assert [s.id for s in store.page(replace(query, sort="-id"), 0, 100)] == want[::-1]
    assert [s.id for s in store.page(query, 1, 1)] == want[1:2]
    assert [s.id for s in store.page_after(query, want[0], 100)] == want[1:]
    assert [s.id for s in store.page_after(replace(query, sort="-id"), want[-1], 1)] == [want[-2]]
    assert [c.id for c in store.iter_conversations(query, batch_size=1)] == want
    for sort in ("status", "focus", "-updated", "correction"):
        assert sorted(s.id for s in store.page(replace(query, sort=sort), 0, 100)) == want


def test_flag_code_combines_with_the_other_filters(store: Store, ids: list[int]) -> None:
    in_review = ListQuery(status=Status.IN_REVIEW, flag_code=FlagCode.NO_MATCH)
    assert [s.id for s in store.page(in_review)] == _with(FlagCode.NO_MATCH, ids, {3, 4, 5})
    drafts = ListQuery(status=Status.DRAFT, flag_code=FlagCode.BAD_IMAGE)
    assert [s.id for s in store.page(drafts)] == [ids[1], ids[7]]
    text = ListQuery(text="img/00007", flag_code=FlagCode.BAD_IMAGE)
    assert [s.id for s in store.page(text)] == [ids[7]] and store.count(text) == 1
    assert store.count(ListQuery(text="img/00006", flag_code=FlagCode.BAD_IMAGE)) == 0
    chosen = ListQuery(ids=(ids[0], ids[1], ids[4]), flag_code=FlagCode.BAD_IMAGE)
    assert [s.id for s in store.page(chosen)] == [ids[1], ids[4]]
    # "Not flagged" and a code contradict each other: nothing, rather than one winning.
    assert store.count(ListQuery(flagged=False, flag_code=FlagCode.BAD_IMAGE)) == 0
    assert store.count(ListQuery(flag_code=FlagCode.EMPTY_MASK)) == 0
    assert store.count(ListQuery(flag_code="from_a_newer_version")) == 0


def test_summaries_carry_their_distinct_sorted_flag_codes(store: Store, ids: list[int]) -> None:
    def expected(n: int) -> tuple[str, ...]:
        return tuple(sorted({str(f.code) for f in FLAGS_OF[n]}))

    rows = store.page(ListQuery(), 0, 100)
    assert [(s.id, s.flag_codes) for s in rows] == [(cid, expected(n)) for n, cid in enumerate(ids)]
    assert store.page(ListQuery(ids=(ids[3],)))[0].flag_codes == ("no_match", "size_mismatch")
    assert rows[3].flag_count == 3  # the count still counts flags, the codes are distinct
    keyset = store.page_after(ListQuery(sort="-id"), None, 3)
    assert [s.flag_codes for s in keyset] == [expected(7), expected(6), expected(5)]
    by_code = store.page(ListQuery(flag_code=FlagCode.SIZE_MISMATCH))
    assert [s.flag_codes for s in by_code] == [expected(3), expected(6)]  # all codes, not one

    # Saving a record rewrites its flags: the row follows.
    conv = store.get_conversation(ids[6])
    store.save_conversation(replace(conv, flags=(MISSING, BAD)), actor="a")
    conv = store.get_conversation(ids[0])
    store.save_conversation(replace(conv, flags=(SIZE,)), actor="a")
    conv = store.get_conversation(ids[1])
    store.save_conversation(replace(conv, flags=()), actor="a")
    rows = {s.id: s.flag_codes for s in store.page(ListQuery(), 0, 100)}
    assert rows[ids[6]] == ("bad_image", "missing_image")
    assert rows[ids[0]] == ("size_mismatch",)
    assert rows[ids[1]] == ()
    assert [s.id for s in store.page(ListQuery(flag_code=FlagCode.BAD_IMAGE))] == [
        ids[4],
        ids[6],
        ids[7],
    ]


def test_a_page_reads_its_flag_codes_with_one_query(store: Store, ids: list[int]) -> None:
    selects: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        rows = store.page(ListQuery(), 0, 100)
        assert sum(1 for s in rows if s.flag_codes) == 6
        assert len(selects) == 2  # the page, then the codes of all its flagged rows at once
        selects.clear()
        rows = store.page(ListQuery(flagged=False), 0, 100)
        assert [s.id for s in rows] == [ids[0], ids[5]]
        assert len(selects) == 1  # no flagged row: no second query
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)


def test_flag_counts_overall_and_under_filters(store: Store, ids: list[int]) -> None:
    overall = store.flag_counts()
    assert overall == {"bad_image": 3, "missing_image": 1, "no_match": 2, "size_mismatch": 2}
    assert list(overall) == sorted(overall)
    for code, n in overall.items():  # records, not flags: the same as listing by the code
        assert n == store.count(ListQuery(flag_code=code))
    assert store.flag_counts(ListQuery()) == overall
    # Codes only hidden records carry stay listed with 0, so a picker's entries stay put.
    assert store.flag_counts(ListQuery(status=Status.IN_REVIEW)) == {
        "bad_image": 1,
        "missing_image": 0,
        "no_match": 2,
        "size_mismatch": 1,
    }
    assert store.flag_counts(ListQuery(text="IMG/00007")) == {
        "bad_image": 1,
        "missing_image": 0,
        "no_match": 0,
        "size_mismatch": 0,
    }
    assert store.flag_counts(ListQuery(ids=(ids[2], ids[3]))) == {
        "bad_image": 0,
        "missing_image": 1,
        "no_match": 1,
        "size_mismatch": 1,
    }
    # The query applies as given, its own flag code included: codes seen beside bad_image.
    assert store.flag_counts(ListQuery(flag_code=FlagCode.BAD_IMAGE)) == {
        "bad_image": 3,
        "missing_image": 0,
        "no_match": 1,
        "size_mismatch": 0,
    }
    assert set(store.flag_counts(ListQuery(flagged=False)).values()) == {0}


def test_flag_counts_of_a_database_without_flags(store: Store) -> None:
    assert store.flag_counts() == {}
    store.add_conversations([make_conversation(n) for n in range(3)], actor="a")
    assert store.flag_counts() == {}
    assert store.flag_counts(ListQuery(status=Status.DRAFT)) == {}
    assert all(s.flag_codes == () for s in store.page(ListQuery()))
