"""What the desktop app may ask of the database, as a protocol: the UI layer never imports
``annotator.storage`` (docs/adr/0013). ``annotator.storage.Store`` implements it; the composition
root (``annotator.app``) passes the store in, and writes go through the services (editing
session, open record, jobs), never from a widget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from annotator.core.listing import ConversationSummary, ImageSummary, ListQuery
from annotator.core.model import Conversation, HistoryEvent, Image, Proposal, ReasonEntry, Review
from annotator.core.progress import Task

if TYPE_CHECKING:
    from annotator.storage.api_types import AddResult, ImagesAdded


class RecordStore(Protocol):
    """Reading and writing one conversation: what the editing session and the open record use."""

    def get_conversation(self, conv_id: int) -> Conversation: ...

    def save_conversation(
        self, conv: Conversation, *, actor: str, events: Any = ()
    ) -> Conversation: ...

    def add_review(self, conv_id: int, review: Review) -> Conversation: ...

    def reviews(self, conv_id: int) -> list[Review]: ...

    def resolve_comment(self, conv_id: int, review_id: int, *, actor: str) -> Review: ...

    def reason_codes(self, *, include_retired: bool = False) -> list[ReasonEntry]: ...

    def project_setting(self, key: str, default: Any = None) -> Any: ...

    def add_proposals(self, conv_id: int, items: Sequence[Proposal]) -> list[int]: ...

    def proposals(
        self, conv_id: int, *, turn_index: int | None = None, proposer: str | None = None
    ) -> list[Proposal]: ...

    def history(self, conv_id: int) -> list[HistoryEvent]: ...


class Catalog(RecordStore, Protocol):
    """The database as the app sees it: the record list's pages and counts besides one record,
    the images, and what writing conversations needs. The jobs (import, export, the quality
    report, the sample) take the same object."""

    @property
    def url(self) -> str: ...

    def is_empty(self) -> bool: ...

    def verify(self) -> None: ...

    def page(
        self, query: ListQuery, offset: int = 0, limit: int = 100
    ) -> list[ConversationSummary]: ...

    def count(self, query: ListQuery) -> int: ...

    def flag_counts(self, query: ListQuery | None = None) -> dict[str, int]: ...

    def status_counts(self) -> dict[str, int]: ...

    def images(self, *, path: str | None = None) -> list[ImageSummary]: ...

    def image(self, image_id: int) -> Image: ...

    def image_named(self, img_id: str) -> Image: ...

    def add_images(self, items: Sequence[Image]) -> ImagesAdded: ...

    def add_conversations(
        self,
        convs: Sequence[Conversation],
        *,
        actor: str,
        task: Task | None = None,
        action: str = "import",
        detail: Mapping[str, Any] | None = None,
    ) -> AddResult: ...

    def set_deleted(self, conv_id: int, deleted: bool, *, actor: str) -> Conversation: ...

    def add_reason_code(self, code: str, label: str = "") -> ReasonEntry: ...

    def rename_reason_code(self, code: str, label: str) -> ReasonEntry: ...

    def retire_reason_code(self, code: str, *, retired: bool = True) -> ReasonEntry: ...

    def set_project_setting(self, key: str, value: Any) -> None: ...
