"""Write conversations as JSON Lines: the project's PRIST-plus record, or MIRAS/LLaVA training form.

One conversation per line, in conversation-id order, UTF-8 with non-ASCII kept as is. The
answers and the target mask come from one source (``mask``, :mod:`annotator.core.export_mask`):
the PRIST record's ``dialogue`` and ``mask`` (its ``turns`` keep the full, labelled state), the
MIRAS form's messages and its one ``[SEG]`` mask. The file appears atomically; a cancelled export
leaves no file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from annotator.core.atomic_file import atomic_text
from annotator.core.export_mask import FINAL, MaskChoice
from annotator.core.export_report import ExportReport
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
    mask: MaskChoice = FINAL,
    reviews: Mapping[int, Sequence[Review]] | None = None,
    proposals: Mapping[int, Sequence[Proposal]] | None = None,
    task: Task | None = None,
) -> ExportReport:
    """Write ``conversations`` to ``path`` with the answers and masks of ``mask``.

    ``reviews`` / ``proposals`` map conversation ids to what is stored for them (``prist``
    writes both; a proposal source reads ``proposals`` in either form). ``prist`` writes every
    conversation given (an answer the source lacks is ``null``: a caller that must not write
    such records leaves them out first, as :mod:`annotator.services.export_job` does); ``miras``
    leaves out those it cannot write faithfully (no target mask or answer in the source,
    ``[SEG]`` misplaced, ``<image>`` inside a text) and lists them in the report.
    """
    if fmt not in ("prist", "miras"):
        raise ValueError(f"unknown JSONL format {fmt!r}")
    task = task or Task()
    convs = in_export_order(conversations)
    report = ExportReport(path=str(path), mask=str(mask), matched=len(convs))
    task.start(len(convs), f"writing {Path(path).name}")
    with atomic_text(path) as fh:
        for conv in convs:
            cid = conv.id
            stored = proposals.get(cid, ()) if proposals and cid is not None else ()
            record: dict[str, Any] | None
            if fmt == "prist":
                judged = reviews.get(cid, ()) if reviews and cid is not None else ()
                record = encode_record(conv, judged, stored, mask=mask)
                masks = 0 if record["mask"] is None else 1
            else:
                record, issue = encode_miras(conv, mask=mask, proposals=stored)
                if record is None:
                    assert issue is not None
                    report.skipped.append(issue)
                    task.step()
                    continue
                masks = len(record["masks"])
            fh.write(json.dumps(record, ensure_ascii=False, default=str, allow_nan=False))
            fh.write("\n")
            report.records += 1
            report.written += 1
            report.annotations += masks
            task.step()
    return report
