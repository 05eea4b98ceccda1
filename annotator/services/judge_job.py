"""The reasoning judge as a batch job: score model answers on the paper's criteria, or compare
two proposers' answers turn by turn (docs/adr/0019-reasoning-judge.md).

Each selected conversation is one unit: its answers are judged in turn order and its verdicts
stored in one transaction. A judge reply that does not parse is stored as a failed judgement
with its reason, never as a score; a server that fails (unreachable, time-out, HTTP errors
after the client's retries) fails the conversation, which keeps nothing from this run and is
reported. Running again skips every answer (or pair) the same judge -- the model asked for, the
prompt version and the reference answer -- has a verdict on, so an interrupted run carries on
where it stopped; ``retry_failed`` judges again the answers whose only verdicts failed.
Cancelling stops after the requests in flight and stores nothing for their conversations.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from annotator.core.correction import latest_per_turn
from annotator.core.errors import AnnotatorError, Cancelled, InputError
from annotator.core.judge_criteria import Reference, outcome_of, overall_outcome
from annotator.core.judgement import MAX_REPLY_KEPT, JudgeIdentity, Judgement, PairwiseJudgement
from annotator.core.model import Conversation, Proposal, Turn
from annotator.core.progress import Task
from annotator.io.judge_reply import JudgeReplyError, parse_preferences, parse_scores
from annotator.proposers.openai_client import ChatReply, Message
from annotator.services.judge_prompts import (
    PAIRWISE_PROMPT_VERSION,
    SCORE_PROMPT_VERSION,
    TurnContext,
    pairwise_messages,
    score_messages,
)
from annotator.services.work_lanes import work_lanes
from annotator.storage import Store


class JudgeClient(Protocol):
    """What the job needs of ``proposers.openai_client.ChatClient``."""

    model: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        task: Task | None = None,
    ) -> ChatReply: ...


@dataclass(frozen=True)
class JudgeOptions:
    reference: Reference = Reference.VERIFIED
    proposer: str | None = None  # score only this proposer's answers: NAME or NAME@VERSION
    pairwise: tuple[str, str] | None = None  # compare A with B instead of scoring
    with_target: bool = False  # also judge the final segmentation turn
    retry_failed: bool = False
    limit: int | None = None  # at most this many conversations get verdicts
    temperature: float = 0.0
    max_tokens: int = 512
    concurrency: int = 1  # conversations in flight at once
    seed: int | None = None  # of the shown order in pairwise runs (default: random)
    actor: str = ""

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise InputError("--limit must be at least 1")
        if self.concurrency < 1:
            raise InputError("--concurrency must be at least 1")
        if self.pairwise is not None:
            a, b = self.pairwise
            if not a.strip() or not b.strip() or a.strip() == b.strip():
                raise InputError("--pairwise needs two different proposers A B")

    @property
    def prompt_version(self) -> str:
        return PAIRWISE_PROMPT_VERSION if self.pairwise else SCORE_PROMPT_VERSION


@dataclass
class JudgeSummary:
    mode: Literal["score", "pairwise"]
    requested: str
    prompt_version: str
    reference: str
    models: set[str] = field(default_factory=set)  # as the server named them
    conversations: int = 0  # conversations that got verdicts in this run
    judged: int = 0  # verdicts that parsed
    failed_replies: list[tuple[int, int, str]] = field(default_factory=list)  # conv, turn, why
    skipped: int = 0  # already judged by the same judge
    without_reference: int = 0  # turns with answers but no reference answer to give
    without_pair: int = 0  # pairwise: turns only one of the two proposers answered
    failed: list[tuple[int, str]] = field(default_factory=list)  # conversations, nothing kept
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "judge_requested": self.requested,
            "judge_models": sorted(self.models),
            "prompt_version": self.prompt_version,
            "reference": self.reference,
            "conversations": self.conversations,
            "judged": self.judged,
            "failed_replies": [
                {"conversation": c, "turn": t, "reason": r} for c, t, r in self.failed_replies
            ],
            "skipped": self.skipped,
            "without_reference": self.without_reference,
            "without_pair": self.without_pair,
            "failed": [{"conversation": c, "error": e} for c, e in self.failed],
            "elapsed_s": round(self.elapsed_s, 3),
        }


# -- what one conversation needs --------------------------------------------------------------
@dataclass(frozen=True)
class _Item:
    context: TurnContext
    turn: int
    proposals: tuple[Proposal, ...]  # one to score, or (A's, B's)
    first: Literal["a", "b"] = "a"  # pairwise: which was shown first


@dataclass
class _Plan:
    conv_id: int
    items: list[_Item]
    skipped: int = 0
    without_reference: int = 0
    without_pair: int = 0


@dataclass
class _Outcome:
    scores: list[Judgement] = field(default_factory=list)
    pairs: list[PairwiseJudgement] = field(default_factory=list)
    error: str | None = None


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME@VERSION`` -> (name, version or None)."""
    name, sep, version = spec.strip().partition("@")
    return name, (version if sep else None)


