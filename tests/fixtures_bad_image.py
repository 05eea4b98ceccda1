"""A small PRIST workspace from the real test split where the images of some records are there
but broken (truncated, text named .jpg, zero bytes) and one is not there at all."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixtures_io import PRIST_TEST, image_bytes, shape, write_labelme

# Role of each image, in the order of the split's first distinct images.
ROLES = ("good", "truncated", "text", "empty", "missing")
BROKEN = ("truncated", "text", "empty")


@dataclass
class BadImageWorkspace:
    json_path: Path
    images_dir: Path
    masks_dir: Path
    records: list[dict[str, Any]]
    img_of: dict[str, str] = field(default_factory=dict)  # role -> img_id
    size_of: dict[str, tuple[int, int]] = field(default_factory=dict)  # img_id -> (w, h)

    def path(self, role: str) -> Path:
        return self.images_dir / self.img_of[role]

    def write_good(self, role: str) -> None:
        """Put a proper image (of the size the LabelMe file says) where ``role``'s image is."""
        w, h = self.size_of[self.img_of[role]]
        self.path(role).write_bytes(image_bytes(w, h, seed=7))


def build_bad_image_workspace(root: Path) -> BadImageWorkspace:
    """One real PRIST record per role, each with its image and a LabelMe file whose polygon is
    labelled with the record's focus; then the broken images are broken and one is removed."""
    chosen: dict[str, dict[str, Any]] = {}
    for rec in json.loads(PRIST_TEST.read_text(encoding="utf-8")):
        chosen.setdefault(rec["img_id"], rec)
        if len(chosen) == len(ROLES):
            break
    records = list(chosen.values())
    ws = BadImageWorkspace(root / "test.json", root / "images", root / "masks", records)
    ws.images_dir.mkdir(parents=True)
    ws.masks_dir.mkdir(parents=True)
    ws.json_path.write_text(json.dumps(records, indent=4, ensure_ascii=False), encoding="utf-8")
    for n, (role, rec) in enumerate(zip(ROLES, records, strict=True)):
        img_id = rec["img_id"]
        w, h = 64 + 8 * n, 48 + 4 * n
        ws.img_of[role] = img_id
        ws.size_of[img_id] = (w, h)
        data = image_bytes(w, h, seed=n)
        poly = [[4, 4], [w - 6, 5], [w // 2, h - 4]]
        write_labelme(
            ws.masks_dir / (Path(img_id).stem + ".json"), w, h, [shape(rec["focus"], poly)]
        )
        path = ws.images_dir / img_id
        if role == "good":
            path.write_bytes(data)
        elif role == "truncated":
            path.write_bytes(data[: len(data) // 2])  # the header is intact, the data is not
        elif role == "text":
            path.write_text("404 Not Found\nThe requested URL was not found.\n", encoding="utf-8")
        elif role == "empty":
            path.write_bytes(b"")
    return ws
