"""After a kill: reopen the database and check it against the acknowledgement log.

Checked, each a way people's work could be lost or corrupted:
- ``PRAGMA integrity_check`` is ok and ``PRAGMA foreign_key_check`` finds nothing;
- every acknowledged conversation is there, at the acknowledged generation or a later one that
  a save began (a save may commit and be killed before its acknowledgement), never older;
- all the pieces of a conversation (focus, turns, answers, masks) name that one generation, and
  its checksum is the one that generation must have (and the acknowledged one, when equal);
- the list columns kept next to the rows (turn count) agree with the rows, and the history
  records the save of the stored generation (same transaction as the content);
- every acknowledged review and proposal is there;
- a batch of new conversations is there whole or not at all.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from annotator.core.model import Conversation
from annotator.storage import ListQuery, open_store
from annotator_devtools.kill_harness import content
from annotator_devtools.kill_harness.ack_log import Acknowledged, read_acks
from annotator_devtools.kill_harness.writer import BATCH_KEY, PROPOSER


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    conversations: int = 0
    acknowledged: int = 0  # acknowledged calls in the log so far
    acknowledged_by_kind: dict[str, int] = field(default_factory=dict)
    lost: int = 0  # acknowledged items missing or older than acknowledged
    mixed: int = 0  # conversations holding pieces of more than one save
    committed_unacknowledged: int = 0  # the kill fell between a commit and its acknowledgement
    rolled_back: int = 0  # the kill fell inside a call that then left no trace

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class SideRows:
    """Rows read straight from the file, not through the store: a second reading."""

    saved_gens: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    comments: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    answers: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))


def check_sqlite_file(db: str | Path) -> tuple[list[str], SideRows]:
    """The first connection after the kill (it recovers the write-ahead log): file-level checks,
    and the history, review and proposal rows the harness wrote."""
    problems: list[str] = []
    side = SideRows()
    con = sqlite3.connect(str(db))
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
        if rows != ["ok"]:
            problems.append(f"integrity_check: {rows[:5]}")
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append(f"foreign_key_check: {fk[:5]}")
        strays = con.execute(
            "SELECT count(*) FROM masks m JOIN turns t ON t.id = m.turn_id "
            "WHERE t.conversation_id != m.conversation_id"
        ).fetchone()[0]
        if strays:
            problems.append(f"{strays} masks belong to a turn of another conversation")
        for cid, gen in con.execute(
            "SELECT conversation_id, json_extract(detail, '$.gen') FROM history "
            "WHERE action = 'harness-save' ORDER BY id"
        ):
            side.saved_gens[cid].append(gen)
        for cid, comment in con.execute("SELECT conversation_id, comment FROM reviews"):
            side.comments[cid].add(comment)
        for cid, answer in con.execute(
            "SELECT conversation_id, answer FROM proposals WHERE proposer = ?", (PROPOSER[0],)
        ):
            side.answers[cid].add(answer)
    finally:
        con.close()
    return problems, side


def verify(db: str | Path, ack_path: str | Path) -> Verdict:
    problems, side = check_sqlite_file(db)
    verdict = Verdict(problems=problems)
    acks = read_acks(ack_path)
    verdict.acknowledged = acks.total
    verdict.acknowledged_by_kind = {
        "saves": acks.saves,
        "imports": len(acks.batches),
        "reviews": sum(map(len, acks.reviews.values())),
        "proposals": sum(map(len, acks.proposals.values())),
    }
    with open_store(db) as store:  # a real reopen: the app's own reading of the rows
        convs = {c.key: c for c in store.iter_conversations()}
        summaries = {s.id: s for s in store.page(ListQuery(), 0, len(convs) + 1)}
    verdict.conversations = len(convs)
    comments: dict[str, set[str]] = {}
    answers: dict[str, set[str]] = {}
    for key, conv in convs.items():
        assert conv.id is not None
        _check_conversation(verdict, acks, conv, summaries[conv.id].turn_count)
        saved_gens = side.saved_gens.get(conv.id, [])
        stored_gen = content.generations(conv).single
        if stored_gen and (not saved_gens or max(saved_gens) != stored_gen):
            verdict.problems.append(
                f"{key}: holds generation {stored_gen}, history says {saved_gens[-3:]}"
            )
        comments[key] = side.comments.get(conv.id, set())
        answers[key] = side.answers.get(conv.id, set())
        for kind, wanted, found in (
            ("review", acks.reviews.get(key, set()), comments[key]),
            ("proposal", acks.proposals.get(key, set()), answers[key]),
        ):
            missing = wanted - found
            if missing:
                verdict.lost += len(missing)
                verdict.problems.append(f"{key}: acknowledged {kind}s lost: {sorted(missing)}")
    for key in sorted(acks.generation.keys() - convs.keys()):
        verdict.lost += 1
        verdict.problems.append(f"{key}: acknowledged conversation missing")
    _check_batches(verdict, set(convs))
    _classify_last_intent(verdict, acks, convs, {"review": comments, "proposal": answers})
    return verdict


def _check_conversation(
    verdict: Verdict, acks: Acknowledged, conv: Conversation, listed_turns: int
) -> None:
    key = conv.key
    gens = content.generations(conv)
    gen = gens.single
    if gen is None:
        verdict.mixed += 1
        verdict.problems.append(
            f"{key}: pieces of several saves: generations {sorted(gens.found)} {gens.foreign[:3]}"
        )
        return
    if content.checksum(conv) != content.expected_checksum(key, gen):
        verdict.problems.append(f"{key}: generation {gen} stored with the wrong content")
    if listed_turns != len(conv.turns):
        verdict.problems.append(f"{key}: list says {listed_turns} turns, {len(conv.turns)} stored")
    acked = acks.generation.get(key)
    if acked is None:
        return  # added by a batch whose acknowledgement the kill cut off (checked as a batch)
    if gen < acked:
        verdict.lost += 1
        verdict.problems.append(f"{key}: acknowledged generation {acked} lost, holds {gen}")
    elif gen > acked and (key, gen) not in acks.intended:
        verdict.problems.append(f"{key}: holds generation {gen}, which no save ever wrote")
    elif gen == acked:
        digest = acks.checksums.get((key, gen), content.expected_checksum(key, 0))
        if content.checksum(conv) != digest:
            verdict.problems.append(f"{key}: generation {gen} differs from its acknowledgement")


def _check_batches(verdict: Verdict, keys: set[str]) -> None:
    stored: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        match = BATCH_KEY.match(key)
        if match is None:
            verdict.problems.append(f"{key}: a conversation the harness never added")
            continue
        stored[match["batch"]].append(key)
    for batch, members in stored.items():
        size = int(BATCH_KEY.match(members[0])["size"])  # type: ignore[index]
        if len(members) != size:
            verdict.problems.append(f"batch {batch}: {len(members)} of {size} conversations stored")


def _classify_last_intent(
    verdict: Verdict,
    acks: Acknowledged,
    convs: dict[str, Conversation],
    tokens: dict[str, dict[str, set[str]]],
) -> None:
    """Where the kill fell, when it fell inside a call: before its commit or after it."""
    intent = acks.last_intent
    if not intent:
        return
    kind = intent[0]
    if kind == "save":
        key, gen = intent[1], int(intent[2])
        committed = key in convs and content.generations(convs[key]).single == gen
    elif kind == "add":
        committed = any(k.startswith(f"b{intent[1]}.") for k in convs)
    else:
        committed = intent[2] in tokens[kind].get(intent[1], set())
    if committed:
        verdict.committed_unacknowledged += 1
    else:
        verdict.rolled_back += 1
