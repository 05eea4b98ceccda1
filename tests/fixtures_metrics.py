"""A reviewed project for the quality-report, CLI and dashboard tests.

The bundled sample project (ten conversations on four real photographs, LabelMe masks) is
imported into a real SQLite file, then worked on the way people and models would:

* every turn of every conversation gets a "miras" proposal whose mask is the imported mask
  shifted right, less on each later turn (the proposal narrows onto the target); conversation 2
  also gets a later "other" proposal on its target turn, conversation 5 a target proposal with no
  mask, and conversation 8's second turn a proposal with no mask;
* conversations 1-6 are approved by alice with FINAL masks (her own edit of the imported mask),
  with every earlier answer verified; conversation 4's target also has a FINAL mask by carol
  (two authors on one turn); conversation 7 has a FINAL mask but stays in review;
* conversation 1 is imported a second time (same image and focus) and approved by bob with a
  different mask, conversation 2 a second time and approved by alice again.

``expected`` keeps the arrays that went in, so tests can recompute every figure with numpy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Decision,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Proposal,
    Provenance,
    Review,
    Turn,
    utcnow,
)
from annotator.storage import Store, open_store

APPROVED = (1, 2, 3, 4, 5, 6)
IN_REVIEW_WITH_FINAL = 7


def shifted(mask: np.ndarray, dx: int) -> np.ndarray:
    """The mask moved ``dx`` pixels right; what leaves the frame is lost."""
    out = np.zeros_like(mask)
    if dx >= mask.shape[1]:
        return out
    out[:, dx:] = mask[:, : mask.shape[1] - dx]
    return out


def dilated(mask: np.ndarray, r: int) -> np.ndarray:
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0


def eroded(mask: np.ndarray, r: int) -> np.ndarray:
    import cv2

    return cv2.erode(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0


def _final(mask: np.ndarray, author: str) -> MaskAnnotation:
    return MaskAnnotation(
        mask=Mask.from_array(mask),
        layer=MaskLayer.FINAL,
        provenance=Provenance(source=MaskSource.HUMAN, author=author),
    )


@dataclass
class MetricsProject:
    db: Path
    store: Store
    draft: dict[int, np.ndarray] = field(default_factory=dict)  # imported target mask by id
    proposed: dict[tuple[int, int], np.ndarray | None] = field(default_factory=dict)
    other_target: dict[int, np.ndarray] = field(default_factory=dict)  # "other" proposer
    final: dict[int, np.ndarray] = field(default_factory=dict)  # union of FINAL on the target
    final_by_author: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    answers: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)  # (hyp, ref)
    duplicates: dict[int, int] = field(default_factory=dict)  # copy id -> original id
    turn_counts: dict[int, int] = field(default_factory=dict)


def _proposal_mask(draft: np.ndarray, turn: int, turns: int) -> np.ndarray:
    return shifted(draft, 4 * (turns - 1 - turn) + 2)


def _proposed_answer(turn: Turn) -> str:
    words = turn.draft_answer.split()
    return " ".join(words[: max(1, len(words) * 2 // 3)]) + " probably."


def _approve(
    store: Store, conv: Conversation, finals: dict[str, np.ndarray], verify_text: bool
) -> Conversation:
    target = conv.target_turn
    masks = target.masks + tuple(_final(m, author) for author, m in finals.items())
    turns = [replace(t, final_answer=t.draft_answer) if verify_text else t for t in conv.turns]
    turns[-1] = replace(turns[-1], masks=masks)
    first_author = next(iter(finals))
    saved = store.save_conversation(replace(conv, turns=tuple(turns)), actor=first_author)
    return saved


def build_metrics_project(db: Path) -> MetricsProject:
    from annotator.services.sample_project import import_sample

    store = open_store(db)
    import_sample(store)
    project = MetricsProject(db=db, store=store)
    convs = {c.id: c for c in store.iter_conversations() if c.id is not None}
    for cid, conv in convs.items():
        h, w = conv.image.height, conv.image.width
        draft = np.zeros((h, w), bool)
        for a in conv.target_turn.layer(MaskLayer.DRAFT):
            draft |= a.mask.to_array()
        project.draft[cid] = draft
        project.turn_counts[cid] = len(conv.turns)
        proposals = []
        for turn in conv.turns:
            mask: np.ndarray | None = _proposal_mask(draft, turn.index, len(conv.turns))
            if (cid, turn.index) in ((5, len(conv.turns) - 1), (8, 1)):
                mask = None  # the model answered without a mask
            project.proposed[(cid, turn.index)] = mask
            answer = "Sure, [SEG]." if turn is conv.target_turn else _proposed_answer(turn)
            project.answers[(cid, turn.index)] = (answer, turn.draft_answer)
            proposals.append(
                Proposal(
                    turn_index=turn.index,
                    proposer="miras",
                    proposer_version="test",
                    answer=answer,
                    masks=() if mask is None else (Mask.from_array(mask),),
                    created_at=utcnow(),
                )
            )
        store.add_proposals(cid, proposals)
    # a later proposal by another model on conversation 2's target turn
    c2 = convs[2]
    other = dilated(project.draft[2], 3)
    project.other_target[2] = other
    project.answers[(2, len(c2.turns) - 1)] = ("It is here: [SEG].", c2.target_turn.draft_answer)
    store.add_proposals(
        2,
        [
            Proposal(
                turn_index=len(c2.turns) - 1,
                proposer="other",
                proposer_version="0.1",
                answer="It is here: [SEG].",
                masks=(Mask.from_array(other),),
                created_at=utcnow(),
            )
        ],
    )

    for cid in APPROVED:
        conv = store.get_conversation(cid)
        alice = eroded(project.draft[cid], 1) if cid % 2 else project.draft[cid]
        finals = {"alice": alice}
        if cid == 4:
            finals["carol"] = dilated(project.draft[cid], 2)
        project.final_by_author[cid] = finals
        project.final[cid] = np.logical_or.reduce(list(finals.values()))
        _approve(store, conv, finals, verify_text=True)
        store.add_review(cid, Review(reviewer="alice", decision=Decision.APPROVE))

    conv7 = store.get_conversation(IN_REVIEW_WITH_FINAL)
    project.final[IN_REVIEW_WITH_FINAL] = project.draft[IN_REVIEW_WITH_FINAL]
    project.final_by_author[IN_REVIEW_WITH_FINAL] = {"dave": project.draft[7]}
    _approve(store, conv7, {"dave": project.draft[7]}, verify_text=False)
    store.add_review(
        IN_REVIEW_WITH_FINAL, Review(reviewer="dave", decision=Decision.COMMENT, comment="ok")
    )

    # the same records annotated a second time
    second = ((1, "bob", dilated(project.draft[1], 4)), (2, "alice", eroded(project.draft[2], 1)))
    for original, author, mask in second:
        src = convs[original]
        bare_turns = tuple(replace(t, masks=(), id=None) for t in src.turns)
        copy = replace(
            src,
            id=None,
            key=f"{src.key}-second",
            source=f"{src.source} (second annotation)",
            turns=bare_turns,
            revision=0,
        )
        (copy_id,) = store.add_conversations([copy], actor="importer").added_ids
        conv = store.get_conversation(copy_id)
        project.duplicates[copy_id] = original
        project.final[copy_id] = mask
        project.final_by_author[copy_id] = {author: mask}
        project.turn_counts[copy_id] = len(conv.turns)
        _approve(store, conv, {author: mask}, verify_text=True)
        store.add_review(copy_id, Review(reviewer=author, decision=Decision.APPROVE))
    return project


@pytest.fixture
def metrics_project(tmp_path: Path) -> Iterator[MetricsProject]:
    project = build_metrics_project(tmp_path / "metrics.sqlite3")
    try:
        yield project
    finally:
        project.store.close()
