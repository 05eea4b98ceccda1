"""Kill ``annotator import prist`` mid-way and check that the database holds either nothing of
the import or all of it (the import is one transaction), and that what was there before is
untouched.

Each trial starts from a copy of the same base database (the sample project already imported),
runs the real command line in a fresh interpreter with its progress bar on a pseudo-terminal,
and SIGKILLs it either at a random moment of a complete run's duration or at a random moment
after the bar says it is storing (the first trial: the moment it says so). The import file is
the given PRIST file repeated ``copies`` times with each copy's foci marked, so the storing
transaction is long enough to hit.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import random
import select
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STORING = b"storing"
TRIAL_TIMEOUT_S = 300.0


@dataclass
class ImportKillResult:
    kills: int = 0
    untouched: int = 0  # the database held exactly the base afterwards
    complete: int = 0  # it held the base plus the whole import
    killed_while_storing: int = 0  # the progress bar had reached the storing step
    problems: list[str] = field(default_factory=list)
    reference_conversations: int = 0
    base_conversations: int = 0
    resumed_after_kill: bool = False
    reference_run_s: float = 0.0
    elapsed_s: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "kills": self.kills,
            "untouched": self.untouched,
            "complete": self.complete,
            "partial": self.kills - self.untouched - self.complete,
            "killed_while_storing": self.killed_while_storing,
            "base_conversations": self.base_conversations,
            "import_conversations": self.reference_conversations,
            "reimport_after_last_kill_complete": self.resumed_after_kill,
            "reference_run_s": round(self.reference_run_s, 2),
            "problems": self.problems[:20],
            "elapsed_s": round(self.elapsed_s, 2),
        }


def enlarge(source: Path, out: Path, copies: int) -> Path:
    """The PRIST records ``copies`` times over, each copy's foci suffixed (new content keys)."""
    records = json.loads(source.read_text(encoding="utf-8"))
    bigger = [
        {**rec, "focus": f"{rec['focus']} (copy {k})" if k else rec["focus"]}
        for k in range(copies)
        for rec in records
    ]
    out.write_text(json.dumps(bigger, ensure_ascii=False), encoding="utf-8")
    return out


def import_command(db: Path, dialogues: Path, images: Path, masks: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "annotator", "--db", str(db), "import", "prist"]
    cmd += [str(dialogues), "--images", str(images)]
    if masks is not None:
        cmd += ["--masks", str(masks)]
    return cmd


def database_digest(db: Path) -> tuple[int, str, list[str]]:
    """(conversations, digest of every stored row that an import writes, file-level problems)."""
    problems: list[str] = []
    con = sqlite3.connect(str(db))
    try:
        check = [r[0] for r in con.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            problems.append(f"integrity_check: {check[:5]}")
        if con.execute("PRAGMA foreign_key_check").fetchall():
            problems.append("foreign_key_check found orphans")
        digest = hashlib.sha256()
        queries = (
            "SELECT key, focus, status, source, turn_count, flag_count FROM conversations "
            "ORDER BY key",
            "SELECT c.key, t.idx, t.question, t.draft_answer, t.final_answer FROM turns t "
            "JOIN conversations c ON c.id = t.conversation_id ORDER BY c.key, t.idx",
            "SELECT c.key, t.idx, m.position, m.layer, m.rle FROM masks m "
            "JOIN turns t ON t.id = m.turn_id JOIN conversations c ON c.id = m.conversation_id "
            "ORDER BY c.key, t.idx, m.position",
            "SELECT c.key, f.code, f.message FROM flags f "
            "JOIN conversations c ON c.id = f.conversation_id ORDER BY c.key, f.code, f.message",
            "SELECT c.key, count(*) FROM history h JOIN conversations c "
            "ON c.id = h.conversation_id WHERE h.action = 'import' GROUP BY c.key ORDER BY c.key",
        )
        for query in queries:
            for row in con.execute(query):
                digest.update(repr(row).encode())
        count = con.execute("SELECT count(*) FROM conversations").fetchone()[0]
    finally:
        con.close()
    return count, digest.hexdigest(), problems


def _run_to_end(cmd: list[str], log: Path) -> float:
    began = time.perf_counter()
    with log.open("wb") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=TRIAL_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}); see {log}")
    return time.perf_counter() - began


@dataclass
class Run:
    seconds: float  # from start to exit or kill
    storing_at: float | None  # when the bar first showed the storing step
    exited: bool  # ended by itself (before any kill)
    returncode: int | None


