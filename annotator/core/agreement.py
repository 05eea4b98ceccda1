"""Agreement between two reviewers of the same record: a reviewer asks for a second review
(``Decision.REQUEST_SECOND``); the next other reviewer to judge it, blind to the first, makes a
pair. Per pair: the turn verdicts both gave, and the IoU of the target masks each judged.
Over all pairs: verdict agreement and Cohen's kappa on the turn verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from annotator.core.metrics import iou
from annotator.core.model import Decision, Review
from annotator.core.review_rules import JUDGING, fold_reviews
from annotator.core.status import Status


@dataclass(frozen=True)
class ReviewPair:
    conversation_id: int
    first: str
    second: str
    verdicts: tuple[tuple[Decision, Decision], ...]  # (first's, second's) per turn both judged
    mask_iou: float | None  # of the target masks each judged; None when one judged none


def _standing(reviews: Iterable[Review], turn_count: int) -> dict[int, Decision]:
    state = fold_reviews(Status.IN_REVIEW, reviews, turn_count)
    return {t: Decision(r.decision) for t, r in state.verdicts.items()}


def _target_mask(reviews: Sequence[Review], target: int) -> Review | None:
    """The last of ``reviews`` that judged the target turn with a mask."""
    for r in reversed(reviews):
        if r.judged_mask is not None and r.turn_index in (None, target):
            return r
    return None


def review_pair(conv_id: int, reviews: Sequence[Review], turn_count: int) -> ReviewPair | None:
    """The pair the latest request for a second review has led to, or None (no request, or no
    other reviewer has judged since)."""
    requests = [i for i, r in enumerate(reviews) if r.decision == Decision.REQUEST_SECOND]
    if not requests:
        return None
    at = requests[-1]
    first = reviews[at].reviewer
    after = [r for r in reviews[at + 1 :] if Decision(r.decision) in JUDGING]
    second = next((r.reviewer for r in after if r.reviewer != first), None)
    if second is None:
        return None
    mine = [r for r in reviews[:at] if r.reviewer == first and Decision(r.decision) in JUDGING]
    theirs = [r for r in after if r.reviewer == second]
    a, b = _standing(mine, turn_count), _standing(theirs, turn_count)
    verdicts = tuple((a[t], b[t]) for t in sorted(a.keys() & b.keys()))
    ma, mb = _target_mask(mine, turn_count - 1), _target_mask(theirs, turn_count - 1)
    score = None
    if ma is not None and mb is not None:
        assert ma.judged_mask is not None and mb.judged_mask is not None
        score = iou(ma.judged_mask.to_array(), mb.judged_mask.to_array())
    return ReviewPair(conv_id, first, second, verdicts, score)


def cohen_kappa(pairs: Sequence[tuple[Decision, Decision]]) -> float | None:
    """Cohen's kappa of two raters over ``pairs``; None without pairs, or when chance
    agreement is total (both always gave the same single verdict: kappa is undefined)."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    labels = {x for pair in pairs for x in pair}
    expected = sum(
        (sum(a == k for a, _ in pairs) / n) * (sum(b == k for _, b in pairs) / n) for k in labels
    )
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def agreement_summary(pairs: Sequence[ReviewPair]) -> dict[str, object]:
    """The ``agreement`` section of the quality report."""
    verdicts = [v for p in pairs for v in p.verdicts]
    ious = [p.mask_iou for p in pairs if p.mask_iou is not None]
    return {
        "pairs": len(pairs),
        "turn_verdicts": len(verdicts),
        "verdict_agreement": (
            sum(a == b for a, b in verdicts) / len(verdicts) if verdicts else None
        ),
        "cohen_kappa": cohen_kappa(verdicts),
        "mask_iou": {"n": len(ious), "mean": sum(ious) / len(ious) if ious else None},
        "by_pair": [
            {
                "id": p.conversation_id,
                "first": p.first,
                "second": p.second,
                "agree": sum(a == b for a, b in p.verdicts),
                "of": len(p.verdicts),
                "mask_iou": p.mask_iou,
            }
            for p in pairs
        ],
    }
