"""The project's own JSONL record: a PRIST record extended with everything a conversation holds.

One record per conversation. The PRIST keys (``img_id``, ``dialogue``, ``focus``) come first so
that tools that read PRIST read these files too; ``dialogue`` and ``mask`` carry the answers and
the target mask of one source (``mask_source``: final, draft or a proposal, see
:mod:`annotator.core.export_mask`), never one filled in from another: an answer the source does
not have is ``null`` (exports leave such records out; only the app's rescue file keeps them).
``turns`` holds the full state (both answers, every mask with its layer and provenance, each
labelled) and is what :func:`decode_record` reads back. Every field read back is
checked; a wrong one raises :class:`InputError` naming the file, line and field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from annotator.core.errors import InputError, MaskError
from annotator.core.export_gate import missing_answer_reason, missing_mask_reason
from annotator.core.export_mask import FINAL, MaskChoice, content_of
from annotator.core.export_report import ExportIssue
from annotator.core.mask import Mask
from annotator.core.model import (
    REASON_CODE,
    SEG_TOKEN,
    Conversation,
    Decision,
    Flag,
    FlagCode,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Proposal,
    Provenance,
    Review,
    Turn,
)
from annotator.core.status import Status
from annotator.io.paths import normalize_relative
from annotator.io.safe_json import JsonDocument

FORMAT_VERSION = 1
FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# Free-form detail objects (a mask's provenance, a proposal's audit detail) are stored as they
# are read, so one without a bound made a record that the tool then could not export and read
# back (a 200 MB line became a 311 MB blob). The bound is on the size the database stores (JSON
# with ASCII escapes, the largest way it is written). 256 KiB: the limit proposal detail already
# had (files written under it still read); twice the largest detail the tool writes itself (a
# mask's edit log keeps its last 200 edits; 200 SAM edits of a dozen clicks each are 127 KB; a
# proposal keeps 4,000 characters of reply); and a record of 100 masks at the bound is 26 MB, a
# tenth of what one file may hold.
MAX_DETAIL_BYTES = 256 * 1024


# -- encoding -----------------------------------------------------------------------------------
def _provenance(p: Provenance) -> dict[str, Any]:
    return {
        "source": str(p.source),
        "author": p.author,
        "created_at": p.created_at.isoformat(),
        "proposal_id": p.proposal_id,
        "detail": p.detail,
    }


def _annotation(a: MaskAnnotation) -> dict[str, Any]:
    return {
        "layer": str(a.layer),
        "label": a.label,
        "rle": a.mask.to_rle(),
        "provenance": _provenance(a.provenance),
    }


def _review(r: Review) -> dict[str, Any]:
    return {
        "reviewer": r.reviewer,
        "decision": str(r.decision),
        "comment": r.comment,
        "turn_index": r.turn_index,
        "reason": r.reason,
        "created_at": r.created_at.isoformat(),
        "fingerprint": r.fingerprint,
        "turn_fingerprints": list(r.turn_fingerprints),
        "judged_mask": None if r.judged_mask is None else r.judged_mask.to_rle(),
        "resolved_by": r.resolved_by,
        "resolved_at": None if r.resolved_at is None else r.resolved_at.isoformat(),
    }


def _proposal(p: Proposal) -> dict[str, Any]:
    return {
        "turn_index": p.turn_index,
        "proposer": p.proposer,
        "proposer_version": p.proposer_version,
        "answer": p.answer,
        "masks": [m.to_rle() for m in p.masks],
        "scores": list(p.scores),
        "elapsed_s": p.elapsed_s,
        "created_at": p.created_at.isoformat(),
        "detail": p.detail,
    }


def encode_record(
    conv: Conversation,
    reviews: Sequence[Review] = (),
    proposals: Sequence[Proposal] = (),
    *,
    mask: MaskChoice = FINAL,
) -> dict[str, Any]:
    """The record, its PRIST keys from the ``mask`` source (``proposals``: the conversation's
    stored proposals, written in full and read for a proposal source)."""
    content = content_of(conv, mask, proposals)
    target = content.target_mask
    dialogue: list[dict[str, str | None]] = []
    for t in content.turns:
        dialogue.append({"from": "human", "value": t.question})
        dialogue.append({"from": "gpt", "value": t.answer})
    return {
        "img_id": conv.image.path,
        "dialogue": dialogue,
        "focus": conv.focus,
        "id": conv.id,
        "format": FORMAT_VERSION,
        "status": str(conv.status),
        "mask_source": str(mask),
        "mask": None if target is None else target.to_rle(),
        "image": {
            "path": conv.image.path,
            "width": conv.image.width,
            "height": conv.image.height,
            "sha256": conv.image.sha256,
        },
        "source": conv.source,
        "key": conv.key,
        "updated_at": conv.updated_at.isoformat(),
        "turns": [
            {
                "index": t.index,
                "question": t.question,
                "draft_answer": t.draft_answer,
                "final_answer": t.final_answer,
                "masks": [_annotation(a) for a in t.masks],
            }
            for t in conv.turns
        ],
        "flags": [{"code": str(f.code), "message": f.message} for f in conv.flags],
        "reviews": [_review(r) for r in reviews],
        "proposals": [_proposal(p) for p in proposals],
    }


def encode_miras(
    conv: Conversation, *, mask: MaskChoice = FINAL, proposals: Sequence[Proposal] = ()
) -> tuple[dict[str, Any] | None, ExportIssue | None]:
    """LLaVA training form from the ``mask`` source, or ``(None, why)`` when the conversation
    cannot be written.

    ``<image>\\n`` goes before the first question; ``[SEG]`` must appear exactly once, in the
    final answer, and one mask is written for it. Texts are never rewritten silently.
    """
    content = content_of(conv, mask, proposals)
    target = content.target_mask
    if target is None:
        return None, ExportIssue(
            conv.id,
            content.target.index,
            missing_mask_reason(content),
            f"the target turn has no {mask.noun}",
        )
    messages: list[dict[str, str]] = []
    last = len(content.turns) - 1
    for t in content.turns:
        answer = t.answer
        if answer is None:
            return None, ExportIssue(
                conv.id,
                t.index,
                missing_answer_reason(content),
                f"turn {t.index + 1} has no answer in {mask}",
            )
        if "<image>" in t.question or "<image>" in answer:
            return None, ExportIssue(
                conv.id, t.index, "image_token", f"turn {t.index} contains an <image> token"
            )
        if SEG_TOKEN in t.question:
            return None, ExportIssue(
                conv.id, t.index, "seg_token", f"turn {t.index}: the question contains {SEG_TOKEN}"
            )
        n_seg = answer.count(SEG_TOKEN)
        if t.index != last and n_seg:
            return None, ExportIssue(
                conv.id,
                t.index,
                "rule:seg_early",
                f"turn {t.index}: {SEG_TOKEN} outside the final answer",
            )
        if t.index == last and n_seg != 1:
            return None, ExportIssue(
                conv.id,
                t.index,
                "rule:seg_final",
                f"the final answer has {n_seg} {SEG_TOKEN} tokens, expected 1",
            )
        question = ("<image>\n" + t.question) if t.index == 0 else t.question
        messages.append({"from": "human", "value": question})
        messages.append({"from": "gpt", "value": answer})
    return {
        "id": str(conv.id) if conv.id is not None else conv.key,
        "image": conv.image.path,
        "conversations": messages,
        "masks": [target.to_rle()],
    }, None


# -- decoding -----------------------------------------------------------------------------------
class _Reader:
    """Typed field access that names file:line and the field path on every refusal."""

    def __init__(self, doc: JsonDocument, record: int) -> None:
        self.doc = doc
        self.record = record

    def fail(self, message: str, *path: str | int) -> InputError:
        return self.doc.error(message, *path, record=self.record)

    def get(self, obj: Any, key: str, kind: type | tuple[type, ...], *path: str | int) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(f"{'.'.join(map(str, path)) or 'record'} must be an object", *path)
        if key not in obj:
            raise self.fail(f"missing {key!r}", *path)
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(f"{key} has the wrong type", *path, key)
        if not isinstance(value, kinds):
            names = "/".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise self.fail(f"{key} must be {names}, got {type(value).__name__}", *path, key)
        return value

    def enum(self, enum_type: Any, value: Any, *path: str | int) -> Any:
        try:
            return enum_type(value)
        except ValueError as exc:
            raise self.fail(f"unknown value {value!r}", *path) from exc

    def time(self, value: Any, *path: str | int) -> datetime:
        if not isinstance(value, str):
            raise self.fail("a time must be ISO 8601 text", *path)
        try:
            t = datetime.fromisoformat(value)
        except ValueError as exc:
            raise self.fail(f"not an ISO 8601 time: {value!r}", *path) from exc
        if t.tzinfo is None:
            raise self.fail(f"time {value!r} has no time zone", *path)
        try:
            t.astimezone(UTC)  # what storage does: a time at the calendar's edge overflows there
        except OverflowError:
            raise self.fail(f"time {value!r} is out of range", *path) from None
        return t

    def mask(self, rle: Any, size: tuple[int, int] | None, *path: str | int) -> Mask:
        try:
            return Mask.from_rle(rle, expect_size=size)
        except MaskError as exc:
            raise self.fail(f"bad mask: {exc.reason}", *path) from exc


def _bounded(r: _Reader, detail: dict[str, Any], *path: str | int) -> dict[str, Any]:
    """``detail`` when what storage would write of it is within :data:`MAX_DETAIL_BYTES`."""
    size = len(json.dumps(detail))  # ASCII escapes: characters are bytes
    if size > MAX_DETAIL_BYTES:
        raise r.fail(
            f"detail is {size:,} bytes as stored, more than the limit {MAX_DETAIL_BYTES:,}",
            *path,
            "detail",
        )
    return detail


def _decode_provenance(r: _Reader, obj: Any, *path: str | int) -> Provenance:
    return Provenance(
        source=r.enum(MaskSource, r.get(obj, "source", str, *path), *path, "source"),
        author=r.get(obj, "author", str, *path),
        created_at=r.time(r.get(obj, "created_at", str, *path), *path, "created_at"),
        proposal_id=r.get(obj, "proposal_id", (int, type(None)), *path),
        detail=_bounded(r, r.get(obj, "detail", dict, *path), *path),
    )


def _optional(r: _Reader, obj: Any, key: str, kind: type, default: Any, *path: str | int) -> Any:
    """A field files from before it existed do not carry."""
    if isinstance(obj, dict) and key not in obj:
        return default
    return r.get(obj, key, (kind, type(None)), *path)


def _decode_review(r: _Reader, v: Any, size: tuple[int, int], *p: str | int) -> Review:
    reason = r.get(v, "reason", (str, type(None)), *p)
    if reason is not None and not REASON_CODE.fullmatch(reason):
        raise r.fail(f"reason {reason[:40]!r} is not a reason code ([a-z0-9_], 1-32)", *p, "reason")
    fingerprint = _optional(r, v, "fingerprint", str, "", *p) or ""
    turn_fps = _optional(r, v, "turn_fingerprints", list, [], *p) or []
    for k, fp in enumerate([fingerprint, *turn_fps]):
        if not (isinstance(fp, str) and (fp == "" or FINGERPRINT.fullmatch(fp))):
            where = ("fingerprint",) if k == 0 else ("turn_fingerprints", k - 1)
            raise r.fail("a fingerprint is 64 lowercase hex digits", *p, *where)
    resolved_at = _optional(r, v, "resolved_at", str, None, *p)
    judged = _optional(r, v, "judged_mask", dict, None, *p)
    return Review(
        reviewer=r.get(v, "reviewer", str, *p),
        decision=r.enum(Decision, r.get(v, "decision", str, *p), *p, "decision"),
        comment=r.get(v, "comment", str, *p),
        turn_index=r.get(v, "turn_index", (int, type(None)), *p),
        reason=reason,
        created_at=r.time(r.get(v, "created_at", str, *p), *p, "created_at"),
        fingerprint=fingerprint,
        turn_fingerprints=tuple(turn_fps),
        judged_mask=None if judged is None else r.mask(judged, size, *p, "judged_mask"),
        resolved_by=_optional(r, v, "resolved_by", str, None, *p),
        resolved_at=None if resolved_at is None else r.time(resolved_at, *p, "resolved_at"),
    )


def _decode_detail(r: _Reader, v: Any, *p: str | int) -> dict[str, Any]:
    """A proposal's audit detail: an object of bounded size (files from before it carry none)."""
    return _bounded(r, _optional(r, v, "detail", dict, None, *p) or {}, *p)


