"""Helpers for the data-safety tests: run code in a child process whose files may not grow past
a size limit (RLIMIT_FSIZE: a full disk without root), and read a SQLite file's health."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


def limit_file_size(limit: int) -> None:
    """From now on no file of this process grows past ``limit`` bytes. SIGXFSZ is ignored, so
    a write past the limit fails with EFBIG instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))


def lift_file_size_limit() -> None:
    """Space was freed: back to the hard limit (allowed without privileges)."""
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))


def in_child(body: Callable[[], dict[str, Any]], *, file_limit: int) -> dict[str, Any]:
    """Run ``body`` in a forked child under ``file_limit``; its JSON-able result comes back
    through a pipe (pipes are not subject to the limit). A failure in the child is re-raised
    here with the child's traceback."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            limit_file_size(file_limit)
            payload = {"ok": True, "result": body()}
        except BaseException:
            payload = {"ok": False, "traceback": traceback.format_exc()}
        data = json.dumps(payload, default=str).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
        os._exit(0)
    os.close(write_fd)
    chunks: list[bytes] = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child ended with {status}"
    payload = json.loads(b"".join(chunks))
    if not payload["ok"]:
        raise AssertionError("the child failed:\n" + payload["traceback"])
    return payload["result"]  # type: ignore[no-any-return]


def sqlite_health(db: Path) -> tuple[list[str], list[Any]]:
    """(integrity_check rows, foreign_key_check rows) of a database file."""
    con = sqlite3.connect(db)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        orphans = con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()
    return integrity, orphans


def file_sizes(db: Path) -> dict[str, int]:
    return {
        suffix or "db": os.path.getsize(f"{db}{suffix}")
        for suffix in ("", "-wal", "-shm")
        if os.path.exists(f"{db}{suffix}")
    }
