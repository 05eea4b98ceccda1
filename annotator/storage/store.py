"""The storage facade: one object per database, each public call one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Engine

from annotator.core.errors import StorageError
from annotator.core.judgement import JudgeIdentity, Judgement, PairwiseJudgement
from annotator.core.listing import ConversationSummary, ImageSummary, ListQuery
from annotator.core.model import Conversation, HistoryEvent, Image, Proposal, ReasonEntry, Review
from annotator.core.progress import Task
from annotator.storage import (
    claims,
    conversations,
    history,
    images,
    listing,
    migrate,
    project_settings,
    reasons,
    restore,
    verdicts,
)
from annotator.storage import judgements as judgement_repo
from annotator.storage import proposals as proposal_repo
from annotator.storage import reviews as review_repo
from annotator.storage import stats as stats_repo
from annotator.storage.api_types import AddResult, ImagesAdded
from annotator.storage.engine import (
    make_engine,
    read_transaction,
    refuse_if_read_only,
    resolve_url,
    sqlite_path,
    write_transaction,
)
from annotator.storage.read_only_schema import refuse_read_only_upgrade
from annotator.storage.restore import RestoreEntry
from annotator.storage.team_store import TeamStore


class Store:
    """Repositories over one engine. Thread-safe in the way the engine's pool is: every call
    checks out its own connection and returns it before it returns."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sound = sqlite_path(str(engine.url)) is None  # PostgreSQL guards its own files
        self._sound_lock = threading.Lock()

    def verify(self) -> None:
        """Check a SQLite file is sound before anything is written into it (once per store;
        ``PRAGMA quick_check``, 0.9 s on a 100,000-conversation file: the app runs it on a
        worker after start-up, a command before its first write). A damaged file raises a
        one-line :class:`StorageError` and is never written to."""
        with self._sound_lock:
            if self._sound:
                return
            with read_transaction(self._engine) as conn:
                problems = [row[0] for row in conn.exec_driver_sql("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                where = sqlite_path(str(self._engine.url))
                first = " ".join(" ".join(problems).split())[:200]  # the report spans lines
                raise StorageError(
                    f"{where} is damaged ({first}): nothing is written to it; restore a backup "
                    "copy (or export what still reads and start anew)"
                )
            self._sound = True

    @property
    def team(self) -> TeamStore:
        """Members, roles, claims and assignments (team mode; docs/adr/0023)."""
        return TeamStore(self._engine)

    def _write(self) -> AbstractContextManager[Connection]:
        refuse_if_read_only(self._engine)  # at once: no integrity check for a refused write
        self.verify()
        return write_transaction(self._engine)

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
        self,
        convs: Sequence[Conversation],
        *,
        actor: str,
        task: Task | None = None,
        action: str = "import",
        detail: Mapping[str, Any] | None = None,
    ) -> AddResult:
        """Store new conversations, all or none; ones whose ``key`` is stored are skipped.
        ``action`` names their first history event ("import", "create", "duplicate", "draft"),
        ``detail`` adds to its detail (JSON values)."""
        with self._write() as conn:
            return conversations.add(conn, convs, actor, task, action, detail)

    def restore_conversations(
        self, entries: Sequence[RestoreEntry], *, actor: str, task: Task | None = None
    ) -> AddResult:
        """Store exported conversations with their reviews and proposals, all or none."""
        with self._write() as conn:
            return restore.restore(conn, entries, actor, task)

    def set_deleted(self, conv_id: int, deleted: bool, *, actor: str) -> Conversation:
        """Soft-delete a conversation (out of lists and exports) or restore it."""
        with self._write() as conn:
            return conversations.set_deleted(conn, conv_id, deleted, actor)

    # -- images ----------------------------------------------------------------------------
    def add_images(self, items: Sequence[Image]) -> ImagesAdded:
        """Store images by content, all or none (see ``storage.images.add``)."""
        with self._write() as conn:
            return images.add(conn, items)

    def images(self, *, path: str | None = None) -> list[ImageSummary]:
        with read_transaction(self._engine) as conn:
            return images.summaries(conn, path=path)

    def image(self, image_id: int) -> Image:
        with read_transaction(self._engine) as conn:
            return images.get(conn, image_id)

    def image_named(self, img_id: str) -> Image:
        with read_transaction(self._engine) as conn:
            return images.by_name(conn, img_id)

    def get_conversation(self, conv_id: int) -> Conversation:
        with read_transaction(self._engine) as conn:
            return conversations.load_one(conn, conv_id)

    def save_conversation(
        self, conv: Conversation, *, actor: str, events: Sequence[HistoryEvent] = ()
    ) -> Conversation:
        with self._write() as conn:
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

    def ids(self, query: ListQuery) -> list[int]:
        """Every matching conversation id, ascending (one indexed query)."""
        with read_transaction(self._engine) as conn:
            return listing.ids_after(conn, query, 0, None)

    def count(self, query: ListQuery) -> int:
        with read_transaction(self._engine) as conn:
            return listing.count(conn, query)

    def flag_counts(self, query: ListQuery | None = None) -> dict[str, int]:
        """Every flag code stored -> how many conversations matching ``query`` (all when None)
        carry it; 0 for a code only records outside ``query`` carry. Code order."""
        with read_transaction(self._engine) as conn:
            return listing.flag_counts(conn, query)

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
            conversations.require(conn, conv_id)
            return history.load(conn, conv_id)

    # -- reviews -------------------------------------------------------------------------------
    def add_review(self, conv_id: int, review: Review) -> Conversation:
        """Store a review; the status follows it (core.review_rules), with history events."""
        with self._write() as conn:
            return review_repo.add(conn, conv_id, review)

    def reviews(self, conv_id: int) -> list[Review]:
        with read_transaction(self._engine) as conn:
            conversations.require(conn, conv_id)
            return review_repo.load(conn, conv_id)

    def second_reviews(self) -> list[tuple[int, int, list[Review]]]:
        """(id, turn count, reviews) of the conversations a second review was asked for."""
        with read_transaction(self._engine) as conn:
            return verdicts.second_reviews(conn)

    def resolve_comment(self, conv_id: int, review_id: int, *, actor: str) -> Review:
        """Mark one entry of a comment thread resolved (with a history event)."""
        with self._write() as conn:
            return review_repo.resolve(conn, conv_id, review_id, actor)

    # -- the project's reason codes and settings -----------------------------------------
    def reason_codes(self, *, include_retired: bool = False) -> list[ReasonEntry]:
        with read_transaction(self._engine) as conn:
            return reasons.load(conn, include_retired=include_retired)

    def add_reason_code(self, code: str, label: str = "") -> ReasonEntry:
        with self._write() as conn:
            return reasons.add(conn, code, label)

    def rename_reason_code(self, code: str, label: str) -> ReasonEntry:
        with self._write() as conn:
            return reasons.rename(conn, code, label)

    def retire_reason_code(self, code: str, *, retired: bool = True) -> ReasonEntry:
        with self._write() as conn:
            return reasons.set_retired(conn, code, retired)

    def project_setting(self, key: str, default: Any = None) -> Any:
        with read_transaction(self._engine) as conn:
            return project_settings.get(conn, key, default)

    def set_project_setting(self, key: str, value: Any) -> None:
        with self._write() as conn:
            project_settings.put(conn, key, value)

    # -- proposals -----------------------------------------------------------------------------
    def add_proposals(self, conv_id: int, items: Sequence[Proposal]) -> list[int]:
        """Store a conversation's proposals; a draft conversation becomes proposed."""
        with self._write() as conn:
            return proposal_repo.add(conn, conv_id, items)

    def proposals(
        self, conv_id: int, *, turn_index: int | None = None, proposer: str | None = None
    ) -> list[Proposal]:
        with read_transaction(self._engine) as conn:
            return proposal_repo.load(conn, conv_id, turn_index, proposer)

    def conversations_needing_proposals(
        self,
        proposer: str,
        version: str,
        query: ListQuery | None = None,
        *,
        shard: tuple[int, int] | None = None,
        limit: int | None = None,
    ) -> list[int]:
        """Ids (ascending) of matching conversations that have a turn this proposer version has
        not answered; ``shard=(k, n)`` keeps those with ``id % n == k``."""
        with read_transaction(self._engine) as conn:
            return proposal_repo.needing(
                conn, proposer, version, query or ListQuery(), shard, limit
            )

    def claim_batch(
        self,
        proposer: str,
        version: str,
        query: ListQuery | None,
        worker: str,
        limit: int,
        *,
        ttl: timedelta = timedelta(minutes=30),
        shard: tuple[int, int] | None = None,
    ) -> list[int]:
        """Claim up to ``limit`` conversations needing proposals that nobody holds a live claim
        on (the asking worker included, so a loop ``while batch := claim_batch(...)`` ends).

        Claims expire after ``ttl``; :meth:`claim` renews one, :meth:`release_claims` gives
        them back. Adding the proposals takes a conversation out of the "needing" set, so a
        finished one is never handed out again.
        """
        with self._write() as conn:
            return claims.claim_batch(
                conn, proposer, version, query or ListQuery(), worker, limit, ttl, shard
            )

    def claim(
        self,
        conv_id: int,
        worker: str,
        *,
        proposer: str,
        version: str,
        ttl: timedelta = timedelta(minutes=30),
    ) -> bool:
        """Claim (or renew) one conversation; False when another worker holds a live claim."""
        with self._write() as conn:
            conversations.require(conn, conv_id)
            return claims.claim_one(conn, conv_id, proposer, version, worker, ttl)

    def release_claims(
        self, conv_ids: Sequence[int], *, proposer: str, version: str, worker: str
    ) -> int:
        with self._write() as conn:
            return claims.release(conn, conv_ids, proposer, version, worker)

    # -- the reasoning judge (docs/adr/0019) --------------------------------------------------
    def add_judgements(self, items: Sequence[Judgement]) -> list[int]:
        """Store judgements of stored proposals, all or none (one transaction)."""
        with self._write() as conn:
            return judgement_repo.add(conn, items)

    def add_pairwise_judgements(self, items: Sequence[PairwiseJudgement]) -> list[int]:
        with self._write() as conn:
            return judgement_repo.add_pairwise(conn, items)

    def judgements(
        self,
        *,
        conversation_id: int | None = None,
        proposer: str | None = None,
        requested: str | None = None,
        prompt_version: str | None = None,
    ) -> list[Judgement]:
        """Judgements of live conversations, oldest first (filters: the proposer's name, the
        judge model as asked for, the prompt version)."""
        with read_transaction(self._engine) as conn:
            return judgement_repo.load(
                conn,
                conversation_id=conversation_id,
                proposer=proposer,
                requested=requested,
                prompt_version=prompt_version,
            )

    def pairwise_judgements(
        self,
        *,
        conversation_id: int | None = None,
        requested: str | None = None,
        prompt_version: str | None = None,
    ) -> list[PairwiseJudgement]:
        with read_transaction(self._engine) as conn:
            return judgement_repo.load_pairwise(
                conn,
                conversation_id=conversation_id,
                requested=requested,
                prompt_version=prompt_version,
            )

    def judged_proposals(
        self, conv_id: int, judge: JudgeIdentity, *, scored_only: bool = False
    ) -> set[int]:
        """Proposals of ``conv_id`` already judged by this judge (model asked for, prompt
        version, reference); ``scored_only``: only those with a verdict that parsed."""
        with read_transaction(self._engine) as conn:
            return judgement_repo.judged_proposals(conn, conv_id, judge, scored_only=scored_only)

    def judged_pairs(
        self, conv_id: int, judge: JudgeIdentity, *, scored_only: bool = False
    ) -> set[tuple[int, int]]:
        with read_transaction(self._engine) as conn:
            return judgement_repo.judged_pairs(conn, conv_id, judge, scored_only=scored_only)

    def conversations_with_proposals(self, proposers: Sequence[str] | None = None) -> list[int]:
        """Ids (ascending) of live conversations with proposals (by one of ``proposers``)."""
        with read_transaction(self._engine) as conn:
            return judgement_repo.candidates(conn, proposers)

    # -- statistics ----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with read_transaction(self._engine) as conn:
            return stats_repo.collect(conn)

    def status_counts(self) -> dict[str, int]:
        """Conversations per status value (zeros included): one grouped count."""
        with read_transaction(self._engine) as conn:
            return stats_repo.status_counts(conn)


def open_store(db: str | Path | None = None) -> Store:
    """Open (creating or upgrading as needed) the database named by ``db``."""
    url = resolve_url(db)
    path = sqlite_path(url)
    if path is not None and path.exists() and path.stat().st_size == 0:
        # SQLite would quietly make an empty file a new database: a file truncated to nothing
        # would come back as an empty project.
        raise StorageError(f"{path} is an empty file (0 bytes), not a database")
    engine = make_engine(url)
    try:
        refuse_read_only_upgrade(engine)
        migrate.upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
