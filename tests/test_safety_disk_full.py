"""A full disk (modelled with RLIMIT_FSIZE in a child process): saves fail with a clear error
naming the database, the unsaved edits stay in memory and can be exported, nothing stored
before is lost, and the database stays consistent. Exports never leave a partial file."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_safety import file_sizes, in_child, lift_file_size_limit, sqlite_health
from fixtures_storage import make_conversation

from annotator.core.commands import MaskDelta, SetText
from annotator.core.errors import OutputError, StorageError
from annotator.core.mask import Mask
from annotator.core.mask_edit import Rect
from annotator.core.model import Conversation, MaskLayer
from annotator.core.status import Status
from annotator.io.coco_writer import write_coco
from annotator.io.jsonl_writer import write_jsonl
from annotator.services.session import EditSession
from annotator.services.unsaved_export import write_unsaved
from annotator.storage import ListQuery, open_store
from annotator_devtools.kill_harness import content
from annotator_devtools.kill_harness.ack_log import read_acks
from annotator_devtools.kill_harness.loop import HarnessConfig, paths, prepare
from annotator_devtools.kill_harness.verify import verify
from annotator_devtools.kill_harness.writer import run_writer

# Room for SQLite's 32 KiB shared-memory file and a small export, not for the ~50 KiB of
# write-ahead log one save of these conversations appends.
LIMIT = 40 * 1024
NEW_ANSWER = "answer typed while the disk was full — é"
EDIT = Rect(4, 4, 26, 16)


def _digest(conv: Conversation) -> tuple[str, int, str]:
    return content.checksum(conv), conv.revision, str(conv.status)


def _edited(mask: np.ndarray) -> np.ndarray:
    after = mask.copy()
    after[EDIT.slices] = ~after[EDIT.slices]
    return after


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, list[int], dict[int, tuple[str, int, str]]]:
    """A database with imported conversations and a few acknowledged edits."""
    db = tmp_path / "annotator.sqlite3"
    with open_store(db) as store:
        convs = [make_conversation(i, final_mask=True) for i in range(20)]
        ids = store.add_conversations(convs, actor="import").added_ids
        for cid in ids[:3]:
            conv = store.get_conversation(cid)
            last = replace(conv.turns[-1], final_answer=f"checked {cid}")
            store.save_conversation(replace(conv, turns=(*conv.turns[:-1], last)), actor="alice")
        digests = {cid: _digest(store.get_conversation(cid)) for cid in ids}
    assert "wal" not in "".join(file_sizes(db))  # closed cleanly: the log was checkpointed
    return db, ids, digests


@pytest.mark.parametrize("space_freed", [True, False], ids=["space-freed", "quit-instead"])
def test_save_on_a_full_disk(
    stored: tuple[Path, list[int], dict[int, tuple[str, int, str]]],
    tmp_path: Path,
    space_freed: bool,
) -> None:
    db, ids, digests = stored
    cid = ids[1]  # one with an acknowledged edit already
    rescue = tmp_path / "rescue" / "unsaved.jsonl"
    with open_store(db) as store:
        original = store.get_conversation(cid)
    turn = len(original.turns) - 1
    expected = _edited(original.turns[-1].layer(MaskLayer.FINAL)[0].mask.to_array())

    def body() -> dict[str, Any]:
        store = open_store(db)
        session = EditSession(store, lambda: "alice")
        doc = session.open(cid)
        turn = doc.target_turn
        key = (turn, MaskLayer.FINAL)
        before = doc.layer_array(key).copy()
        text = session.execute(
            SetText(turn, "final_answer", doc.text(turn, "final_answer"), NEW_ANSWER)
        )
        brush = session.execute(MaskDelta.capture(key, before, _edited(before), EDIT, "Brush"))
        state: dict[str, Any] = {
            "text": asdict(text),
            "brush": asdict(brush),
            "dirty": session.is_dirty,
            "answer": doc.text(turn, "final_answer"),
            "mask": Mask.from_array(doc.layer_array(key)).counts.decode(),
            "stored_revision": store.get_conversation(cid).revision,
        }
        write_unsaved(rescue, [d.to_conversation() for d in session.dirty_records()])
        if space_freed:
            lift_file_size_limit()
            state["retry"] = asdict(session.save())
            state["dirty_after_retry"] = session.is_dirty
        store.close()
        return state

    state = in_child(body, file_limit=LIMIT)

    # The failed saves said so, naming the database and the likely cause.
    for result in (state["text"], state["brush"]):
        assert result["ok"] is False
        assert str(db) in result["message"]
        assert "size limit" in result["message"] and "not saved" in result["message"]
    # The edits stayed in memory, on top of the stored (unchanged) revision.
    assert state["dirty"] is True
    assert state["answer"] == NEW_ANSWER
    assert state["stored_revision"] == digests[cid][1]
    assert state["mask"] == Mask.from_array(expected).counts.decode()
    # ...and went out to the rescue file, complete.
    lines = rescue.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["id"] == cid and record["turns"][turn]["final_answer"] == NEW_ANSWER
    final = [m for m in record["turns"][turn]["masks"] if m["layer"] == "final"]
    assert Mask.from_rle(final[0]["rle"]).to_array().tolist() == expected.tolist()

    integrity, orphans = sqlite_health(db)
    assert integrity == ["ok"] and orphans == []
    with open_store(db) as store:
        now = {i: store.get_conversation(i) for i in ids}
    for other in ids:
        if other != cid:
            assert _digest(now[other]) == digests[other]  # acknowledged work untouched
    if space_freed:
        assert state["retry"]["ok"] is True and state["dirty_after_retry"] is False
        assert state["retry"]["revision"] == digests[cid][1] + 1
        assert now[cid].turns[-1].final_answer == NEW_ANSWER
        assert now[cid].turns[-1].layer(MaskLayer.FINAL)[0].mask == Mask.from_array(expected)
    else:
        assert _digest(now[cid]) == digests[cid]  # the failed save left no trace


def test_import_on_a_full_disk_stores_nothing_then_succeeds(
    stored: tuple[Path, list[int], dict[int, tuple[str, int, str]]],
) -> None:
    db, ids, _ = stored
    batch = [make_conversation(100 + i, turns=4, final_mask=True) for i in range(60)]

    def body() -> dict[str, Any]:
        store = open_store(db)
        try:
            store.add_conversations(batch, actor="import")
        except StorageError as exc:
            error = str(exc)
        else:
            error = ""
        after_failure = store.count(ListQuery())
        lift_file_size_limit()
        added = len(store.add_conversations(batch, actor="import").added_ids)
        store.close()
        return {"error": error, "after_failure": after_failure, "added": added}

    state = in_child(body, file_limit=LIMIT)
    assert str(db) in state["error"] and "not saved" in state["error"]
    assert state["after_failure"] == len(ids)
    assert state["added"] == len(batch)
    assert sqlite_health(db) == (["ok"], [])
    with open_store(db) as store:
        assert store.count(ListQuery()) == len(ids) + len(batch)
        assert store.stats()["by_status"].get(str(Status.DRAFT), 0) >= len(batch)


def test_writer_loop_until_the_disk_is_full(tmp_path: Path) -> None:
    """The crash harness's writer saves until the limit stops it: every acknowledged save is
    there, nothing is half-written."""
    config = HarnessConfig(workdir=tmp_path, initial_conversations=6)
    prepare(config)
    db, ack_path = paths(tmp_path)
    limit = max(file_sizes(db).values()) + 256 * 1024

    def body() -> dict[str, Any]:
        try:
            run_writer(db, ack_path, seed=11, max_seconds=120)
        except StorageError as exc:
            return {"error": str(exc)}
        return {"error": ""}

    state = in_child(body, file_limit=limit)
    assert str(db) in state["error"]
    verdict = verify(db, ack_path)
    assert verdict.ok, verdict.problems
    assert read_acks(ack_path).saves >= 3  # it got somewhere before the disk filled


def _exporters(convs: list[Conversation]) -> dict[str, Any]:
    return {
        "coco.json": lambda p: write_coco(p, convs),
        "records.jsonl": lambda p: write_jsonl(p, convs),
        "unsaved.jsonl": lambda p: write_unsaved(Path(p), convs),
    }


def test_exports_on_a_full_disk_leave_no_partial_file(tmp_path: Path) -> None:
    convs = [
        replace(make_conversation(i, final_mask=True, height=120, width=160), id=i + 1)
        for i in range(80)
    ]
    out = tmp_path / "exports"
    out.mkdir()
    for name in _exporters(convs):
        (out / name).write_text(f"previous {name}\n")
    limit = 16 * 1024

    def body() -> dict[str, Any]:
        errors: dict[str, Any] = {}
        for name, write in _exporters(convs).items():
            try:
                write(out / name)
            except OutputError as exc:
                cause = exc.__cause__
                assert isinstance(cause, OSError)
                errors[name] = [cause.errno, str(exc)]
            else:
                errors[name] = None
        return errors

    errors = in_child(body, file_limit=limit)
    for name in _exporters(convs):
        assert errors[name] is not None and errors[name][0] == errno.EFBIG, errors
        assert name in errors[name][1]  # the message names the file
    # The earlier files are as they were, and no temporary file was left behind.
    assert sorted(p.name for p in out.iterdir()) == sorted(_exporters(convs))
    for name in _exporters(convs):
        assert (out / name).read_text() == f"previous {name}\n"
    # Without the limit the same exports are complete (so the limit was what stopped them).
    for name, write in _exporters(convs).items():
        write(out / name)
        assert os.path.getsize(out / name) > limit


def _cli_export_past_the_limit(db: Path, tmp_path: Path) -> tuple[Path, Any, list[str]]:
    with open_store(db) as store:  # enough masks for a file well past the limit
        more = [
            make_conversation(300 + i, final_mask=True, height=120, width=160) for i in range(200)
        ]
        store.add_conversations(more, actor="import")
    target = tmp_path / "out" / "coco.json"
    target.parent.mkdir()
    target.write_text("previous\n")

    def limited() -> None:
        from fixtures_safety import limit_file_size

        limit_file_size(LIMIT)

    cmd = [sys.executable, "-m", "annotator", "--db", str(db), "export", "coco", str(target)]
    cmd += ["--status", "all"]
    done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limited, timeout=300)
    return target, done, cmd


def test_cli_export_on_a_full_disk_leaves_no_partial_file(
    stored: tuple[Path, list[int], dict[int, tuple[str, int, str]]], tmp_path: Path
) -> None:
    db, _, _ = stored
    target, done, cmd = _cli_export_past_the_limit(db, tmp_path)
    assert done.returncode != 0
    assert "File too large" in done.stderr
    assert target.read_text() == "previous\n"
    assert [p.name for p in target.parent.iterdir()] == ["coco.json"]
    assert sqlite_health(db) == (["ok"], [])
    unlimited = subprocess.run(cmd, capture_output=True, timeout=300)
    assert unlimited.returncode == 0 and target.stat().st_size > LIMIT


def test_cli_export_on_a_full_disk_says_so_in_one_line(
    stored: tuple[Path, list[int], dict[int, tuple[str, int, str]]], tmp_path: Path
) -> None:
    db, _, _ = stored
    target, done, _ = _cli_export_past_the_limit(db, tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and str(target) in done.stderr
