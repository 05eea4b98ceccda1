"""Team mode's repository: members and roles, who is connected, claims, assignments, progress.

One transaction per call. On SQLite there is one person (the name the caller gives) and no
roles; claims and assignments still work, so a single user's queue behaves the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from annotator.storage import team, work_claims
from annotator.storage.engine import read_transaction, write_transaction
from annotator.storage.work_claims import Claim, Progress


class TeamStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def postgres(self) -> bool:
        return team.is_postgres(self._engine)

    def identity(self) -> str | None:
        """The login role on PostgreSQL (what the database records as the actor); None on
        SQLite, where the caller's name is used."""
        if not self.postgres:
            return None
        with read_transaction(self._engine) as conn:
            return team.identity(conn)

    def role(self) -> str | None:
        if not self.postgres:
            return None
        with read_transaction(self._engine) as conn:
            return team.team_role(conn)

    # -- set-up (the database owner) ----------------------------------------------------
    def init(self) -> None:
        team.require_postgres(self._engine)
        with write_transaction(self._engine) as conn:
            team.init(conn)

    def add_member(self, name: str, role: str, password: str | None = None) -> None:
        team.require_postgres(self._engine)
        with write_transaction(self._engine) as conn:
            team.add_member(conn, name, role, password)

    def remove_member(self, name: str) -> None:
        team.require_postgres(self._engine)
        with write_transaction(self._engine) as conn:
            team.remove_member(conn, name)

    def members(self) -> list[team.Member]:
        team.require_postgres(self._engine)
        with read_transaction(self._engine) as conn:
            return team.members(conn)

    # -- work ---------------------------------------------------------------------------
    def next_record(self, me: str, role: str, *, skip_locked: bool = True) -> int | None:
        with write_transaction(self._engine) as conn:
            return work_claims.next_record(conn, me, role, skip_locked=skip_locked)

    def claim(self, conv_id: int, me: str, role: str) -> Claim:
        with write_transaction(self._engine) as conn:
            return work_claims.take(conn, conv_id, me, role)

    def heartbeat(self, conv_id: int, me: str) -> bool:
        with write_transaction(self._engine) as conn:
            return work_claims.heartbeat(conn, conv_id, me)

    def release(self, conv_ids: Sequence[int] | None, me: str | None) -> int:
        with write_transaction(self._engine) as conn:
            return work_claims.release(conn, conv_ids, me)

    def holder(self, conv_id: int) -> Claim | None:
        with read_transaction(self._engine) as conn:
            return work_claims.holder_of(conn, conv_id)

    def assign(self, conv_ids: Sequence[int], person: str | None) -> int:
        with write_transaction(self._engine) as conn:
            return work_claims.assign(conn, conv_ids, person)

    def progress(self) -> list[Progress]:
        with read_transaction(self._engine) as conn:
            return work_claims.progress(conn)
