"""The order every writer uses: by conversation id, unsaved conversations last in given order."""

from __future__ import annotations

from collections.abc import Iterable

from annotator.core.model import Conversation


def in_export_order(conversations: Iterable[Conversation]) -> list[Conversation]:
    indexed = list(enumerate(conversations))
    indexed.sort(key=lambda ic: (ic[1].id is None, ic[1].id or 0, ic[0]))
    return [c for _, c in indexed]
