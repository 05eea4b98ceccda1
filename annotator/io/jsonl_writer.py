"""Write conversations as JSON Lines: the project's PRIST-plus record, or MIRAS/LLaVA training form.

One conversation per line, in conversation-id order, UTF-8 with non-ASCII kept as is. The file
appears atomically; a cancelled export leaves no file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from annotator.core.atomic_file import atomic_text
from annotator.core.export_report import ExportIssue, ExportReport
from annotator.core.model import Conversation, Proposal, Review
from annotator.core.progress import Task
from annotator.io.export_order import in_export_order
from annotator.io.record_codec import encode_miras, encode_record

JsonlFormat = Literal["prist", "miras"]


def write_jsonl(
    path: str | Path,
    conversations: Iterable[Conversation],
    *,
    fmt: JsonlFormat = "prist",
    reviews: Mapping[int, Sequence[Review]] | None = None,
    proposals: Mapping[int, Sequence[Proposal]] | None = None,
    task: Task | None = None,
) -> ExportReport:
    """Write ``conversations`` to ``path``.

    ``reviews`` / ``proposals`` map conversation ids to what is stored for them (``prist`` only).
    ``miras`` leaves out conversations it cannot write faithfully (no target mask, ``[SEG]``
    misplaced, ``<image>`` inside a text) and lists them in the report.
    """
    if fmt not in ("prist", "miras"):
        raise ValueError(f"unknown JSONL format {fmt!r}")
    task = task or Task()
    convs = in_export_order(conversations)
    report = ExportReport(path=str(path))
    task.start(len(convs), f"writing {Path(path).name}")
    with atomic_text(path) as fh:
        for conv in convs:
            if fmt == "prist":
                cid = conv.id
                record = encode_record(
                    conv,
                    reviews.get(cid, ()) if reviews and cid is not None else (),
                    proposals.get(cid, ()) if proposals and cid is not None else (),
                )
            else:
                record, why = encode_miras(conv)
                if record is None:
                    report.skipped.append(ExportIssue(conv.id, None, why or "not writable"))
                    task.step()
                    continue
            fh.write(json.dumps(record, ensure_ascii=False, default=str, allow_nan=False))
            fh.write("\n")
            report.records += 1
            report.annotations += (
                len(record["masks"]) if fmt == "miras" else (1 if record["mask"] is not None else 0)
            )
            task.step()
    return report
