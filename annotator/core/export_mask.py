"""Which masks and answers an export writes: the source a person names (``--mask``) and what it
yields for one conversation.

Three sources, and none stands in for another (a conversation that lacks what the chosen source
has is left out of the export with a reason, never filled from another source):

- ``final``: the verified layer (:attr:`MaskLayer.FINAL`) and the verified answers
  (``Turn.final_answer``);
- ``draft``: the imported layer (:attr:`MaskLayer.DRAFT`) and the draft answers;
- ``proposal`` / ``proposal:NAME``: each turn's latest proposal (:func:`latest_per_turn`), from
  proposer NAME only when named: its mask (:func:`proposed_mask`, the masks united) and its
  answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from annotator.core.correction import latest_per_turn, proposed_mask
from annotator.core.errors import InputError
from annotator.core.mask import Mask, union
from annotator.core.model import Conversation, MaskLayer, Proposal, Turn


class MaskKind(StrEnum):
    FINAL = "final"
    DRAFT = "draft"
    PROPOSAL = "proposal"


CHOICES_HELP = "final, draft, proposal or proposal:NAME"


@dataclass(frozen=True)
class MaskChoice:
    """The source an export takes its masks and answers from."""

    kind: MaskKind = MaskKind.FINAL
    proposer: str | None = None  # PROPOSAL only: take only this proposer's proposals

    def __post_init__(self) -> None:
        if self.proposer is not None and (
            self.kind != MaskKind.PROPOSAL or not self.proposer.strip()
        ):
            raise ValueError(f"a proposer name goes with the proposal source only: {self!r}")

    @classmethod
    def parse(cls, text: str) -> MaskChoice:
        """``final``, ``draft``, ``proposal`` or ``proposal:NAME``; anything else is refused with
        a one-line :class:`InputError`."""
        value = text.strip()
        kind, sep, name = value.partition(":")
        if sep and kind == MaskKind.PROPOSAL:
            if not name.strip():
                raise InputError("--mask proposal:NAME needs a proposer name after 'proposal:'")
            return cls(MaskKind.PROPOSAL, name.strip())
        if not sep and value in tuple(MaskKind):
            return cls(MaskKind(value))
        raise InputError(f"--mask must be {CHOICES_HELP}, not {text!r}")

    def __str__(self) -> str:
        return f"{self.kind}:{self.proposer}" if self.proposer else str(self.kind)

    @property
    def noun(self) -> str:
        """What one of its masks is called in a sentence."""
        if self.kind == MaskKind.PROPOSAL:
            return f"proposal from {self.proposer}" if self.proposer else "proposal"
        return f"{self.kind} mask"


FINAL = MaskChoice(MaskKind.FINAL)
DRAFT = MaskChoice(MaskKind.DRAFT)


@dataclass(frozen=True)
class TurnContent:
    """One turn as the source has it."""

    index: int
    question: str
    answer: str | None  # None: the source has no answer for this turn (no verified text, no
    # proposal)
    masks: tuple[Mask, ...]  # the source's non-empty masks that fit the image
    misfits: int = 0  # non-empty masks of the source that do not fit the image (left out)
    proposed: bool = False  # PROPOSAL: the turn has a proposal (perhaps without a mask)


@dataclass(frozen=True)
class ExportContent:
    """What an export may write of one conversation under one source."""

    conversation: Conversation
    choice: MaskChoice
    turns: tuple[TurnContent, ...]

    @property
    def target(self) -> TurnContent:
        """The turn whose mask is the conversation's target (the last, the [SEG] request)."""
        return self.turns[-1]

    @property
    def target_mask(self) -> Mask | None:
        """The target turn's masks as one (united when several); None when it has none."""
        masks = self.target.masks
        if not masks:
            return None
        if len(masks) == 1:
            return masks[0]
        return union(masks, masks[0].height, masks[0].width)

    def texts(self) -> list[tuple[str, str | None]]:
        """(question, the source's answer or None) per turn."""
        return [(t.question, t.answer) for t in self.turns]


def _layer_turn(turn: Turn, layer: MaskLayer, size: tuple[int, int]) -> TurnContent:
    masks = [a.mask for a in turn.layer(layer) if not a.mask.is_empty]
    fitting = tuple(m for m in masks if m.size == size)
    answer = turn.final_answer if layer == MaskLayer.FINAL else turn.draft_answer
    return TurnContent(turn.index, turn.question, answer, fitting, len(masks) - len(fitting))


def _proposal_turn(turn: Turn, proposal: Proposal | None, size: tuple[int, int]) -> TurnContent:
    if proposal is None:
        return TurnContent(turn.index, turn.question, None, ())
    mask = proposed_mask(proposal, *size)
    if mask is None:  # one of its masks is of another size: it proposes nothing writable here
        return TurnContent(turn.index, turn.question, proposal.answer, (), 1, proposed=True)
    masks = () if mask.is_empty else (mask,)
    return TurnContent(turn.index, turn.question, proposal.answer, masks, proposed=True)


def content_of(
    conv: Conversation, choice: MaskChoice, proposals: Iterable[Proposal] = ()
) -> ExportContent:
    """``conv`` as ``choice`` has it; ``proposals`` are the conversation's stored proposals
    (read only for the proposal source)."""
    size = (conv.image.height, conv.image.width)
    if choice.kind == MaskKind.PROPOSAL:
        mine = [p for p in proposals if choice.proposer in (None, p.proposer)]
        latest = latest_per_turn(mine)
        turns = tuple(_proposal_turn(t, latest.get(t.index), size) for t in conv.turns)
    else:
        layer = MaskLayer.FINAL if choice.kind == MaskKind.FINAL else MaskLayer.DRAFT
        turns = tuple(_layer_turn(t, layer, size) for t in conv.turns)
    return ExportContent(conv, choice, turns)
