"""What a verdict judged, as a digest: a reviewer signs off on these exact texts and masks.

A turn's fingerprint covers its question, both answers (a missing verified answer differs from
an empty one) and every mask it holds, by layer, label, size and RLE counts (masks are stored as
pycocotools encodes them, so the same pixels give the same counts). The record's fingerprint adds
the focus to its turns' fingerprints. Ids, times and provenance are left out: saving unchanged
content, or moving a turn, does not change what was judged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from annotator.core.model import Conversation, Turn

# Bumped if the digest's input ever changes, so old and new fingerprints never compare equal.
_VERSION = b"fp1"


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256(_VERSION)
    for part in parts:
        # Length-prefixed, so no two different inputs concatenate to the same bytes.
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _text(value: str | None) -> bytes:
    return b"\x00" if value is None else b"\x01" + value.encode("utf-8")


def turn_fingerprint(turn: Turn) -> str:
    parts = [_text(turn.question), _text(turn.draft_answer), _text(turn.final_answer)]
    for ann in sorted(turn.masks, key=lambda m: m.layer.value):  # stable: positions kept
        size = f"{ann.mask.height}x{ann.mask.width}".encode()
        parts += [ann.layer.value.encode(), _text(ann.label), size, ann.mask.counts]
    return _digest(parts)


def record_fingerprint(conv: Conversation) -> str:
    return _digest([_text(conv.focus), *(turn_fingerprint(t).encode() for t in conv.turns)])
