"""Rows <-> domain objects. Nothing outside this package ever sees a row."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from annotator.core.mask import Mask
from annotator.core.model import (
    Decision,
    Flag,
    FlagCode,
    HistoryEvent,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Proposal,
    Provenance,
    Review,
    Turn,
)

Row = Mapping[str, Any]


def pack_rle(mask: Mask) -> bytes:
    return zlib.compress(mask.counts, 6)


def unpack_mask(row: Row) -> Mask:
    return Mask(int(row["height"]), int(row["width"]), zlib.decompress(row["rle"]))


def image_values(image: Image) -> dict[str, Any]:
    return {
        "root": image.root,
        "path": image.path,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
    }


def image_from_row(row: Row) -> Image:
    return Image(
        path=row["path"],
        width=row["width"],
        height=row["height"],
        sha256=row["sha256"],
        root=row["root"],
        id=row["id"],
    )


def turn_values(conv_id: int, turn: Turn) -> dict[str, Any]:
    return {
        "conversation_id": conv_id,
        "idx": turn.index,
        "question": turn.question,
        "draft_answer": turn.draft_answer,
        "final_answer": turn.final_answer,
        "text_changed_at": turn.text_changed_at,
    }


def mask_values(conv_id: int, turn_id: int, position: int, ann: MaskAnnotation) -> dict[str, Any]:
    prov = ann.provenance
    return {
        "conversation_id": conv_id,
        "turn_id": turn_id,
        "position": position,
        "layer": MaskLayer(ann.layer).value,
        "label": ann.label,
        "height": ann.mask.height,
        "width": ann.mask.width,
        "rle": pack_rle(ann.mask),
        "area": ann.mask.area,
        "source": MaskSource(prov.source).value,
        "author": prov.author,
        "created_at": prov.created_at,
        "proposal_id": prov.proposal_id,
        "detail": dict(prov.detail),
    }


def mask_from_row(row: Row) -> MaskAnnotation:
    return MaskAnnotation(
        mask=unpack_mask(row),
        layer=MaskLayer(row["layer"]),
        provenance=Provenance(
            source=MaskSource(row["source"]),
            author=row["author"],
            created_at=row["created_at"],
            proposal_id=row["proposal_id"],
            detail=dict(row["detail"] or {}),
        ),
        label=row["label"],
        id=row["id"],
    )


def turn_from_row(row: Row, masks: Sequence[MaskAnnotation]) -> Turn:
    return Turn(
        index=row["idx"],
        question=row["question"],
        draft_answer=row["draft_answer"],
        final_answer=row["final_answer"],
        masks=tuple(masks),
        id=row["id"],
        text_changed_at=row["text_changed_at"],
    )


def flag_from_row(row: Row) -> Flag:
    return Flag(code=FlagCode(row["code"]), message=row["message"])


def history_values(conv_id: int, event: HistoryEvent) -> dict[str, Any]:
    return {
        "conversation_id": conv_id,
        "actor": event.actor,
        "action": event.action,
        "detail": dict(event.detail),
        "created_at": event.created_at,
    }


def history_from_row(row: Row) -> HistoryEvent:
    return HistoryEvent(
        actor=row["actor"],
        action=row["action"],
        detail=dict(row["detail"] or {}),
        created_at=row["created_at"],
        id=row["id"],
    )


def review_values(conv_id: int, review: Review) -> dict[str, Any]:
    return {
        "conversation_id": conv_id,
        "reviewer": review.reviewer,
        "decision": Decision(review.decision).value,
        "comment": review.comment,
        "turn_index": review.turn_index,
        "reason": review.reason,
        "created_at": review.created_at,
        "fingerprint": review.fingerprint,
        "turn_fingerprints": list(review.turn_fingerprints),
        "judged_mask": None if review.judged_mask is None else review.judged_mask.to_rle(),
        "resolved_by": review.resolved_by,
        "resolved_at": review.resolved_at,
    }


def review_from_row(row: Row) -> Review:
    return Review(
        reviewer=row["reviewer"],
        decision=Decision(row["decision"]),
        comment=row["comment"],
        turn_index=row["turn_index"],
        reason=row["reason"],
        created_at=row["created_at"],
        id=row["id"],
        fingerprint=row["fingerprint"],
        turn_fingerprints=tuple(row["turn_fingerprints"] or ()),
        judged_mask=None if row["judged_mask"] is None else Mask.from_rle(row["judged_mask"]),
        resolved_by=row["resolved_by"],
        resolved_at=row["resolved_at"],
    )


def proposal_values(conv_id: int, proposal: Proposal) -> dict[str, Any]:
    return {
        "conversation_id": conv_id,
        "turn_index": proposal.turn_index,
        "proposer": proposal.proposer,
        "proposer_version": proposal.proposer_version,
        "answer": proposal.answer,
        "scores": [float(s) for s in proposal.scores],
        "elapsed_s": float(proposal.elapsed_s),
        "created_at": proposal.created_at,
        "detail": proposal.detail,
    }


def proposal_mask_values(proposal_id: int, position: int, mask: Mask) -> dict[str, Any]:
    return {
        "proposal_id": proposal_id,
        "position": position,
        "height": mask.height,
        "width": mask.width,
        "rle": pack_rle(mask),
        "area": mask.area,
    }


def proposal_from_row(row: Row, masks: Sequence[Mask]) -> Proposal:
    return Proposal(
        turn_index=row["turn_index"],
        proposer=row["proposer"],
        proposer_version=row["proposer_version"],
        answer=row["answer"],
        masks=tuple(masks),
        scores=tuple(float(s) for s in row["scores"] or ()),
        elapsed_s=float(row["elapsed_s"]),
        created_at=row["created_at"],
        id=row["id"],
        detail=dict(row["detail"] or {}),
    )
