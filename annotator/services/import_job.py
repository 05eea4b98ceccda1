"""Import use cases: a file is read and checked whole by ``annotator.io``, then stored in one
transaction, so a refused file or a cancelled import leaves the database as it was."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from annotator.core.errors import NotFoundError
from annotator.core.model import HistoryEvent
from annotator.core.progress import Task
from annotator.io.jsonl_reader import JsonlEntry, read_jsonl
from annotator.io.prist_reader import ReportLine, read_prist
from annotator.storage import Store

IMPORT_ACTOR = "import"


@dataclass(frozen=True)
class ImportSummary:
    file: str
    records: int  # conversations read from the file
    added: int
    skipped: int  # already in the database (same content key)
    flagged: int  # added or skipped records that carry a flag
    report: list[ReportLine] = field(default_factory=list)
    added_ids: list[int] = field(default_factory=list)
    replaced: int = 0  # stored records overwritten from the file (JSONL ``replace_existing``)

    def flags_by_code(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.report:
            counts[str(line.code)] = counts.get(str(line.code), 0) + 1
        return counts


def import_prist(
    store: Store,
    dialogues: str | Path,
    *,
    images_dir: str | Path,
    masks_dir: str | Path | None = None,
    match: str = "exact",
    actor: str = IMPORT_ACTOR,
    task: Task | None = None,
) -> ImportSummary:
    """Import a PRIST dialogue file with its images and LabelMe masks."""
    task = task or Task()
    parsed = read_prist(
        dialogues, images_dir=images_dir, masks_dir=masks_dir, match=match, task=task
    )  # type: ignore[arg-type]
    result = store.add_conversations(parsed.conversations, actor=actor, task=task)
    return ImportSummary(
        file=parsed.file,
        records=len(parsed.conversations),
        added=len(result.added_ids),
        skipped=result.skipped,
        flagged=parsed.flagged,
        report=list(parsed.report),
        added_ids=list(result.added_ids),
    )


def import_jsonl(
    store: Store,
    path: str | Path,
    *,
    images_dir: str | Path | None = None,
    replace_existing: bool = False,
    actor: str = IMPORT_ACTOR,
    task: Task | None = None,
) -> ImportSummary:
    """Import our own JSONL export (``prist`` format): conversations with their masks, status,
    flags, reviews and proposals. Records already stored (same content key) are skipped, unless
    ``replace_existing``: then a record exported from this very database (same id and key, e.g.
    the app's rescue file after a failed save) overwrites the stored texts, masks and status, one
    transaction per record, recorded in its history. The whole file is read and checked first
    (image sizes and hashes against ``images_dir``, detail sizes, turn numbers), so a refused
    file stores nothing."""
    task = task or Task()
    parsed = read_jsonl(path, images_dir=images_dir, task=task)
    result = store.restore_conversations(
        [(e.conversation, e.reviews, e.proposals) for e in parsed.entries], actor=actor, task=task
    )
    replaced = 0
    if replace_existing and result.skipped:
        replaced = _replace_stored(store, parsed.entries, actor)
    return ImportSummary(
        file=parsed.file,
        records=len(parsed.entries),
        added=len(result.added_ids),
        skipped=result.skipped - replaced,
        replaced=replaced,
        flagged=sum(1 for e in parsed.entries if e.conversation.flags),
        report=_flag_report(parsed.entries),
        added_ids=list(result.added_ids),
    )


def _flag_report(entries: Sequence[JsonlEntry]) -> list[ReportLine]:
    """The flags the records carry, one line each, as a PRIST import reports them."""
    return [
        ReportLine(k, e.line, e.conversation.image.path, e.conversation.focus, f.code, f.message)
        for k, e in enumerate(entries)
        for f in e.conversation.flags
    ]


def _replace_stored(store: Store, entries: Sequence[JsonlEntry], actor: str) -> int:
    replaced = 0
    for entry in entries:
        if entry.exported_id is None:
            continue
        try:
            stored = store.get_conversation(entry.exported_id)
        except NotFoundError:
            continue
        if stored.key != entry.conversation.key:
            continue
        rescued = replace(
            entry.conversation, id=stored.id, revision=stored.revision, image=stored.image
        )
        event = HistoryEvent(actor=actor, action="restore", detail={"file": "jsonl"})
        store.save_conversation(rescued, actor=actor, events=[event])
        replaced += 1
    return replaced
