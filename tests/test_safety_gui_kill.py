"""The desktop app, driven by a script offscreen (brush, eraser, typed answers, draft masks,
undo/redo, each autosaved), SIGKILLed at random moments and reopened: every save it
acknowledged is there, identical, and the reopened app shows it. On a full disk the app keeps
the unsaved stroke, says so, and exports it when closed."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_safety import sqlite_health

from annotator.core.mask import Mask
from annotator.services.sample_project import ensure_sample
from annotator.storage import ListQuery, open_store
from annotator_devtools.kill_harness import content

DRIVER = Path(__file__).parent / "crash" / "gui_driver.py"
KILLS = int(os.environ.get("ANNOTATOR_GUI_KILLS", "3"))
START_TIMEOUT_S = 180.0


def _acknowledged(ack_path: Path) -> tuple[dict[int, tuple[int, str]], int]:
    """Latest acknowledged (revision, checksum) per record, and the number of acknowledgements."""
    latest: dict[int, tuple[int, str]] = {}
    lines = ack_path.read_text().split("\n")[:-1] if ack_path.exists() else []
    for line in lines:
        cid, rev, digest = line.split(" ")
        if int(rev) >= latest.get(int(cid), (-1, ""))[0]:
            latest[int(cid)] = (int(rev), digest)
    return latest, len(lines)


def _wait_for(proc: subprocess.Popen[bytes], wanted: int, timeout: float) -> tuple[bool, float]:
    """Wait for the driver's ``r`` and then ``wanted`` actions; (got them, seconds per action)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    ready_at: float | None = None
    done = 0
    while ready_at is None or done < wanted:
        readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            return False, 0.0
        data = os.read(fd, 4096)
        if not data:
            return False, 0.0
        if ready_at is None and b"r" in data:
            ready_at = time.monotonic()
        done += data.count(b".")
    return True, (time.monotonic() - ready_at) / max(1, wanted)


@pytest.mark.crash
def test_app_killed_mid_edit_and_reopened(tmp_path: Path) -> None:
    db = tmp_path / "gui.sqlite3"
    with open_store(db) as store:
        ensure_sample(store)
    ack_path = tmp_path / "acks.log"
    rng = random.Random(4)
    per_action = 0.2
    committed_unacknowledged = 0
    for i in range(KILLS):
        err = tmp_path / f"driver-{i}.err"
        with err.open("wb") as err_fh:
            proc = subprocess.Popen(
                [sys.executable, str(DRIVER), str(db), str(ack_path), str(100 + i)],
                stdout=subprocess.PIPE,
                stderr=err_fh,
                env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            )
        try:
            ok, took = _wait_for(proc, rng.randint(2, 12), START_TIMEOUT_S)
            assert ok, f"driver did not get going: {err.read_text()[-3000:]}"
            per_action = 0.5 * per_action + 0.5 * took
            time.sleep(rng.uniform(0.0, 1.2 * per_action))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL, err.read_text()[-3000:]

        assert sqlite_health(db) == (["ok"], [])
        acked, _ = _acknowledged(ack_path)
        with open_store(db) as store:
            for cid, (rev, digest) in acked.items():
                stored = store.get_conversation(cid)
                assert stored.revision in (rev, rev + 1), (cid, rev, stored.revision)
                if stored.revision == rev:
                    assert content.checksum(stored) == digest, f"record {cid} changed after kill"
                else:  # the kill fell between the commit and its acknowledgement
                    committed_unacknowledged += 1

    acked, count = _acknowledged(ack_path)
    print(
        f"\nGUI kills: {KILLS}, acknowledged saves {count} on {len(acked)} records, "
        f"committed before acknowledgement {committed_unacknowledged}, lost 0"
    )
    assert count >= KILLS  # the driver did save things
    # Reopened in a new app process, each acknowledged record shows what was stored.
    shown = json.loads(
        subprocess.run(
            [sys.executable, str(DRIVER), "--reopen", str(db), *map(str, acked)],
            capture_output=True,
            check=True,
            timeout=START_TIMEOUT_S,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        ).stdout
    )
    with open_store(db) as store:
        for cid in acked:
            stored = store.get_conversation(cid)
            assert shown[str(cid)] == [cid, stored.revision, content.checksum(stored)]


def test_app_on_a_full_disk_keeps_the_stroke_and_exports_it_on_close(tmp_path: Path) -> None:
    db = tmp_path / "gui.sqlite3"
    with open_store(db) as store:
        ensure_sample(store)
        first = store.page(ListQuery(), 0, 1)[0].id
        before = store.get_conversation(first)
    rescue = tmp_path / "rescue.jsonl"
    done = subprocess.run(
        [sys.executable, str(DRIVER), "--disk-full", str(db), str(rescue), str(40 * 1024)],
        capture_output=True,
        timeout=START_TIMEOUT_S,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    state = json.loads(done.stdout)
    assert state["id"] == first
    # The stroke is on the canvas, the window says it is not saved and why.
    assert state["painted_after"] > state["painted_before"]
    assert state["dirty"] and state["modified"]
    assert "UNSAVED" in state["label"] and str(db) in state["label"]
    # Closing offered to export the record, and the export holds the stroke.
    assert len(state["asked"]) == 1 and "could not be saved" in state["asked"][0]
    record = json.loads(rescue.read_text(encoding="utf-8"))
    final = [m for m in record["turns"][state["turn"]]["masks"] if m["layer"] == "final"]
    assert sum(Mask.from_rle(m["rle"]).area for m in final) >= state["painted_after"]
    # The database kept the stored version, consistent.
    assert sqlite_health(db) == (["ok"], [])
    with open_store(db) as store:
        after = store.get_conversation(first)
    assert after.revision == before.revision == state["revision"]
    assert content.checksum(after) == content.checksum(before)
