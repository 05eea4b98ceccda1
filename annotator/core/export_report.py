"""What an export wrote, what it left out and why, and how faithful polygon output is."""

from __future__ import annotations

from dataclasses import dataclass, field

LOSSY_IOU = 0.99  # polygons that re-rasterise below this IoU with their mask are reported


@dataclass(frozen=True)
class ExportIssue:
    """A conversation or turn left out of (or changed in) an export."""

    conversation_id: int | None
    turn_index: int | None
    message: str


@dataclass(frozen=True)
class PolygonFidelity:
    """How well the written polygons of one mask reproduce it when rasterised back."""

    conversation_id: int | None
    turn_index: int
    iou: float
    parts: int  # polygons written
    parts_dropped: int  # mask parts that could not be written as a polygon

    @property
    def lossy(self) -> bool:
        return self.iou < LOSSY_IOU or self.parts_dropped > 0


@dataclass
class ExportReport:
    path: str
    records: int = 0  # conversations (JSONL), images (COCO), files (LabelMe) written
    annotations: int = 0  # masks written
    skipped: list[ExportIssue] = field(default_factory=list)
    fidelity: list[PolygonFidelity] = field(default_factory=list)

    @property
    def lossy(self) -> list[PolygonFidelity]:
        return [f for f in self.fidelity if f.lossy]
