"""The batch propose job on real databases: every turn proposed once, resumable after an
interruption, shards and concurrent workers never overlap, failures reported and left for later."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from fixtures_miras import EchoProposer, prist_conversation

from annotator.core.errors import Cancelled
from annotator.core.progress import Task
from annotator.core.status import Status
from annotator.proposers.base import HistorySource
from annotator.services.propose_job import (
    conversation_image,
    propose_conversation,
    run_propose_batch,
)
from annotator.storage import ListQuery, Store, open_store


def fill(store: Store, records: list[dict], images: Path, count: int) -> list[int]:
    convs = [prist_conversation(r, n, images) for n, r in enumerate(records[:count])]
    return store.add_conversations(convs, actor="test").added_ids


def proposal_counts(store: Store, ids: list[int], proposer: str) -> Counter:
    counts: Counter = Counter()
    for cid in ids:
        for p in store.proposals(cid, proposer=proposer):
            counts[(cid, p.turn_index, p.proposer_version)] += 1
    return counts


def turn_total(store: Store, ids: list[int]) -> int:
    return sum(len(store.get_conversation(c).turns) for c in ids)


def test_tiny_miras_batch_proposes_every_turn_once(
    tmp_path: Path, tiny_miras, prist_records
) -> None:
    store = open_store(tmp_path / "db.sqlite3")
    ids = fill(store, prist_records, tmp_path / "images", 3)
    summary = run_propose_batch(store, tiny_miras, query=ListQuery(status=Status.DRAFT))
    assert summary.conversations == 3 and not summary.failed
    assert summary.turns == turn_total(store, ids)
    assert summary.proposes_noise
    counts = proposal_counts(store, ids, "miras")
    assert set(counts.values()) == {1} and len(counts) == summary.turns
    for cid in ids:
        conv = store.get_conversation(cid)
        assert conv.status == Status.PROPOSED
        for p in store.proposals(cid):
            assert p.answer.count("[SEG]") == len(p.masks) == len(p.scores)
            assert all(m.size == (conv.image.height, conv.image.width) for m in p.masks)
    # Nothing left to do for this proposer version.
    again = run_propose_batch(store, tiny_miras)
    assert again.conversations == 0 and again.turns == 0
    store.close()


def test_single_conversation_matches_the_proposer(
    tmp_path: Path, tiny_miras, prist_records
) -> None:
    """The GUI's Propose action: the stored answers are exactly what the model said, and with
    model history the earlier model answers are what it saw."""
    conv = prist_conversation(prist_records[4], 4, tmp_path / "img")
    image = conversation_image(conv.image)
    made = propose_conversation(tiny_miras, conv, image, history=HistorySource.MODEL)
    assert [p.turn_index for p in made] == list(range(len(conv.turns)))
    assert all(p.proposer_version.endswith("+model-history") for p in made)
    from annotator.proposers.base import TurnRequest, history_for

    questions = [t.question for t in conv.turns]
    answers = [p.answer for p in made]
    last = len(questions) - 1
    direct = tiny_miras.propose(
        TurnRequest(image, history_for(questions, answers, last), questions[last])
    )
    assert direct.answer == made[last].answer and direct.masks == made[last].masks


def test_interrupted_batch_resumes_without_duplicates(tmp_path: Path, prist_records) -> None:
    store = open_store(tmp_path / "db.sqlite3")
    ids = fill(store, prist_records, tmp_path / "images", 7)
    proposer = EchoProposer()
    task = Task()

    def stop_after_two(done: int, total: int | None, message: str) -> None:
        if done == 2:
            task.token.cancel()

    task.on_progress = stop_after_two
    with pytest.raises(Cancelled):
        run_propose_batch(store, proposer, task=task)
    finished = {cid for (cid, _, _) in proposal_counts(store, ids, "echo")}
    assert len(finished) == 2
    # Each finished conversation has all of its turns; the others none.
    for cid in finished:
        assert len(store.proposals(cid)) == len(store.get_conversation(cid).turns)
    summary = run_propose_batch(store, proposer)
    assert summary.conversations == 5
    counts = proposal_counts(store, ids, "echo")
    assert set(counts.values()) == {1} and len(counts) == turn_total(store, ids)
    store.close()


def test_cancel_in_the_middle_of_a_conversation_stores_none_of_it(
    tmp_path: Path, prist_records
) -> None:
    store = open_store(tmp_path / "db.sqlite3")
    ids = fill(store, prist_records, tmp_path / "images", 2)
    proposer = EchoProposer()
    task = Task()

    class CancelOnSecondTurn(EchoProposer):
        def propose(self, request, task_=None):
            if len(request.history) == 1:
                task.token.cancel()
            return super().propose(request, task_)

    with pytest.raises(Cancelled):
        run_propose_batch(store, CancelOnSecondTurn(), task=task)
    assert all(store.proposals(cid) == [] for cid in ids)
    assert run_propose_batch(store, proposer).conversations == 2
    store.close()


def test_partly_proposed_conversation_gets_only_the_missing_turns(
    tmp_path: Path, prist_records
) -> None:
    store = open_store(tmp_path / "db.sqlite3")
    (cid,) = fill(store, prist_records, tmp_path / "images", 1)
    conv = store.get_conversation(cid)
    proposer = EchoProposer()
    first = propose_conversation(proposer, conv, conversation_image(conv.image))
    store.add_proposals(cid, first[:2])
    summary = run_propose_batch(store, proposer)
    assert summary.skipped_turns == 2 and summary.turns == len(conv.turns) - 2
    assert sorted(p.turn_index for p in store.proposals(cid)) == list(range(len(conv.turns)))
    store.close()


def test_new_version_proposes_again_and_limit_is_kept(tmp_path: Path, prist_records) -> None:
    store = open_store(tmp_path / "db.sqlite3")
    ids = fill(store, prist_records, tmp_path / "images", 4)
    assert run_propose_batch(store, EchoProposer(version="1"), limit=3).conversations == 3
    assert run_propose_batch(store, EchoProposer(version="1")).conversations == 1
    assert run_propose_batch(store, EchoProposer(version="2"), limit=2).conversations == 2
    versions = Counter(v for (_, _, v) in proposal_counts(store, ids, "echo"))
    assert versions["1"] == turn_total(store, ids)
    store.close()


def test_shards_split_the_work(tmp_path: Path, prist_records) -> None:
    store = open_store(tmp_path / "db.sqlite3")
    ids = fill(store, prist_records, tmp_path / "images", 9)
    a = run_propose_batch(store, EchoProposer(), shard=(0, 2))
    b = run_propose_batch(store, EchoProposer(), shard=(1, 2))
    by_conv = {cid for (cid, _, _) in proposal_counts(store, ids, "echo")}
    assert a.conversations + b.conversations == 9 and by_conv == set(ids)
    assert a.conversations == sum(1 for c in ids if c % 2 == 0)
    counts = proposal_counts(store, ids, "echo")
    assert set(counts.values()) == {1}
    store.close()


def test_missing_image_is_reported_and_retried_later(tmp_path: Path, prist_records) -> None:
    store = open_store(tmp_path / "db.sqlite3")
    ids = fill(store, prist_records, tmp_path / "images", 3)
    broken = store.get_conversation(ids[1])
    hidden = tmp_path / "images" / broken.image.path
    hidden.rename(hidden.with_suffix(".bak"))
    summary = run_propose_batch(store, EchoProposer())
    assert summary.conversations == 2
    assert [c for c, _ in summary.failed] == [ids[1]]
    assert broken.image.path in summary.failed[0][1]
    hidden.with_suffix(".bak").rename(hidden)
    assert run_propose_batch(store, EchoProposer()).conversations == 1
    store.close()


def test_proposer_errors_do_not_stop_the_batch(tmp_path: Path, prist_records) -> None:
    store = open_store(tmp_path / "db.sqlite3")
    fill(store, prist_records, tmp_path / "images", 3)
    summary = run_propose_batch(store, EchoProposer(fail="CUDA out of memory"))
    assert summary.conversations == 0
    assert len(summary.failed) == 3 and all("CUDA out of memory" in e for _, e in summary.failed)
    store.close()


def _concurrent_workers(db: str | Path, ids: list[int], workers: int) -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        s = open_store(db)
        try:
            run_propose_batch(s, EchoProposer(delay=0.002), worker=f"worker-{k}")
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    s = open_store(db)
    counts = proposal_counts(s, ids, "echo")
    assert set(counts.values()) == {1} and len(counts) == turn_total(s, ids)
    s.close()


def test_concurrent_workers_on_sqlite_never_overlap(tmp_path: Path, prist_records) -> None:
    db = tmp_path / "db.sqlite3"
    store = open_store(db)
    ids = fill(store, prist_records, tmp_path / "images", 12)
    store.close()
    _concurrent_workers(db, ids, 3)


@pytest.mark.postgres
def test_concurrent_workers_on_postgres_never_overlap(
    postgres_url: str, tmp_path: Path, prist_records
) -> None:
    store = open_store(postgres_url)
    ids = fill(store, prist_records, tmp_path / "images", 12)
    store.close()
    _concurrent_workers(postgres_url, ids, 3)
