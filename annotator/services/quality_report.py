"""The quality report: how good the model's proposals are and how much the people agree.

One pass over the database produces a plain dict (JSON-ready) that the ``annotator metrics``
command prints and the dashboard draws. Definitions:

Model vs reference
    For each conversation and turn: the *prediction* is the union of the masks of the latest
    proposal for that turn (latest by creation time, then id; only ``proposer`` when given). The
    *reference* is, with ``reference="final"`` (default), the union of the FINAL masks of an
    APPROVED conversation; with ``reference="draft"``, the union of the DRAFT (imported) masks of
    any conversation, i.e. the dataset's own labels as the paper evaluates them. A turn without
    reference masks of its own is compared with the conversation's target (last) turn, so the
    per-turn figures show how the proposal approaches the target as the conversation narrows.
    ``turns="final"`` evaluates the target turn only, ``turns="all"`` every turn that has a
    proposal. A proposal without masks counts as an empty prediction on the target turn and is
    skipped on earlier turns (the model did not try to segment there).

Agreement ("annotated twice")
    Between FINAL masks of approved conversations made by different people, in two situations:
    (a) the same image (same file content, else same path) and the same focus text present as
    two or more conversations: their target-turn FINAL masks, pair by pair; (b) one turn whose
    FINAL masks come from two or more authors (``provenance.author``): each author's union
    against each other's. Pairs whose two sides have the same author set are listed but left out
    of the figures (that is self-consistency, not agreement).

Edits after the proposal
    For every conversation (any status) whose target turn has FINAL masks and a proposal:
    ``changed_pixels`` = pixels in exactly one of the latest proposal's mask and the final mask,
    and ``delta_iou`` = 1 - IoU of the two (0 when the reviewer kept the proposal as it was).

Text
    BLEU-4 / ROUGE-L of the latest proposal's answer against the turn's verified answer
    (``final_answer``; with ``reference="draft"`` the imported answer), over every turn of the
    conversations looked at, whatever ``turns`` says: the explanations are in the earlier turns.

Reasoning
    What the LLM judge (``annotator judge``) said about the answers: per judge and proposer, the
    mean and 95 % interval of each criterion, overall and per turn index, and pairwise win rates
    (``services.reasoning_report``; only ``proposer``'s scores when given).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from statistics import fmean, median
from typing import Any, Literal

import numpy as np

from annotator.core.agreement import agreement_summary, review_pair
from annotator.core.correction import latest_per_turn, proposed_mask, united
from annotator.core.mask import Mask
from annotator.core.metrics import DEFAULT_DILATION_RATIO, PairMetrics, aggregate
from annotator.core.metrics_batch import evaluate_pairs
from annotator.core.model import Conversation, MaskLayer, Proposal, Turn
from annotator.core.progress import Task
from annotator.core.status import Status
from annotator.services.reasoning_report import reasoning_section
from annotator.services.text_metrics import TextScorer
from annotator.storage import ListQuery, Store

TurnSelection = Literal["final", "all"]
ReferenceLayer = Literal["final", "draft"]
HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class ReportOptions:
    proposer: str | None = None
    turns: TurnSelection = "final"
    reference: ReferenceLayer = "final"
    dilation_ratio: float = DEFAULT_DILATION_RATIO
    edge: bool = False  # add the MIRAS edge IoU (slow: two Canny runs per pair)
    text: bool = True
    workers: int | None = None  # processes for the mask metrics (default: all cores)

    def __post_init__(self) -> None:
        if self.turns not in ("final", "all"):
            raise ValueError(f"turns must be 'final' or 'all', got {self.turns!r}")
        if self.reference not in ("final", "draft"):
            raise ValueError(f"reference must be 'final' or 'draft', got {self.reference!r}")


@dataclass
class _Job:
    """One mask pair waiting for its metrics, and where the result goes."""

    kind: Literal["model", "edit", "agreement"]
    pred: Mask
    ref: Mask
    info: dict[str, Any] = field(default_factory=dict)


def build_report(
    store: Store, options: ReportOptions | None = None, *, task: Task | None = None
) -> dict[str, Any]:
    """Read every conversation once and compute the report (see the module docstring)."""
    options = options or ReportOptions()
    task = task or Task()
    total = store.count(ListQuery())
    task.start(total, "reading conversations")
    jobs: list[_Job] = []
    skipped: Counter[str] = Counter()
    proposers: Counter[str] = Counter()
    text_rows: list[dict[str, Any]] = []
    duplicates: dict[tuple[str, str], list[Conversation]] = defaultdict(list)
    for conv in store.iter_conversations(ListQuery()):
        task.step(1)
        assert conv.id is not None
        reference_ok = _has_reference(conv, options.reference)
        target_final = conv.target_turn.layer(MaskLayer.FINAL)
        wants_text = options.text and any(_reference_text(t, options.reference) for t in conv.turns)
        if not reference_ok:
            skipped["conversations_without_reference"] += 1
        if not (reference_ok or target_final or wants_text):
            continue
        latest = latest_per_turn(store.proposals(conv.id, proposer=options.proposer))
        if reference_ok:
            jobs.extend(_model_jobs(conv, latest, options, skipped, proposers))
        if target_final:
            edit = _edit_job(conv, latest)
            if edit is not None:
                jobs.append(edit)
        if conv.status == Status.APPROVED:
            jobs.extend(_same_turn_agreement_jobs(conv))
            if target_final:
                duplicates[(_image_identity(conv), conv.focus.strip())].append(conv)
        if options.text:
            text_rows.extend(_text_pairs(conv, latest, options.reference))
    for group in duplicates.values():
        jobs.extend(_duplicate_agreement_jobs(group))

    if text_rows:
        _score_text(text_rows)  # rouge-score imports nltk and scipy: only when there is text
    task.check()
    results = evaluate_pairs(
        [(j.pred, j.ref) for j in jobs],
        dilation_ratio=options.dilation_ratio,
        edge=options.edge,
        workers=options.workers,
        task=task,
    )
    return _assemble(store, options, jobs, results, skipped, proposers, text_rows, total)


# -- reading one conversation -----------------------------------------------------------------
def _reference_layer(reference: ReferenceLayer) -> MaskLayer:
    return MaskLayer.FINAL if reference == "final" else MaskLayer.DRAFT


def _has_reference(conv: Conversation, reference: ReferenceLayer) -> bool:
    if reference == "final" and conv.status != Status.APPROVED:
        return False
    layer = _reference_layer(reference)
    return any(t.layer(layer) for t in conv.turns)


def _reference_text(turn: Turn, reference: ReferenceLayer) -> str:
    text = turn.final_answer if reference == "final" else turn.draft_answer
    return (text or "").strip()


def _row_base(conv: Conversation, turn_index: int) -> dict[str, Any]:
    return {
        "conversation_id": conv.id,
        "turn_index": turn_index,
        "is_target": turn_index == len(conv.turns) - 1,
        "image_path": conv.image.path,
        "focus": conv.focus,
        "status": str(conv.status),
    }


def _model_jobs(
    conv: Conversation,
    latest: dict[int, Proposal],
    options: ReportOptions,
    skipped: Counter[str],
    proposers: Counter[str],
) -> list[_Job]:
    layer = _reference_layer(options.reference)
    h, w = conv.image.height, conv.image.width
    target = conv.target_turn
    indices = [target.index] if options.turns == "final" else [t.index for t in conv.turns]
    out: list[_Job] = []
    for index in indices:
        turn = conv.turn(index)
        own = turn.layer(layer)
        ref_turn = turn if own else target
        ref_masks = [a.mask for a in ref_turn.layer(layer)]
        if not ref_masks:
            skipped["turns_without_reference"] += 1
            continue
        proposal = latest.get(index)
        if proposal is None:
            skipped["turns_without_proposal"] += 1
            continue
        if not proposal.masks and turn is not target:
            skipped["turns_without_proposed_mask"] += 1
            continue
        pred = proposed_mask(proposal, h, w)
        ref = united(ref_masks, h, w)
        if pred is None or ref is None:
            skipped["turns_with_size_mismatch"] += 1
            continue
        name = f"{proposal.proposer}@{proposal.proposer_version}"
        proposers[name] += 1
        info = _row_base(conv, index)
        info.update(proposer=name, reference_turn=ref_turn.index)
        out.append(_Job("model", pred, ref, info))
    return out


def _edit_job(conv: Conversation, latest: dict[int, Proposal]) -> _Job | None:
    target = conv.target_turn
    proposal = latest.get(target.index)
    if proposal is None:
        return None
    h, w = conv.image.height, conv.image.width
    pred = proposed_mask(proposal, h, w)
    final = united([a.mask for a in target.layer(MaskLayer.FINAL)], h, w)
    if pred is None or final is None:
        return None
    info = _row_base(conv, target.index)
    info["proposer"] = f"{proposal.proposer}@{proposal.proposer_version}"
    return _Job("edit", pred, final, info)


def _authors(turn: Turn) -> tuple[str, ...]:
    return tuple(sorted({a.provenance.author for a in turn.layer(MaskLayer.FINAL)}))


def _same_turn_agreement_jobs(conv: Conversation) -> list[_Job]:
    h, w = conv.image.height, conv.image.width
    out: list[_Job] = []
    for turn in conv.turns:
        by_author: dict[str, list[Mask]] = defaultdict(list)
        for a in turn.layer(MaskLayer.FINAL):
            by_author[a.provenance.author].append(a.mask)
        for (a1, m1), (a2, m2) in itertools.combinations(sorted(by_author.items()), 2):
            u1, u2 = united(m1, h, w), united(m2, h, w)
            if u1 is None or u2 is None:
                continue
            info = {
                "kind": "same_turn",
                "conversation_ids": [conv.id],
                "turn_index": turn.index,
                "authors": [[a1], [a2]],
                "image_path": conv.image.path,
                "focus": conv.focus,
                "same_author": False,
            }
            out.append(_Job("agreement", u1, u2, info))
    return out


def _image_identity(conv: Conversation) -> str:
    return conv.image.sha256 or f"{conv.image.root}/{conv.image.path}"


def _duplicate_agreement_jobs(group: Sequence[Conversation]) -> list[_Job]:
    out: list[_Job] = []
    for c1, c2 in itertools.combinations(sorted(group, key=lambda c: c.id or 0), 2):
        t1, t2 = c1.target_turn, c2.target_turn
        if (c1.image.height, c1.image.width) != (c2.image.height, c2.image.width):
            continue
        h, w = c1.image.height, c1.image.width
        u1 = united([a.mask for a in t1.layer(MaskLayer.FINAL)], h, w)
        u2 = united([a.mask for a in t2.layer(MaskLayer.FINAL)], h, w)
        if u1 is None or u2 is None:
            continue
        authors1, authors2 = _authors(t1), _authors(t2)
        info = {
            "kind": "duplicate_conversation",
            "conversation_ids": [c1.id, c2.id],
            "turn_index": t1.index,
            "authors": [list(authors1), list(authors2)],
            "image_path": c1.image.path,
            "focus": c1.focus,
            "same_author": authors1 == authors2,
        }
        out.append(_Job("agreement", u1, u2, info))
    return out


def _text_pairs(
    conv: Conversation, latest: dict[int, Proposal], reference: ReferenceLayer
) -> list[dict[str, Any]]:
    rows = []
    for turn in conv.turns:
        ref = _reference_text(turn, reference)
        proposal = latest.get(turn.index)
        if ref and proposal is not None:
            rows.append(
                {
                    "conversation_id": conv.id,
                    "turn_index": turn.index,
                    "hypothesis": proposal.answer,
                    "reference": ref,
                }
            )
    return rows


def _score_text(rows: list[dict[str, Any]]) -> None:
    scorer = TextScorer()
    for row in rows:
        scores = scorer.score(row.pop("hypothesis"), row.pop("reference"))
        row["bleu4"], row["rouge_l"] = scores.bleu4, scores.rouge_l


# -- putting the report together --------------------------------------------------------------
def _assemble(
    store: Store,
    options: ReportOptions,
    jobs: Sequence[_Job],
    results: Sequence[PairMetrics],
    skipped: Counter[str],
    proposers: Counter[str],
    text_rows: list[dict[str, Any]],
    total: int,
) -> dict[str, Any]:
    model: list[tuple[_Job, PairMetrics]] = []
    edits: list[tuple[_Job, PairMetrics]] = []
    agreement: list[tuple[_Job, PairMetrics]] = []
    for job, m in zip(jobs, results, strict=True):
        {"model": model, "edit": edits, "agreement": agreement}[job.kind].append((job, m))

    text_by_key = {(r["conversation_id"], r["turn_index"]): r for r in text_rows}
    records = []
    for job, m in model:
        row = {**job.info, **m.as_dict()}
        row["changed_pixels"] = m.changed_pixels
        text = text_by_key.get((row["conversation_id"], row["turn_index"]))
        row["bleu4"] = text["bleu4"] if text else None
        row["rouge_l"] = text["rouge_l"] if text else None
        records.append(row)

    by_turn: dict[int, list[PairMetrics]] = defaultdict(list)
    ids_by_turn: dict[int, list[int]] = defaultdict(list)
    for job, m in model:
        by_turn[job.info["turn_index"]].append(m)
        ids_by_turn[job.info["turn_index"]].append(job.info["conversation_id"])

    agreement_rows = []
    for job, m in agreement:
        agreement_rows.append({**job.info, **m.as_dict()})
    counted = [m for job, m in agreement if not job.info["same_author"]]

    edit_rows = []
    for job, m in edits:
        edit_rows.append(
            {
                **job.info,
                "changed_pixels": m.changed_pixels,
                "delta_iou": 1.0 - m.iou,
                "pred_area": m.pred_area,
                "final_area": m.ref_area,
            }
        )

    target_rows = [r for r in records if r["is_target"]]
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": store.url,
        "options": asdict(options),
        "definitions": {
            "prediction": "union of the latest proposal's masks for the turn",
            "reference": (
                "union of FINAL masks of approved conversations"
                if options.reference == "final"
                else "union of DRAFT (imported) masks"
            )
            + "; a turn without its own takes the target turn's",
            "giou": "mean of per-sample IoU (empty union counts as 1)",
            "ciou": "sum of intersections / sum of unions",
            "f1_paper": "2PR/(P+R) of the mean precision and recall (as the PRIST paper)",
            "boundary_iou": f"Cheng et al. 2021, band {options.dilation_ratio:g} x diagonal",
            "edge_iou_miras": "IoU of Canny edge maps as in the MIRAS code (comparison only)",
            "agreement": "FINAL masks by different people: duplicate (image, focus) "
            "conversations, or one turn with FINAL masks from several authors",
            "delta_iou": "1 - IoU(latest proposal, final mask) on the target turn",
            "double_review": "a second reviewer, blind to the first, on the records a second "
            "review was asked for: turn-verdict agreement, Cohen's kappa, IoU of the target "
            "masks each judged",
            "reasoning": "LLM judge scores per criterion (1-3), mean and 95% Student t "
            "interval, per judge, proposer and turn index; pairwise win/tie/loss rates",
        },
        "counts": {
            "conversations": total,
            "records": len({r["conversation_id"] for r in records}),
            "pairs": len(records),
        },
        "skipped": dict(sorted(skipped.items())),
        "proposers": dict(sorted(proposers.items())),
        "model_vs_reference": {
            "overall": aggregate([m for _, m in model]),
            "by_turn": {str(k): aggregate(v) for k, v in sorted(by_turn.items())},
            "ids_by_turn": {str(k): sorted(set(v)) for k, v in sorted(ids_by_turn.items())},
        },
        "iou_histogram": _histogram(target_rows),
        "agreement": {
            "overall": aggregate(counted),
            "same_author_pairs": len(agreement) - len(counted),
            "pairs": agreement_rows,
        },
        "double_review": double_review(store),
        "edits": {"summary": _edit_summary(edit_rows), "records": edit_rows},
        "text": _text_summary(text_rows) if options.text else None,
        "reasoning": reasoning_section(store, options.proposer),
        "records": records,
    }


def _histogram(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-record IoU of the target turn in ten bins [0, 0.1), ..., [0.9, 1.0]."""
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    ids: list[list[int]] = [[] for _ in range(HISTOGRAM_BINS)]
    for r in rows:
        b = min(int(r["iou"] * HISTOGRAM_BINS), HISTOGRAM_BINS - 1)
        ids[b].append(r["conversation_id"])
    return {
        "edges": [round(float(e), 10) for e in edges],
        "counts": [len(b) for b in ids],
        "ids": [sorted(set(b)) for b in ids],
    }


