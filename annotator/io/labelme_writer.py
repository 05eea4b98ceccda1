"""Write masks as LabelMe files that the PRIST loader reads back to the same pixels.

One file per image (``<img stem>.json`` under the output directory, mirroring the image's
sub-folders); every conversation on that image adds the target turn's mask of one source
(``mask``: final, draft or a proposal, :mod:`annotator.core.export_mask`; a conversation without
one is left out with its reason, never filled in from another source) as shapes labelled with
its focus. LabelMe holds no answers, so none are needed. Outlines
come from :meth:`Mask.polygons` with holes joined by keyhole cuts. Fidelity is measured the way
the file will be used: the loader's rule (every shape whose label contains the focus, filled
with int32 truncation, union) is applied to the finished file and compared with the mask, so
lossy outlines and foci that collide with another label on the same image are both reported.
All files appear together when the export finishes; a cancelled export leaves none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from annotator.core.atomic_file import StagedFiles
from annotator.core.export_gate import MASK_SIZE, missing_mask_reason
from annotator.core.export_mask import FINAL, MaskChoice, content_of
from annotator.core.export_report import ExportIssue, ExportReport, PolygonFidelity
from annotator.core.mask import Mask, Polygon
from annotator.core.model import Conversation, Proposal
from annotator.core.progress import Task
from annotator.io.export_order import in_export_order
from annotator.io.paths import confine

LABELME_VERSION = "5.4.1"


@dataclass
class _File:
    height: int
    width: int
    image_name: str
    shapes: list[tuple[str, Polygon]] = field(default_factory=list)
    members: list[tuple[Conversation, Mask]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "version": LABELME_VERSION,
            "flags": {},
            "shapes": [
                {
                    "label": label,
                    "points": [[float(x), float(y)] for x, y in poly.tolist()],
                    "group_id": None,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                }
                for label, poly in self.shapes
            ],
            "imagePath": self.image_name,
            "imageData": None,
            "imageHeight": self.height,
            "imageWidth": self.width,
        }


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return 1.0 if union == 0 else int(np.count_nonzero(a & b)) / union


def loader_mask(shapes: list[tuple[str, Polygon]], focus: str, height: int, width: int) -> Mask:
    """What the PRIST loader draws for ``focus`` from these shapes."""
    hits = [poly for label, poly in shapes if focus.lower() in label.lower()]
    return Mask.from_polygons(hits, height, width)


def write_labelme(
    out_dir: str | Path,
    conversations: Iterable[Conversation],
    *,
    mask: MaskChoice = FINAL,
    proposals: Mapping[int, Sequence[Proposal]] | None = None,
    task: Task | None = None,
) -> ExportReport:
    """Write one LabelMe file per image for the target mask of each conversation in the
    ``mask`` source (``proposals``: conversation id -> stored proposals, for a proposal source).
    Returns a report with per-mask fidelity; conversations without such a mask are skipped."""
    task = task or Task()
    root = Path(out_dir)
    convs = in_export_order(conversations)
    report = ExportReport(path=str(root), mask=str(mask), matched=len(convs))
    files: dict[str, _File] = {}
    task.start(len(convs) + 1, f"writing LabelMe files to {root}")
    for conv in convs:
        stored = proposals.get(conv.id, ()) if proposals and conv.id is not None else ()
        content = content_of(conv, mask, stored)
        target = content.target_mask
        if target is None:
            reason = MASK_SIZE if content.target.misfits else missing_mask_reason(content)
            report.skipped.append(
                ExportIssue(
                    conv.id, content.target.index, reason, f"the target turn has no {mask.noun}"
                )
            )
            task.step()
            continue
        rel = str(PurePosixPath(conv.image.path).with_suffix(".json"))
        f = files.setdefault(rel, _File(target.height, target.width, PurePosixPath(rel).name))
        f.image_name = PurePosixPath(conv.image.path).name
        if (f.height, f.width) != target.size:
            report.skipped.append(
                ExportIssue(
                    conv.id,
                    content.target.index,
                    "size_clash",
                    f"mask size differs from other masks of {rel}",
                )
            )
            task.step()
            continue
        f.shapes.extend((conv.focus, poly) for poly in target.polygons(keep_holes=True))
        f.members.append((conv, target))
        report.written += 1
        task.step()
    for f in files.values():
        for conv, mask in f.members:
            redrawn = loader_mask(f.shapes, conv.focus, f.height, f.width)
            iou = _iou(redrawn.to_array(), mask.to_array())
            parts = sum(1 for label, _ in f.shapes if label == conv.focus)
            report.fidelity.append(PolygonFidelity(conv.id, len(conv.turns) - 1, iou, parts, 0))
            report.annotations += 1
    root.mkdir(parents=True, exist_ok=True)
    staged = StagedFiles()
    try:
        for rel, f in files.items():
            target = confine(root, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.write_text(target, json.dumps(f.document(), ensure_ascii=False, indent=2))
            task.check()
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    task.step()
    report.records = len(files)
    return report