def _matches(p: Proposal, spec: str) -> bool:
    name, version = parse_spec(spec)
    return p.proposer == name and (version is None or p.proposer_version == version)


def reference_text(turn: Turn, reference: Reference) -> str:
    """The answer the judge is given as true ("" when the turn has none of that kind)."""
    text = turn.final_answer if reference == Reference.VERIFIED else turn.draft_answer
    return (text or "").strip()


def turn_context(conv: Conversation, index: int, reference: Reference) -> TurnContext:
    """Earlier turns carry their reference answer, else the answer that stands for them."""
    history = tuple(
        (t.question, reference_text(t, reference) or t.answer) for t in conv.turns[:index]
    )
    turn = conv.turn(index)
    return TurnContext(conv.focus, history, turn.question, reference_text(turn, reference))


def _plan(store: Store, conv_id: int, options: JudgeOptions, judge: JudgeIdentity) -> _Plan:
    conv = store.get_conversation(conv_id)
    proposals = store.proposals(conv_id)
    last = len(conv.turns) - 1
    wanted = [t for t in conv.turns if options.with_target or t.index != last]
    plan = _Plan(conv_id, [])
    if options.pairwise is None:
        if options.proposer is not None:
            proposals = [p for p in proposals if _matches(p, options.proposer)]
        done = store.judged_proposals(conv_id, judge, scored_only=options.retry_failed)
        by_version: dict[tuple[str, str], list[Proposal]] = {}
        for p in proposals:
            by_version.setdefault((p.proposer, p.proposer_version), []).append(p)
        latest = [latest_per_turn(group) for _, group in sorted(by_version.items())]
        for turn in wanted:
            answers = [d[turn.index] for d in latest if turn.index in d]
            if not answers:
                continue
            if not reference_text(turn, options.reference):
                plan.without_reference += len(answers)
                continue
            context = turn_context(conv, turn.index, options.reference)
            for p in answers:
                if p.id in done:
                    plan.skipped += 1
                else:
                    plan.items.append(_Item(context, turn.index, (p,)))
        return plan
    spec_a, spec_b = options.pairwise
    latest_a = latest_per_turn(p for p in proposals if _matches(p, spec_a))
    latest_b = latest_per_turn(p for p in proposals if _matches(p, spec_b))
    done_pairs = store.judged_pairs(conv_id, judge, scored_only=options.retry_failed)
    for turn in wanted:
        pa, pb = latest_a.get(turn.index), latest_b.get(turn.index)
        if pa is None and pb is None:
            continue
        if pa is None or pb is None:
            plan.without_pair += 1
            continue
        if not reference_text(turn, options.reference):
            plan.without_reference += 1
            continue
        if (pa.id, pb.id) in done_pairs:
            plan.skipped += 1
            continue
        # Drawn per item from the run's seed, so a rerun with the same seed shows the same
        # order, and the shown order is independent of which proposer is A.
        draw = random.Random(f"{options.seed}:{conv_id}:{turn.index}:{pa.id}:{pb.id}").random()
        first: Literal["a", "b"] = "a" if draw < 0.5 else "b"
        context = turn_context(conv, turn.index, options.reference)
        plan.items.append(_Item(context, turn.index, (pa, pb), first))
    return plan


# -- judging ----------------------------------------------------------------------------------
def _judge_one_conversation(
    store: Store,
    client: JudgeClient,
    plan: _Plan,
    options: JudgeOptions,
    judge: JudgeIdentity,
    task: Task,
) -> _Outcome:
    out = _Outcome()
    try:
        for item in plan.items:
            if options.pairwise is None:
                out.scores.append(_score(client, plan.conv_id, item, options, judge, task))
            else:
                out.pairs.append(_compare(client, plan.conv_id, item, options, judge, task))
        # One transaction per conversation: every verdict of this run for it, or none.
        if out.scores:
            store.add_judgements(out.scores)
        if out.pairs:
            store.add_pairwise_judgements(out.pairs)
    except Cancelled:
        raise
    except (AnnotatorError, OSError) as exc:  # the server failed, or the record went meanwhile
        return _Outcome(error=str(exc))
    return out


def _ask(
    client: JudgeClient, messages: list[Message], options: JudgeOptions, task: Task
) -> ChatReply:
    return client.complete(
        messages, temperature=options.temperature, max_tokens=options.max_tokens, task=task
    )


