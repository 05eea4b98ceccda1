"""The process the harness kills: it saves through the real store as fast as it can, in the
same calls the app and the CLI make, and acknowledges each call only after it returned."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

from annotator.core.errors import WorkflowError
from annotator.core.model import Decision, HistoryEvent, Proposal, Review
from annotator.storage import ListQuery, Store, open_store
from annotator_devtools.kill_harness import content
from annotator_devtools.kill_harness.ack_log import AckLog

ACTOR = content.AUTHOR
PROPOSER = ("kill-harness", "1")
BATCH_KEY = re.compile(r"^b(?P<batch>[^.]+)\.(?P<index>\d+)of(?P<size>\d+)$")
# Operation mix: mostly whole-conversation saves, the call that carries people's work.
WEIGHTS = {"save": 80, "add": 6, "review": 7, "proposal": 7}
READY, DONE = b"r", b"."
DECISIONS = (Decision.COMMENT, Decision.APPROVE, Decision.REOPEN, Decision.REJECT)


def batch_keys(batch: str, size: int) -> list[str]:
    return [f"b{batch}.{i}of{size}" for i in range(size)]


def add_batch(store: Store, acks: AckLog, batch: str, size: int) -> list[int]:
    """Add ``size`` new conversations in one call (an import); acknowledged after it returned."""
    keys = batch_keys(batch, size)
    acks.write("intent", "add", batch, durable=False)
    result = store.add_conversations([content.new_conversation(k) for k in keys], actor=ACTOR)
    acks.write("add", batch, ",".join(keys))
    return result.added_ids


def save_next(store: Store, acks: AckLog, conv_id: int) -> None:
    """Rewrite one conversation as its next generation in one save."""
    stored = store.get_conversation(conv_id)
    gens = content.generations(stored)
    if gens.single is None:
        raise AssertionError(f"conversation {stored.key} is mixed before the save: {gens}")
    gen = gens.single + 1
    new = content.next_generation(stored, gen)
    digest = content.checksum(new)
    acks.write("intent", "save", stored.key, gen, durable=False)
    saved = store.save_conversation(
        new,
        actor=ACTOR,
        events=[HistoryEvent(actor=ACTOR, action="harness-save", detail={"gen": gen})],
    )
    if content.checksum(saved) != digest:
        raise AssertionError(f"conversation {stored.key} came back different from what was saved")
    acks.write("save", stored.key, gen, digest)


def review(store: Store, acks: AckLog, conv_id: int, token: str, rng: random.Random) -> None:
    key = store.get_conversation(conv_id).key
    acks.write("intent", "review", key, token, durable=False)
    try:
        store.add_review(conv_id, Review(ACTOR, rng.choice(DECISIONS), comment=token))
    except WorkflowError:
        return  # not allowed from the current status: nothing stored, nothing to acknowledge
    acks.write("review", key, token)


def propose(store: Store, acks: AckLog, conv_id: int, token: str) -> None:
    stored = store.get_conversation(conv_id)
    mask = content.pattern(stored.key, -2, 0, len(token))
    acks.write("intent", "proposal", stored.key, token, durable=False)
    store.add_proposals(
        conv_id, [Proposal(0, *PROPOSER, answer=token, masks=(mask,), scores=(0.5,))]
    )
    acks.write("proposal", stored.key, token)


def run_writer(
    db: str | Path,
    ack_path: str | Path,
    seed: int,
    *,
    signal: Callable[[bytes], None] = lambda _b: None,
    max_conversations: int = 60,
    max_seconds: float = 300.0,
) -> int:
    """Loop until killed (or ``max_seconds``, or the parent is gone); returns the calls made.

    ``signal`` gets ``READY`` once the store is open and ``DONE`` after each call returned, so
    the killer can place its kill a given number of calls in, at any point of the next call.
    """
    rng = random.Random(seed)
    parent = os.getppid()
    deadline = time.monotonic() + max_seconds
    store = open_store(db)
    acks = AckLog(ack_path)
    ids = [s.id for s in store.page(ListQuery(), 0, 100_000)]
    signal(READY)
    ops = list(WEIGHTS)
    weights = list(WEIGHTS.values())
    calls = 0
    try:
        while time.monotonic() < deadline and os.getppid() == parent:
            op = rng.choices(ops, weights)[0]
            token = f"s{seed}n{calls}"
            if (op == "add" and len(ids) < max_conversations) or not ids:
                ids.extend(add_batch(store, acks, token, rng.randint(1, 3)))
            elif op == "review":
                review(store, acks, rng.choice(ids), token, rng)
            elif op == "proposal":
                propose(store, acks, rng.choice(ids), token)
            else:
                save_next(store, acks, rng.choice(ids))
            calls += 1
            signal(DONE)
    finally:
        acks.close()
        store.close()
    return calls