def _turn_index(r: _Reader, index: int | None, turns: int, what: str, *p: str | int) -> None:
    """A review or proposal names a turn the record has (as storage would refuse it, but here
    with the file and line)."""
    if index is not None and not 0 <= index < turns:
        raise r.fail(
            f"{what} for turn_index {index}, but the conversation has {turns} turns "
            f"(turn_index 0 to {turns - 1})",
            *p,
            "turn_index",
        )


def _decode_turn(r: _Reader, obj: Any, k: int, size: tuple[int, int]) -> Turn:
    path: tuple[str | int, ...] = ("turns", k)
    index = r.get(obj, "index", int, *path)
    if index != k:
        raise r.fail(f"turn {k} says it is turn {index}", *path, "index")
    masks = []
    for j, m in enumerate(r.get(obj, "masks", list, *path)):
        mp = (*path, "masks", j)
        masks.append(
            MaskAnnotation(
                mask=r.mask(r.get(m, "rle", dict, *mp), size, *mp, "rle"),
                layer=r.enum(MaskLayer, r.get(m, "layer", str, *mp), *mp, "layer"),
                provenance=_decode_provenance(
                    r, r.get(m, "provenance", dict, *mp), *mp, "provenance"
                ),
                label=r.get(m, "label", str, *mp),
            )
        )
    return Turn(
        index=index,
        question=r.get(obj, "question", str, *path),
        draft_answer=r.get(obj, "draft_answer", str, *path),
        final_answer=r.get(obj, "final_answer", (str, type(None)), *path),
        masks=tuple(masks),
    )


