"""Writes records that could not be saved to the database to a JSON-lines file, so closing the
app with a failed save never loses them. The file is the project's own JSONL export format, so
``annotator import jsonl`` reads it back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from annotator.core.model import Conversation
from annotator.io.jsonl_writer import write_jsonl


def write_unsaved(path: Path, conversations: Sequence[Conversation]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, conversations, fmt="prist")
    return path
