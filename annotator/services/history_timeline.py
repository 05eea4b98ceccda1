"""A record's history as a reviewer reads it: one plain sentence per change, turns counted from 1.

History events are stored as the app wrote them (``action`` plus a JSON ``detail`` with 0-based
turn indices, undo flags, tool parameters). This module turns each into a :class:`TimelineEntry`
whose ``summary`` says what happened and whose ``detail`` lists the rest as ``key: value`` lines.
Nothing is cut short (a review comment is evidence); bulky payloads (RLE counts, edit lists) are
never shown, and mask edits are described by their pixel counts and changed area instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from annotator.core.model import HistoryEvent

REVIEW = "review"
STATUS = "status"
TEXT = "text"
MASK = "mask"
TURNS = "turns"
PROPOSAL = "proposal"
IMPORT = "import"
RECORD = "record"
OTHER = "other"
KINDS: tuple[str, ...] = (REVIEW, STATUS, TEXT, MASK, TURNS, PROPOSAL, IMPORT, RECORD, OTHER)

# Payloads that are data, not facts a reviewer reads: a value under one of these keys (or a
# dict carrying RLE counts) is never printed. The undo/redo flags are said by the summary.
HIDDEN_KEYS = frozenset({"edits", "counts", "rle", "bits", "undo", "redo"})
MAX_LISTED = 12  # a longer list is reported by its length
# Detail keys whose bare name would not tell a reviewer what the number is.
_KEY_NAMES = {
    "segments": "stroke segments",
    "vertices": "polygon vertices",
    "steps": "prompt steps",
    "refined": "refined from the previous answer",
    "output": "model output",
    "scores": "all candidate scores",
    "proposal_ids": "proposal ids",
    "review_id": "review id",
}


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    who: str
    kind: str
    summary: str
    detail: str


@dataclass(frozen=True)
class _Said:
    """What a describer made of one event. ``phrase`` starts in lower case (unless it starts
    with a name such as SAM) so that it reads both alone and after "Undid: "; ``lead`` is put
    before it only when the event is not an undo or redo. ``used``: detail keys the phrase
    already says, left out of the detail lines; ``lines``: detail lines written by hand."""

    kind: str
    phrase: str
    used: frozenset[str] = frozenset()
    lines: tuple[str, ...] = ()
    lead: str = ""


Describer = Callable[[HistoryEvent, Mapping[str, str]], _Said]


def timeline(
    events: Sequence[HistoryEvent], reason_labels: Mapping[str, str] | None = None
) -> list[TimelineEntry]:
    """One entry per change, in the order given. ``reason_labels`` (code -> label, the
    project's reason list) lets a review name its reason; without it the code is shown.

    The status event that storage writes when an undone (or redone) review decision is saved
    repeats the session's own undo event, so the pair is shown as one entry."""
    labels = reason_labels or {}
    out: list[TimelineEntry] = []
    i = 0
    while i < len(events):
        event = events[i]
        echo = events[i + 1] if i + 1 < len(events) else None
        if echo is not None and _is_status_echo(event, echo):
            event = _merge_echo(event, echo)
            i += 1
        out.append(entry_of(event, labels))
        i += 1
    return out


def entry_of(event: HistoryEvent, reason_labels: Mapping[str, str] | None = None) -> TimelineEntry:
    detail = event.detail
    describer = _DESCRIBERS.get(event.action, _describe_unknown)
    said = describer(event, reason_labels or {})
    if detail.get("undo"):
        summary = f"Undid: {said.phrase}"
    elif detail.get("redo"):
        summary = f"Redid: {said.phrase}"
    else:
        summary = _sentence_case(f"{said.lead}{said.phrase}")
    rest = [
        line
        for key, value in detail.items()
        if key not in said.used and key not in HIDDEN_KEYS and value is not None
        for line in [_line(key, value)]
        if line
    ]
    return TimelineEntry(
        when=event.created_at,
        who=event.actor,
        kind=said.kind,
        summary=summary,
        detail="\n".join([*said.lines, *rest]),
    )


# -- words ---------------------------------------------------------------------------------------
def turn_name(index: object) -> str:
    """Stored turn indices are 0-based; people count from 1."""
    if isinstance(index, int) and not isinstance(index, bool):
        return f"turn {index + 1}"
    return "an unknown turn"


def status_name(value: object) -> str:
    return str(value).replace("_", " ") if value is not None else "?"


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _humanize(key: str) -> str:
    return key.replace("_", " ")


def _one_line(text: str) -> str:
    """Every word of ``text`` on one line (a summary is a single row of the table)."""
    return " ".join(text.split())


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, Mapping):
        if "counts" in value:
            return "mask data (not shown)"
        parts = [f"{_humanize(str(k))} {_fmt(v)}" for k, v in value.items() if k not in HIDDEN_KEYS]
        return "; ".join(parts) if parts else "none"
    if isinstance(value, list | tuple):
        if not value:
            return "none"
        scalar = all(isinstance(v, str | int | float) or v is None for v in value)
        if scalar and len(value) <= MAX_LISTED:
            return ", ".join(_fmt(v) for v in value)
        return f"{len(value)} items"
    return str(value)


