"""What the crash harness writes: conversation content that is a pure function of (key,
generation), so a checker can tell from the stored rows alone which save they came from.

Every piece a save replaces carries its generation: the focus, each turn's question and
answers, each final mask's label and provenance, and the mask pixels themselves (drawn from a
seed derived from key, generation, turn and position). The number of turns and of masks per
turn also depends on the generation, so saves insert, update and delete rows. A conversation
whose pieces name more than one generation was half-written.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Turn,
)

HEIGHT, WIDTH = 48, 64
AUTHOR = "kill-harness"
# Fixed so that equal content has equal rows; the checker never compares clocks.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
TAG = re.compile(r"^\[(?P<key>[^\s\]]+) g(?P<gen>\d+)\]")
LABEL = re.compile(r"^g(?P<gen>\d+)$")


def _number(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def turn_count(key: str, gen: int) -> int:
    return 2 + _number("turns", key, gen) % 3


def mask_count(key: str, gen: int, turn: int) -> int:
    return 1 + _number("masks", key, gen, turn) % 2


def pattern(key: str, gen: int, turn: int, pos: int) -> Mask:
    """A non-empty rectangle with a few holes, placed by the seed: different generations give
    different pixels almost always, and the checksum catches the rest."""
    rng = np.random.default_rng(_number("pixels", key, gen, turn, pos))
    arr = np.zeros((HEIGHT, WIDTH), dtype=bool)
    y0, x0 = int(rng.integers(0, HEIGHT // 2)), int(rng.integers(0, WIDTH // 2))
    y1 = y0 + int(rng.integers(4, HEIGHT // 2))
    x1 = x0 + int(rng.integers(4, WIDTH // 2))
    arr[y0:y1, x0:x1] = True
    arr[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] &= rng.random((y1 - y0 - 2, x1 - x0 - 2)) > 0.2
    return Mask.from_array(arr)


def tag(key: str, gen: int) -> str:
    return f"[{key} g{gen}]"


def final_masks(key: str, gen: int, turn: int) -> tuple[MaskAnnotation, ...]:
    return tuple(
        MaskAnnotation(
            mask=pattern(key, gen, turn, pos),
            layer=MaskLayer.FINAL,
            provenance=Provenance(
                source=MaskSource.HUMAN,
                author=AUTHOR,
                created_at=EPOCH,
                detail={"gen": gen, "key": key},
            ),
            label=f"g{gen}",
        )
        for pos in range(mask_count(key, gen, turn))
    )


def imported_mask(key: str) -> MaskAnnotation:
    """The draft mask every conversation is imported with; saves keep it unchanged (same row)."""
    return MaskAnnotation(
        mask=pattern(key, -1, 0, 0),
        layer=MaskLayer.DRAFT,
        provenance=Provenance(source=MaskSource.IMPORTED, author=AUTHOR, created_at=EPOCH),
        label="imported",
    )


def turns(key: str, gen: int) -> tuple[Turn, ...]:
    n = turn_count(key, gen)
    out: list[Turn] = []
    for i in range(n):
        masks = final_masks(key, gen, i)
        if i == 0:
            masks = (imported_mask(key), *masks)
        out.append(
            Turn(
                index=i,
                question=f"{tag(key, gen)} question {i}",
                draft_answer=f"{tag(key, gen)} draft {i}" + (" [SEG]" if i == n - 1 else ""),
                final_answer=f"{tag(key, gen)} answer {i}",
                masks=masks,
            )
        )
    return tuple(out)


def focus(key: str, gen: int) -> str:
    return f"{tag(key, gen)} focus"


def new_conversation(key: str) -> Conversation:
    """Generation 0, as imported."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return Conversation(
        image=Image(path=f"img/{key}.png", width=WIDTH, height=HEIGHT, sha256=digest, root="/h"),
        focus=focus(key, 0),
        turns=turns(key, 0),
        source=f"kill-harness:{key}",
        key=key,
    )


def next_generation(stored: Conversation, gen: int) -> Conversation:
    """``stored`` rewritten as generation ``gen``. Rows that exist at the same place keep their
    ids, so a save updates some mask rows in place, inserts others and deletes the rest."""
    fresh = turns(stored.key, gen)
    ids = {(turn.index, pos): ann.id for turn in stored.turns for pos, ann in enumerate(turn.masks)}
    with_ids = tuple(
        Turn(
            index=turn.index,
            question=turn.question,
            draft_answer=turn.draft_answer,
            final_answer=turn.final_answer,
            masks=tuple(
                MaskAnnotation(
                    ann.mask, ann.layer, ann.provenance, ann.label, ids.get((turn.index, p))
                )
                for p, ann in enumerate(turn.masks)
            ),
        )
        for turn in fresh
    )
    return Conversation(
        image=stored.image,
        focus=focus(stored.key, gen),
        turns=with_ids,
        status=stored.status,
        source=stored.source,
        key=stored.key,
        flags=stored.flags,
        revision=stored.revision,
        id=stored.id,
    )


@dataclass(frozen=True)
class Generations:
    """Which generations the pieces of one stored conversation name."""

    found: frozenset[int]
    foreign: tuple[str, ...]  # pieces that name another key or no generation at all

    @property
    def single(self) -> int | None:
        return next(iter(self.found)) if len(self.found) == 1 and not self.foreign else None


def generations(conv: Conversation) -> Generations:
    found: set[int] = set()
    foreign: list[str] = []

    def text(where: str, value: str | None) -> None:
        match = TAG.match(value or "")
        if match is None or match["key"] != conv.key:
            foreign.append(f"{where}: {value!r}")
        else:
            found.add(int(match["gen"]))

    text("focus", conv.focus)
    for turn in conv.turns:
        text(f"turn {turn.index} question", turn.question)
        text(f"turn {turn.index} draft", turn.draft_answer)
        text(f"turn {turn.index} answer", turn.final_answer)
        for pos, ann in enumerate(turn.masks):
            if ann.layer == MaskLayer.DRAFT:
                continue
            label = LABEL.match(ann.label)
            detail_gen = ann.provenance.detail.get("gen")
            if label is None or detail_gen != int(label["gen"]):
                foreign.append(f"turn {turn.index} mask {pos}: {ann.label!r} {detail_gen!r}")
            else:
                found.add(detail_gen)
    return Generations(frozenset(found), tuple(foreign))


def canonical(conv: Conversation) -> dict[str, Any]:
    """Everything a save replaces, without ids or clocks."""
    return {
        "key": conv.key,
        "focus": conv.focus,
        "turns": [
            {
                "index": turn.index,
                "question": turn.question,
                "draft": turn.draft_answer,
                "final": turn.final_answer,
                "masks": [
                    {
                        "layer": str(ann.layer),
                        "label": ann.label,
                        "size": [ann.mask.height, ann.mask.width],
                        "counts": ann.mask.counts.decode("ascii"),
                        "source": str(ann.provenance.source),
                        "author": ann.provenance.author,
                        "detail": ann.provenance.detail,
                    }
                    for ann in turn.masks
                ],
            }
            for turn in conv.turns
        ],
    }


def checksum(conv: Conversation) -> str:
    blob = json.dumps(canonical(conv), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@lru_cache(maxsize=8192)
def expected_checksum(key: str, gen: int) -> str:
    """The checksum a conversation must have when it holds generation ``gen`` (the checker asks
    for the same pairs after every kill, hence the cache)."""
    image = Image(path="", width=WIDTH, height=HEIGHT, sha256="")
    return checksum(Conversation(image, focus(key, gen), turns(key, gen), key=key))
