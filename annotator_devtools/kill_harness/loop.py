"""The killer: start a writer, SIGKILL it at a random moment, reopen and verify, repeat.

Writers start either by ``fork`` from this process (milliseconds; the code that runs is the same)
or by ``exec`` of a fresh interpreter (``python -m annotator_devtools.kill_harness writer``),
which also kills some writers while they import and open the database. Each run continues on
the database the last one left, so every start also recovers from the previous crash.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from annotator.storage import open_store
from annotator_devtools.kill_harness.ack_log import AckLog
from annotator_devtools.kill_harness.verify import Verdict, verify
from annotator_devtools.kill_harness.writer import DONE, READY, add_batch, run_writer

CHECKOUT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0
# Share of kills aimed at the start-up (opening, WAL recovery) rather than the save loop.
EARLY_KILL_SHARE = 0.1
INITIAL_CALL_S = 0.05  # first guess at one call's duration; then measured as the loop runs


@dataclass(frozen=True)
class HarnessConfig:
    workdir: Path
    kills: int = 50
    seed: int = 1
    start: str = "fork"  # or "exec"
    max_calls: int = 6
    initial_conversations: int = 8
    max_conversations: int = 60


@dataclass
class HarnessResult:
    kills: int = 0
    kills_survived: int = 0
    writer_failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    last: Verdict | None = None
    committed_unacknowledged: int = 0
    rolled_back: int = 0
    early_kills: int = 0
    mean_call_s: float = INITIAL_CALL_S

    @property
    def ok(self) -> bool:
        return not self.problems and not self.writer_failures

    def figures(self, config: HarnessConfig) -> dict[str, Any]:
        last = self.last or Verdict()
        return {
            "kills": self.kills,
            "kills_survived": self.kills_survived,
            "acknowledged_calls": last.acknowledged,
            "acknowledged_by_kind": last.acknowledged_by_kind,
            "conversations": last.conversations,
            "lost": last.lost,
            "mixed": last.mixed,
            "kills_inside_a_call_committed_before_ack": self.committed_unacknowledged,
            "kills_inside_a_call_rolled_back": self.rolled_back,
            "kills_during_startup": self.early_kills,
            "problems": self.problems[:20],
            "writer_failures": self.writer_failures[:5],
            "start": config.start,
            "seed": config.seed,
            "max_calls": config.max_calls,
            "mean_call_s": round(self.mean_call_s, 4),
            "elapsed_s": round(self.elapsed_s, 2),
        }


def paths(workdir: Path) -> tuple[Path, Path]:
    return workdir / "harness.sqlite3", workdir / "acks.log"


def prepare(config: HarnessConfig) -> None:
    """A fresh database holding the first batch (acknowledged like any other)."""
    config.workdir.mkdir(parents=True, exist_ok=True)
    db, ack_path = paths(config.workdir)
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), ack_path):
        stale.unlink(missing_ok=True)
    acks = AckLog(ack_path)
    try:
        with open_store(db) as store:
            add_batch(store, acks, "init", config.initial_conversations)
    finally:
        acks.close()


class WriterFn(Protocol):
    def __call__(
        self,
        db: str | Path,
        ack_path: str | Path,
        seed: int,
        *,
        signal: Callable[[bytes], None],
        max_conversations: int,
    ) -> int: ...


def checkout_env() -> dict[str, str]:
    """This process's environment with the checkout first on the module path: the harness
    runs from a source checkout, where ``annotator_devtools`` is not installed."""
    paths_now = [str(CHECKOUT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths_now if p)}


class Writer:
    """One running writer process, started one of the two ways."""

    def __init__(self, config: HarnessConfig, seed: int, body: WriterFn = run_writer) -> None:
        db, ack_path = paths(config.workdir)
        self.error_file = config.workdir / f"writer-{seed}.err"
        if config.start == "exec":
            cmd = [sys.executable, "-m", "annotator_devtools.kill_harness", "writer"]
            cmd += [str(db), str(ack_path), str(seed), "--max-conversations"]
            cmd += [str(config.max_conversations)]
            with self.error_file.open("wb") as err:
                self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                    cmd, stdout=subprocess.PIPE, stderr=err, env=checkout_env()
                )
            assert self._proc.stdout is not None
            self.pid = self._proc.pid
            self._signal_fd = self._proc.stdout.fileno()
            return
        self._proc = None
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            os.close(read_fd)
            code = 0
            try:
                body(
                    db,
                    ack_path,
                    seed,
                    signal=lambda data: os.write(write_fd, data) and None,
                    max_conversations=config.max_conversations,
                )
            except BaseException:
                self.error_file.write_text(traceback.format_exc())
                code = 3
            os._exit(code)
        os.close(write_fd)
        self.pid = pid
        self._signal_fd = read_fd

    def wait_for(self, calls: int, timeout: float) -> float | None:
        """Block until the writer is ready and has finished ``calls`` calls; the seconds the
        calls took (None on timeout, or when the writer closed its end)."""
        deadline = time.monotonic() + timeout
        ready_at: float | None = None
        done = 0
        while ready_at is None or done < calls:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([self._signal_fd], [], [], max(left, 0.0))
            if not readable:
                return None
            data = os.read(self._signal_fd, 4096)
            if not data:
                return None
            if ready_at is None and READY in data:
                ready_at = time.monotonic()
            done += data.count(DONE)
        return time.monotonic() - ready_at

    def kill(self) -> str | None:
        """SIGKILL and reap; the failure text when the writer had already died on its own."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        if self._proc is not None:
            status = self._proc.wait()
            assert self._proc.stdout is not None
            self._proc.stdout.close()
            killed = status == -signal.SIGKILL
        else:
            _, raw = os.waitpid(self.pid, 0)
            os.close(self._signal_fd)
            killed = os.WIFSIGNALED(raw) and os.WTERMSIG(raw) == signal.SIGKILL
        if killed:
            self.error_file.unlink(missing_ok=True)
            return None
        text = self.error_file.read_text() if self.error_file.exists() else ""
        return f"writer {self.pid} exited by itself: {text.strip()[-2000:]}"