def _line(key: str, value: Any) -> str:
    name = _KEY_NAMES.get(key) or _humanize(str(key))
    return f"{name}: {_fmt(value)}"


def _turns_list(indices: object) -> str:
    if not isinstance(indices, list | tuple) or not indices:
        return "no turn"
    names = [str(i + 1) for i in indices if isinstance(i, int)]
    if len(names) == 1:
        return f"turn {names[0]}"
    return f"turns {', '.join(names[:-1])} and {names[-1]}"


# -- status ----------------------------------------------------------------------------------------
def _is_status_echo(event: HistoryEvent, echo: HistoryEvent) -> bool:
    """``echo`` is the plain status event storage added for ``event``, an undone or redone
    status change of the same actor moving the same way."""
    d, e = event.detail, echo.detail
    if event.action != STATUS or echo.action != STATUS or event.actor != echo.actor:
        return False
    if e.get("undo") or e.get("redo"):
        return False
    if d.get("undo"):
        return (e.get("from"), e.get("to")) == (d.get("to"), d.get("from"))
    if d.get("redo"):
        return (e.get("from"), e.get("to")) == (d.get("from"), d.get("to"))
    return False


def _merge_echo(event: HistoryEvent, echo: HistoryEvent) -> HistoryEvent:
    extra = {k: v for k, v in echo.detail.items() if k not in ("from", "to")}
    return HistoryEvent(
        actor=event.actor,
        action=event.action,
        detail={**event.detail, **extra},
        created_at=echo.created_at,  # when it was saved
        id=event.id,
    )


