"""Value types of the storage API: import results and conflicts (list queries and rows are
``annotator.core.listing``'s)."""

from __future__ import annotations

from dataclasses import dataclass

from annotator.core.errors import StorageError
from annotator.core.model import Image


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
class AddResult:
    added_ids: list[int]
    skipped: int  # conversations whose key was already stored


@dataclass(frozen=True)
class ImagesAdded:
    added: list[Image]  # stored now, with their ids
    present: list[tuple[Image, Image]]  # (offered, the stored image with the same content)
