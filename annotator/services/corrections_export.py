"""``annotator export corrections OUT.jsonl``: what reviewers threw away, as training data.

One JSON object per line:

- ``"kind": "correction"`` -- a model proposal and what the reviewer made of it: the corrected
  (final) mask and/or answer, how much changed, and the reason the reviewer gave. A
  (rejected = proposal, chosen = correction) preference pair for training the next model.
- ``"kind": "rejected"`` -- a turn (or a whole conversation) a reviewer rejected, with the
  reason code, comment and the proposal that was on it.
- ``"kind": "accepted"`` (only with ``include_accepted``) -- proposals taken over unchanged.

The proposal a correction is compared with is the one the final mask was started from when the
mask records it, else the newest proposal for that turn. The file appears atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core import metrics
from annotator.core.atomic_file import atomic_text
from annotator.core.mask import Mask, union
from annotator.core.model import Conversation, Decision, MaskLayer, Proposal, Review, Turn
from annotator.core.progress import Task
from annotator.storage import ListQuery, Store


@dataclass
class CorrectionsSummary:
    path: str
    conversations: int = 0  # conversations that gave at least one line
    corrections: int = 0
    rejected: int = 0
    accepted: int = 0

    def __str__(self) -> str:
        return (
            f"{self.corrections} corrections, {self.rejected} rejections"
            + (f", {self.accepted} accepted" if self.accepted else "")
            + f" from {self.conversations} conversations"
        )


def export_corrections(
    store: Store,
    path: str | Path,
    *,
    query: ListQuery | None = None,
    include_accepted: bool = False,
    task: Task | None = None,
) -> CorrectionsSummary:
    task = task or Task()
    summary = CorrectionsSummary(str(path))
    task.start(store.count(query or ListQuery()), f"writing {Path(path).name}")
    with atomic_text(path) as fh:
        for conv in store.iter_conversations(query):
            task.check()
            assert conv.id is not None
            lines = conversation_lines(
                conv, store.proposals(conv.id), store.reviews(conv.id), include_accepted
            )
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
                kind = line["kind"]
                summary.corrections += kind == "correction"
                summary.rejected += kind == "rejected"
                summary.accepted += kind == "accepted"
            summary.conversations += bool(lines)
            task.step()
    return summary


def conversation_lines(
    conv: Conversation,
    proposals: Sequence[Proposal],
    reviews: Sequence[Review],
    include_accepted: bool = False,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for turn in conv.turns:
        proposal = _proposal_for(turn, proposals)
        finals = turn.layer(MaskLayer.FINAL)
        if proposal is not None and (finals or turn.final_answer is not None):
            line = _correction(conv, turn, proposal, reviews)
            if line["kind"] == "correction" or include_accepted:
                out.append(line)
    for review in reviews:
        if review.decision == Decision.REJECT:
            index = review.turn_index if review.turn_index is not None else len(conv.turns) - 1
            turn = conv.turns[index] if 0 <= index < len(conv.turns) else conv.target_turn
            line = _base(conv, turn, "rejected")
            line["whole_conversation"] = review.turn_index is None
            line["proposal"] = _proposal_json(_proposal_for(turn, proposals))
            line["draft_answer"] = turn.draft_answer
            line["reason"] = _review_json(review)
            out.append(line)
    return out


def _correction(
    conv: Conversation, turn: Turn, proposal: Proposal, reviews: Sequence[Review]
) -> dict[str, Any]:
    h, w = conv.image.height, conv.image.width
    finals = turn.layer(MaskLayer.FINAL)
    corrected = union((m.mask for m in finals), h, w) if finals else None
    proposed = union(proposal.masks, h, w)
    iou, changed = (None, None) if corrected is None else _compare(proposed, corrected)
    text_changed = (
        turn.final_answer is not None and turn.final_answer.strip() != proposal.answer.strip()
    )
    mask_changed = changed is not None and changed > 0
    line = _base(conv, turn, "correction" if (mask_changed or text_changed) else "accepted")
    line["proposal"] = _proposal_json(proposal)
    line["corrected"] = {
        # The verified answer only: None when the reviewer corrected the mask and left the text
        # unverified (the draft is never passed off as a correction).
        "answer": turn.final_answer,
        "mask": None if corrected is None else corrected.to_rle(),
        "authors": sorted({m.provenance.author for m in finals}),
        "sources": sorted({m.provenance.source.value for m in finals}),
    }
    line["changes"] = {
        "text_changed": text_changed,
        "mask_changed": mask_changed,
        "mask_iou": iou,
        "changed_pixels": changed,
    }
    line["reason"] = _review_json(_reason_for(turn.index, reviews))
    return line


def _base(conv: Conversation, turn: Turn, kind: str) -> dict[str, Any]:
    earlier = conv.turns[: turn.index]
    return {
        "kind": kind,
        "conversation_id": conv.id,
        "key": conv.key,
        "source": conv.source,
        "status": conv.status.value,
        "image": {
            "path": conv.image.path,
            "width": conv.image.width,
            "height": conv.image.height,
            "sha256": conv.image.sha256,
        },
        "focus": conv.focus,
        "turn_index": turn.index,
        "question": turn.question,
        "history": [
            {
                "question": t.question,
                "answer": t.answer,
            }
            for t in earlier
        ],
    }


def _proposal_for(turn: Turn, proposals: Sequence[Proposal]) -> Proposal | None:
    mine = [p for p in proposals if p.turn_index == turn.index]
    if not mine:
        return None
    started_from = {
        m.provenance.proposal_id
        for m in turn.layer(MaskLayer.FINAL)
        if m.provenance.proposal_id is not None
    }
    for p in reversed(mine):
        if p.id in started_from:
            return p
    return mine[-1]


def _reason_for(turn_index: int, reviews: Sequence[Review]) -> Review | None:
    """The newest review of this turn that gives a reason or comment, else of the conversation."""
    for wanted in (turn_index, None):
        for r in reversed(reviews):
            if r.turn_index == wanted and (r.reason is not None or r.comment):
                return r
    return None


def _compare(a: Mask, b: Mask) -> tuple[float, int]:
    """IoU and the number of pixels that differ."""
    x, y = a.to_array(), b.to_array()
    return metrics.iou(x, y), int(np.count_nonzero(x ^ y))


def _proposal_json(p: Proposal | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "id": p.id,
        "proposer": p.proposer,
        "version": p.proposer_version,
        "answer": p.answer,
        "masks": [m.to_rle() for m in p.masks],
        "scores": list(p.scores),
        "created_at": p.created_at.isoformat(),
    }


def _review_json(r: Review | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "decision": r.decision.value,
        "code": None if r.reason is None else str(r.reason),  # a code of the project list
        "comment": r.comment,
        "reviewer": r.reviewer,
        "turn_index": r.turn_index,
        "created_at": r.created_at.isoformat(),
    }
