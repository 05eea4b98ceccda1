"""Proposals for whole conversations: one (the GUI's Propose action) or a batch job.

The batch job claims conversations in small batches (claims make several workers -- GPU machines
on one PostgreSQL database, or processes on one SQLite file -- never work on the same one; shards
split the id space up front), proposes every turn a proposer version has not answered yet, and
stores a conversation's proposals in one transaction. Interrupting it loses at most the
conversation in flight; running it again carries on where it stopped and never proposes a turn
twice for the same proposer version.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

from annotator.core.errors import AnnotatorError, Cancelled, InputError
from annotator.core.model import Conversation, Image, Proposal
from annotator.core.progress import Task
from annotator.io.images import load_image
from annotator.io.paths import confine
from annotator.proposers.base import (
    HistorySource,
    Proposer,
    RgbImage,
    TurnRequest,
    history_for,
    image_key,
)
from annotator.services.work_lanes import work_lanes
from annotator.storage import ListQuery, Store

ImageLoader = Callable[[Image], RgbImage]

CLAIM_BATCH = 4
_RELEASE_CHUNK = 500


def proposer_version(proposer: Proposer, history: HistorySource) -> str:
    """The version recorded with proposals. Proposals made with the model's own answers as
    history are different outputs, so they count as a different version."""
    base = proposer.info().version
    return base if history == HistorySource.DRAFT else f"{base}+model-history"


def conversation_image(image: Image, images_dir: str | Path | None = None) -> RgbImage:
    """The conversation's pixels, read through the vetted loader from inside its image root
    (or ``images_dir`` when the images have moved), checked against the stored size."""
    root = images_dir if images_dir is not None else image.root
    if not root:
        raise InputError("the image has no directory; pass the images directory", file=image.path)
    path = confine(root, image.path)
    pixels = load_image(path)
    if pixels.shape[:2] != (image.height, image.width):
        raise InputError(
            f"image is {pixels.shape[1]}x{pixels.shape[0]} but was imported as "
            f"{image.width}x{image.height}; masks would not fit",
            file=str(path),
        )
    return pixels


def propose_conversation(
    proposer: Proposer,
    conv: Conversation,
    image: RgbImage,
    *,
    history: HistorySource = HistorySource.DRAFT,
    done: Sequence[Proposal] = (),
    turns: Collection[int] | None = None,
    task: Task | None = None,
    on_turn: Callable[[Proposal], None] | None = None,
) -> list[Proposal]:
    """Propose every turn of ``conv`` (or only ``turns``) in order, skipping turns already in
    ``done`` (whose answers still serve as the model's history; a turn left out by ``turns``
    contributes its verified or draft answer). Returns the new proposals, unsaved."""
    task = task or Task()
    info = proposer.info()
    version = proposer_version(proposer, history)
    key = image_key(image)
    questions = [t.question for t in conv.turns]
    drafts = [t.answer for t in conv.turns]
    previous = {p.turn_index: p for p in done if p.proposer_version == version}
    model_answers: list[str] = []
    made: list[Proposal] = []
    for t, question in enumerate(questions):
        task.check()
        if t in previous:
            model_answers.append(previous[t].answer)
            continue
        if turns is not None and t not in turns:
            model_answers.append(drafts[t])
            continue
        answers = drafts if history == HistorySource.DRAFT else model_answers
        t0 = time.perf_counter()
        request = TurnRequest(
            image,
            history_for(questions, answers, t),
            question,
            key,
            focus=conv.focus,
            final=t == len(questions) - 1,
        )
        out = proposer.propose(request, task)
        proposal = Proposal(
            turn_index=t,
            proposer=info.name,
            proposer_version=version,
            answer=out.answer,
            masks=tuple(out.masks),
            scores=tuple(out.scores),
            elapsed_s=float(out.timing.get("total_s", time.perf_counter() - t0)),
            detail=dict(out.detail),
        )
        made.append(proposal)
        model_answers.append(out.answer)
        if on_turn is not None:
            on_turn(proposal)
    return made


@dataclass
class ProposeSummary:
    proposer: str
    version: str
    conversations: int = 0  # conversations that got proposals in this run
    turns: int = 0
    masks: int = 0
    skipped_turns: int = 0  # answered earlier by the same proposer version
    failed: list[tuple[int, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    proposes_noise: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "proposer": self.proposer,
            "version": self.version,
            "conversations": self.conversations,
            "turns": self.turns,
            "masks": self.masks,
            "skipped_turns": self.skipped_turns,
            "failed": [{"conversation": c, "error": e} for c, e in self.failed],
            "elapsed_s": round(self.elapsed_s, 3),
            "turns_per_s": round(self.turns / self.elapsed_s, 3) if self.elapsed_s else 0.0,
            "proposes_noise": self.proposes_noise,
        }


def default_worker(shard: tuple[int, int] | None) -> str:
    """One worker name per machine and shard, so a restarted job takes back its own claims."""
    host = socket.gethostname() or "worker"
    return host if shard is None else f"{host}/shard-{shard[0]}of{shard[1]}"


def run_propose_batch(
    store: Store,
    proposer: Proposer,
    *,
    query: ListQuery | None = None,
    history: HistorySource = HistorySource.DRAFT,
    limit: int | None = None,
    shard: tuple[int, int] | None = None,
    worker: str | None = None,
    load: ImageLoader | None = None,
    task: Task | None = None,
) -> ProposeSummary:
    """Propose for every selected conversation that still needs it (see the module docstring).

    A conversation whose image cannot be read, or whose proposals fail, is reported in the
    summary and left for a later run; the batch goes on. Cancelling stops after the turns in
    flight, stores nothing for their conversations, and gives their claims back. A proposer
    that takes several turns at once (``ProposerInfo.concurrency``, e.g. a server that batches
    requests) gets that many conversations in flight.
    """
    task = task or Task()
    query = query or ListQuery()
    load = load or conversation_image
    info = proposer.info()
    name, version = info.name, proposer_version(proposer, history)
    worker = worker or default_worker(shard)
    summary = ProposeSummary(name, version, proposes_noise=info.proposes_noise)
    pending = store.conversations_needing_proposals(name, version, query, shard=shard)
    _release(store, pending, name, version, worker)  # claims left by an earlier run of ours
    total = len(pending) if limit is None else min(limit, len(pending))
    task.start(total, f"proposing with {name} {version}")
    start = time.perf_counter()
    lanes = max(1, info.concurrency)
    failed: set[int] = set()
    held: list[int] = []

    def finish(conv_id: int, outcome: _Outcome) -> None:
        held.remove(conv_id)
        if outcome.error is None:
            summary.conversations += 1
            summary.turns += outcome.turns
            summary.masks += outcome.masks
            summary.skipped_turns += outcome.skipped
            store.release_claims([conv_id], proposer=name, version=version, worker=worker)
        else:
            failed.add(conv_id)
            summary.failed.append((conv_id, outcome.error))
        task.step(message=f"conversation {conv_id}")

    try:
        with work_lanes(lanes, task, "propose") as pool:
            while limit is None or summary.conversations + len(summary.failed) < limit:
                want = max(CLAIM_BATCH, lanes)
                if limit is not None:
                    want = min(want, limit - summary.conversations - len(summary.failed))
                # Our own live claims are never handed back to us, so a conversation that failed
                # stays claimed (and out of the way) until the end of the run.
                held = store.claim_batch(name, version, query, worker, want, shard=shard)
                if not held:
                    break
                if pool is None:
                    for conv_id in list(held):
                        finish(conv_id, _one(store, proposer, conv_id, history, load, task))
                    continue
                futures = {
                    pool.submit(_one, store, proposer, cid, history, load, task): cid
                    for cid in held
                }
                for future in as_completed(futures):
                    finish(futures[future], future.result())  # Cancelled is raised from here
    finally:
        if held:
            store.release_claims(held, proposer=name, version=version, worker=worker)
        if failed:
            _release(store, sorted(failed), name, version, worker)
        summary.elapsed_s = time.perf_counter() - start
    return summary


@dataclass(frozen=True)
class _Outcome:
    turns: int = 0
    masks: int = 0
    skipped: int = 0
    error: str | None = None  # the conversation failed (and is left for a later run)


def _one(
    store: Store,
    proposer: Proposer,
    conv_id: int,
    history: HistorySource,
    load: ImageLoader,
    task: Task,
) -> _Outcome:
    """Propose and store one conversation's missing turns (one transaction); safe to run on
    several threads at once (the store and the proposer are)."""
    info = proposer.info()
    version = proposer_version(proposer, history)
    try:
        conv = store.get_conversation(conv_id)
        done = [
            p for p in store.proposals(conv_id, proposer=info.name) if p.proposer_version == version
        ]
        image = load(conv.image)
        made = propose_conversation(proposer, conv, image, history=history, done=done, task=task)
        store.add_proposals(conv_id, made)  # one transaction: all of its new turns or none
    except Cancelled:
        raise
    except (AnnotatorError, OSError) as exc:  # incl. a conversation deleted meanwhile
        return _Outcome(error=str(exc))
    return _Outcome(
        turns=len(made),
        masks=sum(len(p.masks) for p in made),
        skipped=len({p.turn_index for p in done}),
    )


def _release(store: Store, ids: Sequence[int], name: str, version: str, worker: str) -> None:
    for i in range(0, len(ids), _RELEASE_CHUNK):
        store.release_claims(
            ids[i : i + _RELEASE_CHUNK], proposer=name, version=version, worker=worker
        )
