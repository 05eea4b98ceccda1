"""The storage facade: one object per database, each public call one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy.engine import Engine

from annotator.core.model import Conversation, HistoryEvent
from annotator.core.progress import Task
from annotator.storage import conversations, history, listing, migrate
from annotator.storage.api_types import AddResult, ConversationSummary, ListQuery
from annotator.storage.engine import make_engine, read_transaction, resolve_url, write_transaction


class Store:
    """Repositories over one engine. Thread-safe in the way the engine's pool is: every call
    checks out its own connection and returns it before it returns."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def is_empty(self) -> bool:
        with read_transaction(self._engine) as conn:
            return not listing.ids_after(conn, None, 0, 1)

    # -- conversations -------------------------------------------------------------------------
    def add_conversations(
        self, convs: Sequence[Conversation], *, actor: str, task: Task | None = None
    ) -> AddResult:
        """Store new conversations, all or none; ones whose ``key`` is stored are skipped."""
        with write_transaction(self._engine) as conn:
            return conversations.add(conn, convs, actor, task)

    def get_conversation(self, conv_id: int) -> Conversation:
        with read_transaction(self._engine) as conn:
            return conversations.load_one(conn, conv_id)

    def save_conversation(
        self, conv: Conversation, *, actor: str, events: Sequence[HistoryEvent] = ()
    ) -> Conversation:
        with write_transaction(self._engine) as conn:
            return conversations.save(conn, conv, actor, events)

    def page(
        self, query: ListQuery, offset: int = 0, limit: int = 100
    ) -> list[ConversationSummary]:
        with read_transaction(self._engine) as conn:
            return listing.page(conn, query, offset, limit)

    def page_after(
        self, query: ListQuery, after_id: int | None = None, limit: int = 100
    ) -> list[ConversationSummary]:
        """Keyset paging for the id orders: the page after the row with ``after_id``."""
        with read_transaction(self._engine) as conn:
            return listing.page_after(conn, query, after_id, limit)

    def count(self, query: ListQuery) -> int:
        with read_transaction(self._engine) as conn:
            return listing.count(conn, query)

    def iter_conversations(
        self, query: ListQuery | None = None, batch_size: int = 500
    ) -> Iterator[Conversation]:
        """Every matching conversation in id order, loaded ``batch_size`` at a time (each batch
        is its own short read, so a long export never holds a transaction open)."""
        last = 0
        while True:
            with read_transaction(self._engine) as conn:
                ids = listing.ids_after(conn, query, last, batch_size)
                batch = conversations.load(conn, ids)
            yield from batch
            if len(ids) < batch_size:
                return
            last = ids[-1]

    def history(self, conv_id: int) -> list[HistoryEvent]:
        with read_transaction(self._engine) as conn:
            conversations.load_one(conn, conv_id)  # NotFoundError for an unknown id
            return history.load(conn, conv_id)


def open_store(db: str | Path | None = None) -> Store:
    """Open (creating or upgrading as needed) the database named by ``db``."""
    url = resolve_url(db)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
