"""Frozen records of what the reasoning judge said: a score per criterion for one model answer,
or which of two answers it preferred. A reply that did not parse is kept as a failure with its
reason, never as a score (docs/adr/0019-reasoning-judge.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from annotator.core.judge_criteria import Outcome
from annotator.core.model import utcnow

MAX_REPLY_KEPT = 4000  # characters of a judge's raw reply kept for audit


@dataclass(frozen=True)
class JudgeIdentity:
    """Who judged and how: the model the server said answered, the one asked for (the key a
    run resumes by), the prompt version and the reference answer the judge was given."""

    model: str
    requested: str
    prompt_version: str
    reference: str  # a core.judge_criteria.Reference value


@dataclass(frozen=True)
class Judgement:
    """Scores for one model answer (one proposal of one turn), or why there are none."""

    conversation_id: int
    turn_index: int
    proposal_id: int
    proposer: str
    proposer_version: str
    answer: str  # the answer judged, as it was judged
    judge: JudgeIdentity
    scores: Mapping[str, int] | None  # criterion key -> score on the scale; None: failed
    failure: str | None = None  # one line: why the reply gave no scores
    reply: str = ""  # the judge's raw reply, cut at MAX_REPLY_KEPT
    actor: str = ""
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def __post_init__(self) -> None:
        if (self.scores is None) == (self.failure is None):
            raise ValueError("a judgement holds either scores or a failure reason")

    @property
    def proposer_label(self) -> str:
        return f"{self.proposer}@{self.proposer_version}"


@dataclass(frozen=True)
class PairwiseJudgement:
    """Which of two proposers' answers to one turn the judge preferred, per criterion and
    overall (from A's side), and which of the two it was shown first."""

    conversation_id: int
    turn_index: int
    proposal_a: int
    proposal_b: int
    proposer_a: str  # the proposers as they were asked for (``name`` or ``name@version``)
    proposer_b: str
    first: Literal["a", "b"]
    judge: JudgeIdentity
    outcome: Outcome | None  # None: failed
    per_criterion: Mapping[str, Outcome] | None = None
    failure: str | None = None
    reply: str = ""
    actor: str = ""
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def __post_init__(self) -> None:
        if (self.outcome is None) == (self.failure is None):
            raise ValueError("a pairwise judgement holds either an outcome or a failure reason")
        if self.first not in ("a", "b"):
            raise ValueError(f"first must be 'a' or 'b', not {self.first!r}")
