"""SAM clicks in the app: from the click until its candidate is painted on the canvas, on a
camera-sized photo and on the engine benchmark's image size, beside the engine's own time for
the same click (``segment`` + the best mask) and what the naive way adds per click: making
every candidate's full-size mask, and redrawing the whole preview overlay."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

SIZES = ((1024, 768), (4000, 3000))


def run(scratch: Path, clicks: int) -> dict[str, Any]:
    from annotator.proposers.weights_registry import WeightsRegistry

    if not WeightsRegistry().has("mobile-sam"):
        return {"sam_click_skipped": "MobileSAM weights not installed"}
    db, points = _project(scratch)
    return _measure(db, points, clicks)


def _project(scratch: Path) -> tuple[Path, list[tuple[float, float]]]:
    """A database with one record per size: the SAM benchmark's scene (its disc is clicked)."""
    import cv2

    from annotator.bench.sam_bench import interior_point, synthetic_scene
    from annotator.services.import_job import import_prist
    from annotator.storage import open_store

    images = scratch / "sam-click-images"
    images.mkdir(parents=True, exist_ok=True)
    records, points = [], []
    for width, height in SIZES:
        image, shapes = synthetic_scene(width, height)
        name = f"scene-{width}x{height}.png"
        cv2.imwrite(str(images / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        points.append(interior_point(shapes["disc"]))
        turns = [
            {"from": "human", "value": "Which shape is round?"},
            {"from": "gpt", "value": "The purple disc, [SEG]."},
        ]
        records.append({"img_id": name, "dialogue": turns, "focus": "disc"})
    dialogues = scratch / "sam-click-dialogues.json"
    dialogues.write_text(json.dumps(records), encoding="utf-8")
    db = scratch / "sam-click.sqlite3"
    store = open_store(db)
    try:
        import_prist(store, dialogues, images_dir=images)
    finally:
        store.close()
    return db, points


def _measure(db: Path, points: list[tuple[float, float]], clicks: int) -> dict[str, Any]:
    from annotator.app import build_app, segmenter_factory
    from annotator.services.settings import Settings

    parts = build_app(db, offer_sample=False, segmenter=segmenter_factory(Settings(prefetch=0)))
    w = parts.window
    w.resize(1400, 900)
    w.show()
    shown: list[int] = []
    w.editor.candidatesChanged.connect(lambda index, count, score: shown.append(count))

    def wait(condition: Any, timeout_s: float = 300.0) -> None:
        end = time.perf_counter() + timeout_s
        while not condition():
            if time.perf_counter() > end:
                raise RuntimeError(f"timed out; SAM state {w.sam.state}")
            parts.qapp.processEvents()
            time.sleep(0.0005)

    def idle(seconds: float) -> None:
        end = time.perf_counter() + seconds
        wait(lambda: time.perf_counter() >= end)

    out: dict[str, Any] = {}
    try:
        for row, (x, y) in enumerate(points):
            w.select_row(row)
            wait(lambda: w.sam.ready or w.sam.state.startswith("error"))
            if not w.sam.ready:
                raise RuntimeError(w.sam.state)
            idle(2.0)  # the app's own reading ahead finishes first
            w.set_tool("sam")
            gui = []
            for i in range(max(2, clicks) + 2):
                w.editor.sam_clear()  # each click starts a new object: three candidates
                shown.clear()
                started = time.perf_counter()
                w.editor.sam_click(x + i % 3, y, 1)
                wait(lambda: bool(shown) and shown[-1] > 0)
                parts.qapp.processEvents()  # paints what the answer changed
                gui.append((time.perf_counter() - started) * 1000)
                idle(0.15)  # a person looks at the answer before the next click
            gui = gui[2:]  # warm-up
            engine, handle = w.sam.engine, w.sam.handle
            best, every = [], []
            for i in range(max(2, clicks)):
                started = time.perf_counter()
                answer = engine.segment(handle, [(x + i % 3, y)], [1])
                answer.best.mask  # noqa: B018 - materialise the mask
                best.append((time.perf_counter() - started) * 1000)
                answer = engine.segment(handle, [(x + i % 3, y)], [1])
                started = time.perf_counter()
                answer.masks  # noqa: B018 - every candidate at full size
                every.append((time.perf_counter() - started) * 1000)
            h, wd = handle.original_size
            key = f"{wd}x{h}"
            out[f"sam_click_shown_ms_{key}"] = round(statistics.median(gui), 2)
            out[f"sam_engine_click_ms_{key}"] = round(statistics.median(best), 2)
            out[f"sam_all_candidate_masks_ms_{key}"] = round(statistics.median(every), 2)
            out[f"sam_preview_full_redraw_ms_{key}"] = _full_redraw_ms(answer.best.mask)
    finally:
        w.close()
        parts.store.close()
    return out


def _full_redraw_ms(mask: Any) -> float:
    """One redraw of a whole preview overlay of the image's size showing ``mask``."""
    from PySide6.QtGui import QColor

    from annotator.ui.canvas.overlay import RasterOverlayItem, fill_palette, mask_indexer

    h, w = mask.shape
    item = RasterOverlayItem(w, h, fill_palette(QColor("#ffd166"), 0.5))
    times = []
    for _ in range(5):
        started = time.perf_counter()
        item.set_indexer(mask_indexer(mask))
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)
