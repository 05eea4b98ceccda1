"""The ``reasoning`` section of the quality report: what the LLM judge said about the model
answers, as plain JSON-ready values (docs/adr/0019-reasoning-judge.md).

Scores are grouped by judge (the model the server named, the prompt version, the reference the
judge was given) and proposer (``name@version``); each criterion gets its mean with a 95 %
Student t interval (``core.mean_interval``), overall and per turn index. The interval is
clipped to the scale: a mean of 1-3 scores cannot lie outside it, and with few items the t
interval would reach past it. Failed judgements are
counted with their most common reasons and never enter a mean. Pairwise verdicts are grouped by
judge and the two proposers as asked for, with win/tie/loss counts and rates from A's side,
overall and per criterion.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from annotator.core.judge_criteria import (
    PAIRWISE_CRITERIA,
    SCALE_MAX,
    SCALE_MIN,
    SCORE_CRITERIA,
    SCORE_KEYS,
)
from annotator.core.judgement import JudgeIdentity, Judgement, PairwiseJudgement
from annotator.core.mean_interval import mean_interval
from annotator.core.win_rate import tally

INTERVAL = "95% Student t interval of the mean (n - 1 degrees of freedom), clipped to the scale"
TOP_REASONS = 5


class JudgementSource(Protocol):
    def judgements(self, *, proposer: str | None = None) -> list[Judgement]: ...

    def pairwise_judgements(self) -> list[PairwiseJudgement]: ...


def reasoning_section(store: JudgementSource, proposer: str | None = None) -> dict[str, Any]:
    """Read the stored verdicts (only ``proposer``'s scores when given) and summarise them."""
    return summarise(store.judgements(proposer=proposer), store.pairwise_judgements())


def summarise(
    judgements: Sequence[Judgement], pairs: Sequence[PairwiseJudgement]
) -> dict[str, Any]:
    return {
        "criteria": [{"key": c.key, "name": c.name} for c in SCORE_CRITERIA],
        "pairwise_criteria": [{"key": c.key, "name": c.name} for c in PAIRWISE_CRITERIA],
        "scale": {"min": SCALE_MIN, "max": SCALE_MAX},
        "interval": INTERVAL,
        "judged": sum(1 for j in judgements if j.scores is not None),
        "failed": sum(1 for j in judgements if j.scores is None),
        "scores": _score_groups(judgements),
        "pairwise": _pair_groups(pairs),
    }


def _judge_fields(judge: JudgeIdentity) -> dict[str, str]:
    return {
        "judge": judge.model,
        "judge_requested": judge.requested,
        "prompt_version": judge.prompt_version,
        "reference": judge.reference,
    }


def _criteria_means(items: Sequence[Judgement]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in SCORE_KEYS:
        values = [float(j.scores[key]) for j in items if j.scores is not None and key in j.scores]
        stat = mean_interval(values).as_dict()
        for end in ("low", "high"):
            if stat[end] is not None:
                stat[end] = min(float(SCALE_MAX), max(float(SCALE_MIN), stat[end]))
        out[key] = stat
    return out


def _reasons(items: Sequence[Judgement] | Sequence[PairwiseJudgement]) -> dict[str, int]:
    counts = Counter(i.failure for i in items if i.failure is not None)
    return dict(counts.most_common(TOP_REASONS))


def _score_groups(judgements: Sequence[Judgement]) -> list[dict[str, Any]]:
    groups: dict[tuple[JudgeIdentity, str], list[Judgement]] = defaultdict(list)
    for j in judgements:
        groups[(j.judge, j.proposer_label)].append(j)
    out = []
    for (judge, proposer), items in sorted(
        groups.items(), key=lambda kv: (kv[0][0].model, kv[0][0].prompt_version, kv[0][1])
    ):
        scored = [j for j in items if j.scores is not None]
        by_turn: dict[int, list[Judgement]] = defaultdict(list)
        for j in scored:
            by_turn[j.turn_index].append(j)
        out.append(
            {
                **_judge_fields(judge),
                "proposer": proposer,
                "n": len(scored),
                "failed": len(items) - len(scored),
                "failure_reasons": _reasons(items),
                "overall": _criteria_means(scored),
                "by_turn": {str(t): _criteria_means(v) for t, v in sorted(by_turn.items())},
                "ids": sorted({j.conversation_id for j in scored}),
                "ids_by_turn": {
                    str(t): sorted({j.conversation_id for j in v})
                    for t, v in sorted(by_turn.items())
                },
            }
        )
    return out


def _pair_groups(pairs: Sequence[PairwiseJudgement]) -> list[dict[str, Any]]:
    groups: dict[tuple[JudgeIdentity, str, str], list[PairwiseJudgement]] = defaultdict(list)
    for p in pairs:
        groups[(p.judge, p.proposer_a, p.proposer_b)].append(p)
    out = []
    for (judge, a, b), items in sorted(
        groups.items(), key=lambda kv: (kv[0][0].model, kv[0][0].prompt_version, kv[0][1:])
    ):
        decided = [p for p in items if p.outcome is not None]
        by_criterion = {
            c.key: tally(
                (p.per_criterion[c.key], p.first)
                for p in decided
                if p.per_criterion is not None and c.key in p.per_criterion
            ).as_dict()
            for c in PAIRWISE_CRITERIA
        }
        out.append(
            {
                **_judge_fields(judge),
                "a": a,
                "b": b,
                **tally((p.outcome, p.first) for p in decided if p.outcome is not None).as_dict(),
                "failed": len(items) - len(decided),
                "failure_reasons": _reasons(items),
                "by_criterion": by_criterion,
                "ids": sorted({p.conversation_id for p in decided}),
            }
        )
    return out
