"""Desktop app responsiveness: brush segment to overlay update, record switch, start-up time."""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from annotator.bench import ui_sam_click_bench

# Prints wall seconds since the parent's timestamp, CPU seconds, and whether torch was imported.
# argv: DB, timestamp, and a directory to import ``annotator`` from ("" = as installed here).
STARTUP_SCRIPT = """
import sys
if sys.argv[3]:
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, sys.argv[3])
import os, resource, time
t0 = float(sys.argv[2])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from annotator.app import build_app
parts = build_app(sys.argv[1], offer_sample=False)
parts.window.show()
parts.window.select_row(0)
parts.qapp.processEvents()
wall = time.time() - t0
r = resource.getrusage(resource.RUSAGE_SELF)
print(wall, r.ru_utime + r.ru_stime, "torch" in sys.modules)
"""

# The floor: Python, Qt and an empty main window, nothing of ours.
FLOOR_SCRIPT = """
import os, resource, sys, time
t0 = float(sys.argv[2])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(["floor"])
w = QMainWindow()
w.show()
app.processEvents()
r = resource.getrusage(resource.RUSAGE_SELF)
print(time.time() - t0, r.ru_utime + r.ru_stime, "torch" in sys.modules)
"""


# ``annotator --help`` in a fresh interpreter; argv: modules to import before the parser is built.
HELP_SCRIPT = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional command group not built
        if exc.name != name:
            raise
