"""Authoring: adding a folder of images, and changing a conversation's turns until committed.

- ``add_images_s``: ``annotator images add`` on ``--images`` generated 640x480 JPEGs (distinct
  pictures): every file decoded (reduced) and hashed, stored one transaction per batch. Naive
  way beside it: one transaction per image, timed on ``--naive-images`` files and scaled up.
- ``turn_edit_ms_*``: add a turn, move it, remove it, each one undoable step until its commit,
  on a conversation of a ``--db-conversations`` database (4 turns with 1024x768 masks each,
  as ``bench store`` makes them), each figure the whole step: the save with its history event,
  correction column and re-read. Beside it, the rows alone written the naive way (every turn and
  mask of the conversation deleted and inserted, nothing else).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotator.bench import store_bench
from annotator.bench.store_bench import timed

if TYPE_CHECKING:
    from annotator.core.model import Conversation
    from annotator.storage import Store

TARGETS = {"add_images_s": 60.0, "turn_edit_ms_median": 20.0, "turn_edit_ms_p95": 50.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=10_000, help="JPEGs to add")
    parser.add_argument("--naive-images", type=int, default=300, help="timed the naive way")
    parser.add_argument("--db-conversations", type=int, default=100_000)
    parser.add_argument("--edits", type=int, default=60, help="each of add, move, remove")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (temp)")


def _write_jpegs(folder: Path, count: int, start: int = 0) -> None:
    """Distinct 640x480 photos-like JPEGs: a smooth gradient with shapes placed by the index."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:480, 0:640]
    base = np.stack([xx * 255 // 640, yy * 255 // 480, (xx + yy) * 255 // 1120], axis=2)
    base = base.astype(np.uint8)
    for n in range(start, start + count):
        img = base.copy()
        rng = np.random.default_rng(n)
        for _ in range(4):
            x, y = int(rng.integers(0, 560)), int(rng.integers(0, 400))
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            cv2.rectangle(img, (x, y), (x + 80, y + 60), colour, -1)
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        (folder / f"img_{n:05d}.jpg").write_bytes(data.tobytes())


def _images(root: Path, args: argparse.Namespace, figures: dict[str, Any]) -> None:
    from annotator.services.image_add import add_images
    from annotator.storage import open_store

    folder = root / "photos"
    made_s, _ = timed(lambda: _write_jpegs(folder, args.images))
    figures["images"] = args.images
    figures["images_mb"] = round(sum(p.stat().st_size for p in folder.iterdir()) / 1e6, 1)
    figures["images_generated_s"] = round(made_s, 1)
    store = open_store(root / "images.sqlite3")
    try:
        seconds, report = timed(lambda: add_images(store, folder))
    finally:
        store.close()
    assert len(report.added) == args.images, report.summary()
    figures["add_images_s"] = round(seconds, 2)
    figures["add_images_per_s"] = round(args.images / seconds, 1)
    sample = min(args.naive_images, args.images)
    naive_folder = root / "naive"
    _write_jpegs(naive_folder, sample)
    naive = open_store(root / "naive.sqlite3")
    try:
        naive_s, _ = timed(lambda: add_images(naive, naive_folder, batch=1))
    finally:
        naive.close()
    figures["add_images_naive_tx_per_image_s"] = round(naive_s / sample * args.images, 1)
    figures["add_images_naive_sample"] = sample


def _database(root: Path, count: int) -> Path:
    """A database of ``count`` conversations shaped as ``bench store`` makes them."""
    from annotator.storage import open_store

    shape = argparse.Namespace(turns=4, height=768, width=1024, distinct_masks=200, seed=0)
    pool = store_bench.mask_pool(200, 768, 1024, 0)
    db = root / "turns.sqlite3"
    store = open_store(db)
    try:
        store_bench.fill_database(store, 0, count, shape, pool)
    finally:
        store.close()
    return db


def _naive_save(store: Store, conv: Conversation) -> None:
    """The naive save of a changed structure: every turn and mask deleted and inserted."""
    import sqlalchemy as sa

    from annotator.storage import tables as t
    from annotator.storage.convert import mask_values, turn_values
    from annotator.storage.engine import write_transaction

    assert conv.id is not None
    with write_transaction(store.engine) as conn:
        conn.execute(sa.delete(t.masks).where(t.masks.c.conversation_id == conv.id))
        conn.execute(sa.delete(t.turns).where(t.turns.c.conversation_id == conv.id))
        for turn in conv.turns:
            values = turn_values(conv.id, turn)
            turn_id = conn.execute(
                sa.insert(t.turns).values(values).returning(t.turns.c.id)
            ).scalar_one()
            for pos, ann in enumerate(turn.masks):
                conn.execute(sa.insert(t.masks).values(mask_values(conv.id, turn_id, pos, ann)))
        conn.execute(
            sa.update(t.conversations)
            .where(t.conversations.c.id == conv.id)
            .values(revision=t.conversations.c.revision + 1)
        )


def _turn_edits(root: Path, args: argparse.Namespace, figures: dict[str, Any]) -> None:
    from annotator.services.image_resolver import ImageResolver
    from annotator.services.open_record import OpenRecord
    from annotator.services.session import EditSession
    from annotator.storage import open_store

    fill_s, db = timed(lambda: _database(root, args.db_conversations))
    figures["db_conversations"] = args.db_conversations
    figures["db_fill_s"] = round(fill_s, 1)
    store = open_store(db)
    try:
        cid = args.db_conversations // 2
        record = OpenRecord(store, EditSession(store, lambda: "bench"), ImageResolver(), str)
        record.open(record.load(cid))
        times: dict[str, list[float]] = {"add": [], "move": [], "remove": []}
        for _ in range(args.edits):
            for kind, edit in (
                ("add", lambda: record.add_turn(1)),
                ("move", lambda: record.move_turn(1, +1)),
                ("remove", lambda: record.remove_turn(2)),
            ):
                seconds, result = timed(edit)
                assert result is not None and result.ok, result
                times[kind].append(seconds * 1000)
        every = sorted(t for ts in times.values() for t in ts)
        figures["turn_edits"] = len(every)
        figures["turn_edit_ms_median"] = round(statistics.median(every), 2)
        figures["turn_edit_ms_p95"] = round(every[int(0.95 * (len(every) - 1))], 2)
        for kind, ts in times.items():
            figures[f"turn_{kind}_ms_median"] = round(statistics.median(ts), 2)
        naive: list[float] = []
        conv = store.get_conversation(cid)
        for _ in range(args.edits):
            seconds, _ = timed(lambda: _naive_save(store, conv))
            naive.append(seconds * 1000)
        figures["turn_rows_naive_rewrite_only_ms_median"] = round(statistics.median(naive), 2)
    finally:
        store.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"targets": TARGETS}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="authoring-bench-") as tmp:
        root = Path(tmp)
        _images(root, args, figures)
        _turn_edits(root, args, figures)
    figures["meets_targets"] = {key: figures[key] <= limit for key, limit in TARGETS.items()}
    return figures