def run_on_terminal(cmd: list[str], kill_after: float | None, storing_kill: float | None) -> Run:
    """Run ``cmd`` with stderr on a pseudo-terminal (so its progress bar is drawn) and SIGKILL
    it ``kill_after`` seconds in, or ``storing_kill`` seconds after the bar shows "storing"."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    began = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    kill_at = began + (kill_after if kill_after is not None else TRIAL_TIMEOUT_S)
    storing_at: float | None = None
    seen = b""
    try:
        while proc.poll() is None and time.monotonic() < kill_at:
            wait = min(0.005, max(0.0, kill_at - time.monotonic()))
            readable, _, _ = select.select([master], [], [], wait)
            if readable:
                try:
                    seen = (seen + os.read(master, 65536))[-4096:]
                except OSError:  # the child closed its end
                    seen = b""
            if storing_at is None and STORING in seen:
                storing_at = time.monotonic()
                if storing_kill is not None:
                    kill_at = min(kill_at, storing_at + storing_kill)
        exited = proc.poll() is not None
        if not exited:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        os.close(master)
    return Run(
        seconds=time.monotonic() - began,
        storing_at=None if storing_at is None else storing_at - began,
        exited=exited,
        returncode=proc.returncode,
    )


def run_import_kills(
    dialogues: Path,
    images: Path,
    workdir: Path,
    *,
    kills: int,
    seed: int = 1,
    copies: int = 3,
    base: tuple[Path, Path, Path | None] | None = None,
) -> ImportKillResult:
    """``base`` = (dialogues, images, masks) imported first (the sample project, typically)."""
    began = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    big = enlarge(dialogues, workdir / "import.json", copies)
    base_db = workdir / "base.sqlite3"
    for stale in workdir.glob("*.sqlite3*"):
        stale.unlink()
    if base is not None:
        _run_to_end(import_command(base_db, *base), workdir / "base.log")
    else:
        _run_to_end(
            [sys.executable, "-m", "annotator", "--db", str(base_db), "stats"], workdir / "base.log"
        )
    result = ImportKillResult()
    base_count, base_digest, problems = database_digest(base_db)
    result.base_conversations = base_count
    result.problems += problems
    reference = workdir / "reference.sqlite3"
    shutil.copyfile(base_db, reference)
    ref = run_on_terminal(import_command(reference, big, images, None), None, None)
    if ref.returncode != 0 or ref.storing_at is None:
        raise RuntimeError(f"the reference import failed or showed no storing step: {ref}")
    result.reference_run_s = ref.seconds
    storing_s = ref.seconds - ref.storing_at  # from the first "storing" on the bar to the end
    full_count, full_digest, problems = database_digest(reference)
    result.reference_conversations = full_count - base_count
    result.problems += problems
    rng = random.Random(seed)
    trial = workdir / "trial.sqlite3"
    for i in range(kills):
        for stale in workdir.glob("trial.sqlite3*"):
            stale.unlink()
        shutil.copyfile(base_db, trial)
        cmd = import_command(trial, big, images, None)
        if i == 0:  # the moment the bar shows storing: surely inside the transaction
            run = run_on_terminal(cmd, None, 0.0)
        elif rng.random() < 0.5:
            run = run_on_terminal(cmd, rng.uniform(0.0, ref.seconds), None)
        else:  # anywhere in the storing transaction, on either side of its commit
            run = run_on_terminal(cmd, None, rng.uniform(0.0, 1.2 * storing_s))
        result.kills += 1
        result.killed_while_storing += run.storing_at is not None and not run.exited
        count, digest, problems = database_digest(trial)
        result.problems += [f"kill {i + 1}: {p}" for p in problems]
        if (count, digest) == (base_count, base_digest):
            result.untouched += 1
        elif (count, digest) == (full_count, full_digest):
            result.complete += 1
        else:
            result.problems.append(
                f"kill {i + 1}: {count - base_count} of {result.reference_conversations} "
                "conversations stored, or the stored rows differ from a complete import"
            )
    if kills:
        # The same command run again after the last kill finishes the import.
        _run_to_end(import_command(trial, big, images, None), workdir / "resume.log")
        result.resumed_after_kill = database_digest(trial)[:2] == (full_count, full_digest)
        if not result.resumed_after_kill:
            result.problems.append(
                "importing again after the last kill did not give the full import"
            )
    result.elapsed_s = time.perf_counter() - began
    return result
