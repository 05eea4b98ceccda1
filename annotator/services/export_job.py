"""Export use cases: conversations streamed from the store into the atomic writers of
``annotator.io``, with the masks and answers of one source (``mask``: final by default, draft, or
a proposal; :mod:`annotator.core.export_mask`). A conversation that lacks what that source and
the format need is left out and counted with its reason (:mod:`annotator.core.export_gate`);
nothing is filled in from another source. A failed or cancelled export leaves no file behind
(and any earlier file of the same name as it was)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from annotator.core import export_gate
from annotator.core.export_mask import FINAL, MaskChoice
from annotator.core.export_report import ExportReport
from annotator.core.progress import Task
from annotator.core.status import Status
from annotator.io.coco_writer import write_coco
from annotator.io.jsonl_writer import write_jsonl
from annotator.io.labelme_writer import write_labelme
from annotator.services.export_selection import ExportSelection
from annotator.storage import Store

ExportKind = Literal["coco", "jsonl", "labelme"]


def export_coco(
    store: Store,
    out: str | Path,
    *,
    status: Status | None = Status.APPROVED,
    mask: MaskChoice = FINAL,
    categories: Literal["focus", "single"] = "focus",
    polygons: bool = False,
    task: Task | None = None,
) -> ExportReport:
    task = task or Task()
    selection = ExportSelection(store, status, mask, export_gate.COCO, task)
    convs = selection.take()
    return selection.report(
        write_coco(
            out,
            convs,
            mask=mask,
            proposals=selection.proposals,
            categories=categories,
            polygons=polygons,
            task=task,
        )
    )


def export_jsonl(
    store: Store,
    out: str | Path,
    *,
    fmt: Literal["prist", "miras"] = "prist",
    status: Status | None = Status.APPROVED,
    mask: MaskChoice = FINAL,
    task: Task | None = None,
) -> ExportReport:
    task = task or Task()
    needs = export_gate.MIRAS if fmt == "miras" else export_gate.JSONL
    selection = ExportSelection(store, status, mask, needs, task, keep_stored=fmt == "prist")
    convs = selection.take()
    return selection.report(
        write_jsonl(
            out,
            convs,
            fmt=fmt,
            mask=mask,
            reviews=selection.reviews if fmt == "prist" else None,
            proposals=selection.proposals,
            task=task,
        )
    )


def export_labelme(
    store: Store,
    out_dir: str | Path,
    *,
    status: Status | None = Status.APPROVED,
    mask: MaskChoice = FINAL,
    task: Task | None = None,
) -> ExportReport:
    task = task or Task()
    selection = ExportSelection(store, status, mask, export_gate.LABELME, task)
    convs = selection.take()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return selection.report(
        write_labelme(out_dir, convs, mask=mask, proposals=selection.proposals, task=task)
    )
