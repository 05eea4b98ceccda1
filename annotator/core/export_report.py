"""What an export wrote, what it left out and why, and how faithful polygon output is.

Every conversation the status chose is counted once: ``matched == written + len(skipped)``; each
one left out carries a reason code (:mod:`annotator.core.export_gate`, or the writer's own), and
:meth:`ExportReport.summary` says in one line how many and why, e.g.
``508 matched, 0 written: 508 have no final mask; use --mask draft for the imported masks``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

LOSSY_IOU = 0.99  # polygons that re-rasterise below this IoU with their mask are reported

# Reasons that another mask source may not have: the summary then names the one that has it.
MISSING = frozenset(
    {"no_final_mask", "no_final_answer", "no_draft_mask", "no_proposal", "no_proposal_mask"}
)
# What each alternative source is, for the hint.
ALTERNATIVE_WHAT = {"draft": "the imported masks", "final": "the verified masks"}


@dataclass(frozen=True)
class ExportIssue:
    """A conversation left out of an export (or a part of one left out of it)."""

    conversation_id: int | None
    turn_index: int | None
    reason: str  # a short code the report counts, e.g. "no_final_mask", "rule:seg_final"
    message: str  # one line for people


@dataclass(frozen=True)
class PolygonFidelity:
    """How well the written polygons of one mask reproduce it when rasterised back."""

    conversation_id: int | None
    turn_index: int
    iou: float
    parts: int  # polygons written
    parts_dropped: int  # mask parts that could not be written as a polygon

    @property
    def lossy(self) -> bool:
        return self.iou < LOSSY_IOU or self.parts_dropped > 0


def _phrase(reason: str, n: int, mask: str) -> str:
    """``n`` conversations and why they were left out, as a clause."""
    has, are = ("has", "breaks") if n == 1 else ("have", "break")
    _, _, proposer = mask.partition(":")
    fixed = {
        "no_final_mask": f"{has} no final mask",
        "no_draft_mask": f"{has} no draft mask",
        "no_final_answer": f"{has} an answer that is not verified",
        "no_proposal": f"{has} no proposal" + (f" from {proposer}" if proposer else ""),
        "no_proposal_mask": f"{has} a proposal without a mask",
        "stale_verdict": f"{has} a stale verdict (the record changed since it was judged)",
        "mask_size": f"{has} a target mask that does not fit the image",
        "size_clash": f"{has} a mask of another size than the other masks of its LabelMe file",
        "image_token": f"{has} an <image> token in a text",
        "seg_token": f"{has} [SEG] where the MIRAS form cannot take it",
    }
    if reason in fixed:
        return f"{n:,} {fixed[reason]}"
    if reason.startswith("rule:"):
        return f"{n:,} {are} the PRIST rule {reason.removeprefix('rule:')}"
    return f"{n:,} left out ({reason})"


def cli_option(choice: str) -> str:
    return f"--mask {choice}"


@dataclass
class ExportReport:
    path: str
    mask: str = "final"  # the mask source written (core.export_mask.MaskChoice as text)
    matched: int = 0  # conversations the export was asked for (its status)
    written: int = 0  # conversations written
    records: int = 0  # lines (JSONL), images (COCO), files (LabelMe) written
    annotations: int = 0  # masks written
    skipped: list[ExportIssue] = field(default_factory=list)  # conversations left out
    notes: list[ExportIssue] = field(default_factory=list)  # parts of written ones left out
    fidelity: list[PolygonFidelity] = field(default_factory=list)
    # Mask source -> how many of the conversations left out for lack of the chosen source's
    # content have a target mask in it (for the hint).
    alternatives: dict[str, int] = field(default_factory=dict)

    @property
    def lossy(self) -> list[PolygonFidelity]:
        return [f for f in self.fidelity if f.lossy]

    def skipped_by_reason(self) -> dict[str, int]:
        """Reason -> conversations, most frequent first."""
        counts = Counter(i.reason for i in self.skipped)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def hint(self, option: Callable[[str], str] = cli_option) -> str:
        """Which other source has masks for the conversations left out for lack of the chosen
        one's ("" when none does, or none were left out for that)."""
        if not any(i.reason in MISSING for i in self.skipped):
            return ""
        kind = self.mask.partition(":")[0]
        offers = [(n, alt) for alt, n in self.alternatives.items() if n and alt != kind]
        if not offers:
            return ""
        _, alt = max(offers)
        return f"use {option(alt)} for {ALTERNATIVE_WHAT.get(alt, 'its masks')}"

    def summary(self, option: Callable[[str], str] = cli_option) -> str:
        """One line: how many matched, were written, and why the others were not."""
        line = f"{self.matched:,} matched, {self.written:,} written"
        parts = [_phrase(r, n, self.mask) for r, n in self.skipped_by_reason().items()]
        hint = self.hint(option)
        if hint:
            parts.append(hint)
        return line + (": " + "; ".join(parts) if parts else "")

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``annotator export ... --json``)."""
        return {
            "path": self.path,
            "mask": self.mask,
            "matched": self.matched,
            "written": self.written,
            "skipped": self.skipped_by_reason(),
            "records": self.records,
            "annotations": self.annotations,
            "summary": self.summary(),
            "left_out": [asdict(i) for i in self.skipped],
            "notes": [asdict(i) for i in self.notes],
            "polygon_fidelity": [{**asdict(f), "lossy": f.lossy} for f in self.fidelity],
            "lossy": len(self.lossy),
        }
