"""Whether one conversation goes into an export, and if not, the reason (a short code that the
report counts).

What each format needs of the chosen source (:mod:`annotator.core.export_mask`):

| format | masks | answers |
|---|---|---|
| COCO | the target turn's (others' too, where the source has them) | none written |
| LabelMe | the target turn's | none written |
| JSONL (PRIST record) | the target turn's (``mask``) | every turn's (``dialogue``) |
| JSONL (MIRAS/LLaVA) | the target turn's (for ``[SEG]``) | every turn's |

The reasons, checked in this order (the first one found is the conversation's):

- ``no_final_mask`` / ``no_draft_mask`` / ``no_proposal`` / ``no_proposal_mask``: the target turn
  has no non-empty mask in the source (``no_proposal``: no proposal at all, from the named
  proposer when one is named; ``no_proposal_mask``: its proposal proposes no mask);
- ``mask_size``: the source's target masks do not fit the image;
- ``stale_verdict`` (``final`` only): a turn's standing verdict was given on content that has
  changed since (:func:`annotator.core.review_rules.stale_turns`);
- ``no_final_answer`` / ``no_proposal``: a format that writes answers, and a turn the source has
  no answer for (the draft source always has one; an empty draft answer breaks ``rule:answer``);
- ``rule:<name>``: a PRIST rule (:mod:`annotator.core.prist_rules`) broken by the texts that go
  with the exported mask: the focus, the questions and the source's answers. A format that
  writes no answers leaves a turn the source has no answer for out of the answer rules instead
  of failing it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from annotator.core.export_mask import ExportContent, MaskKind
from annotator.core.export_report import ExportIssue
from annotator.core.prist_rules import RuleBreach, check_texts

STALE_VERDICT = "stale_verdict"
MASK_SIZE = "mask_size"
RULE_PREFIX = "rule:"
ANSWER_RULES = frozenset({"answer", "seg_final", "seg_early"})  # rules that read an answer


@dataclass(frozen=True)
class FormatNeeds:
    """What a format writes, so what it needs of the source."""

    answers: bool  # every turn's answer


COCO = FormatNeeds(answers=False)
LABELME = FormatNeeds(answers=False)
JSONL = FormatNeeds(answers=True)
MIRAS = FormatNeeds(answers=True)


def missing_mask_reason(content: ExportContent) -> str:
    choice = content.choice
    if choice.kind == MaskKind.PROPOSAL:
        return "no_proposal_mask" if content.target.proposed else "no_proposal"
    return f"no_{choice.kind}_mask"


def missing_answer_reason(content: ExportContent) -> str:
    return "no_proposal" if content.choice.kind == MaskKind.PROPOSAL else "no_final_answer"


def exported_breaches(focus: str, turns: Sequence[tuple[str, str | None]]) -> list[RuleBreach]:
    """PRIST rule breaches of the texts an export writes: ``(question, answer)`` per turn, the
    answer None where the source gives none (then only the turn's question is checked)."""
    unanswered = {i for i, (_, answer) in enumerate(turns) if answer is None}
    found = check_texts(focus, [(q, a if a is not None else "") for q, a in turns])
    return [b for b in found if not (b.turn in unanswered and b.rule in ANSWER_RULES)]


def skip_issue(
    content: ExportContent, needs: FormatNeeds, stale: Collection[int] = ()
) -> ExportIssue | None:
    """Why ``content`` stays out of an export in a format with ``needs`` (None: it goes in).
    ``stale`` holds the turns with a stale verdict; it is read for the final source only."""
    conv = content.conversation
    target = content.target
    if not target.masks:
        if target.misfits:
            return ExportIssue(
                conv.id,
                target.index,
                MASK_SIZE,
                f"the target's {content.choice.noun} does not fit the image "
                f"{conv.image.width}x{conv.image.height}",
            )
        reason = missing_mask_reason(content)
        return ExportIssue(
            conv.id, target.index, reason, f"the target turn has no {content.choice.noun}"
        )
    if content.choice.kind == MaskKind.FINAL and stale:
        first = min(stale)
        return ExportIssue(
            conv.id,
            first,
            STALE_VERDICT,
            f"turn {first + 1}'s verdict was given on content that has changed since",
        )
    if needs.answers:
        for t in content.turns:
            if t.answer is None:
                final = content.choice.kind == MaskKind.FINAL
                what = "verified answer" if final else content.choice.noun
                return ExportIssue(
                    conv.id,
                    t.index,
                    missing_answer_reason(content),
                    f"turn {t.index + 1} has no {what}",
                )
    breaches = exported_breaches(conv.focus, content.texts())
    if breaches:
        first = breaches[0]
        return ExportIssue(conv.id, first.turn, RULE_PREFIX + first.rule, str(first))
    return None
