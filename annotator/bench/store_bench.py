"""Storage: import 10k conversations, export them as COCO, first list page of a 100k database.

Synthetic conversations shaped like PRIST records: 4 turns, one 1024x768 mask per turn (drawn
from a pool of distinct polygon masks, so generating them does not dominate). Figures:

- ``import_10k_s``: one ``add_conversations`` call (one transaction, bulk inserts); baseline:
  one transaction per conversation on a sample, extrapolated to the same count.
- ``export_coco_10k_s``: the COCO exporter over every conversation; also the storage part alone
  (``iter_conversations``) and its naive form (one ``get_conversation`` per id, on a sample).
- ``first_page_100k_ms``: a freshly opened store (new engine) on a 100k database: the first page
  of 100 summaries plus the total count (cold: first queries of the engine); baselines: the page
  at the end by OFFSET vs keyset, and the first page computed with per-row aggregates instead of
  the denormalised list columns (both warm).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy, OpenCV and storage are imported where used: not for `--help`
    from annotator.core.mask import Mask
    from annotator.core.model import Conversation
    from annotator.storage import Store

TARGETS = {"import_10k_s": 30.0, "export_coco_10k_s": 30.0, "first_page_100k_ms": 500.0}


def _export_coco(store: Store, out: Path) -> None:
    """The exporter under test: every conversation, whatever its status."""
    from annotator.services.export_job import export_coco

    export_coco(store, out, status=None)


EXPORT: Callable[[Store, Path], None] = _export_coco


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversations", type=int, default=10_000, help="for import/export")
    parser.add_argument("--page-db", type=int, default=100_000, help="conversations for paging")
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--distinct-masks", type=int, default=200)
    parser.add_argument("--naive-sample", type=int, default=500, help="rows timed the naive way")
    parser.add_argument("--dir", type=Path, default=None, help="where the databases go (temp)")
    parser.add_argument("--seed", type=int, default=0)


def mask_pool(n: int, h: int, w: int, seed: int) -> list[Mask]:
    import cv2
    import numpy as np

    from annotator.core.mask import Mask

    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(n):
        arr = np.zeros((h, w), np.uint8)
        radius = math.exp(rng.uniform(math.log(8), math.log(0.5 * max(h, w))))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        k = int(rng.integers(5, 16))
        angles = np.sort(rng.uniform(0, 2 * math.pi, k))
        radii = radius * rng.uniform(0.4, 1.0, k)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(arr, [pts.astype(np.int32)], 1)
        pool.append(Mask.from_array(arr.astype(bool)))
    return pool


def _conversations(
    start: int, count: int, args: argparse.Namespace, pool: list[Mask]
) -> list[Conversation]:
    from annotator.core.model import (
        Conversation,
        Image,
        MaskAnnotation,
        MaskLayer,
        MaskSource,
        Provenance,
        Turn,
    )

    prov = Provenance(source=MaskSource.IMPORTED, author="bench")
    out = []
    for n in range(start, start + count):
        image = Image(
            path=f"images/{n // 3:07d}.jpg",  # three records per image, as in PRIST
            width=args.width,
            height=args.height,
            sha256=f"{n // 3:064x}",
            root="/data/bench",
        )
        turns = tuple(
            Turn(
                index=i,
                question=f"What is thing {i} in picture {n}?",
                draft_answer="Sure, [SEG]." if i == args.turns - 1 else f"It is thing {i}.",
                masks=(
                    MaskAnnotation(
                        mask=pool[(n * args.turns + i) % len(pool)],
                        layer=MaskLayer.FINAL,  # what the COCO exporter writes
                        provenance=prov,
                        label="thing",
                    ),
                ),
            )
            for i in range(args.turns)
        )
        out.append(
            Conversation(
                image=image,
                focus=f"thing number {n}",
                turns=turns,
                source=f"bench#{n}",
                key=f"bench-{n}",
            )
        )
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _naive_first_page(store: Store) -> list[Any]:
    """The list page without denormalised columns: counts by aggregate joins per row."""
    import sqlalchemy as sa

    sql = sa.text(
        "SELECT c.id, i.path, c.focus, c.status, "
        "(SELECT count(*) FROM turns t WHERE t.conversation_id = c.id) AS turn_count, "
        "(SELECT count(*) FROM flags f WHERE f.conversation_id = c.id) AS flag_count, "
        "(SELECT r.reviewer FROM reviews r WHERE r.conversation_id = c.id "
        " ORDER BY r.id DESC LIMIT 1) AS last_reviewer "
        "FROM conversations c JOIN images i ON i.id = c.image_id ORDER BY c.id LIMIT 100"
    )
    with store.engine.connect() as conn:
        rows = list(conn.execute(sql))
        conn.execute(sa.text("SELECT count(*) FROM conversations c")).scalar_one()
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from annotator.storage import ListQuery, open_store

    figures: dict[str, Any] = {"targets": TARGETS}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="store-bench-") as tmp:
        root = Path(tmp)
        pool = mask_pool(args.distinct_masks, args.height, args.width, args.seed)
        n = args.conversations
        convs = _conversations(0, n, args, pool)
        figures["conversations"] = n
        figures["turns_per_conversation"] = args.turns
        figures["mask_size"] = f"{args.width}x{args.height}"
        figures["mean_rle_counts_bytes"] = round(float(np.mean([len(m.counts) for m in pool])), 1)

        # -- import ---------------------------------------------------------------------------
        store = open_store(root / "bench.sqlite3")
        try:
            figures["import_10k_s"], result = timed(
                lambda: store.add_conversations(convs, actor="bench")
            )
            assert len(result.added_ids) == n
            sample = min(args.naive_sample, n)
            naive = open_store(root / "naive.sqlite3")
            try:
                naive_s, _ = timed(
                    lambda: [naive.add_conversations([c], actor="bench") for c in convs[:sample]]
                )
            finally:
                naive.close()
            figures["import_naive_per_conversation_tx_s"] = round(naive_s / sample * n, 2)
            figures["import_naive_sample"] = sample

            # -- export -------------------------------------------------------------------------
            figures["export_coco_10k_s"], _ = timed(lambda: EXPORT(store, root / "coco.json"))
            figures["export_coco_bytes"] = (root / "coco.json").stat().st_size
            figures["iter_conversations_10k_s"], count = timed(
                lambda: sum(1 for _ in store.iter_conversations())
            )
            assert count == n
            ids = result.added_ids[:sample]
            naive_get_s, _ = timed(lambda: [store.get_conversation(i) for i in ids])
            figures["iter_naive_get_each_s"] = round(naive_get_s / len(ids) * n, 2)
            db_bytes = sum(p.stat().st_size for p in root.glob("bench.sqlite3*"))
            figures["db_mb_per_10k"] = round(db_bytes / 1e6 * 10_000 / n, 1)

            # -- a database of --page-db conversations -------------------------------------------
            fill_s, _ = timed(lambda: fill_database(store, n, args.page_db, args, pool))
            figures["page_db_conversations"] = max(args.page_db, n)
            figures["page_db_fill_s"] = round(fill_s, 1)
        finally:
            store.close()

        # -- first page on a freshly opened store ----------------------------------------------
        open_s, fresh = timed(lambda: open_store(root / "bench.sqlite3"))
        try:
            page_s, first = timed(lambda: fresh.page(ListQuery(), 0, 100))
            count_s, total = timed(lambda: fresh.count(ListQuery()))
            assert len(first) == min(100, total) and total == max(args.page_db, n)
            figures["open_store_ms"] = round(open_s * 1000, 1)
            figures["first_page_100k_ms"] = round((page_s + count_s) * 1000, 1)
            figures["first_page_only_ms"] = round(page_s * 1000, 1)
            figures["count_all_ms"] = round(count_s * 1000, 1)
            last_offset = max(total - 100, 0)
            offset_s, tail = timed(lambda: fresh.page(ListQuery(), last_offset, 100))
            after = tail[0].id - 1 if tail else None
            keyset_s, tail2 = timed(lambda: fresh.page_after(ListQuery(), after, 100))
            assert [s.id for s in tail] == [s.id for s in tail2]
            figures["last_page_offset_ms"] = round(offset_s * 1000, 1)
            figures["last_page_keyset_ms"] = round(keyset_s * 1000, 1)
            figures["sorted_updated_page_ms"] = round(
                timed(lambda: fresh.page(ListQuery(sort="-updated"), 0, 100))[0] * 1000, 1
            )
            figures["text_filter_page_and_count_ms"] = round(
                timed(
                    lambda: (
                        fresh.page(ListQuery(text="number 4242"), 0, 100),
                        fresh.count(ListQuery(text="number 4242")),
                    )
                )[0]
                * 1000,
                1,
            )
            figures["first_page_warm_ms"] = round(
                timed(lambda: fresh.page(ListQuery(), 0, 100))[0] * 1000, 1
            )
            figures["first_page_naive_aggregates_warm_ms"] = round(
                timed(lambda: _naive_first_page(fresh))[0] * 1000, 1
            )
        finally:
            fresh.close()
    for key in ("import_10k_s", "export_coco_10k_s", "iter_conversations_10k_s"):
        figures[key] = round(figures[key], 2)
    figures["meets_targets"] = {
        key: figures[key] <= limit for key, limit in TARGETS.items() if key in figures
    }
    return figures


def fill_database(
    store: Store, have: int, want: int, args: argparse.Namespace, pool: list[Mask]
) -> None:
    """Top the database up to ``want`` conversations, in import-sized transactions."""
    step = 10_000
    for start in range(have, want, step):
        batch = _conversations(start, min(step, want - start), args, pool)
        store.add_conversations(batch, actor="bench")