def _edit_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"n": 0, "unchanged": 0, "changed_pixels": None, "delta_iou": None}
    changed = [r["changed_pixels"] for r in rows]
    delta = [r["delta_iou"] for r in rows]
    return {
        "n": len(rows),
        "unchanged": sum(1 for c in changed if c == 0),
        "changed_pixels": {
            "mean": fmean(changed),
            "median": float(median(changed)),
            "max": max(changed),
            "total": sum(changed),
        },
        "delta_iou": {"mean": fmean(delta), "median": float(median(delta)), "max": max(delta)},
    }


def _text_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    by_turn: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_turn[r["turn_index"]].append(r)

    def means(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if not items:
            return {"n": 0, "bleu4": None, "rouge_l": None}
        return {
            "n": len(items),
            "bleu4": fmean(r["bleu4"] for r in items),
            "rouge_l": fmean(r["rouge_l"] for r in items),
        }

    return {
        "overall": means(rows),
        "by_turn": {str(k): means(v) for k, v in sorted(by_turn.items())},
    }


def double_review(store: Store) -> dict[str, Any]:
    pairs = [
        pair
        for cid, turns, reviews in store.second_reviews()
        if (pair := review_pair(cid, reviews, turns)) is not None
    ]
    return agreement_summary(pairs)
