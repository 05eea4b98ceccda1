"""What ``annotator self-test`` does: checks an installation (the pip install, the desktop
bundle) the way a person first uses it, offscreen: the app opens the sample project, one SAM
click on each sample image takes the target's mask, and the records are exported to JSON lines
and read back. SAM is also clicked inside each shape of ``annotator bench sam``'s scene. It
reports what it saw, the masks as RLE, so that two installations compare."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

WAIT_S = 300.0  # the first SAM load can export and check graphs (minutes on a slow machine)
BENCH_SHAPE_MIN_IOU = 0.9  # MobileSAM finds each clean shape of the bench scene at 0.95 or more


def run_self_test(workdir: Path) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from annotator.app import build_app, segmenter_factory
    from annotator.core.model import MaskLayer
    from annotator.services.install_check import export_and_read_back, sample_database
    from annotator.services.settings import Settings

    db = sample_database(workdir)
    settings = Settings(prefetch=0)
    parts = build_app(
        db, offer_sample=False, segmenter=segmenter_factory(settings), settings=settings
    )
    w = parts.window
    facts: dict[str, Any] = {}
    try:
        w.resize(1400, 900)
        w.show()
        parts.qapp.processEvents()
        facts["window_shown_epoch_s"] = time.time()
        facts["records"] = w.model.rowCount()
        wait = _waiter(parts.qapp.processEvents)
        clicks = []
        seen: set[str] = set()
        for row in range(w.model.rowCount()):
            summary = w.model.summary(row)
            if summary is None or summary.image_path in seen:
                continue  # one click per image
            seen.add(summary.image_path)
            w.select_row(row)
            wait(lambda: w.sam.ready or w.sam.state.startswith("error"), "the SAM model")
            if not w.sam.ready:
                raise RuntimeError(f"SAM: {w.sam.state}")
            doc = w.session.document
            target = doc.target_turn
            draft = doc.layer_array((target, MaskLayer.DRAFT))
            x, y = _inside(draft)
            w.set_tool("sam")
            w.editor.sam_click(x, y, 1)
            wait(lambda: w.editor.candidates is not None, "SAM's answer")
            w.editor.sam_accept(False)
            final = doc.layer_array((target, MaskLayer.FINAL))
            inter = int(np.count_nonzero(final & draft))
            union = int(np.count_nonzero(final | draft))
            stored = parts.store.get_conversation(doc.id).turns[target].layer(MaskLayer.FINAL)
            clicks.append(
                {
                    "record": doc.id,
                    "image": summary.image_path,
                    "click": [x, y],
                    "pixels": int(np.count_nonzero(final)),
                    "iou_with_draft": round(inter / union, 4) if union else None,
                    "rle": stored[0].mask.counts.decode("ascii") if stored else "",
                }
            )
        facts["sam_clicks"] = clicks
        facts["sam_runtime"] = str(getattr(w.sam.engine, "runtime_note", ""))
        facts["bench_shapes"] = _bench_shape_clicks(w.sam.engine)
        facts["export"] = export_and_read_back(parts.store, workdir / "self-test.jsonl")
    finally:
        w.close()
        parts.store.close()
    return facts


def problems(facts: dict[str, Any]) -> list[str]:
    """What a working installation would not have shown."""
    out = []
    if facts["records"] < 1:
        out.append("the app listed no record of the sample")
    if not facts["sam_clicks"]:
        out.append("no SAM click was made")
    out += [
        f"the click on {c['image']} made an empty mask"
        for c in facts["sam_clicks"]
        if not c["pixels"] or not c["rle"]
    ]
    out += [
        f"the click inside the bench's {c['shape']} found it with IoU {c['iou_with_shape']}"
        for c in facts.get("bench_shapes", [])
        if c["iou_with_shape"] < BENCH_SHAPE_MIN_IOU
    ]
    export = facts["export"]
    if not export["records"] == export["read_back"] == facts["records"]:
        out.append(
            f"{facts['records']} records, {export['records']} exported, "
            f"{export['read_back']} read back"
        )
    return out


def _bench_shape_clicks(engine: Any) -> list[dict[str, Any]]:
    """One positive click deep inside each shape of the SAM bench's scene: the best mask, how
    well it covers the shape, and its RLE."""
    from annotator.bench.sam_bench import interior_point, synthetic_scene
    from annotator.core.mask import Mask
    from annotator.core.metrics import iou

    image, shapes = synthetic_scene()
    handle = engine.prepare(image, "self-test-bench-scene")
    out = []
    for name, shape in shapes.items():
        mask = engine.segment(handle, [interior_point(shape)], [1]).best.mask
        out.append(
            {
                "shape": name,
                "iou_with_shape": round(iou(mask, shape), 4),
                "rle": Mask.from_array(mask).counts.decode("ascii"),
            }
        )
    return out


def _waiter(pump: Callable[[], object]) -> Callable[[Callable[[], bool], str], None]:
    def wait(condition: Callable[[], bool], what: str) -> None:
        end = time.monotonic() + WAIT_S
        while not condition():
            if time.monotonic() > end:
                raise RuntimeError(f"self-test: waited {WAIT_S:.0f} s for {what}")
            pump()
            time.sleep(0.005)

    return wait


def _inside(mask: np.ndarray) -> tuple[float, float]:
    """The pixel deepest inside ``mask`` (farthest from its edge): a click there is on the
    object whatever its shape."""
    import cv2

    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return float(x), float(y)
