"""Writes records that could not be saved to the database to a JSON-lines file, so closing the
app with a failed save never loses them (masks as COCO RLE, one conversation per line)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from annotator.core.model import Conversation


def conversation_record(conv: Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "revision": conv.revision,
        "image": conv.image.path,
        "focus": conv.focus,
        "status": str(conv.status),
        "turns": [
            {
                "index": t.index,
                "question": t.question,
                "draft_answer": t.draft_answer,
                "final_answer": t.final_answer,
                "masks": [
                    {
                        "layer": str(m.layer),
                        "rle": m.mask.to_rle(),
                        "source": str(m.provenance.source),
                        "author": m.provenance.author,
                        "detail": m.provenance.detail,
                    }
                    for m in t.masks
                ],
            }
            for t in conv.turns
        ],
    }


def write_unsaved(path: Path, conversations: Sequence[Conversation]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".unsaved-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for conv in conversations:
                fh.write(
                    json.dumps(conversation_record(conv), ensure_ascii=False, default=str) + "\n"
                )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
