"""Persistent storage: SQLAlchemy tables, engine setup, migrations and the repositories behind
the :class:`Store` facade. Takes and returns ``annotator.core`` objects only."""

from __future__ import annotations

from annotator.core.listing import ConversationSummary, ListQuery
from annotator.storage.api_types import AddResult, ConflictError
from annotator.storage.store import Store, open_store

__all__ = [
    "AddResult",
    "ConflictError",
    "ConversationSummary",
    "ListQuery",
    "Store",
    "open_store",
]
