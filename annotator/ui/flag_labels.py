"""How import flags read in the app: a short label per flag code for the record list, the open
record's notes and tooltips, so "the file is not there" and "the file is there but broken" are
told apart at a glance."""

from __future__ import annotations

from collections.abc import Iterable

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
}

# What the user can do about each image flag (the others are fixed by editing the masks).
FLAG_HINTS: dict[FlagCode, str] = {
    FlagCode.MISSING_IMAGE: "fix the image path or copy the data",
    FlagCode.BAD_IMAGE: "re-download or re-export the file",
}

IMAGE_FLAGS = frozenset({FlagCode.MISSING_IMAGE, FlagCode.BAD_IMAGE})


def flag_label(code: FlagCode | str) -> str:
    """The label of a flag code; a code this version does not know reads as itself."""
    try:
        return FLAG_LABELS[FlagCode(code)]
    except ValueError:
        return str(code).replace("_", " ")


def flags_text(flags: Iterable[Flag]) -> str:
    """One line per flag, ``Label: message``, for tooltips."""
    return "\n".join(f"⚑ {flag_label(f.code)}: {f.message}" for f in flags)