def _describe_status(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    d = event.detail
    before, after = status_name(d.get("from")), status_name(d.get("to"))
    why = d.get("why")
    because = f" (why: {_one_line(str(why))})" if why else ""
    used = frozenset({"from", "to", "why"})
    if d.get("undo"):
        # The detail is the undone change's: the status went back from "to" to "from".
        return _Said(STATUS, f"status change {before} → {after} (back to {before}){because}", used)
    return _Said(STATUS, f"status change: {before} → {after}{because}", used)


# -- reviews -------------------------------------------------------------------------------------
_DECISION_VERBS = {
    "approve": "approved {what}",
    "reject": "rejected {what}",
    "reopen": "reopened {what}",
    "comment": "commented on {what}",
    "request_second": "asked for a second review of {what}",
}


def _describe_review(event: HistoryEvent, labels: Mapping[str, str]) -> _Said:
    d = event.detail
    decision = str(d.get("decision") or "")
    turn = d.get("turn_index")
    what = turn_name(turn) if turn is not None else "the record"
    template = _DECISION_VERBS.get(decision)
    if template is not None:
        phrase = template.format(what=what)
    else:  # a decision added after this module: named as stored
        phrase = f"reviewed {what} ({_humanize(decision) or 'no decision'})"
    reason = d.get("reason")
    if reason:
        label = labels.get(str(reason))
        phrase += f" (reason: {label} [{reason}])" if label else f" (reason: {reason})"
    comment = str(d.get("comment") or "")
    lines: tuple[str, ...] = ()
    if comment.strip():
        phrase += f": “{_one_line(comment)}”"
        if _one_line(comment) != comment.strip():
            lines = (f"comment, as written:\n{comment}",)  # its line breaks kept
    return _Said(REVIEW, phrase, frozenset({"decision", "turn_index", "reason", "comment"}), lines)


def _describe_resolve(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    turn = event.detail.get("turn_index")
    where = turn_name(turn) if turn is not None else "the record"
    return _Said(REVIEW, f"marked a comment on {where} resolved", frozenset({"turn_index"}))


# -- masks -----------------------------------------------------------------------------------------
def _mask_what(detail: Mapping[str, Any]) -> str:
    tool = str(detail.get("tool") or "")
    if tool == "brush":
        return "brush stroke"
    if tool == "eraser":
        return "eraser stroke"
    if tool == "polygon":
        return "polygon erased" if detail.get("erase") else "polygon filled"
    if tool == "sam":
        return "SAM mask subtracted" if detail.get("subtract") else "SAM mask added"
    if tool == "take_draft":
        return "draft mask taken as final"
    if tool == "take_proposal":
        who = detail.get("proposer")
        return f"proposal mask taken from {who}" if who else "proposal mask taken"
    if tool == "fill_holes":
        return "holes filled"
    if tool == "keep_largest":
        return "all but the largest region removed"
    if tool == "clear_mask":
        return "mask cleared"
    return f"{_humanize(tool)} edit" if tool else "mask edit"


def _mask_lines(d: Mapping[str, Any]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The facts of a mask edit worth reading, and the keys they cover."""
    lines: list[str] = []
    used: set[str] = set()
    if isinstance(d.get("pixels"), int):
        lines.append(f"pixels changed: {d['pixels']:,}")
        used.add("pixels")
    rect = d.get("rect")
    if isinstance(rect, list | tuple) and len(rect) == 4:
        x, y, w, h = rect
        lines.append(f"changed area: {w}×{h} px at x {x}, y {y}")
        used.add("rect")
    if "radius" in d:
        lines.append(f"brush radius: {_fmt(d['radius'])} px")
        used.add("radius")
    points, labels = d.get("points"), d.get("labels")
    if isinstance(points, list | tuple):
        text = f"prompt points: {len(points)}"
        if isinstance(labels, list | tuple) and len(labels) == len(points):
            keep = sum(1 for v in labels if v == 1)
            text += f" ({keep} on the object, {len(points) - keep} off it)"
            used.add("labels")
        lines.append(text)
        used.add("points")
    box = d.get("box")
    if isinstance(box, list | tuple) and len(box) == 4:
        x0, y0, x1, y1 = (_fmt(v) for v in box)
        lines.append(f"prompt box: ({x0}, {y0}) to ({x1}, {y1})")
        used.add("box")
    if isinstance(d.get("candidate"), int):
        lines.append(f"candidate taken: {d['candidate'] + 1} (as listed, best first)")
        used.add("candidate")
    return tuple(lines), frozenset(used)


def _describe_mask(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    d = event.detail
    layer = d.get("layer")
    where = turn_name(d.get("turn"))
    phrase = f"{_mask_what(d)} on {where}" + (f" ({layer} mask)" if layer else "")
    lines, used = _mask_lines(d)
    said_keys = {"turn", "layer", "tool", "erase", "subtract", "proposer"}
    return _Said(MASK, phrase, frozenset(said_keys) | used, lines)


# -- texts -----------------------------------------------------------------------------------------
_TEXT_FIELDS = {
    "question": "question",
    "draft_answer": "draft answer",
    "final_answer": "verified answer",
}


def _describe_text(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    d = event.detail
    name = _TEXT_FIELDS.get(event.action, _humanize(event.action))
    before, after = d.get("before"), d.get("after")
    if not before and after:
        how = "set"
    elif before and not after:
        how = "cleared"
    else:
        how = "edited"
    phrase = f"{name} of {turn_name(d.get('turn'))} {how}"
    return _Said(TEXT, phrase, frozenset({"turn", "before", "after"}), _before_after(d))


def _describe_focus(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    return _Said(TEXT, "focus edited", frozenset({"before", "after"}), _before_after(event.detail))


def _before_after(d: Mapping[str, Any]) -> tuple[str, ...]:
    before, after = _text(d.get("before")), _text(d.get("after"))
    if d.get("undo"):
        # An undo's detail is the undone edit's: the text went from "after" back to "before".
        return (f"text before the undo: {after}", f"text after the undo: {before}")
    return (f"before: {before}", f"after: {after}")


def _text(value: object) -> str:
    return "(empty)" if value is None or value == "" else str(value)


# -- turns -----------------------------------------------------------------------------------------
def _describe_turn_add(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    return _Said(TURNS, f"{turn_name(event.detail.get('turn'))} added", frozenset({"turn"}))


def _describe_turn_remove(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    d = event.detail
    lines = []
    if "question" in d:
        lines.append(f"question: {_text(d['question'])}")
    if "answer" in d:
        lines.append(f"draft answer: {_text(d['answer'])}")
    masks = d.get("masks")
    if isinstance(masks, list | tuple):
        lines.append(f"masks it held: {', '.join(map(str, masks)) if masks else 'none'}")
    used = frozenset({"turn", "question", "answer", "masks"})
    return _Said(TURNS, f"{turn_name(d.get('turn'))} removed", used, tuple(lines))


def _describe_turn_move(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    d = event.detail
    dest = d.get("to")
    where = f"position {dest + 1}" if isinstance(dest, int) else "?"
    return _Said(TURNS, f"{turn_name(d.get('from'))} moved to {where}", frozenset({"from", "to"}))


# -- the record ------------------------------------------------------------------------------------
def _from(key: str, with_value: str, without: str) -> Describer:
    """A record coming into being, said with where it came from when the event says."""

    def describe(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
        value = event.detail.get(key)
        return _Said(IMPORT, with_value.format(value) if value else without, frozenset({key}))

    return describe


_describe_import = _from("source", "imported from {}", "imported")
_describe_create = _from("source", "record created from {}", "record created")
_describe_duplicate = _from(
    "source", "record created as a variant ({})", "record created as a variant"
)
_describe_draft = _from("model", "record drafted by the model {}", "record drafted by a model")
_describe_restore = _from("file", "record restored from a rescue file ({})", "record restored")


def _describe_delete(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    return _Said(RECORD, "record deleted")


def _describe_undelete(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    return _Said(RECORD, "deleted record brought back")


def _describe_proposal(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    turns = event.detail.get("turns")
    return _Said(PROPOSAL, f"model proposals added for {_turns_list(turns)}", frozenset({"turns"}))


def _describe_merge(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    """A save conflict resolved (services.save_conflict): which side each turn kept, and what
    was set aside, readable here and recoverable from the event."""
    d = event.detail
    sides = d.get("turns")
    kept: dict[str, list[int]] = {}
    if isinstance(sides, list):
        for i, side in enumerate(sides):
            kept.setdefault(str(side), []).append(i)
    said = "; ".join(f"{side} on {_turns_list(turns)}" for side, turns in sorted(kept.items()))
    lines = [f"kept: {said}" if said else "kept: the record as it was"]
    for lost in d.get("discarded_turns") or []:
        if not isinstance(lost, dict):
            continue
        where = f"set aside ({lost.get('side', '?')}), {turn_name(lost.get('turn'))}"
        if lost.get("absent"):
            lines.append(f"{where}: no such turn on that side")
            continue
        masks = lost.get("masks")
        n = len(masks) if isinstance(masks, list) else 0
        answer = lost.get("final_answer") or lost.get("draft_answer") or ""
        lines.append(
            f"{where}: question “{_one_line(str(lost.get('question', '')))}”, answer "
            f"“{_one_line(str(answer))}”, {n} mask(s)"
        )
    record = d.get("discarded_record")
    if isinstance(record, dict):
        lines.append(f"set aside ({record.get('side', '?')}), focus “{record.get('focus', '')}”")
    revisions = f" (revision {d.get('theirs_revision')} met yours, {d.get('mine_revision')})"
    return _Said(
        RECORD,
        "save conflict resolved" + revisions,
        frozenset(d),
        lines=tuple(lines),
    )


def _describe_unknown(event: HistoryEvent, _labels: Mapping[str, str]) -> _Said:
    """An action this module does not know yet: named, with its turn, and its detail listed."""
    d = event.detail
    turn = d.get("turn", d.get("turn_index"))
    where = f" on {turn_name(turn)}" if isinstance(turn, int) else ""
    used = frozenset({"turn", "turn_index"}) if where else frozenset()
    name = _humanize(event.action) or "unnamed"
    return _Said(OTHER, f"a “{name}” change{where}", used, lead="recorded ")


_DESCRIBERS: dict[str, Describer] = {
    "status": _describe_status,
    "review": _describe_review,
    "resolve": _describe_resolve,
    "mask": _describe_mask,
    "question": _describe_text,
    "draft_answer": _describe_text,
    "final_answer": _describe_text,
    "focus": _describe_focus,
    "turn_add": _describe_turn_add,
    "turn_remove": _describe_turn_remove,
    "turn_move": _describe_turn_move,
    "import": _describe_import,
    "create": _describe_create,
    "duplicate": _describe_duplicate,
    "draft": _describe_draft,
    "restore": _describe_restore,
    "delete": _describe_delete,
    "undelete": _describe_undelete,
    "proposal": _describe_proposal,
    "merge": _describe_merge,
}
