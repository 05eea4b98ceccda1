"""Build the golden databases of the released schemas (``tests/data/golden_vN.sqlite3``).

Run once per released schema and commit the file; tests upgrade a copy of every golden database
to the current schema and check that every row survives. The rows are written with plain SQL
against the schema as its migration created it, so this script keeps working (and keeps
describing each version) after the tables change: v1 is the rows below at migration 0001; v2
adds, at migration 0002, a soft-deleted conversation, texts changed after their mask was made,
and an authored conversation with a moved turn.

    python db/make_golden.py [VERSION] [OUTPUT]      # VERSION: 1 (default) or 2
"""

from __future__ import annotations

import json
import sqlite3
import sys
import zlib
from pathlib import Path

import numpy as np
from alembic import command

from annotator.core.mask import Mask
from annotator.storage.engine import make_engine, write_transaction
from annotator.storage.migrate import alembic_config

REVISIONS = {1: "0001", 2: "0002"}
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
H, W = 60, 80


def _rle(seed: int) -> tuple[bytes, int]:
    rng = np.random.default_rng(seed)
    arr = np.zeros((H, W), dtype=bool)
    y, x = int(rng.integers(0, H // 2)), int(rng.integers(0, W // 2))
    arr[y : y + int(rng.integers(3, H // 2)), x : x + int(rng.integers(3, W // 2))] = True
    mask = Mask.from_array(arr)
    return zlib.compress(mask.counts, 6), mask.area


def _rows(con: sqlite3.Connection) -> None:
    t0 = "2025-01-02 03:04:05.000006"
    images = [
        (1, "/data/prist/images", "e1de30143f9c16b6.jpg", "a" * 64, W, H),
        (2, "/data/prist/images", "f00ba4.jpg", "b" * 64, W, H),
        (3, "/data/prist/images", "missing.jpg", "", W, H),
    ]
    con.executemany(
        "INSERT INTO images (id, root, path, sha256, width, height) VALUES (?, ?, ?, ?, ?, ?)",
        images,
    )
    convs = [
        # id, image, focus, status, source, key, revision, turn_count, flag_count, last, corr
        (1, 1, "red double-decker bus", "approved", "test.json#0", "k1", 3, 3, 0, "rita", 42),
        (2, 1, "bus", "rejected", "test.json#1", "k2", 2, 3, 0, "sam", None),
        (3, 2, "Café «Zoë» sign", "in_review", "test.json#2", "k3", 1, 2, 0, "rita", None),
        (4, 2, "left lamp", "proposed", "test.json#3", None, 1, 2, 0, None, None),
        (5, 3, "the missing one", "draft", "test.json#4", "k5", 0, 2, 2, None, None),
    ]
    con.executemany(
        "INSERT INTO conversations (id, image_id, focus, status, source, key, revision, "
        "created_at, updated_at, turn_count, flag_count, last_reviewer, correction_pixels) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*c[:7], t0, t0, *c[7:]) for c in convs],
    )
    turn_id = 0
    mask_id = 0
    for cid, *_rest in convs:
        n_turns = next(c[7] for c in convs if c[0] == cid)
        for idx in range(n_turns):
            turn_id += 1
            last = idx == n_turns - 1
            con.execute(
                "INSERT INTO turns (id, conversation_id, idx, question, draft_answer, "
                "final_answer) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    turn_id,
                    cid,
                    idx,
                    f"Question {idx} about conversation {cid}?",
                    "Certainly, [SEG]." if last else f"Answer {idx} — with “quotes”.",
                    "Sure: [SEG]." if last and cid == 1 else None,
                ),
            )
            if not last:
                continue
            layers = ["draft", "final"] if cid in (1, 2, 3) else ["draft"]
            for pos, layer in enumerate(layers):
                mask_id += 1
                blob, area = _rle(cid * 10 + pos)
                con.execute(
                    "INSERT INTO masks (id, conversation_id, turn_id, position, layer, label, "
                    "height, width, rle, area, source, author, created_at, proposal_id, detail) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        mask_id,
                        cid,
                        turn_id,
                        pos,
                        layer,
                        f"label {cid}",
                        H,
                        W,
                        blob,
                        area,
                        "imported" if layer == "draft" else "sam",
                        "importer" if layer == "draft" else "bob",
                        t0,
                        None,
                        json.dumps({"clicks": [[3, 4, 1]]} if layer == "final" else {}),
                    ),
                )
    for pid, (cid, turn) in enumerate([(1, 2), (3, 1), (4, 0), (4, 1)], start=1):
        con.execute(
            "INSERT INTO proposals (id, conversation_id, turn_index, proposer, proposer_version, "
            "answer, scores, elapsed_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pid, cid, turn, "miras", "0.1", "It is [SEG].", json.dumps([0.75]), 1.5, t0),
        )
        blob, area = _rle(100 + pid)
        con.execute(
            "INSERT INTO proposal_masks (id, proposal_id, position, height, width, rle, area) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (pid, pid, 0, H, W, blob, area),
        )
    con.execute("UPDATE masks SET proposal_id = 1 WHERE conversation_id = 1 AND layer = 'final'")
    con.executemany(
        "INSERT INTO flags (conversation_id, code, message) VALUES (?, ?, ?)",
        [(5, "missing_image", "image file not found"), (5, "empty_mask", "mask is empty")],
    )
    reviews = [
        (1, "rita", "approve", "looks right", None, None),
        (2, "sam", "reject", "wrong bus", 2, "mask_wrong"),
        (3, "rita", "comment", "check the sign", None, None),
        (3, "rita", "approve", "", 0, None),
    ]
    con.executemany(
        "INSERT INTO reviews (conversation_id, reviewer, decision, comment, turn_index, reason, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*r, t0) for r in reviews],
    )
    history = [
        (cid, "importer", "import", {"source": f"test.json#{cid - 1}"}) for cid in range(1, 6)
    ]
    history += [
        (1, "rita", "status", {"from": "in_review", "to": "approved"}),
        (2, "sam", "review", {"decision": "reject", "turn_index": 2}),
    ]
    con.executemany(
        "INSERT INTO history (conversation_id, actor, action, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(cid, actor, action, json.dumps(detail), t0) for cid, actor, action, detail in history],
    )
    con.execute(
        "INSERT INTO claims (conversation_id, proposer, proposer_version, worker, expires_at) "
        "VALUES (4, 'miras', '0.2', 'worker-1', ?)",
        (t0,),
    )


def _rows_v2(con: sqlite3.Connection) -> None:
    t1 = "2025-02-03 04:05:06.000007"
    con.execute("UPDATE conversations SET deleted_at = ? WHERE id = 2", (t1,))
    con.execute("UPDATE turns SET text_changed_at = ? WHERE conversation_id = 1", (t1,))
    con.execute(
        "INSERT INTO conversations (id, image_id, focus, status, source, key, revision, "
        "created_at, updated_at, turn_count, flag_count, last_reviewer, correction_pixels, "
        "deleted_at) VALUES (6, 2, 'lamp shade', 'draft', 'authored', NULL, 4, ?, ?, 2, 0, "
        "NULL, NULL, NULL)",
        (t1, t1),
    )
    con.executemany(
        "INSERT INTO turns (conversation_id, idx, question, draft_answer, final_answer, "
        "text_changed_at) VALUES (6, ?, ?, ?, NULL, ?)",
        [
            (0, "Which lamp is switched on?", "The one on the left.", t1),
            (1, "Please segment its shade.", "Sure, [SEG].", t1),
        ],
    )
    history = [
        (6, "ada", "create", {"source": "authored"}),
        (6, "ada", "turn_move", {"from": 0, "to": 1}),
        (6, "ada", "turn_move", {"from": 1, "to": 0, "undo": True}),
        (2, "ada", "delete", {}),
    ]
    con.executemany(
        "INSERT INTO history (conversation_id, actor, action, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(cid, actor, action, json.dumps(detail), t1) for cid, actor, action, detail in history],
    )


def build(output: Path, version: int = 1) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{output}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{output.resolve()}")
    try:
        cfg = alembic_config()
        with write_transaction(engine) as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, REVISIONS[version])
    finally:
        engine.dispose()
    con = sqlite3.connect(output)
    try:
        with con:
            _rows(con)
            if version >= 2:
                _rows_v2(con)
        con.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to commit
        con.execute("VACUUM")
    finally:
        con.close()
    return output


if __name__ == "__main__":
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DATA / f"golden_v{wanted}.sqlite3"
    print(build(out, wanted))
