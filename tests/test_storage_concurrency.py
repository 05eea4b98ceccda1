"""Several workers on one database: disjoint claims, skip-locked on PostgreSQL, save conflicts."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from fixtures_storage import make_conversation

from annotator.storage import ConflictError, ListQuery, open_store
from annotator.storage import tables as t


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "shared.sqlite3")


def test_concurrent_workers_get_disjoint_batches(db: str) -> None:
    setup = open_store(db)
    ids = setup.add_conversations(
        [make_conversation(i, turns=1) for i in range(120)], actor="a"
    ).added_ids
    setup.close()
    workers = 4
    barrier = threading.Barrier(workers)
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        store = open_store(db)  # one engine per worker, as separate processes would have
        mine: list[int] = []
        try:
            barrier.wait()
            for _ in range(100):  # bounded: 120 rows in batches of 7 need far fewer rounds
                batch = store.claim_batch("m", "1", ListQuery(), name, 7)
                if not batch:
                    break
                mine.extend(batch)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()
            got[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    claimed = [i for batch in got.values() for i in batch]
    assert len(claimed) == len(set(claimed)), "a conversation was handed to two workers"
    assert sorted(claimed) == ids


@pytest.mark.postgres
def test_postgres_skips_rows_locked_by_another_worker(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        ids = store.add_conversations(
            [make_conversation(i, turns=1) for i in range(6)], actor="a"
        ).added_ids
        other = sa.create_engine(postgres_url)
        try:
            with other.connect() as conn, conn.begin():
                locked = list(
                    conn.execute(
                        sa.select(t.conversations.c.id)
                        .where(t.conversations.c.id.in_(ids[:3]))
                        .with_for_update()
                    ).scalars()
                )
                assert locked == ids[:3]
                started = time.perf_counter()
                batch = store.claim_batch("m", "1", ListQuery(), "w", 10)
                waited = time.perf_counter() - started
            assert batch == ids[3:]
            assert waited < 5, "the claim waited for the lock instead of skipping the rows"
        finally:
            other.dispose()
        assert store.claim_batch("m", "1", ListQuery(), "w2", 10) == ids[:3]
    finally:
        store.close()


def test_second_writer_of_the_same_revision_conflicts(db: str) -> None:
    a, b = open_store(db), open_store(db)
    try:
        (cid,) = a.add_conversations([make_conversation(1)], actor="a").added_ids
        conv_a, conv_b = a.get_conversation(cid), b.get_conversation(cid)
        saved = a.save_conversation(replace(conv_a, focus="from a"), actor="a")
        with pytest.raises(ConflictError):
            b.save_conversation(replace(conv_b, focus="from b"), actor="b")
        assert b.get_conversation(cid) == saved
    finally:
        a.close()
        b.close()
