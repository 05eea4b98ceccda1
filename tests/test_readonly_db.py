"""Read-only databases (issue 23, point 5): a file or folder this user may not write opens for
reading (stats, export, lists work), a write is refused in one line saying why, and a stale
read-only ``-shm`` beside a writable database is named as the cause.

The commands run in a child process as a user without write permission. As root (where
permissions do not apply) the child runs under ``setpriv`` without the capabilities that
override them, so the files are as read-only to it as to anyone else."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_storage import make_conversation

from annotator.storage import migrate, open_store

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_V1 = Path(__file__).parent / "data" / "golden_v1.sqlite3"
DROP = "-dac_override,-dac_read_search,-fowner"


def _unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be made to apply")
    prefix = [setpriv, f"--bounding-set={DROP}", "--"]
    if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("running as root and setpriv cannot drop capabilities here")
    return prefix


def annotator(db: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [*_unprivileged(), sys.executable, "-m", "annotator", "--db", str(db), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A folder with a database of five records (closed cleanly: no -wal or -shm left)."""
    where = tmp_path / "project"
    where.mkdir()
    with open_store(where / "a.sqlite3") as store:
        store.add_conversations(
            [make_conversation(n, final_mask=True) for n in range(5)], actor="a"
        )
    assert sorted(p.name for p in where.iterdir()) == ["a.sqlite3"]
    yield where
    where.chmod(0o755)  # so that pytest can clean up as any user


def _reads_and_refuses(db: Path, says: str) -> None:
    before = _digest(db)
    stats = annotator(db, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["conversations"] == 5
    review = annotator(db, "review", "1", "--comment", "hello", "--as", "ada")
    err = _one_line(review)
    assert "is open for reading only because" in err and says in err
    assert "this change was not saved" in err
    assert _digest(db) == before


def test_a_read_only_file_is_read_and_never_written(folder: Path, tmp_path: Path) -> None:
    db = folder / "a.sqlite3"
    db.chmod(0o444)
    _reads_and_refuses(db, f"the file {db} is read-only")
    out = tmp_path / "out.jsonl"
    export = annotator(db, "export", "jsonl", str(out), "--status", "all", "--mask", "draft")
    assert export.returncode == 0, export.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5
    listed = annotator(db, "conversations", "list")
    assert listed.returncode == 0, listed.stderr
    assert "focus number 4" in listed.stdout


def test_a_database_in_a_read_only_folder_is_read(folder: Path) -> None:
    """No -shm there and none can be made: read as an unchanging file (nobody can be writing
    it: a writer would need the -shm too)."""
    folder.chmod(0o555)
    _reads_and_refuses(folder / "a.sqlite3", f"its folder {folder} is read-only")
    assert sorted(p.name for p in folder.iterdir()) == ["a.sqlite3"]


def test_changes_only_in_the_wal_of_a_read_only_folder_are_not_silently_skipped(
    folder: Path, tmp_path: Path
) -> None:
    """A -wal holding commits, no -shm, a folder that cannot get one: reading the file alone
    would show old data, so it is refused."""
    db = folder / "a.sqlite3"
    reader = sqlite3.connect(db)  # an open reader keeps the -wal from being checkpointed away
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM conversations").fetchall()
        with open_store(db) as store:
            store.add_conversations([make_conversation(99)], actor="a")
        copy = tmp_path / "copy"
        copy.mkdir()
        shutil.copy(db, copy / "a.sqlite3")
        shutil.copy(f"{db}-wal", copy / "a.sqlite3-wal")
    finally:
        reader.close()
    assert (copy / "a.sqlite3-wal").stat().st_size > 0
    copy.chmod(0o555)
    try:
        err = _one_line(annotator(copy / "a.sqlite3", "stats"))
    finally:
        copy.chmod(0o755)
    assert "a.sqlite3-wal beside it holds changes not yet in the file" in err


def test_a_stale_read_only_shm_is_named(folder: Path) -> None:
    db = folder / "a.sqlite3"
    shm = Path(f"{db}-shm")
    shm.write_bytes(bytes(32768))  # as a crashed program run as another user leaves it
    shm.chmod(0o444)
    _reads_and_refuses(db, f"{shm} is read-only while the database is writable")


def test_a_read_only_database_that_needs_an_upgrade_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    shutil.copy(GOLDEN_V1, db)
    db.chmod(0o444)
    before = _digest(db)
    err = _one_line(annotator(db, "stats"))
    assert "is open for reading only because" in err
    assert f"is not the one this version reads ({migrate.head_revision()})" in err
    assert _digest(db) == before
    assert not list(tmp_path.glob("*.bak"))  # no backup copy made for an upgrade that cannot be


def test_a_read_only_file_with_uri_characters_in_its_name(folder: Path) -> None:
    """It is opened through a SQLite URI: "?", "#", "%" and spaces stay part of the name."""
    db = folder / "my project #1?%20.sqlite3"
    (folder / "a.sqlite3").rename(db)
    db.chmod(0o444)
    _reads_and_refuses(db, f"the file {db} is read-only")
