"""Frozen domain objects. Storage turns them into rows and back; nothing else sees rows.

``id`` is ``None`` until an object has been stored. Collections are tuples so that objects stay
immutable; change one with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from annotator.core.mask import Mask
from annotator.core.status import Status

SEG_TOKEN = "[SEG]"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Image:
    path: str  # relative to ``root``, forward slashes (confined to it by annotator.io)
    width: int
    height: int
    sha256: str  # of the file's bytes; "" when the file was missing at import
    root: str = ""  # the image directory given at import (absolute)
    id: int | None = None


class MaskLayer(StrEnum):
    DRAFT = "draft"  # imported with the record (e.g. from LabelMe), not verified
    FINAL = "final"  # the verified mask a reviewer approves


class MaskSource(StrEnum):
    IMPORTED = "imported"
    PROPOSER = "proposer"  # taken over from a model proposal
    HUMAN = "human"  # brush / eraser / polygon
    SAM = "sam"  # SAM-assisted clicks or box


@dataclass(frozen=True)
class Provenance:
    """How a mask was made: by whom, with what, starting from which proposal."""

    source: MaskSource
    author: str  # user name, or "proposer-name@version"
    created_at: datetime = field(default_factory=utcnow)
    proposal_id: int | None = None  # the proposal the edit started from
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. SAM prompts, stroke counts


@dataclass(frozen=True)
class MaskAnnotation:
    mask: Mask
    layer: MaskLayer
    provenance: Provenance
    label: str = ""  # e.g. the LabelMe label it came from
    id: int | None = None


def standing_answer(draft: str, final: str | None) -> str:
    """The verified answer where there is one, else the draft."""
    return final if final is not None else draft


@dataclass(frozen=True)
class Turn:
    index: int  # 0-based position in the conversation
    question: str
    draft_answer: str = ""
    final_answer: str | None = None  # None until someone has verified the text
    masks: tuple[MaskAnnotation, ...] = ()
    id: int | None = None
    # When a question or answer last changed (set by storage; None: never since import).
    text_changed_at: datetime | None = None

    def layer(self, layer: MaskLayer) -> tuple[MaskAnnotation, ...]:
        return tuple(m for m in self.masks if m.layer == layer)

    @property
    def answer(self) -> str:
        """The answer that stands for the turn while it is worked on (the PRIST rules shown
        as one writes, a proposer's history): see :func:`standing_answer`. Exports take the
        source asked for, never this fallback."""
        return standing_answer(self.draft_answer, self.final_answer)

    @property
    def text_after_verified_mask(self) -> bool:
        """The text changed after this turn's final mask was made: the mask was verified
        against words that are no longer there."""
        finals = [m.provenance.created_at for m in self.masks if m.layer == MaskLayer.FINAL]
        return (
            bool(finals)
            and self.text_changed_at is not None
            and (self.text_changed_at > max(finals))
        )


@dataclass(frozen=True)
class Proposal:
    """One proposer's answer for one turn."""

    turn_index: int
    proposer: str
    proposer_version: str
    answer: str
    masks: tuple[Mask, ...] = ()
    scores: tuple[float, ...] = ()
    elapsed_s: float = 0.0
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None
    # How it came about, for audit: e.g. a vision-language model's box, its raw reply (bounded),
    # the model the server named, SAM's other candidates. JSON values only.
    detail: dict[str, Any] = field(default_factory=dict)


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REOPEN = "reopen"
    COMMENT = "comment"
    REQUEST_SECOND = "request_second"  # queue the record for a second, blind review


class ReasonCode(StrEnum):
    """The reason codes every project starts with; the project's list lives in its database
    (codes are added, renamed and retired there)."""

    MASK_WRONG = "mask_wrong"
    TEXT_WRONG = "text_wrong"
    UNGROUNDABLE = "ungroundable"
    AMBIGUOUS = "ambiguous_reference"


# What a reason code may be (stored in reviews, read from files): short, lower-case, no spaces.
REASON_CODE = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True)
class ReasonEntry:
    """One reason code of the project's list; a retired code stays readable in old reviews but
    is no longer offered."""

    code: str
    label: str
    retired: bool = False


@dataclass(frozen=True)
class Review:
    reviewer: str
    decision: Decision
    comment: str = ""
    turn_index: int | None = None  # None: the whole conversation
    reason: str | None = None  # a code of the project's reason list
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None
    # What was judged (core.fingerprint), set by storage from the stored content: the turn's
    # fingerprint for a turn review, the record's for a whole-record one ("" when unknown).
    fingerprint: str = ""
    turn_fingerprints: tuple[str, ...] = ()  # a whole-record review: each turn's, by index
    # The verified mask of the judged turn (of the target for a whole-record review), if any.
    judged_mask: Mask | None = None
    resolved_by: str | None = None  # a comment marked resolved, by whom and when
    resolved_at: datetime | None = None


class FlagCode(StrEnum):
    MISSING_IMAGE = "missing_image"  # no file at the image's path: fix the path or copy the data
    BAD_IMAGE = "bad_image"  # the file is there but does not decode: re-download or re-export
    SIZE_MISMATCH = "size_mismatch"
    NO_MATCH = "no_match"
    AMBIGUOUS_MATCH = "ambiguous_match"
    DEGENERATE_POLYGON = "degenerate_polygon"
    EMPTY_MASK = "empty_mask"
    MISSING_MASKS = "missing_masks"
    # Written by a model (`annotator draft`): every text is to be checked against the image.
    # Flags are stored as their code's text, so a new code needs no migration.
    MODEL_DRAFTED = "model_drafted"


@dataclass(frozen=True)
class Flag:
    code: FlagCode
    message: str


@dataclass(frozen=True)
class HistoryEvent:
    """One recorded change of a conversation (status, text, mask, review)."""

    actor: str
    action: str  # e.g. "status", "answer", "mask", "review", "import"
    detail: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None


@dataclass(frozen=True)
class Conversation:
    image: Image
    focus: str
    turns: tuple[Turn, ...]
    status: Status = Status.DRAFT
    source: str = ""  # where it came from, e.g. "prist:test.json#12"
    key: str = ""  # content hash used to make re-imports idempotent
    flags: tuple[Flag, ...] = ()
    updated_at: datetime = field(default_factory=utcnow)
    revision: int = 0  # bumped on every save; a stale revision means someone else saved first
    id: int | None = None
    deleted_at: datetime | None = None  # soft-deleted: out of lists and exports, restorable

    @property
    def target_turn(self) -> Turn:
        """The turn whose mask is the conversation's target: the last one (the [SEG] request)."""
        return self.turns[-1]

    def turn(self, index: int) -> Turn:
        return self.turns[index]
