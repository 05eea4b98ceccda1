"""Write masks as a COCO instance-segmentation file.

The masks come from one source (``mask``: final, draft or a proposal, see
:mod:`annotator.core.export_mask`); no other source fills in for it. Every turn's masks in that
source are written, each as one annotation carrying ``conversation_id`` and ``turn_index`` next
to the usual COCO fields; a conversation with none is left out with its reason. COCO holds no
text, so answers are not needed here. Segmentation is RLE with string counts, or, with
``polygons=True``, pixel-edge polygons whose fidelity (IoU of the polygons rasterised back by
pycocotools against the mask) is reported per annotation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pycocotools import mask as mask_utils

from annotator import __version__
from annotator.core.atomic_file import atomic_text
from annotator.core.export_gate import MASK_SIZE, missing_mask_reason
from annotator.core.export_mask import FINAL, MaskChoice, content_of
from annotator.core.export_report import ExportIssue, ExportReport, PolygonFidelity
from annotator.core.mask import Mask
from annotator.core.model import Conversation, Proposal
from annotator.core.progress import Task
from annotator.io.export_order import in_export_order
from annotator.io.mask_outline import outline_polygons

CategoryMode = Literal["focus", "single"]
SINGLE_CATEGORY = "target"


def polygon_segmentation(mask: Mask) -> tuple[list[list[int]], int]:
    """COCO polygons of ``mask`` (pixel-edge outlines) and how many parts were dropped."""
    segs: list[list[int]] = []
    dropped = 0
    for outline in outline_polygons(mask.to_array()):
        if len(outline) < 3:
            dropped += 1
            continue
        segs.append([int(v) for v in outline.reshape(-1)])
    return segs, dropped


def polygon_iou(segs: list[list[int]], mask: Mask) -> float:
    """IoU between ``segs`` rasterised the way pycocotools does and ``mask``."""
    if not segs:
        return 1.0 if mask.is_empty else 0.0
    rles = mask_utils.frPyObjects([[float(v) for v in s] for s in segs], mask.height, mask.width)
    merged = mask_utils.merge(rles)
    return float(mask_utils.iou([merged], [mask.rle()], [0])[0][0])


def _image_key(conv: Conversation) -> tuple[Any, ...]:
    img = conv.image
    return ("id", img.id) if img.id is not None else ("path", img.root, img.path)


def write_coco(
    path: str | Path,
    conversations: Iterable[Conversation],
    *,
    mask: MaskChoice = FINAL,
    proposals: Mapping[int, Sequence[Proposal]] | None = None,
    categories: CategoryMode = "focus",
    polygons: bool = False,
    task: Task | None = None,
) -> ExportReport:
    """Write the ``mask`` source's masks of ``conversations`` to a COCO JSON file at ``path``.
    ``proposals`` maps conversation ids to their stored proposals (read for a proposal source)."""
    if categories not in ("focus", "single"):
        raise ValueError(f"unknown category mode {categories!r}")
    task = task or Task()
    convs = in_export_order(conversations)
    report = ExportReport(path=str(path), mask=str(mask), matched=len(convs))
    images: list[dict[str, Any]] = []
    image_ids: dict[tuple[Any, ...], int] = {}
    cats: list[dict[str, Any]] = []
    cat_ids: dict[str, int] = {}
    anns: list[dict[str, Any]] = []
    if categories == "single":
        cats.append({"id": 1, "name": SINGLE_CATEGORY, "supercategory": "object"})
        cat_ids[SINGLE_CATEGORY] = 1
    task.start(len(convs), f"writing {Path(path).name}")
    for conv in convs:
        stored = proposals.get(conv.id, ()) if proposals and conv.id is not None else ()
        content = content_of(conv, mask, stored)
        written_before = len(anns)
        misfits: list[ExportIssue] = []
        for turn in content.turns:
            if turn.misfits:
                misfits.append(
                    ExportIssue(
                        conv.id,
                        turn.index,
                        MASK_SIZE,
                        f"{turn.misfits} {mask.noun}(s) of turn {turn.index + 1} do not fit "
                        f"the image {conv.image.width}x{conv.image.height}",
                    )
                )
            for m in turn.masks:
                key = _image_key(conv)
                if key not in image_ids:
                    image_ids[key] = len(images) + 1
                    images.append(
                        {
                            "id": image_ids[key],
                            "file_name": conv.image.path,
                            "width": conv.image.width,
                            "height": conv.image.height,
                            "sha256": conv.image.sha256,
                        }
                    )
                name = conv.focus if categories == "focus" else SINGLE_CATEGORY
                if name not in cat_ids:
                    cat_ids[name] = len(cats) + 1
                    cats.append({"id": cat_ids[name], "name": name, "supercategory": "focus"})
                if polygons:
                    segs, dropped = polygon_segmentation(m)
                    segmentation: Any = segs
                    report.fidelity.append(
                        PolygonFidelity(
                            conv.id, turn.index, polygon_iou(segs, m), len(segs), dropped
                        )
                    )
                else:
                    segmentation = m.to_rle()
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": image_ids[key],
                        "category_id": cat_ids[name],
                        "segmentation": segmentation,
                        "area": float(m.area),
                        "bbox": [float(v) for v in m.bbox],
                        "iscrowd": 0,
                        "conversation_id": conv.id,
                        "turn_index": turn.index,
                    }
                )
        if len(anns) > written_before:
            report.written += 1
            report.notes.extend(misfits)
        elif misfits:
            report.skipped.append(misfits[-1])
        else:
            report.skipped.append(
                ExportIssue(
                    conv.id,
                    content.target.index,
                    missing_mask_reason(content),
                    f"no {mask.noun} to write",
                )
            )
        task.step()
    data = {
        "info": {
            "description": "PRIST Annotator export",
            "version": __version__,
            "mask_source": str(mask),  # which masks these are (core.export_mask)
        },
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": cats,
    }
    with atomic_text(path) as fh:
        json.dump(data, fh, ensure_ascii=False, allow_nan=False)
    report.records = len(images)
    report.annotations = len(anns)
    return report