def _score(
    client: JudgeClient,
    conv_id: int,
    item: _Item,
    options: JudgeOptions,
    judge: JudgeIdentity,
    task: Task,
) -> Judgement:
    (proposal,) = item.proposals
    assert proposal.id is not None
    reply = _ask(client, score_messages(item.context, proposal.answer), options, task)
    scores: dict[str, int] | None = None
    failure: str | None = None
    try:
        scores = parse_scores(reply.text).scores
    except JudgeReplyError as exc:
        failure = exc.reason
    return Judgement(
        conversation_id=conv_id,
        turn_index=item.turn,
        proposal_id=proposal.id,
        proposer=proposal.proposer,
        proposer_version=proposal.proposer_version,
        answer=proposal.answer,
        judge=replace(judge, model=reply.model),  # the model the server says answered
        scores=scores,
        failure=failure,
        reply=reply.text[:MAX_REPLY_KEPT],
        actor=options.actor,
    )


def _compare(
    client: JudgeClient,
    conv_id: int,
    item: _Item,
    options: JudgeOptions,
    judge: JudgeIdentity,
    task: Task,
) -> PairwiseJudgement:
    assert options.pairwise is not None
    pa, pb = item.proposals
    assert pa.id is not None and pb.id is not None
    shown = (pa, pb) if item.first == "a" else (pb, pa)
    messages = pairwise_messages(item.context, shown[0].answer, shown[1].answer)
    reply = _ask(client, messages, options, task)
    try:
        choices = parse_preferences(reply.text).choices
    except JudgeReplyError as exc:
        per_criterion, outcome, failure = None, None, exc.reason
    else:
        per_criterion = {k: outcome_of(c, item.first) for k, c in choices.items()}
        outcome, failure = overall_outcome(per_criterion), None
    return PairwiseJudgement(
        conversation_id=conv_id,
        turn_index=item.turn,
        proposal_a=pa.id,
        proposal_b=pb.id,
        proposer_a=options.pairwise[0].strip(),
        proposer_b=options.pairwise[1].strip(),
        first=item.first,
        judge=replace(judge, model=reply.model),  # the model the server says answered
        outcome=outcome,
        per_criterion=per_criterion,
        failure=failure,
        reply=reply.text[:MAX_REPLY_KEPT],
        actor=options.actor,
    )


# -- the batch --------------------------------------------------------------------------------
def run_judge(
    store: Store,
    client: JudgeClient,
    options: JudgeOptions | None = None,
    *,
    task: Task | None = None,
) -> JudgeSummary:
    """Judge every selected conversation that still needs it (see the module docstring)."""
    options = options or JudgeOptions()
    if options.pairwise is not None and options.seed is None:
        options = replace(options, seed=secrets.randbits(63))
    task = task or Task()
    judge = JudgeIdentity("", client.model, options.prompt_version, options.reference.value)
    summary = JudgeSummary(
        mode="pairwise" if options.pairwise else "score",
        requested=client.model,
        prompt_version=options.prompt_version,
        reference=options.reference.value,
    )
    names = _proposer_names(options)
    candidates = store.conversations_with_proposals(names)
    task.start(len(candidates), f"judging with {client.model}")
    start = time.perf_counter()
    lanes = options.concurrency
    in_flight: dict[Future[_Outcome], int] = {}
    submitted = 0

    def finish(conv_id: int, outcome: _Outcome) -> None:
        if outcome.error is not None:
            summary.failed.append((conv_id, outcome.error))
        else:
            summary.conversations += 1
            for verdict in [*outcome.scores, *outcome.pairs]:
                summary.models.add(verdict.judge.model)
                if verdict.failure is None:
                    summary.judged += 1
                else:
                    summary.failed_replies.append((conv_id, verdict.turn_index, verdict.failure))
        task.step(message=f"conversation {conv_id}")

    def drain(block_until: Callable[[int], bool]) -> None:
        while in_flight and block_until(len(in_flight)):
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in done:
                finish(in_flight.pop(future), future.result())  # Cancelled is raised here

    try:
        with work_lanes(lanes, task, "judge") as pool:
            for conv_id in candidates:
                if options.limit is not None and submitted >= options.limit:
                    break
                task.check()
                try:
                    plan = _plan(store, conv_id, options, judge)
                except AnnotatorError as exc:  # deleted meanwhile
                    summary.failed.append((conv_id, str(exc)))
                    task.step()
                    continue
                summary.skipped += plan.skipped
                summary.without_reference += plan.without_reference
                summary.without_pair += plan.without_pair
                if not plan.items:
                    task.step()
                    continue
                submitted += 1
                if pool is None:
                    finish(
                        conv_id, _judge_one_conversation(store, client, plan, options, judge, task)
                    )
                    continue
                future = pool.submit(
                    _judge_one_conversation, store, client, plan, options, judge, task
                )
                in_flight[future] = conv_id
                drain(lambda n: n >= lanes)
            drain(lambda n: True)
    finally:
        summary.elapsed_s = time.perf_counter() - start
    return summary


def _proposer_names(options: JudgeOptions) -> list[str] | None:
    if options.pairwise is not None:
        return sorted({parse_spec(s)[0] for s in options.pairwise})
    if options.proposer is not None:
        return [parse_spec(options.proposer)[0]]
    return None
