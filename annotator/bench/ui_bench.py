"""Desktop app responsiveness: brush segment to overlay update, record switch, start-up time."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

STARTUP_SCRIPT = """
import os, sys, time
t0 = float(sys.argv[2])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from annotator.app import build_app
parts = build_app(sys.argv[1], offer_sample=False)
parts.window.show()
parts.qapp.processEvents()
print(time.time() - t0, "torch" in sys.modules)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--segments", type=int, default=200, help="brush segments to time")
    parser.add_argument("--switches", type=int, default=20, help="record switches to time")


def _brush(segments: int) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QApplication

    from annotator.core.mask import Mask
    from annotator.core.model import Conversation, Image, MaskLayer, Turn
    from annotator.services.mask_tools import Stroke
    from annotator.services.record_document import RecordDocument
    from annotator.ui.canvas.overlay import RasterOverlayItem, fill_palette, mask_indexer
    from annotator.ui.canvas.view import CanvasView

    app = QApplication.instance() or QApplication(["bench"])
    h, w = 3000, 4000
    conv = Conversation(Image("big.png", w, h, ""), "x", (Turn(0, "q", "a [SEG]"),), id=1)
    doc = RecordDocument(conv)
    key = (0, MaskLayer.FINAL)
    arr = doc.layer_array(key)
    arr[1000:2000, 1000:2500] = True  # a realistic existing mask
    view = CanvasView()
    view.resize(1400, 900)
    view.show()
    view.set_scene_size(w, h)
    item = RasterOverlayItem(w, h, fill_palette(QColor("#2ecc71")))
    view.scene().addItem(item)
    item.set_indexer(mask_indexer(arr))
    full_refresh = False
    doc.layer_listeners.append(lambda k, r: item.refresh(None if full_refresh else r))
    app.processEvents()
    rng = np.random.default_rng(0)

    def run(n: int) -> list[float]:
        stroke = Stroke(doc, key, 25.0, erase=False)
        x, y = 2000.0, 1500.0
        times = []
        for _ in range(n):
            x = float(np.clip(x + rng.uniform(-30, 30), 50, w - 50))
            y = float(np.clip(y + rng.uniform(-30, 30), 50, h - 50))
            t = time.perf_counter()
            stroke.to((x, y))
            app.processEvents()  # the repaint of the changed region
            times.append((time.perf_counter() - t) * 1000)
        stroke.finish("bench")
        return times

    fast = run(segments)
    full_refresh = True
    naive = run(max(10, segments // 10))
    view.close()
    return {
        "brush_ms_median": round(statistics.median(fast), 3),
        "brush_ms_p95": round(float(np.percentile(fast, 95)), 3),
        "brush_naive_full_overlay_ms_median": round(statistics.median(naive), 3),
        "brush_image": f"{w}x{h}",
        "encode_on_release_ms": round(_time(lambda: Mask.from_array(arr)), 2),
    }


def _time(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def _switch(switches: int, db: Path) -> dict[str, Any]:
    from annotator.app import build_app, segmenter_factory
    from annotator.core.appdirs import models_dir
    from annotator.services.sample_project import ensure_sample
    from annotator.services.settings import Settings
    from annotator.storage import open_store

    store = open_store(db)
    ensure_sample(store)
    store.close()
    with_sam = (models_dir() / "mobile_sam.pt").is_file()
    factory = segmenter_factory(Settings()) if with_sam else None
    parts = build_app(db, offer_sample=False, segmenter=factory)
    w = parts.window
    w.resize(1400, 900)
    w.show()
    parts.qapp.processEvents()
    n = w.model.rowCount()

    def open_until_clickable(row: int, timeout_s: float = 300.0) -> float:
        t = time.perf_counter()
        w.select_row(row)
        parts.qapp.processEvents()
        while with_sam and not w.sam.ready and time.perf_counter() - t < timeout_s:
            if w.sam.state.startswith("error"):
                raise RuntimeError(w.sam.state)
            parts.qapp.processEvents()
            time.sleep(0.001)
        return (time.perf_counter() - t) * 1000

    first_encode = [open_until_clickable(r) for r in range(n)]  # fills the embedding cache
    times = [open_until_clickable(i % n) for i in range(switches)]
    w.close()
    parts.store.close()
    return {
        "next_record_ms": round(statistics.median(times), 2),
        "next_record_ms_max": round(max(times), 2),
        "next_record_uncached_ms_median": round(statistics.median(first_encode), 2),
        "next_record_with_sam": with_sam,
        "next_record_images": "sample project (512x512 to 640x427)",
    }


def _startup(db: Path) -> dict[str, Any]:
    runs = []
    torch_loaded = False
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", STARTUP_SCRIPT, str(db), repr(time.time())],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        runs.append(float(out[0]))
        torch_loaded = torch_loaded or out[1] == "True"
    return {"startup_s": round(statistics.median(runs), 3), "startup_torch_imported": torch_loaded}


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Settings and window layout of the benchmark's windows go to a scratch home, never the user's.
    scratch = tempfile.mkdtemp(prefix="ui-bench-home-")
    os.environ["XDG_CONFIG_HOME"] = str(Path(scratch) / "config")
    figures: dict[str, Any] = {}
    figures.update(_brush(args.segments))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        figures.update(_switch(args.switches, db))
        figures.update(_startup(db))
    figures["targets"] = {"brush_ms_median": 8, "next_record_ms": 150, "startup_s": 2}
    return figures
