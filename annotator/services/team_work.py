"""Team mode in the app, without Qt: who I am, my claim on the open record, Next record.

On PostgreSQL a record that opens is claimed for its user (renewed by a heartbeat while it stays
open, released when another opens or the app closes), so two people never edit one record at
once; a record someone else holds opens read-only, saying who and since when. An annotator's
claim covers drafts, proposals, rejections and what an admin handed them; any other record opens
read-only for them. The database enforces all of it (docs/adr/0023): this model only says it
before the user tries. On SQLite there is one person and nothing is claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from annotator.core.errors import AnnotatorError
from annotator.core.status import ANNOTATOR_WORK, Status

HEARTBEAT_S = 60  # well inside the claim's time to live (five minutes by default)


class ClaimLike(Protocol):
    conversation_id: int
    holder: str
    claimed_at: datetime


class ProgressLike(Protocol):
    person: str
    claimed: int
    done_today: int
    reviewed_today: int
    approved: int
    rejected: int


class MemberLike(Protocol):
    name: str
    role: str


class TeamPort(Protocol):
    """What team mode asks of the database (``annotator.storage.team_store.TeamStore``)."""

    @property
    def postgres(self) -> bool: ...

    def identity(self) -> str | None: ...

    def role(self) -> str | None: ...

    def next_record(self, me: str, role: str) -> int | None: ...

    def claim(self, conv_id: int, me: str, role: str) -> ClaimLike: ...

    def heartbeat(self, conv_id: int, me: str) -> bool: ...

    def release(self, conv_ids: Sequence[int] | None, me: str | None) -> int: ...

    def holder(self, conv_id: int) -> ClaimLike | None: ...

    def progress(self) -> Sequence[ProgressLike]: ...

    def members(self) -> Sequence[MemberLike]: ...

    def assign(self, conv_ids: Sequence[int], person: str | None) -> int: ...


@dataclass(frozen=True)
class Hold:
    """The open record as team mode sees it: ``read_only`` says why it cannot be edited."""

    conv_id: int
    read_only: str = ""


class TeamWork:
    def __init__(self, team: TeamPort, fallback_name: Callable[[], str]) -> None:
        self.team = team
        self.enabled = team.postgres
        self.login = team.identity() if self.enabled else None
        self.role = team.role() if self.enabled else None
        self._fallback = fallback_name
        self.hold: Hold | None = None

    @property
    def me(self) -> str:
        """The actor of every action: the login role on PostgreSQL (what the database records
        anyway), else the name in Settings."""
        return self.login or self._fallback()

    @property
    def work_role(self) -> str:
        return "reviewer" if self.role in ("reviewer", "admin") else "annotator"

    def describe(self) -> str:
        if not self.enabled:
            return ""
        return f"{self.login} ({self.role or 'no team role'})"

    # -- the open record ----------------------------------------------------------------
    def open(self, conv_id: int, status: Status) -> Hold:
        """Claim ``conv_id`` as it opens (releasing the previous one)."""
        if not self.enabled:
            self.hold = Hold(conv_id)
            return self.hold
        if self.work_role == "annotator" and status not in ANNOTATOR_WORK:
            self._release_held(conv_id)
            self.hold = Hold(
                conv_id,
                f"record {conv_id} is {status.value.replace('_', ' ')}: annotators edit drafts, "
                "proposals, rejections and the records handed to them",
            )
            return self.hold
        try:
            self.team.claim(conv_id, self.me, self.work_role)
        except AnnotatorError as exc:  # someone else holds it (or the rules refuse the claim)
            self._release_held(conv_id)
            self.hold = Hold(conv_id, str(exc).removeprefix("refused by the database: "))
            return self.hold
        self.hold = Hold(conv_id)
        return self.hold

    def _release_held(self, opening: int) -> None:
        if self.hold is not None and self.hold.conv_id != opening and not self.hold.read_only:
            self.team.release([self.hold.conv_id], self.me)

    def heartbeat(self) -> Hold | None:
        """Keep the claim alive; a lost claim (lapsed and taken) turns the record read-only."""
        hold = self.hold
        if not self.enabled or hold is None or hold.read_only:
            return hold
        if not self.team.heartbeat(hold.conv_id, self.me):
            other = self.team.holder(hold.conv_id)
            who = f"{other.holder} since {other.claimed_at:%H:%M}" if other else "nobody"
            self.hold = Hold(hold.conv_id, f"your claim lapsed; now held by {who}")
        return self.hold

    def release(self) -> None:
        if self.enabled and self.hold is not None and not self.hold.read_only:
            self.team.release([self.hold.conv_id], self.me)
        self.hold = None

    def next_record(self) -> int | None:
        """Claim the next record of my role (the database picks it; none when the queue is
        empty). The previous claim goes. On SQLite it is the single user's work queue."""
        found = self.team.next_record(self.me, self.work_role)
        if found is not None:
            self.hold = Hold(found)
        return found

    def progress(self) -> Sequence[ProgressLike]:
        return self.team.progress()

    def people(self) -> list[str]:
        """Who records can be handed to (team mode only)."""
        return [m.name for m in self.team.members()] if self.enabled else []

    def assign(self, conv_id: int, person: str | None) -> None:
        """Hand a record to ``person`` (None: to anyone); the database lets only admins."""
        self.team.assign([conv_id], person)