def decode_record(
    doc: JsonDocument, record: int, images_root: str = ""
) -> tuple[Conversation, list[Review], list[Proposal], int | None]:
    """Conversation, reviews, proposals and the id it had when exported."""
    r = _Reader(doc, record)
    obj = doc.value
    if not isinstance(obj, dict):
        raise r.fail("a record must be a JSON object")
    version = r.get(obj, "format", int)
    if version != FORMAT_VERSION:
        raise r.fail(
            f"format {version} is not supported (this version reads {FORMAT_VERSION})", "format"
        )
    image = r.get(obj, "image", dict)
    try:
        path = normalize_relative(r.get(image, "path", str, "image"))
    except InputError as exc:
        raise r.fail(f"image path: {exc.reason}", "image", "path") from exc
    width = r.get(image, "width", int, "image")
    height = r.get(image, "height", int, "image")
    if width < 0 or height < 0:
        raise r.fail("image size must not be negative", "image")
    size = (height, width)
    turns_raw = r.get(obj, "turns", list)
    if not turns_raw:
        raise r.fail("a conversation needs at least one turn", "turns")
    turns = tuple(_decode_turn(r, t, k, size) for k, t in enumerate(turns_raw))
    flags = []
    for k, f in enumerate(r.get(obj, "flags", list)):
        flags.append(
            Flag(
                r.enum(FlagCode, r.get(f, "code", str, "flags", k), "flags", k),
                r.get(f, "message", str, "flags", k),
            )
        )
    reviews = [
        _decode_review(r, v, size, "reviews", k) for k, v in enumerate(r.get(obj, "reviews", list))
    ]
    for k, review in enumerate(reviews):
        _turn_index(r, review.turn_index, len(turns), "a review", "reviews", k)
    proposals = []
    for k, v in enumerate(r.get(obj, "proposals", list)):
        p = ("proposals", k)
        scores = r.get(v, "scores", list, *p)
        if not all(isinstance(s, int | float) and not isinstance(s, bool) for s in scores):
            raise r.fail("scores must be numbers", *p, "scores")
        elapsed = r.get(v, "elapsed_s", (int, float), *p)
        proposals.append(
            Proposal(
                turn_index=r.get(v, "turn_index", int, *p),
                proposer=r.get(v, "proposer", str, *p),
                proposer_version=r.get(v, "proposer_version", str, *p),
                answer=r.get(v, "answer", str, *p),
                masks=tuple(
                    r.mask(m, size, *p, "masks", j)
                    for j, m in enumerate(r.get(v, "masks", list, *p))
                ),
                scores=tuple(float(s) for s in scores),
                elapsed_s=float(elapsed),
                created_at=r.time(r.get(v, "created_at", str, *p), *p, "created_at"),
                detail=_decode_detail(r, v, *p),
            )
        )
        _turn_index(r, proposals[-1].turn_index, len(turns), "a proposal", *p)
    conv = Conversation(
        image=Image(
            path=path,
            width=width,
            height=height,
            sha256=r.get(image, "sha256", str, "image"),
            root=images_root,
        ),
        focus=r.get(obj, "focus", str),
        turns=turns,
        status=r.enum(Status, r.get(obj, "status", str), "status"),
        source=r.get(obj, "source", str),
        key=r.get(obj, "key", str),
        flags=tuple(flags),
        updated_at=r.time(r.get(obj, "updated_at", str), "updated_at"),
    )
    return conv, reviews, proposals, r.get(obj, "id", (int, type(None)))
