"""How import flags read in the app: a label per flag code for the flag filter, the open
record's notes and tooltips, and a shorter one for the record list's narrow flag column, so "the
file is not there" and "the file is there but broken" are told apart at a glance."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from annotator.core.model import Flag, FlagCode

FLAG_LABELS: dict[FlagCode, str] = {
    FlagCode.MISSING_IMAGE: "Missing image",
    FlagCode.BAD_IMAGE: "Unreadable image",
    FlagCode.SIZE_MISMATCH: "Size mismatch",
    FlagCode.NO_MATCH: "No mask match",
    FlagCode.AMBIGUOUS_MATCH: "Ambiguous match",
    FlagCode.DEGENERATE_POLYGON: "Degenerate polygon",
    FlagCode.EMPTY_MASK: "Empty mask",
    FlagCode.MISSING_MASKS: "No LabelMe file",
    FlagCode.MODEL_DRAFTED: "Drafted by a model",
}

# The list's flag column, which is as wide as the longest of these: a word or two each.
FLAG_SHORT: dict[FlagCode, str] = {
    FlagCode.MISSING_IMAGE: "No image",
    FlagCode.BAD_IMAGE: "Unreadable",
    FlagCode.SIZE_MISMATCH: "Size",
    FlagCode.NO_MATCH: "No match",
    FlagCode.AMBIGUOUS_MATCH: "Ambiguous",
    FlagCode.DEGENERATE_POLYGON: "Polygon",
    FlagCode.EMPTY_MASK: "Empty",
    FlagCode.MISSING_MASKS: "No LabelMe",
    FlagCode.MODEL_DRAFTED: "Model draft",
}

# What the user can do about each image flag (the others are fixed by editing the masks).
FLAG_HINTS: dict[FlagCode, str] = {
    FlagCode.MISSING_IMAGE: "fix the image path or copy the data",
    FlagCode.BAD_IMAGE: "re-download or re-export the file",
}

IMAGE_FLAGS = frozenset({FlagCode.MISSING_IMAGE, FlagCode.BAD_IMAGE})


def flag_label(code: FlagCode | str) -> str:
    """The label of a flag code; a code this version does not know reads as itself."""
    return _named(FLAG_LABELS, code)


def flag_short(code: FlagCode | str) -> str:
    return _named(FLAG_SHORT, code)


def _named(names: dict[FlagCode, str], code: FlagCode | str) -> str:
    try:
        return names[FlagCode(code)]
    except ValueError:
        return str(code).replace("_", " ")


def flag_rank(code: FlagCode | str) -> tuple[int, str]:
    """Sort key: the order of FLAG_LABELS (image flags first, as they hide everything else),
    then codes this version does not know, by name."""
    try:
        return (list(FLAG_LABELS).index(FlagCode(code)), "")
    except ValueError:
        return (len(FLAG_LABELS), str(code))


def flag_marker(codes: Sequence[FlagCode | str], count: bool = True) -> str:
    """The flag column's text: the first code's short label, and (with ``count``) ``+N`` for N
    more codes."""
    if not codes:
        return ""
    first = min(codes, key=flag_rank)
    more = len(set(codes)) - 1
    return flag_short(first) + (f" +{more}" if more and count else "")


def flag_compact(codes: Sequence[FlagCode | str]) -> str:
    """The flag column's text where there is no room for words: ⚑ and the number of codes
    when more than one (the colour tells image flags from the others)."""
    kinds = len(set(codes))
    return "" if not kinds else "⚑" if kinds == 1 else f"⚑{kinds}"


def flags_text(flags: Iterable[Flag]) -> str:
    """One line per flag, ``Label: message``, for tooltips."""
    return "\n".join(f"⚑ {flag_label(f.code)}: {f.message}" for f in flags)
