"""What a list of conversations asks for (a filter and an order) and what each row shows:
value types shared by storage, which answers the query, and the app, which renders the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from annotator.core.status import Status

SORT_KEYS = ("id", "-id", "updated", "-updated", "status", "focus", "correction")
QUEUES = ("stale", "second")


@dataclass(frozen=True)
class ListQuery:
    """Which conversations a list shows, and in which order."""

    status: Status | None = None
    flagged: bool | None = None
    flag_code: str | None = None  # has at least one flag with this code (a FlagCode value)
    text: str | None = None  # case-insensitive substring of the focus or the image path
    reviewer: str | None = None  # reviewed (any decision) by this person
    ids: tuple[int, ...] | None = None
    image_id: int | None = None  # conversations on this image
    deleted: bool = False  # True: the soft-deleted conversations (to restore) instead of the rest
    # A review queue: "stale" (a turn verdict predates the turn's last change) or "second"
    # (a second review was asked for and no other reviewer has judged since).
    queue: str | None = None
    sort: str = "id"

    def __post_init__(self) -> None:
        if self.queue not in (None, *QUEUES):
            raise ValueError(f"queue must be one of {', '.join(QUEUES)}, got {self.queue!r}")
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
    stale_verdicts: int = 0  # turn verdicts given on content that has changed since
    flag_codes: tuple[str, ...] = ()  # distinct codes of its flags, sorted


@dataclass(frozen=True)
class ImageSummary:
    """One row of the image list: an image and how many (not deleted) conversations it has."""

    id: int
    path: str  # the img_id: relative to ``root``, as PRIST names images
    root: str
    width: int
    height: int
    sha256: str
    conversations: int
