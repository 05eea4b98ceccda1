"""Export use cases: conversations streamed from the store into the atomic writers of
``annotator.io``. A failed or cancelled export leaves no file behind (and any earlier file of the
same name as it was)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from annotator.core.export_report import ExportReport
from annotator.core.model import Conversation, Proposal, Review
from annotator.core.progress import Task
from annotator.core.status import Status
from annotator.io.coco_writer import write_coco
from annotator.io.jsonl_writer import write_jsonl
from annotator.io.labelme_writer import write_labelme
from annotator.storage import ListQuery, Store

ExportKind = Literal["coco", "jsonl", "labelme"]


def _selected(store: Store, status: Status | None, task: Task) -> Iterator[Conversation]:
    query = ListQuery(status=status)
    task.start(store.count(query), "exporting")
    for conv in store.iter_conversations(query):
        yield conv
        task.step()


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
    return write_coco(
        out, _selected(store, status, task), categories=categories, polygons=polygons, task=task
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
    convs = list(_selected(store, status, task))
    reviews: dict[int, list[Review]] = {}
    proposals: dict[int, list[Proposal]] = {}
    if fmt == "prist":
        for conv in convs:
            assert conv.id is not None
            reviews[conv.id] = store.reviews(conv.id)
            proposals[conv.id] = store.proposals(conv.id)
    return write_jsonl(out, convs, fmt=fmt, reviews=reviews, proposals=proposals, task=task)


def export_labelme(
    store: Store,
    out_dir: str | Path,
    *,
    status: Status | None = Status.APPROVED,
    task: Task | None = None,
) -> ExportReport:
    task = task or Task()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return write_labelme(out_dir, _selected(store, status, task), task=task)
