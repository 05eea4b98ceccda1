"""Export use cases: conversations streamed from the store into the atomic writers of
``annotator.io``. A failed or cancelled export leaves no file behind (and any earlier file of the
same name as it was)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from annotator.core.export_report import ExportIssue, ExportReport
from annotator.core.model import Conversation, Proposal, Review
from annotator.core.prist_rules import check_conversation
from annotator.core.progress import Task
from annotator.core.status import Status
from annotator.io.coco_writer import write_coco
from annotator.io.jsonl_writer import write_jsonl
from annotator.io.labelme_writer import write_labelme
from annotator.storage import ListQuery, Store

ExportKind = Literal["coco", "jsonl", "labelme"]


class _Selection:
    """The conversations an export takes: those of ``status`` that keep the PRIST rules; the
    others are listed (``refused``) and left out, rather than written as if they were data."""

    def __init__(self, store: Store, status: Status | None, task: Task) -> None:
        self._store = store
        self._query = ListQuery(status=status)
        self._task = task
        self.refused: list[ExportIssue] = []

    def __iter__(self) -> Iterator[Conversation]:
        self._task.start(self._store.count(self._query), "exporting")
        for conv in self._store.iter_conversations(self._query):
            breaches = check_conversation(conv)
            if breaches:
                first = breaches[0]
                self.refused.append(ExportIssue(conv.id, first.turn, str(first)))
            else:
                yield conv
            self._task.step()

    def report(self, written: ExportReport) -> ExportReport:
        written.skipped.extend(self.refused)
        return written


def export_coco(
    store: Store,
    out: str | Path,
    *,
    status: Status | None = Status.APPROVED,
    categories: Literal["focus", "single"] = "focus",
    polygons: bool = False,
    task: Task | None = None,
) -> ExportReport:
    task = task or Task()
    selection = _Selection(store, status, task)
    return selection.report(
        write_coco(out, selection, categories=categories, polygons=polygons, task=task)
    )


def export_jsonl(
    store: Store,
    out: str | Path,
    *,
    fmt: Literal["prist", "miras"] = "prist",
    status: Status | None = Status.APPROVED,
    task: Task | None = None,
) -> ExportReport:
    task = task or Task()
    selection = _Selection(store, status, task)
    convs = list(selection)
    reviews: dict[int, list[Review]] = {}
    proposals: dict[int, list[Proposal]] = {}
    if fmt == "prist":
        for conv in convs:
            assert conv.id is not None
            reviews[conv.id] = store.reviews(conv.id)
            proposals[conv.id] = store.proposals(conv.id)
    return selection.report(
        write_jsonl(out, convs, fmt=fmt, reviews=reviews, proposals=proposals, task=task)
    )


def export_labelme(
    store: Store,
    out_dir: str | Path,
    *,
    status: Status | None = Status.APPROVED,
    task: Task | None = None,
) -> ExportReport:
    task = task or Task()
    selection = _Selection(store, status, task)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return selection.report(write_labelme(out_dir, selection, task=task))
