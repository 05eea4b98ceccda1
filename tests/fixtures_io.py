"""Builders for io tests: small real image files, LabelMe files, and a full workspace around the
real PRIST test split with every kind of flagged record planted in it."""

from __future__ import annotations

import contextlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.core.model import FlagCode

# The released PRIST test split, kept in the repository (tests/data/prist/README.md).
PRIST_TEST = Path(__file__).resolve().parent / "data" / "prist" / "test.json"


def image_bytes(
    w: int, h: int, fmt: str = "JPEG", seed: int = 0, exif_orientation: int | None = None
) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    img = PILImage.fromarray(arr, "RGB")
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {}
    if exif_orientation is not None:
        exif = PILImage.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_image(
    path: Path,
    w: int,
    h: int,
    fmt: str = "JPEG",
    seed: int = 0,
    exif_orientation: int | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(w, h, fmt, seed, exif_orientation))
    return path


def shape(
    label: str, points: list[list[float]], shape_type: str | None = "polygon"
) -> dict[str, Any]:
    s: dict[str, Any] = {"label": label, "points": points, "group_id": None, "flags": {}}
    if shape_type is not None:
        s["shape_type"] = shape_type
    return s


def write_labelme(
    path: Path, w: int, h: int, shapes: list[dict[str, Any]], *, image_path: str = ""
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": "5.4.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": h,
        "imageWidth": w,
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def rect_mask(h: int, w: int, x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """A filled rectangle the way the loader's rule rasterises its four corners."""
    out = np.zeros((h, w), dtype=bool)
    xa, xb = sorted((int(x1), int(x2)))
    ya, yb = sorted((int(y1), int(y2)))
    out[max(ya, 0) : yb + 1, max(xa, 0) : xb + 1] = True
    return out


@dataclass
class PristWorkspace:
    root: Path
    json_path: Path
    images_dir: Path
    masks_dir: Path
    records: list[dict[str, Any]]
    sizes: dict[str, tuple[int, int]]  # img_id -> (w, h) as the image is seen (after EXIF)
    expected: dict[int, set[FlagCode]] = field(default_factory=dict)  # exact matching
    expected_substring: dict[int, set[FlagCode]] = field(default_factory=dict)
    shapes_of: dict[int, dict[str, Any]] = field(default_factory=dict)  # record -> its shape
    special: dict[str, str] = field(default_factory=dict)  # role -> img_id


def _substring_groups(recs: list[tuple[int, str]]) -> set[int]:
    """Records whose focus is a proper substring (case-insensitive) of another focus there."""
    out = set()
    for i, f in recs:
        for j, g in recs:
            if i != j and f.lower() in g.lower() and f.lower() != g.lower():
                out.add(i)
    return out


def build_prist_workspace(root: Path, json_path: Path = PRIST_TEST) -> PristWorkspace:
    """Images and LabelMe files for every img_id of a PRIST file, with planted problems."""
    records = json.loads(json_path.read_text(encoding="utf-8"))
    images_dir = root / "images"
    masks_dir = root / "masks"
    by_image: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for i, r in enumerate(records):
        by_image[r["img_id"]].append((i, r["focus"]))
    order = list(by_image)
    tricky = {
        img
        for img, recs in by_image.items()
        if _substring_groups(recs) or len({f for _, f in recs}) < len(recs)
    }
    plain = [img for img in order if img not in tricky]
    roles = [
        "missing_image",
        "missing_masks",
        "size_mismatch",
        "no_match",
        "degenerate",
        "outside",
        "wrong_format",
        "exif_rotated",
    ]
    special = {role: plain[3 + 2 * k] for k, role in enumerate(roles)}
    role_of = {img: role for role, img in special.items()}
    ws = PristWorkspace(root, json_path, images_dir, masks_dir, records, {}, special=special)

    for n, img_id in enumerate(order):
        role = role_of.get(img_id)
        w, h = 48 + (n * 7) % 40, 40 + (n * 11) % 36
        ws.sizes[img_id] = (w, h)
        recs = by_image[img_id]
        image_path = images_dir / img_id
        if role == "wrong_format":
            write_image(image_path, w, h, fmt="PNG", seed=n)  # a PNG named .jpg
        elif role == "exif_rotated":
            # Stored sideways (h x w) with orientation 6: seen upright as w x h.
            write_image(image_path, h, w, seed=n, exif_orientation=6)
        elif role != "missing_image":
            write_image(image_path, w, h, seed=n)
        shapes: list[dict[str, Any]] = []
        for k, (i, focus) in enumerate(recs):
            kind = i % 5
            label = focus if i % 7 != 3 else f"  {focus.upper()} "
            x0, y0 = 2 + (k * 9) % max(1, w // 2), 2 + (k * 5) % max(1, h // 2)
            if kind == 1:
                s = shape(label, [[x0 + 0.6, y0 + 0.4], [x0 + 14.7, y0 + 11.2]], "rectangle")
            elif kind == 2:
                s = shape(label, [[x0 + 8.0, y0 + 8.0], [x0 + 8.0, y0 + 14.0]], "circle")
            elif kind == 3:
                s = shape(label, [[x0, y0], [x0 + 16, y0 + 2], [x0 + 8, y0 + 15]], None)
            else:
                s = shape(label, [[x0, y0], [x0 + 12, y0], [x0 + 15, y0 + 9], [x0 + 3, y0 + 13]])
            if k == 0 and role == "no_match":
                s["label"] = "something unrelated"
            if k == 0 and role == "degenerate":
                s = shape(focus, [[x0, y0], [x0 + 10, y0 + 10]])  # a two-point polygon
            if k == 0 and role == "outside":
                s = shape(focus, [[-30, -30], [-10, -30], [-20, -5]])
            shapes.append(s)
            ws.shapes_of[i] = s
            codes: set[FlagCode] = set()
            if role == "missing_image":
                codes.add(FlagCode.MISSING_IMAGE)
            if role == "wrong_format":
                codes.add(FlagCode.BAD_IMAGE)
            if role == "missing_masks":
                codes.add(FlagCode.MISSING_MASKS)
            if role == "size_mismatch":
                codes.add(FlagCode.SIZE_MISMATCH)
            if k == 0 and role == "no_match":
                codes.add(FlagCode.NO_MATCH)
            if k == 0 and role == "degenerate":
                codes |= {FlagCode.DEGENERATE_POLYGON, FlagCode.EMPTY_MASK}
            if k == 0 and role == "outside":
                codes.add(FlagCode.EMPTY_MASK)
            ws.expected[i] = set(codes)
            ws.expected_substring[i] = set(codes) - {FlagCode.EMPTY_MASK}
            if k == 0 and role == "degenerate":
                # the loader's rule fills the two-point "polygon" as a line: not empty
                ws.expected_substring[i] = {FlagCode.DEGENERATE_POLYGON}
            if k == 0 and role == "outside":
                ws.expected_substring[i] = {FlagCode.EMPTY_MASK}
        for i in _substring_groups(recs):
            ws.expected[i].add(FlagCode.AMBIGUOUS_MATCH)
            ws.expected_substring[i].add(FlagCode.AMBIGUOUS_MATCH)
        if role == "missing_masks":
            continue
        lw, lh = (w, h + 10) if role == "size_mismatch" else (w, h)
        write_labelme(masks_dir / (Path(img_id).stem + ".json"), lw, lh, shapes, image_path=img_id)
    return ws


def ring_mask(h: int, w: int, cx: int, cy: int, r_out: int, r_in: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    d2 = (xx - cx) ** 2 + (yy - cy) ** 2
    return (d2 <= r_out**2) & (d2 > r_in**2)


def finalize(conversations: list, seed: int = 0) -> list:
    """Give imported conversations ids (in shuffled order), verified answers on some turns, and
    FINAL masks: the draft mask with a ring-shaped hole-bearing mask added on some first turns."""
    from dataclasses import replace

    from annotator.core.mask import Mask
    from annotator.core.model import MaskAnnotation, MaskLayer, MaskSource, Provenance
    from annotator.core.status import Status

    rng = np.random.default_rng(seed)
    ids = rng.permutation(len(conversations)) + 1
    out = []
    for conv, cid in zip(conversations, ids.tolist(), strict=True):
        turns = list(conv.turns)
        h, w = conv.image.height, conv.image.width
        drafts = turns[-1].masks
        if drafts:
            final = MaskAnnotation(
                drafts[0].mask,
                MaskLayer.FINAL,
                Provenance(MaskSource.HUMAN, author="rev", detail={"strokes": int(cid % 5)}),
                label=conv.focus,
            )
            turns[-1] = replace(
                turns[-1], masks=(*drafts, final), final_answer=turns[-1].draft_answer
            )
        if cid % 4 == 0 and h >= 20 and w >= 20:
            ring = Mask.from_array(ring_mask(h, w, w // 2, h // 2, min(h, w) // 2 - 1, 3))
            first = MaskAnnotation(ring, MaskLayer.FINAL, Provenance(MaskSource.SAM, author="rev"))
            turns[0] = replace(
                turns[0], masks=(first,), final_answer=turns[0].draft_answer + " (checked)"
            )
        status = Status.APPROVED if drafts and cid % 3 else Status.IN_REVIEW
        out.append(replace(conv, id=int(cid), turns=tuple(turns), status=status))
    return out


def quiet_coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def ap_against_itself(gt: COCO) -> float:
    """COCOeval of the file's annotations as detections (score 1.0) against themselves."""
    results = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "segmentation": gt.annToRLE(a),
            "score": 1.0,
        }
        for a in gt.dataset["annotations"]
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])
