"""Crash consistency: a process saving through the real store is SIGKILLed at random moments and
the database is reopened and checked after every kill. Deliberately broken writers prove that
the checks catch lost acknowledged saves and half-written conversations."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from annotator.core.model import HistoryEvent
from annotator.storage import ListQuery, open_store
from annotator_devtools.kill_harness import content
from annotator_devtools.kill_harness.ack_log import AckLog, read_acks
from annotator_devtools.kill_harness.loop import HarnessConfig, paths, prepare, run_harness
from annotator_devtools.kill_harness.verify import verify
from annotator_devtools.kill_harness.writer import READY, save_next

# The issue asks for at least 50 kills in CI; a reviewer can ask for more here or run
# `python -m annotator_devtools.kill_harness --kills 1000`.
KILLS = int(os.environ.get("ANNOTATOR_CRASH_KILLS", "50"))


def _report(name: str, figures: dict[str, object]) -> None:
    print(f"\n{name}: {json.dumps(figures)}")


@pytest.mark.crash
def test_sigkill_loses_no_acknowledged_save(tmp_path: Path) -> None:
    config = HarnessConfig(workdir=tmp_path, kills=KILLS, seed=7)
    result = run_harness(config)
    figures = result.figures(config)
    _report("kill loop (fork)", figures)
    assert result.writer_failures == []
    assert result.problems == []
    assert result.kills_survived == KILLS
    assert result.last is not None and result.last.lost == 0 and result.last.mixed == 0
    # The loop made progress and its kills landed inside calls, on both sides of the commit.
    assert result.last.acknowledged > KILLS
    assert result.rolled_back > 0
    assert result.rolled_back + result.committed_unacknowledged >= KILLS // 4


@pytest.mark.crash
def test_sigkill_of_fresh_interpreters(tmp_path: Path) -> None:
    """Writers exec'd as `python -m annotator_devtools.kill_harness writer` (the CLI path)."""
    config = HarnessConfig(workdir=tmp_path, kills=4, seed=3, start="exec", max_calls=4)
    result = run_harness(config)
    _report("kill loop (exec)", result.figures(config))
    assert result.ok, result.problems + result.writer_failures
    assert result.kills_survived == 4
    assert result.last is not None and result.last.acknowledged > 1


# -- the checks catch what they claim to catch ---------------------------------------------
def _saved_event(gen: int) -> HistoryEvent:
    """The history event the real writer records with each save (so only the defect shows)."""
    return HistoryEvent(actor="broken", action="harness-save", detail={"gen": gen})


def _split_save_writer(
    db: str | Path,
    ack_path: str | Path,
    seed: int,
    *,
    signal: Callable[[bytes], None],
    max_conversations: int,
) -> int:
    """BROKEN on purpose: one generation written by two saves (focus first, then the rest)."""
    import random

    rng = random.Random(seed)
    store = open_store(db)
    acks = AckLog(ack_path)
    ids = [s.id for s in store.page(ListQuery(), 0, 1000)]
    signal(READY)
    calls = 0
    while True:
        stored = store.get_conversation(rng.choice(ids))
        gen = (content.generations(stored).single or 0) + 1
        first = store.save_conversation(
            replace(stored, focus=content.focus(stored.key, gen)), actor="broken"
        )
        time.sleep(0.02)
        new = content.next_generation(first, gen)
        store.save_conversation(new, actor="broken", events=[_saved_event(gen)])
        acks.write("save", stored.key, gen, content.checksum(new))
        calls += 1
        signal(b".")


def _ack_first_writer(
    db: str | Path,
    ack_path: str | Path,
    seed: int,
    *,
    signal: Callable[[bytes], None],
    max_conversations: int,
) -> int:
    """BROKEN on purpose: acknowledges a save before the store call."""
    import random

    rng = random.Random(seed)
    store = open_store(db)
    acks = AckLog(ack_path)
    ids = [s.id for s in store.page(ListQuery(), 0, 1000)]
    signal(READY)
    while True:
        stored = store.get_conversation(rng.choice(ids))
        gen = (content.generations(stored).single or 0) + 1
        new = content.next_generation(stored, gen)
        acks.write("save", stored.key, gen, content.checksum(new))
        time.sleep(0.02)
        store.save_conversation(new, actor="broken", events=[_saved_event(gen)])
        signal(b".")


def test_harness_catches_half_written_saves(tmp_path: Path) -> None:
    config = HarnessConfig(workdir=tmp_path, kills=40, seed=5)
    result = run_harness(config, writer=_split_save_writer)
    assert not result.ok
    assert any("pieces of several saves" in p for p in result.problems), result.problems
    assert result.last is not None and result.last.mixed >= 1


def test_harness_catches_acknowledgement_before_commit(tmp_path: Path) -> None:
    config = HarnessConfig(workdir=tmp_path, kills=40, seed=5)
    result = run_harness(config, writer=_ack_first_writer)
    assert not result.ok
    assert any("lost" in p for p in result.problems), result.problems
    assert result.last is not None and result.last.lost >= 1