def run_harness(
    config: HarnessConfig,
    progress: Callable[[int, HarnessResult], None] | None = None,
    *,
    writer: WriterFn = run_writer,
) -> HarnessResult:
    """Kill writers ``config.kills`` times, verifying after each; stops at the first problem.

    ``writer`` replaces the loop a forked writer runs (the tests prove with deliberately broken
    writers that the checks catch lost and half-written saves).
    """
    if writer is not run_writer and config.start != "fork":
        raise ValueError("another writer body can only run in forked writers")
    prepare(config)
    db, ack_path = paths(config.workdir)
    rng = random.Random(config.seed)
    result = HarnessResult()
    began = time.perf_counter()
    log_size = ack_path.stat().st_size
    for i in range(config.kills):
        process = Writer(config, config.seed * 1_000_003 + i, writer)
        if rng.random() < EARLY_KILL_SHARE:
            result.early_kills += 1
            time.sleep(rng.uniform(0.0, 0.05))
        else:
            calls = rng.randint(0, config.max_calls)
            took = process.wait_for(calls, READY_TIMEOUT_S)
            if took is not None and calls:
                result.mean_call_s = 0.8 * result.mean_call_s + 0.2 * took / calls
            # Anywhere inside the next call: before, during or after its commit.
            time.sleep(rng.uniform(0.0, 1.2 * result.mean_call_s))
        failure = process.kill()
        result.kills += 1
        if failure is not None:
            result.writer_failures.append(failure)
            break
        verdict = verify(db, ack_path)
        result.last = verdict
        if ack_path.stat().st_size != log_size:  # else the writer died before its first call
            log_size = ack_path.stat().st_size
            result.committed_unacknowledged += verdict.committed_unacknowledged
            result.rolled_back += verdict.rolled_back
        if not verdict.ok:
            result.problems.extend(f"after kill {i + 1}: {p}" for p in verdict.problems)
            break
        result.kills_survived += 1
        if progress is not None:
            progress(i + 1, result)
    result.elapsed_s = time.perf_counter() - began
    return result
