"""Value types of the storage API: list queries, list rows, import results, conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from annotator.core.errors import StorageError
from annotator.core.status import Status

SORT_KEYS = ("id", "-id", "updated", "-updated", "status", "focus", "correction")


class ConflictError(StorageError):
    """The conversation was saved by someone else since it was loaded (stale revision)."""

    def __init__(self, conv_id: int, expected: int, stored: int) -> None:
        self.conv_id = conv_id
        self.expected = expected
        self.stored = stored
        super().__init__(
            f"conversation {conv_id} was changed elsewhere (revision {stored}, yours {expected}); "
            "reload it and apply your changes again"
        )


@dataclass(frozen=True)
class ListQuery:
    """Which conversations a list shows, and in which order."""

    status: Status | None = None
    flagged: bool | None = None
    flag_code: str | None = None  # has at least one flag with this code (a FlagCode value)
    text: str | None = None  # case-insensitive substring of the focus or the image path
    reviewer: str | None = None  # reviewed (any decision) by this person
    ids: tuple[int, ...] | None = None
    sort: str = "id"

    def __post_init__(self) -> None:
        if self.sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, got {self.sort!r}")


@dataclass(frozen=True)
class ConversationSummary:
    """One row of the conversation list (no turns, no masks)."""

    id: int
    image_path: str
    image_width: int
    image_height: int
    focus: str
    status: Status
    flag_count: int
    turn_count: int
    last_reviewer: str | None
    updated_at: datetime
    correction_pixels: int | None
    flag_codes: tuple[str, ...] = ()  # distinct codes of its flags, sorted


@dataclass(frozen=True)
class AddResult:
    added_ids: list[int]
    skipped: int  # conversations whose key was already stored