@pytest.fixture
def saved_db(tmp_path: Path) -> tuple[Path, Path]:
    """A harness database with a few acknowledged saves, checked clean."""
    config = HarnessConfig(workdir=tmp_path, initial_conversations=3)
    prepare(config)
    db, ack_path = paths(tmp_path)
    acks = AckLog(ack_path)
    with open_store(db) as store:
        ids = [s.id for s in store.page(ListQuery())]
        for conv_id in ids + ids[:1]:
            save_next(store, acks, conv_id)
    acks.close()
    verdict = verify(db, ack_path)
    assert verdict.ok, verdict.problems
    assert verdict.acknowledged == 5 and verdict.conversations == 3
    return db, ack_path


def _sql(db: Path, statement: str, *params: object) -> None:
    con = sqlite3.connect(db)
    with con:
        con.execute("PRAGMA foreign_keys = ON")
        con.execute(statement, params)
    con.close()


def test_checker_sees_a_turn_from_another_save(saved_db: tuple[Path, Path]) -> None:
    db, ack_path = saved_db
    _sql(
        db,
        "UPDATE turns SET final_answer = '[binit.0of3 g9] answer 0' WHERE id = "
        "(SELECT t.id FROM turns t JOIN conversations c ON c.id = t.conversation_id "
        "WHERE c.key = 'binit.0of3' AND t.idx = 0)",
    )
    verdict = verify(db, ack_path)
    assert verdict.mixed == 1
    assert any("binit.0of3: pieces of several saves" in p for p in verdict.problems)


def test_checker_sees_changed_pixels(saved_db: tuple[Path, Path]) -> None:
    db, ack_path = saved_db
    _sql(
        db,
        "UPDATE masks SET rle = (SELECT rle FROM masks ORDER BY id LIMIT 1) "
        "WHERE id = (SELECT max(id) FROM masks)",
    )
    verdict = verify(db, ack_path)
    assert any("wrong content" in p for p in verdict.problems), verdict.problems


def test_checker_sees_lost_and_partial_batches(saved_db: tuple[Path, Path]) -> None:
    db, ack_path = saved_db
    _sql(db, "DELETE FROM conversations WHERE key = 'binit.1of3'")  # rows below cascade
    verdict = verify(db, ack_path)
    assert verdict.lost == 1
    assert "binit.1of3: acknowledged conversation missing" in verdict.problems
    assert "batch init: 2 of 3 conversations stored" in verdict.problems


def test_checker_sees_an_older_generation_than_acknowledged(saved_db: tuple[Path, Path]) -> None:
    db, ack_path = saved_db
    acks = AckLog(ack_path)
    acks.write("save", "binit.2of3", 4, content.expected_checksum("binit.2of3", 4))
    acks.close()
    verdict = verify(db, ack_path)
    assert verdict.lost == 1
    assert any("acknowledged generation 4 lost" in p for p in verdict.problems)


def test_a_line_cut_by_the_kill_is_not_an_acknowledgement(saved_db: tuple[Path, Path]) -> None:
    db, ack_path = saved_db
    with ack_path.open("a") as fh:
        fh.write("save binit.2of3 9 abc")  # no newline: the kill came mid-write
    acks = read_acks(ack_path)
    assert acks.generation["binit.2of3"] == 1
    assert verify(db, ack_path).ok


def test_a_save_committed_before_its_acknowledgement_is_accepted(
    saved_db: tuple[Path, Path],
) -> None:
    db, ack_path = saved_db
    lines = ack_path.read_text().splitlines(keepends=True)
    assert lines[-1].startswith("save binit.0of3 2 ")
    ack_path.write_text("".join(lines[:-1]))  # as if killed between commit and acknowledgement
    verdict = verify(db, ack_path)
    assert verdict.ok, verdict.problems
    assert verdict.committed_unacknowledged == 1


def test_two_saves_committed_before_their_acknowledgements(saved_db: tuple[Path, Path]) -> None:
    """Two kills in a row between commit and acknowledgement, on the same conversation."""
    db, ack_path = saved_db
    acks = AckLog(ack_path)
    with open_store(db) as store:
        cid = store.page(ListQuery())[2].id
        save_next(store, acks, cid)
        save_next(store, acks, cid)
    acks.close()
    lines = ack_path.read_text().splitlines(keepends=True)
    kept = [line for line in lines[-4:] if line.startswith("intent ")]
    ack_path.write_text("".join(lines[:-4] + kept))
    verdict = verify(db, ack_path)
    assert verdict.ok, verdict.problems
    # Without the intents nothing explains the stored generation: a phantom save.
    ack_path.write_text("".join(lines[:-4]))
    verdict = verify(db, ack_path)
    assert any("which no save ever wrote" in p for p in verdict.problems), verdict.problems