from annotator.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
"""

# Never imported to build the parser, also in the naive form: Qt, the app and the model code.
_NEVER_FOR_HELP = ("PySide6", "annotator.app", "annotator.ui", "annotator.proposers")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--segments", type=int, default=200, help="brush segments to time")
    parser.add_argument("--switches", type=int, default=20, help="record switches to time")
    parser.add_argument("--starts", type=int, default=5, help="app starts to time")
    parser.add_argument("--clicks", type=int, default=10, help="SAM clicks to time per image")


def _brush(segments: int) -> dict[str, Any]:
    import numpy as np

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


def _switch(switches: int, db: Path, prefetch: int) -> dict[str, float]:
    """Median time from selecting the next record of the queue until SAM clicks work on it,
    embeddings cached. Between switches the reviewer looks at the record for a moment (at most
    3 s, until the background reading of the next record is done), as people do."""
    from annotator.app import build_app, segmenter_factory
    from annotator.proposers.weights_registry import WeightsRegistry
    from annotator.services.settings import Settings

    with_sam = WeightsRegistry().has("mobile-sam")
    settings = Settings(prefetch=prefetch)
    factory = segmenter_factory(settings) if with_sam else None
    parts = build_app(db, offer_sample=False, segmenter=factory, settings=settings)
    w = parts.window
    w.resize(1400, 900)
    w.show()
    parts.qapp.processEvents()
    n = w.model.rowCount()

    def settle(deadline_s: float) -> None:
        end = time.perf_counter() + deadline_s
        while time.perf_counter() < end:
            parts.qapp.processEvents()
            nxt = w.model.summary((w.queue.current_row + 1) % n)
            if (
                prefetch == 0
                or nxt is None
                or nxt.id in {b.conversation.id for b in w.prefetcher.ready_bundles()}
            ):
                return
            time.sleep(0.005)

    def open_until_clickable(row: int, timeout_s: float = 300.0) -> float:
        t = time.perf_counter()
        w.select_row(row)
        parts.qapp.processEvents()
        while with_sam and not w.sam.ready and time.perf_counter() - t < timeout_s:
            if w.sam.state.startswith("error"):
                raise RuntimeError(w.sam.state)
            parts.qapp.processEvents()
            time.sleep(0.001)
        elapsed = (time.perf_counter() - t) * 1000
        settle(3.0)
        return elapsed

    first = [open_until_clickable(r) for r in range(n)]  # fills the embedding cache
    times = [open_until_clickable(i % n) for i in range(switches)]
    w.close()
    parts.store.close()
    return {
        "median": round(statistics.median(times), 2),
        "max": round(max(times), 2),
        "first_median": round(statistics.median(first), 2),
        "with_sam": with_sam,
    }


def _child_env(scratch: Path) -> dict[str, str]:
    """Settings and caches in a scratch home; Qt offscreen."""
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(scratch / "config")
    env["XDG_CACHE_HOME"] = str(scratch / "cache")
    env["QT_QPA_PLATFORM"] = env.get("QT_QPA_PLATFORM", "offscreen")
    return env


def _compiled_copy(scratch: Path) -> Path:
    """The package as an installed app has it: a copy with its bytecode compiled (a source
    checkout run with PYTHONDONTWRITEBYTECODE compiles every module at every start)."""
    import compileall
    import shutil

    import annotator
    from annotator.core.appdirs import resources_dir

    root = scratch / "installed"
    package = root / "annotator"
    shutil.copytree(Path(annotator.__file__).parent, package)
    shutil.copytree(resources_dir(), root / "resources")
    compileall.compile_dir(str(package), quiet=1)
    return root


def _start(script: str, db: Path, env: dict[str, str], tree: str = "") -> tuple[float, float, bool]:
    out = subprocess.run(
        [sys.executable, "-c", script, str(db), repr(time.time()), tree],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()
    return float(out[0]), float(out[1]), out[2] == "True"


def _startup(db: Path, starts: int, scratch: Path) -> dict[str, Any]:
    env = _child_env(scratch)
    installed = dict(env)
    installed.pop("PYTHONDONTWRITEBYTECODE", None)
    tree = str(_compiled_copy(scratch))
    first = _start(STARTUP_SCRIPT, db, env)  # renders the icon cache
    runs, source_runs = [], []
    for _ in range(max(1, starts)):  # interleaved: both see the same machine load
        runs.append(_start(STARTUP_SCRIPT, db, installed, tree))
        source_runs.append(_start(STARTUP_SCRIPT, db, env))
    floor = [_start(FLOOR_SCRIPT, db, env) for _ in range(3)]
    return {
        "startup_s": round(statistics.median(r[0] for r in runs), 3),
        "startup_cpu_s": round(statistics.median(r[1] for r in runs), 3),
        "startup_from_source_s": round(statistics.median(r[0] for r in source_runs), 3),
        "startup_first_run_s": round(first[0], 3),
        "startup_floor_qt_window_s": round(statistics.median(f[0] for f in floor), 3),
        "startup_torch_imported": any(r[2] for r in (first, *runs, *source_runs)),
    }


def handler_imports() -> list[str]:
    """Every module the command handlers and benchmarks import inside their functions (read from
    their source), less :data:`_NEVER_FOR_HELP`: what a command line importing its handlers'
    dependencies at module level would load to print its help."""
    import annotator.bench
    import annotator.cli

    found: set[str] = set()
    for package in (annotator.cli, annotator.bench):
        for source in sorted(Path(package.__file__).parent.glob("*.py")):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for func in ast.walk(tree):
                if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(func):
                    if isinstance(node, ast.Import):
                        found.update(alias.name for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        found.add(node.module)
    return sorted(m for m in found if not m.startswith(_NEVER_FOR_HELP))


def _help_run(env: dict[str, str], modules: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT, *modules],
        capture_output=True,
        check=True,
        env=env,
    )
    return time.perf_counter() - start


def _cli_help(runs: int, scratch: Path) -> dict[str, Any]:
    """``annotator --help`` as the parser is built now, and with every handler dependency
    imported first (the naive baseline), interleaved so both see the same machine load."""
    env = _child_env(scratch)
    eager = handler_imports()
    _help_run(env, eager)  # warms the file cache for both
    lazy_s, eager_s = [], []
    for _ in range(max(1, runs)):
        lazy_s.append(_help_run(env, []))
        eager_s.append(_help_run(env, eager))
    return {
        "cli_help_s": round(statistics.median(lazy_s), 3),
        "cli_help_s_importing_all": round(statistics.median(eager_s), 3),
        "cli_help_importing_all_modules": len(eager),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Settings, window layout and caches of the benchmark go to a scratch home, never the user's.
    scratch = Path(tempfile.mkdtemp(prefix="ui-bench-home-"))
    os.environ["XDG_CONFIG_HOME"] = str(scratch / "config")
    os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")
    figures: dict[str, Any] = {}
    figures.update(_brush(args.segments))
    with tempfile.TemporaryDirectory() as tmp:
        from annotator.services.sample_project import ensure_sample
        from annotator.storage import open_store

        db = Path(tmp) / "bench.sqlite3"
        store = open_store(db)
        ensure_sample(store)
        store.close()
        queued = _switch(args.switches, db, prefetch=3)
        naive = _switch(args.switches, db, prefetch=0)
        figures.update(
            {
                "next_record_ms": queued["median"],
                "next_record_ms_max": queued["max"],
                "next_record_no_prefetch_ms": naive["median"],
                "next_record_first_visit_ms": queued["first_median"],
                "next_record_with_sam": queued["with_sam"],
                "next_record_images": "sample project (512x512 to 640x427)",
            }
        )
        figures.update(_startup(db, args.starts, scratch))
        figures.update(ui_sam_click_bench.run(Path(tmp), args.clicks))
    figures.update(_cli_help(args.starts, scratch))
    figures["targets"] = {
        "brush_ms_median": 8,
        "next_record_ms": 150,
        "startup_s": 2,
        "cli_help_s": 0.3,
    }
    return figures
